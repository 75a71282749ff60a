#pragma once
// The SIP edge's settings and what `carillon up` needs to run it: the Kamailio config rendered
// from the embedded template (deploy/kamailio/kamailio.cfg.in) and the argv of both processes.
// Contract between serve and the edge: docs/sip-edge.md.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace carillon::sip {

struct EdgeSettings {
  // SIP domain and digest realm; accounts are sip:<user>@<sip_domain>.
  std::string sip_domain = "carillon.local";
  // Address of the device (TLS) and browser (WSS) listeners, also the media address rtpengine
  // advertises in SDP. 127.0.0.1 suits `carillon up` on one machine.
  std::string listen_ip = "127.0.0.1";
  std::uint16_t tls_port = 5061;        // SIP over TLS for devices
  std::uint16_t wss_port = 5443;        // SIP over secure WebSocket for browsers
  // Plain SIP over UDP for devices on listen_ip; 0 (default) = none. Only for lab setups and load
  // tests: credentials are still digest, but signalling is readable on the wire.
  std::uint16_t device_udp_port = 0;
  std::uint16_t loop_port = 5070;       // plain UDP on 127.0.0.1: Kamailio's two-stage forks to itself
  std::uint16_t jsonrpc_port = 5071;    // JSON-RPC datagrams on 127.0.0.1 (KamailioRpc)
  std::uint16_t evapi_port = 5072;      // event stream on 127.0.0.1 (EventStream)
  std::uint16_t rtpengine_ng_port = 2223;   // rtpengine control (ng protocol, UDP, 127.0.0.1)
  std::uint16_t rtpengine_cli_port = 2224;  // rtpengine-ctl (TCP, 127.0.0.1)
  std::uint16_t rtp_port_min = 30000;   // media ports of rtpengine, [min, max], an even-sized range
  std::uint16_t rtp_port_max = 30999;
  // Server certificate issued by the platform CA, its key, and the CA that device client
  // certificates must chain to (a client certificate is optional: digest auth is required anyway).
  std::filesystem::path tls_cert_file;
  std::filesystem::path tls_key_file;
  std::filesystem::path tls_ca_file;
  // Kamailio's pid file and control socket live here (the packaged default does not exist).
  std::filesystem::path run_dir;
  // Calls are ended (BYE to both sides) after this long; serve may override it at run time
  // through htable `settings` key `max_call_seconds`.
  int max_call_seconds = 600;
  // Devices must offer SRTP (SDES); plain RTP/AVP offers get 488 unless this is set.
  bool allow_plain_rtp = false;
  // After this many failed digest attempts a source address gets 403 until the window passes.
  int failed_auth_limit = 10;
  int failed_auth_window_seconds = 300;
  // Kamailio `debug` level (-3..3): 1 = notices and above (default), 3 = full debug.
  int kamailio_log_level = 1;
  // rtpengine log level (syslog levels, 6 = info).
  int rtpengine_log_level = 5;
};

// invalid_argument (with `field`) for empty/unsafe names, zero or clashing ports, a bad RTP range.
Status validate(const EdgeSettings& settings);

// Replaces every ${name} in `text` with vars.at(name). A name missing from `vars` or an unclosed
// "${" is invalid_argument (field = the name), so a template and its settings cannot drift apart.
Result<std::string> render_template(std::string_view text, const std::map<std::string, std::string>& vars);

// The values the Kamailio template uses, by placeholder name.
std::map<std::string, std::string> kamailio_template_values(const EdgeSettings& settings);

// validate() + render_template(kamailio_config_template(), kamailio_template_values()).
Result<std::string> render_kamailio_config(const EdgeSettings& settings);

// argv (argv[0] = "kamailio") to run Kamailio in the foreground with the rendered config.
std::vector<std::string> kamailio_arguments(const EdgeSettings& settings, const std::filesystem::path& config_path);

// argv (argv[0] = "rtpengine") to run rtpengine in userspace in the foreground, logging to stderr.
std::vector<std::string> rtpengine_arguments(const EdgeSettings& settings);

}  // namespace carillon::sip
