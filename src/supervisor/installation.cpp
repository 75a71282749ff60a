#include "supervisor/installation.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "mqtt/broker_config.hpp"
#include "pki/pki.hpp"

namespace carillon::supervisor {

namespace fs = std::filesystem;
using nlohmann::json;

Result<Ports> Ports::with_offset(int offset) {
  Ports p;
  if (offset < 0 || offset + p.rtp_max > 65535)
    return fail(Errc::invalid_argument, "port offset must be between 0 and " + std::to_string(65535 - p.rtp_max),
                "port-offset");
  auto shift = [offset](unsigned short& port) { port = static_cast<unsigned short>(port + offset); };
  for (auto* port : {&p.https, &p.device_https, &p.mqtt_devices, &p.mqtt_claim, &p.mqtt_platform, &p.sip_tls,
                     &p.sip_wss, &p.sip_loop, &p.sip_jsonrpc, &p.sip_evapi, &p.rtpengine_ng, &p.rtpengine_cli,
                     &p.rtp_min, &p.rtp_max})
    shift(*port);
  return p;
}

std::vector<unsigned short> Ports::all() const {
  return {https,   device_https, mqtt_devices,  mqtt_claim,   mqtt_platform, sip_tls, sip_wss,
          sip_loop, sip_jsonrpc, sip_evapi,     rtpengine_ng, rtpengine_cli, rtp_min, rtp_max};
}

namespace {

const auto kSecret = fs::perms(0600);

bool present(const fs::path& p) { return fs::exists(p); }

Status write_issued(const fs::path& cert, const fs::path& key, const pki::IssuedCertificate& issued) {
  if (auto s = write_file(key, issued.key_pem, kSecret); !s) return s;
  return write_file(cert, issued.cert_pem);
}

// A CA with its key on disk: loaded when present, created otherwise.
Result<pki::CertificateAuthority> load_or_create_ca(const fs::path& cert, const fs::path& key, const std::string& name,
                                                    const Clock& clock, Random& random) {
  if (present(cert) && present(key)) {
    auto c = read_file(cert);
    auto k = read_file(key);
    if (!c || !k) return fail(Errc::internal, "cannot read " + cert.string());
    return pki::CertificateAuthority::load(*c, *k, clock, random);
  }
  auto ca = pki::CertificateAuthority::create(name, clock, random);
  if (!ca) return ca;
  if (auto s = write_file(key, ca->key_pem(), kSecret); !s) return tl::unexpected(s.error());
  if (auto s = write_file(cert, ca->cert_pem()); !s) return tl::unexpected(s.error());
  return ca;
}

std::vector<std::string> host_names() {
  std::vector<std::string> names = {"localhost"};
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' && std::string(host) != "localhost")
    names.emplace_back(host);
  return names;
}

}  // namespace

Result<Installation> prepare(const fs::path& dir, int port_offset, const Clock& clock, Random& random,
                             const std::string& database, const fs::path& web_root) {
  Installation in;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Errc::invalid_argument, "cannot create " + dir.string() + ": " + ec.message(), "state-dir");
  in.dir = fs::canonical(dir);
  in.serve_config = in.dir / "serve.json";
  in.broker_dir = in.dir / "mosquitto";
  in.logs_dir = in.dir / "logs";
  in.sip_dir = in.dir / "sip";
  auto pki_dir = in.dir / "pki";
  for (const auto& d : {pki_dir, in.broker_dir, in.logs_dir, in.sip_dir}) {
    fs::create_directories(d, ec);
    if (ec) return fail(Errc::internal, "cannot create " + d.string() + ": " + ec.message());
  }
  // Mosquitto drops to its own user and must be able to walk into the state directory.
  fs::permissions(in.dir, fs::perms(0755), ec);
  fs::permissions(in.broker_dir, fs::perms(0755), ec);
  fs::permissions(pki_dir, fs::perms(0755), ec);

  auto ports = Ports::with_offset(port_offset);
  if (!ports) return tl::unexpected(ports.error());
  in.ports = *ports;
  in.portal_url = "https://127.0.0.1:" + std::to_string(in.ports.https);
  in.ca_cert = pki_dir / "ca.pem";

  auto ca = load_or_create_ca(in.ca_cert, pki_dir / "ca.key", "Carillon Platform CA", clock, random);
  if (!ca) return tl::unexpected(ca.error());
  // Platform client CA: signs only the platform's own MQTT certificates (see mqtt/broker_config.hpp).
  auto platform_ca = load_or_create_ca(pki_dir / "platform-ca.pem", pki_dir / "platform-ca.key",
                                       "Carillon Platform Clients CA", clock, random);
  if (!platform_ca) return tl::unexpected(platform_ca.error());

  if (!present(pki_dir / "server.pem")) {
    auto server = ca->issue_server("carillon", host_names(), {"127.0.0.1", "::1"}, 825);
    if (!server) return tl::unexpected(server.error());
    if (auto s = write_issued(pki_dir / "server.pem", pki_dir / "server.key", *server); !s) return tl::unexpected(s.error());
  }
  if (!present(pki_dir / "platform.pem")) {
    auto client = platform_ca->issue_client(mqtt::kPlatformIdentity, 825);
    if (!client) return tl::unexpected(client.error());
    if (auto s = write_issued(pki_dir / "platform.pem", pki_dir / "platform.key", *client); !s) return tl::unexpected(s.error());
  }
  if (!present(pki_dir / "bridge.pem")) {
    auto bridge = platform_ca->issue_client(mqtt::kClaimBridgeIdentity, 825);
    if (!bridge) return tl::unexpected(bridge.error());
    if (auto s = write_issued(pki_dir / "bridge.pem", pki_dir / "bridge.key", *bridge); !s) return tl::unexpected(s.error());
  }
  if (!present(pki_dir / "crl.pem")) {
    auto crl = ca->crl_pem({}, 30);
    if (!crl) return tl::unexpected(crl.error());
    if (auto s = write_file(pki_dir / "crl.pem", *crl); !s) return tl::unexpected(s.error());
  }
  if (!present(pki_dir / "jwt-signing.key")) {
    auto key = pki::generate_private_key_pem();
    if (!key) return tl::unexpected(key.error());
    if (auto s = write_file(pki_dir / "jwt-signing.key", *key, kSecret); !s) return tl::unexpected(s.error());
  }

  // The VAPID key (Web Push, a P-256 key like any other) is made once: browsers' subscriptions
  // are bound to it, a new one would silence every subscribed browser.
  if (!present(pki_dir / "vapid.key")) {
    auto key = pki::generate_private_key_pem();
    if (!key) return tl::unexpected(key.error());
    if (auto s = write_file(pki_dir / "vapid.key", *key, kSecret); !s) return tl::unexpected(s.error());
  }

  if (!present(pki_dir / "sip-secret")) {
    if (auto s = write_file(pki_dir / "sip-secret", random.hex(32), kSecret); !s) return tl::unexpected(s.error());
  }

  auto& edge = in.edge;
  edge.listen_ip = "127.0.0.1";
  edge.tls_port = in.ports.sip_tls;
  edge.wss_port = in.ports.sip_wss;
  edge.loop_port = in.ports.sip_loop;
  edge.jsonrpc_port = in.ports.sip_jsonrpc;
  edge.evapi_port = in.ports.sip_evapi;
  edge.rtpengine_ng_port = in.ports.rtpengine_ng;
  edge.rtpengine_cli_port = in.ports.rtpengine_cli;
  edge.rtp_port_min = in.ports.rtp_min;
  edge.rtp_port_max = in.ports.rtp_max;
  edge.tls_cert_file = pki_dir / "server.pem";
  edge.tls_key_file = pki_dir / "server.key";
  edge.tls_ca_file = in.ca_cert;
  edge.run_dir = in.sip_dir / "run";
  fs::create_directories(edge.run_dir, ec);
  auto kamailio_cfg = sip::render_kamailio_config(edge);
  if (!kamailio_cfg) return tl::unexpected(kamailio_cfg.error());
  if (auto s = write_file(in.sip_dir / "kamailio.cfg", *kamailio_cfg); !s) return tl::unexpected(s.error());

  mqtt::BrokerConfig broker;
  broker.dir = in.broker_dir;
  broker.claim_port = in.ports.mqtt_claim;
  broker.device_port = in.ports.mqtt_devices;
  broker.platform_port = in.ports.mqtt_platform;
  broker.ca_file = in.ca_cert;
  broker.server_cert_file = pki_dir / "server.pem";
  broker.server_key_file = pki_dir / "server.key";
  broker.crl_file = pki_dir / "crl.pem";
  broker.platform_client_ca_file = pki_dir / "platform-ca.pem";
  broker.bridge_cert_file = pki_dir / "bridge.pem";
  broker.bridge_key_file = pki_dir / "bridge.key";
  // Rewritten every time: it only derives from the files above and the ports.
  if (auto s = mqtt::write_broker_config(broker); !s) return tl::unexpected(s.error());

  json serve{
      {"listen", {{"address", "127.0.0.1"}, {"port", in.ports.https}, {"device_port", in.ports.device_https}}},
      {"public_url", in.portal_url},
      {"database", database.empty() ? "sqlite:" + (in.dir / "carillon.db").string() : database},
      {"tls", {{"cert", (pki_dir / "server.pem").string()}, {"key", (pki_dir / "server.key").string()}}},
      {"pki", {{"ca_cert", in.ca_cert.string()}, {"ca_key", (pki_dir / "ca.key").string()}, {"crl", (pki_dir / "crl.pem").string()}}},
      {"tokens", {{"signing_key", (pki_dir / "jwt-signing.key").string()}, {"issuer", in.portal_url}, {"audience", "carillon"}}},
      {"mqtt",
       {{"host", "127.0.0.1"},
        {"device_port", in.ports.mqtt_devices},
        {"claim_port", in.ports.mqtt_claim},
        {"platform_port", in.ports.mqtt_platform},
        {"ca", in.ca_cert.string()},
        {"client_cert", (pki_dir / "platform.pem").string()},
        {"client_key", (pki_dir / "platform.key").string()},
        {"broker_pid_file", (in.broker_dir / "mosquitto.pid").string()}}},
      {"sip",
       {{"domain", edge.sip_domain},
        {"registrar", "sip:" + edge.listen_ip + ":" + std::to_string(edge.tls_port) + ";transport=tls"},
        {"wss_url", "wss://" + edge.listen_ip + ":" + std::to_string(edge.wss_port)},
        {"jsonrpc", {{"host", "127.0.0.1"}, {"port", edge.jsonrpc_port}}},
        {"evapi", {{"host", "127.0.0.1"}, {"port", edge.evapi_port}}},
        {"loop", "sip:127.0.0.1:" + std::to_string(edge.loop_port)},
        {"secret_file", (pki_dir / "sip-secret").string()},
        {"max_call_seconds", edge.max_call_seconds}}},
      {"push", {{"vapid_key", (pki_dir / "vapid.key").string()}, {"subject", "mailto:admin@" + host_names().back()}}},
      // serve creates the Ed25519 firmware key on first start; it never leaves this directory.
      {"firmware", {{"signing_key", (pki_dir / "firmware-key.pem").string()}, {"image_dir", (in.dir / "firmware").string()}}},
  };
  if (!web_root.empty()) serve["web_root"] = web_root.string();
  if (auto s = write_file(in.serve_config, serve.dump(2)); !s) return tl::unexpected(s.error());
  return in;
}

}  // namespace carillon::supervisor
