#!/usr/bin/env bash
# Command (2): install what is missing, build with AddressSanitizer + UndefinedBehaviorSanitizer,
# and run every test. The tests start their own Mosquitto and PostgreSQL on free loopback ports
# in temp dirs and stop them. `scripts/test.sh -L unit` runs only the fast suites,
# `scripts/test.sh -L integration` only those with real services. After ctest, the web app's
# end-to-end tests (web/tests, headless Chromium against a real `carillon up`) run too, unless a
# label filter without "e2e" was given.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCARILLON_SANITIZE=ON -DCARILLON_BENCH=ON >/dev/null
cmake --build build/asan -j "$(nproc)"
(cd web && npm ci --no-audit --no-fund && npm run build)
(cd build/asan && ctest --output-on-failure --timeout 900 -j 2 "$@")
if [ $# -eq 0 ] || [[ "$*" == *e2e* ]]; then
  (cd web && CARILLON_BIN="$PWD/../build/asan/src/carillon" npm test)
fi
