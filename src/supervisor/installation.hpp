#pragma once
// The state directory of an all-in-one installation (`carillon up`): keys and certificates,
// generated service configs, the SQLite database and serve.json. Created on first use and
// reused afterwards; nothing is regenerated that already exists.
//
//   DIR/pki/          ca.pem ca.key crl.pem server.pem server.key jwt-signing.key
//                     platform-ca.pem platform-ca.key platform.pem platform.key bridge.pem bridge.key
//                     sip-secret (device SIP passwords are derived from it)
//   DIR/mosquitto/    generated broker configs, ACLs, logs, pid files
//   DIR/sip/          kamailio.cfg (rendered from deploy/kamailio/kamailio.cfg.in), run files
//   DIR/carillon.db   SQLite database (WAL)
//   DIR/serve.json    the configuration `carillon serve --config` runs with
//   DIR/logs/         logs of supervised children

#include <filesystem>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "sip/edge_settings.hpp"

namespace carillon::supervisor {

struct Ports {
  unsigned short https = 8443;
  unsigned short device_https = 8444;  // mutual TLS: device uploads (snapshots)
  unsigned short mqtt_devices = 8883;
  unsigned short mqtt_claim = 8884;
  unsigned short mqtt_platform = 8885;
  unsigned short sip_tls = 5061;       // SIP over TLS (devices)
  unsigned short sip_wss = 5443;       // SIP over secure WebSocket (browsers)
  unsigned short sip_loop = 5070;      // Kamailio to itself (two-stage forks), loopback only
  unsigned short sip_jsonrpc = 5071;   // serve -> Kamailio decisions, loopback only
  unsigned short sip_evapi = 5072;     // Kamailio -> serve events, loopback only
  unsigned short rtpengine_ng = 2223;
  unsigned short rtpengine_cli = 2224;
  unsigned short rtp_min = 30000;      // rtpengine media ports
  unsigned short rtp_max = 30999;
  // Every port in the order above, for checks that they are free.
  std::vector<unsigned short> all() const;
  // Every port shifted by `offset` (several instances side by side).
  static Result<Ports> with_offset(int offset);
};

struct Installation {
  std::filesystem::path dir;
  Ports ports;
  std::filesystem::path serve_config;    // DIR/serve.json
  std::filesystem::path broker_dir;      // DIR/mosquitto
  std::filesystem::path logs_dir;        // DIR/logs
  std::filesystem::path ca_cert;         // DIR/pki/ca.pem
  std::filesystem::path sip_dir;         // DIR/sip
  sip::EdgeSettings edge;                // what Kamailio and rtpengine run with
  std::string portal_url;                // https://127.0.0.1:<https port>
};

// Creates what is missing in `dir` (CA, certificates, broker config, serve.json) and returns the
// layout. The ports of an existing installation are kept unless `offset` asks for others.
// `database` overrides the embedded SQLite default ("postgresql:<conninfo>"); "" keeps SQLite.
// `web_root` is the built web app serve answers / with ("" = none).
Result<Installation> prepare(const std::filesystem::path& dir, int port_offset, const Clock& clock, Random& random,
                             const std::string& database = {}, const std::filesystem::path& web_root = {});

}  // namespace carillon::supervisor
