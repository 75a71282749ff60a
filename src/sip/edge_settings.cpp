#include "sip/edge_settings.hpp"

#include <algorithm>
#include <set>

#include "sip/templates.hpp"

namespace carillon::sip {
namespace {

// Values end up inside quoted strings of kamailio.cfg: no quotes, no line breaks.
bool safe_for_config(std::string_view value) {
  return std::none_of(value.begin(), value.end(),
                      [](char c) { return c == '"' || c == '\n' || c == '\r' || c == '\\' || c == '\0'; });
}

bool valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > 253) return false;
  return std::all_of(domain.begin(), domain.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

bool valid_ipv4(std::string_view ip) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= ip.size()) {
    std::size_t end = ip.find('.', i);
    if (end == std::string_view::npos) end = ip.size();
    std::string_view part = ip.substr(i, end - i);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    if (std::stoi(std::string(part)) > 255) return false;
    ++parts;
    i = end + 1;
  }
  return parts == 4;
}

}  // namespace

Status validate(const EdgeSettings& s) {
  if (!valid_domain(s.sip_domain)) return fail(Errc::invalid_argument, "sip domain must be a host name", "sip_domain");
  if (!valid_ipv4(s.listen_ip)) return fail(Errc::invalid_argument, "listen ip must be an IPv4 address", "listen_ip");
  const std::pair<const char*, std::uint16_t> ports[] = {
      {"tls_port", s.tls_port},           {"wss_port", s.wss_port},
      {"loop_port", s.loop_port},         {"jsonrpc_port", s.jsonrpc_port},
      {"evapi_port", s.evapi_port},       {"rtpengine_ng_port", s.rtpengine_ng_port},
      {"rtpengine_cli_port", s.rtpengine_cli_port}};
  std::set<std::uint16_t> seen;
  if (s.device_udp_port != 0) {
    if (s.device_udp_port >= s.rtp_port_min && s.device_udp_port <= s.rtp_port_max) {
      return fail(Errc::invalid_argument, "device_udp_port lies in the RTP port range", "device_udp_port");
    }
    seen.insert(s.device_udp_port);
  }
  for (const auto& [name, port] : ports) {
    if (port == 0) return fail(Errc::invalid_argument, std::string(name) + " must not be 0", name);
    if (!seen.insert(port).second) return fail(Errc::invalid_argument, std::string(name) + " is used twice", name);
    if (port >= s.rtp_port_min && port <= s.rtp_port_max) {
      return fail(Errc::invalid_argument, std::string(name) + " lies in the RTP port range", name);
    }
  }
  if (s.rtp_port_min == 0 || s.rtp_port_max <= s.rtp_port_min || (s.rtp_port_max - s.rtp_port_min) < 3) {
    return fail(Errc::invalid_argument, "rtp port range must hold at least 4 ports", "rtp_port_min");
  }
  const std::pair<const char*, const std::filesystem::path*> paths[] = {{"tls_cert_file", &s.tls_cert_file},
                                                                         {"tls_key_file", &s.tls_key_file},
                                                                         {"tls_ca_file", &s.tls_ca_file},
                                                                         {"run_dir", &s.run_dir}};
  for (const auto& [name, path] : paths) {
    if (path->empty()) return fail(Errc::invalid_argument, std::string(name) + " is required", name);
    if (!safe_for_config(path->string())) {
      return fail(Errc::invalid_argument, std::string(name) + " must not contain quotes or line breaks", name);
    }
  }
  if (s.max_call_seconds <= 0) return fail(Errc::invalid_argument, "must be positive", "max_call_seconds");
  if (s.failed_auth_limit <= 0) return fail(Errc::invalid_argument, "must be positive", "failed_auth_limit");
  if (s.failed_auth_window_seconds <= 0) {
    return fail(Errc::invalid_argument, "must be positive", "failed_auth_window_seconds");
  }
  if (s.kamailio_log_level < -3 || s.kamailio_log_level > 3) {
    return fail(Errc::invalid_argument, "must be in -3..3", "kamailio_log_level");
  }
  return {};
}

Result<std::string> render_template(std::string_view text, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t pos = 0;
  while (true) {
    std::size_t open = text.find("${", pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      return out;
    }
    out.append(text.substr(pos, open - pos));
    std::size_t close = text.find('}', open + 2);
    std::size_t line_end = text.find('\n', open);
    if (close == std::string_view::npos || (line_end != std::string_view::npos && close > line_end)) {
      return fail(Errc::invalid_argument, "unclosed ${ in template", std::string(text.substr(open, 16)));
    }
    std::string name(text.substr(open + 2, close - open - 2));
    auto it = vars.find(name);
    if (it == vars.end()) return fail(Errc::invalid_argument, "unknown template placeholder ${" + name + "}", name);
    out.append(it->second);
    pos = close + 1;
  }
}

std::map<std::string, std::string> kamailio_template_values(const EdgeSettings& s) {
  return {
      {"sip_domain", s.sip_domain},
      {"listen_ip", s.listen_ip},
      {"tls_port", std::to_string(s.tls_port)},
      {"wss_port", std::to_string(s.wss_port)},
      {"loop_port", std::to_string(s.loop_port)},
      {"device_udp_listen", s.device_udp_port == 0
                                ? std::string("# no plain device listener (device_udp_port = 0)")
                                : "listen=udp:" + s.listen_ip + ":" + std::to_string(s.device_udp_port)},
      {"jsonrpc_port", std::to_string(s.jsonrpc_port)},
      {"evapi_port", std::to_string(s.evapi_port)},
      {"rtpengine_ng_port", std::to_string(s.rtpengine_ng_port)},
      {"tls_cert_file", s.tls_cert_file.string()},
      {"tls_key_file", s.tls_key_file.string()},
      {"tls_ca_file", s.tls_ca_file.string()},
      {"run_dir", s.run_dir.string()},
      {"max_call_seconds", std::to_string(s.max_call_seconds)},
      {"allow_plain_rtp", s.allow_plain_rtp ? "1" : "0"},
      {"failed_auth_limit", std::to_string(s.failed_auth_limit)},
      {"failed_auth_window", std::to_string(s.failed_auth_window_seconds)},
      {"log_level", std::to_string(s.kamailio_log_level)},
  };
}

Result<std::string> render_kamailio_config(const EdgeSettings& settings) {
  if (auto ok = validate(settings); !ok) return tl::unexpected(ok.error());
  return render_template(kamailio_config_template(), kamailio_template_values(settings));
}

std::vector<std::string> kamailio_arguments(const EdgeSettings& settings, const std::filesystem::path& config_path) {
  // -m 256: ~15 KB of shared memory per transaction; 64 MB ran out above a few hundred calls/s.
  return {"kamailio", "-DD", "-E",  "-f", config_path.string(), "-P", (settings.run_dir / "kamailio.pid").string(),
          "-Y",       settings.run_dir.string(), "-m", "256", "-M", "16"};
}

std::vector<std::string> rtpengine_arguments(const EdgeSettings& s) {
  return {"rtpengine",
          "--config-file=none",
          "--foreground",
          "--log-stderr",
          "--table=-1",
          "--interface=" + s.listen_ip,
          "--listen-ng=127.0.0.1:" + std::to_string(s.rtpengine_ng_port),
          "--listen-cli=127.0.0.1:" + std::to_string(s.rtpengine_cli_port),
          "--port-min=" + std::to_string(s.rtp_port_min),
          "--port-max=" + std::to_string(s.rtp_port_max),
          "--num-threads=2",
          "--log-level=" + std::to_string(s.rtpengine_log_level),
          "--pidfile=" + (s.run_dir / "rtpengine.pid").string()};
}

}  // namespace carillon::sip
