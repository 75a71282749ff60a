#!/usr/bin/env bash
# Installs the Debian 12 packages Carillon needs to build, run and test.
# Idempotent: only missing packages are installed.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # libraries
  libboost1.74-dev libsoci-dev libsqlite3-dev libpq-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libexpected-dev libssl-dev libcpp-jwt-dev libsodium-dev
  libmosquitto-dev libcli11-dev libcurl4-openssl-dev
  # media: SIP user agent, SRTP, codecs
  libre-dev libsrtp2-dev libopus-dev libspandsp-dev
  # the emulated door camera encodes its snapshots as JPEG
  libjpeg62-turbo-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # services the platform runs and the tests start
  mosquitto mosquitto-clients postgresql sqlite3 openssl curl procps tzdata
  # SIP edge: Kamailio (registrar/proxy, TLS, WSS, JSON-RPC, evapi) and rtpengine (userspace)
  kamailio kamailio-tls-modules kamailio-websocket-modules kamailio-utils-modules
  kamailio-extra-modules kamailio-json-modules rtpengine-daemon rtpengine-utils
  # real SIP peers for the tests
  sip-tester baresip
  # the web app's end-to-end tests drive Debian's Chromium (playwright-core, no browser download)
  chromium
  # SAML 2.0 (lasso) for the service provider; python3-lasso plays the IdP in tests
  liblasso3-dev python3-lasso
  # a real SMTP server for the alert e-mail tests
  python3-aiosmtpd
)
# The web app (web/) is built with npm; a Node.js that is already installed is kept.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "installing: ${missing[*]}"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Debian mosquitto package starts a system broker on 1883; Carillon never uses it and
# plain MQTT must not be offered, so stop it when systemd is around.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto || true
  systemctl disable mosquitto >/dev/null 2>&1 || true
fi
