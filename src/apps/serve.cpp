#include "apps/serve.hpp"

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <thread>

#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "api/api.hpp"
#include "apps/device_link.hpp"
#include "apps/openapi_document.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "http/server.hpp"
#include "identity/auth_service.hpp"
#include "identity/tokens.hpp"
#include "store/audit_log.hpp"
#include "calls/report.hpp"
#include "store/calls_repository.hpp"
#include "apps/device_api.hpp"
#include "alerts/dispatcher.hpp"
#include "alerts/engine.hpp"
#include "alerts/mailer.hpp"
#include "alerts/worker.hpp"
#include "apps/firmware_link.hpp"
#include "store/alert_repository.hpp"
#include "apps/push_link.hpp"
#include "firmware/compatibility.hpp"
#include "store/firmware_repository.hpp"
#include "apps/sip_link.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/push_repository.hpp"
#include "store/tenancy_repository.hpp"
#include "store/user_repository.hpp"

namespace carillon::apps {

using nlohmann::json;

Result<ServeConfig> load_serve_config(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) return fail(Errc::invalid_argument, text.error().message, "config");
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(Errc::invalid_argument, file.string() + " is not a JSON object", "config");
  ServeConfig c;
  try {
    c.listen_address = j.at("listen").value("address", c.listen_address);
    c.port = j.at("listen").value("port", c.port);
    c.public_url = j.at("public_url").get<std::string>();
    c.database = j.at("database").get<std::string>();
    c.tls_cert = j.at("tls").at("cert").get<std::string>();
    c.tls_key = j.at("tls").at("key").get<std::string>();
    c.ca_cert = j.at("pki").at("ca_cert").get<std::string>();
    c.ca_key = j.at("pki").at("ca_key").get<std::string>();
    c.crl = j.at("pki").at("crl").get<std::string>();
    c.token_key = j.at("tokens").at("signing_key").get<std::string>();
    c.token_issuer = j.at("tokens").at("issuer").get<std::string>();
    c.token_audience = j.at("tokens").value("audience", c.token_audience);
    const auto& m = j.at("mqtt");
    c.mqtt_host = m.value("host", c.mqtt_host);
    c.mqtt_device_port = m.at("device_port").get<unsigned short>();
    c.mqtt_claim_port = m.at("claim_port").get<unsigned short>();
    c.mqtt_platform_port = m.at("platform_port").get<unsigned short>();
    c.mqtt_ca = m.at("ca").get<std::string>();
    c.mqtt_client_cert = m.at("client_cert").get<std::string>();
    c.mqtt_client_key = m.at("client_key").get<std::string>();
    c.broker_pid_file = m.value("broker_pid_file", "");
    c.device_port = j.at("listen").value("device_port", c.device_port);
    if (j.contains("sip")) {
      const auto& sip = j.at("sip");
      c.sip.enabled = true;
      c.sip.domain = sip.value("domain", c.sip.domain);
      c.sip.registrar = sip.at("registrar").get<std::string>();
      c.sip.wss_url = sip.value("wss_url", "");
      c.sip.loop_uri = sip.at("loop").get<std::string>();
      c.sip.rpc_host = sip.at("jsonrpc").value("host", c.sip.rpc_host);
      c.sip.rpc_port = sip.at("jsonrpc").at("port").get<unsigned short>();
      c.sip.evapi_host = sip.at("evapi").value("host", c.sip.evapi_host);
      c.sip.evapi_port = sip.at("evapi").at("port").get<unsigned short>();
      c.sip.secret_file = sip.at("secret_file").get<std::string>();
      c.sip.max_call_seconds = sip.value("max_call_seconds", c.sip.max_call_seconds);
    }
    if (j.contains("push")) {
      c.push.enabled = true;
      c.push.vapid_key = j.at("push").at("vapid_key").get<std::string>();
      c.push.subject = j.at("push").at("subject").get<std::string>();
    }
    if (j.contains("firmware")) {
      const auto& f = j.at("firmware");
      c.firmware.enabled = true;
      c.firmware.signing_key = f.at("signing_key").get<std::string>();
      c.firmware.image_dir = f.at("image_dir").get<std::string>();
      c.firmware.max_image_bytes = f.value("max_image_bytes", c.firmware.max_image_bytes);
      c.firmware.device_timeout_seconds = f.value("device_timeout_seconds", c.firmware.device_timeout_seconds);
      c.firmware.tick_seconds = f.value("tick_seconds", c.firmware.tick_seconds);
    }
    if (j.contains("smtp")) {
      const auto& m = j.at("smtp");
      c.smtp.enabled = true;
      c.smtp.url = m.at("url").get<std::string>();
      c.smtp.from = m.at("from").get<std::string>();
      c.smtp.username = m.value("username", "");
      c.smtp.password_file = m.value("password_file", "");
      c.smtp.ca_file = m.value("ca_file", "");
      c.smtp.require_starttls = m.value("require_starttls", true);
      c.smtp.timeout_ms = m.value("timeout_ms", c.smtp.timeout_ms);
      c.smtp.group_window_seconds = m.value("group_window_seconds", c.smtp.group_window_seconds);
      c.smtp.interval_ms = m.value("interval_ms", c.smtp.interval_ms);
    }
    c.web_root = j.value("web_root", "");
    c.threads = j.value("threads", c.threads);
    c.retention_interval_seconds = j.value("retention_interval_seconds", c.retention_interval_seconds);
  } catch (const json::exception& e) {
    return fail(Errc::invalid_argument, file.string() + ": " + e.what(), "config");
  }
  return c;
}

namespace {

// Everything serve owns, in construction order.
struct Platform {
  SystemClock clock;
  SodiumRandom random;
  IdGenerator ids{clock, random};
  EventBus events;
  ops::Metrics metrics;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<store::SqlTenancyRepository> tenancy_repo;
  std::unique_ptr<store::SqlUserRepository> users;
  std::unique_ptr<store::SqlDeviceRepository> device_repo;
  std::unique_ptr<store::SqlAuditLog> audit;
  std::unique_ptr<identity::TokenSigner> signer;
  std::unique_ptr<identity::AuthService> auth;
  std::unique_ptr<tenancy::TenancyService> tenancy;
  std::unique_ptr<pki::CertificateAuthority> ca;
  std::unique_ptr<DeviceLink> link;
  std::unique_ptr<devices::DeviceService> devices;
  std::unique_ptr<store::SqlCallsRepository> calls_repo;
  std::unique_ptr<calls::CallsService> calls;
  std::unique_ptr<calls::CallRecorder> recorder;
  std::unique_ptr<SipLink> sip;
  std::unique_ptr<store::SqlPushRepository> push_repo;
  std::unique_ptr<PushLink> push;
  TimeZoneDb zones;
  std::optional<firmware::FirmwareSigner> firmware_signer;
  std::unique_ptr<store::SqlFirmwareRepository> firmware_repo;
  std::unique_ptr<firmware::FirmwareService> firmware;
  std::unique_ptr<FirmwareLink> firmware_link;
  std::unique_ptr<store::SqlAlertRepository> alert_repo;
  std::unique_ptr<alerts::SmtpMailer> mailer;
  std::unique_ptr<alerts::AlertEngine> alert_engine;
  std::unique_ptr<alerts::Dispatcher> dispatcher;
  std::unique_ptr<alerts::AlertWorker> alert_worker;
  std::uint64_t alert_subscription = 0;
};

// Alert e-mail: device presence and new firmware go to the alert worker (it decides, debounces,
// groups and sends on its own thread).
Status open_alerts(Platform& p, const ServeConfig& config) {
  alerts::SmtpSettings smtp;
  smtp.url = config.smtp.url;
  smtp.from = config.smtp.from;
  smtp.username = config.smtp.username;
  if (!config.smtp.password_file.empty()) {
    auto password = read_file(config.smtp.password_file);
    if (!password) return fail(Errc::invalid_argument, "cannot read the SMTP password file", "smtp.password_file");
    smtp.password = *password;
    while (!smtp.password.empty() && (smtp.password.back() == '\n' || smtp.password.back() == '\r')) smtp.password.pop_back();
  }
  if (!config.smtp.ca_file.empty()) {
    auto ca = read_file(config.smtp.ca_file);
    if (!ca) return fail(Errc::invalid_argument, "cannot read the SMTP CA file", "smtp.ca_file");
    smtp.ca_pem = *ca;
  }
  smtp.require_starttls = config.smtp.require_starttls;
  smtp.timeout_ms = config.smtp.timeout_ms;
  if (auto s = alerts::validate(smtp); !s) {
    return fail(Errc::invalid_argument, s.error().message, "smtp." + s.error().field);
  }
  p.mailer = std::make_unique<alerts::SmtpMailer>(smtp, p.clock, p.random);
  alerts::EngineOptions engine;
  engine.group_window_seconds = config.smtp.group_window_seconds;
  engine.portal_url = config.public_url;
  p.alert_engine = std::make_unique<alerts::AlertEngine>(*p.alert_repo, p.ids, p.clock, engine);
  p.dispatcher = std::make_unique<alerts::Dispatcher>(*p.alert_repo, *p.mailer, p.clock);
  alerts::WorkerOptions worker;
  worker.interval = std::chrono::milliseconds(std::max(100, config.smtp.interval_ms));
  auto describe = [&p](const std::string& company, const std::string& id) -> std::optional<alerts::DeviceRef> {
    auto d = p.device_repo->find(id);
    if (!d) return std::nullopt;
    Actor system;
    system.id = "system";
    system.platform_admin = true;
    auto site = p.tenancy->get(system, tenancy::NodeKind::site, d->site_id);
    return alerts::DeviceRef{company, id, d->name, site ? site->name : ""};
  };
  p.alert_worker = std::make_unique<alerts::AlertWorker>(*p.alert_engine, *p.dispatcher, describe, worker);
  p.alert_subscription = p.events.subscribe([&p](const LiveEvent& e) {
    if (e.type == "device.offline") {
      p.alert_worker->device_offline(e.company_id, e.data.value("id", std::string()), p.clock.now());
    } else if (e.type == "device.online") {
      p.alert_worker->device_online(e.company_id, e.data.value("id", std::string()), p.clock.now());
    }
  });
  // Each company with recipients hears about a platform version once (the outbox de-duplicates).
  p.alert_worker->platform_version(CARILLON_VERSION);
  p.alert_worker->start();
  return {};
}

// G2: companies with devices of an image's family hear about it (their policy decides whether
// it is installed; the e-mail only says it exists).
void announce_image(Platform& p, const firmware::Image& image) {
  if (!p.alert_worker) return;
  auto all = p.device_repo->summaries({}, {});
  if (!all) return;
  std::map<std::string, int> per_company;
  for (const auto& d : *all) {
    if (firmware::check_image_fits(d.model, d.hardware_revision, image.manifest)) per_company[d.company_id] += 1;
  }
  for (const auto& [company, count] : per_company) {
    p.alert_worker->firmware_available({company, image.manifest.family, image.manifest.version,
                                        image.manifest.security_critical, count, image.release_notes});
  }
}

Status open_store(Platform& p, const ServeConfig& config) {
  auto db = store::Database::open(config.database);
  if (!db) return tl::unexpected(db.error());
  p.db = std::move(*db);
  if (auto s = p.db->migrate(); !s) return s;
  p.tenancy_repo = std::make_unique<store::SqlTenancyRepository>(*p.db);
  p.users = std::make_unique<store::SqlUserRepository>(*p.db);
  p.device_repo = std::make_unique<store::SqlDeviceRepository>(*p.db);
  p.audit = std::make_unique<store::SqlAuditLog>(*p.db);
  return {};
}

Status open_identity(Platform& p, const ServeConfig& config) {
  auto key = read_file(config.token_key);
  if (!key) return tl::unexpected(key.error());
  p.signer = std::make_unique<identity::TokenSigner>(*key, config.token_issuer, config.token_audience, p.clock, p.random);
  p.auth = std::make_unique<identity::AuthService>(*p.users, *p.audit, *p.signer, p.clock, p.random, p.ids);
  return {};
}

// The push client's trust anchors: the system store (OpenSSL's default bundle, or $SSL_CERT_FILE
// as OpenSSL itself honours it) plus the platform CA. Setting any anchor replaces curl's default
// store, hence the bundle is read here.
std::string push_trust_anchors(const std::string& platform_ca_pem) {
  const char* override_file = std::getenv(X509_get_default_cert_file_env());
  const std::string file = override_file != nullptr && *override_file != '\0' ? override_file : X509_get_default_cert_file();
  auto system = read_file(file);
  if (!system) log::get("push")->warn("cannot read the system CA bundle {}: pushes to public services will fail", file);
  return (system ? *system + "\n" : std::string()) + platform_ca_pem;
}

Status open_push(Platform& p, const ServeConfig& config, const std::string& platform_ca_pem) {
  auto pem = read_file(config.push.vapid_key);
  if (!pem) return fail(Errc::invalid_argument, "cannot read the VAPID key: " + pem.error().message, "push.vapid_key");
  auto key = notify::VapidKey::from_pem(*pem);
  if (!key) return fail(Errc::invalid_argument, key.error().message, "push.vapid_key");
  PushLinkOptions options;
  options.web_push.subject = config.push.subject;
  options.web_push.http.ca_pem = push_trust_anchors(platform_ca_pem);
  // One slow push service holds up the pushes queued behind it (and a shutdown): bounded.
  options.web_push.http.timeout_ms = 5000;
  p.push_repo = std::make_unique<store::SqlPushRepository>(*p.db);
  p.push = std::make_unique<PushLink>(std::move(*key), std::move(options), *p.push_repo, *p.calls_repo, p.events,
                                      p.clock, p.random);
  return {};
}

}  // namespace

Status bootstrap_admin(const ServeConfig& config, const std::filesystem::path& credentials_file) {
  Platform p;
  if (auto s = open_store(p, config); !s) return s;
  if (auto s = open_identity(p, config); !s) return s;
  auto count = p.users->count();
  if (!count) return tl::unexpected(count.error());
  if (*count > 0) return {};
  auto password = p.random.token(18);  // 144 bits, URL-safe
  auto user = p.auth->create_user("admin", password, identity::Role::platform_admin, "", "system");
  if (!user) return tl::unexpected(user.error());
  json credentials{{"url", config.public_url}, {"username", "admin"}, {"password", password}};
  return write_file(credentials_file, credentials.dump(2) + "\n", std::filesystem::perms(0600));
}

Status run_serve(const ServeConfig& config, const ServeHooks& hooks) {
  auto logger = log::get("serve");
  Platform p;
  if (auto s = open_store(p, config); !s) return s;
  if (auto s = open_identity(p, config); !s) return s;
  p.tenancy = std::make_unique<tenancy::TenancyService>(*p.tenancy_repo, p.ids, p.clock, p.events);

  auto ca_cert = read_file(config.ca_cert);
  auto ca_key = read_file(config.ca_key);
  if (!ca_cert || !ca_key) return fail(Errc::invalid_argument, "cannot read the platform CA", "pki");
  auto ca = pki::CertificateAuthority::load(*ca_cert, *ca_key, p.clock, p.random);
  if (!ca) return tl::unexpected(ca.error());
  p.ca = std::make_unique<pki::CertificateAuthority>(std::move(*ca));

  DeviceLinkOptions link;
  link.platform.host = config.mqtt_host;
  link.platform.port = config.mqtt_platform_port;
  link.platform.client_id = "carillon-serve-" + p.random.hex(6);
  link.platform.ca_pem_file = config.mqtt_ca;
  link.platform.cert_file = config.mqtt_client_cert;
  link.platform.key_file = config.mqtt_client_key;
  link.crl_file = config.crl;
  link.broker_pid_file = config.broker_pid_file;
  p.link = std::make_unique<DeviceLink>(link, *p.ca, p.clock);

  devices::DeviceSettings settings;
  settings.portal_url = config.public_url;
  // Only models of the compatibility table, at their minimum hardware revision, join as cloud devices.
  settings.check_model = [](const std::string& model, const std::string& revision) {
    return firmware::check_claimable(model, revision, firmware::ClaimMode::cloud);
  };
  if (config.firmware.enabled) {
    auto signer = firmware::FirmwareSigner::load_or_create(config.firmware.signing_key);
    if (!signer) return fail(Errc::invalid_argument, signer.error().message, "firmware.signing_key");
    p.firmware_signer.emplace(std::move(*signer));
    settings.firmware_public_key_pem = p.firmware_signer->public_key_pem();
  }
  p.devices = std::make_unique<devices::DeviceService>(*p.device_repo, *p.tenancy, *p.ca, *p.link, *p.audit, p.events,
                                                       p.ids, p.clock, p.random, settings);
  p.calls_repo = std::make_unique<store::SqlCallsRepository>(*p.db);
  p.calls = std::make_unique<calls::CallsService>(*p.calls_repo, *p.tenancy, p.ids, p.clock);
  p.recorder = std::make_unique<calls::CallRecorder>(*p.calls_repo, p.ids);
  if (config.sip.enabled) {
    auto secret = read_file(config.sip.secret_file);
    if (!secret || secret->size() < 32) return fail(Errc::invalid_argument, "cannot read the SIP secret", "sip.secret_file");
    SipLinkConfig sip;
    sip.domain = config.sip.domain;
    sip.registrar = config.sip.registrar;
    sip.wss_url = config.sip.wss_url;
    sip.loop_uri = config.sip.loop_uri;
    sip.rpc_host = config.sip.rpc_host;
    sip.rpc_port = config.sip.rpc_port;
    sip.evapi_host = config.sip.evapi_host;
    sip.evapi_port = config.sip.evapi_port;
    sip.secret = *secret;
    sip.max_call_seconds = config.sip.max_call_seconds;
    if (config.device_port != 0) {
      auto host = config.public_url.substr(0, config.public_url.rfind(':'));
      sip.snapshot_url = host + ":" + std::to_string(config.device_port) + "/device/v1/snapshots";
    }
    p.sip = std::make_unique<SipLink>(sip, *p.calls_repo, *p.calls, *p.recorder, p.events, p.clock, p.random);
    // Devices get their SIP account with every config, from the first one on.
    p.devices->set_provisioning(p.sip.get());
    p.calls->set_change_listener([sip = p.sip.get()] { sip->wake(); });
  }
  if (config.push.enabled) {
    if (auto s = open_push(p, config, *ca_cert); !s) return s;
    p.push->start();
  }
  // Alert settings can be kept without an SMTP server; mail goes out once one is configured.
  p.alert_repo = std::make_unique<store::SqlAlertRepository>(*p.db);
  if (config.smtp.enabled) {
    if (auto s = open_alerts(p, config); !s) return s;
  }
  if (config.firmware.enabled) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(config.firmware.image_dir) / "incoming", ec);
    if (ec) return fail(Errc::invalid_argument, "cannot create " + config.firmware.image_dir + ": " + ec.message(), "firmware.image_dir");
    firmware::FirmwareSettings fw;
    fw.image_dir = config.firmware.image_dir;
    if (config.device_port != 0) {
      auto host = config.public_url.substr(0, config.public_url.rfind(':'));
      fw.download_base_url = host + ":" + std::to_string(config.device_port) + "/device/v1/firmware/";
    }
    fw.device_timeout_seconds = config.firmware.device_timeout_seconds;
    p.firmware_repo = std::make_unique<store::SqlFirmwareRepository>(*p.db);
    p.firmware = std::make_unique<firmware::FirmwareService>(*p.firmware_repo, *p.device_repo, *p.tenancy,
                                                             *p.firmware_signer, *p.link, p.events, p.ids, p.clock,
                                                             p.zones, fw);
    p.firmware_link = std::make_unique<FirmwareLink>(
        *p.firmware, p.events, std::chrono::seconds(std::max(1, config.firmware.tick_seconds)),
        [&p](const firmware::Image& image) { announce_image(p, image); });
    p.firmware_link->start();
  }
  if (auto s = p.link->connect(*p.devices); !s) return s;
  if (p.sip) p.sip->start();

  api::ApiContext context{*p.auth, *p.users, *p.tenancy, *p.devices, *p.audit, p.events, p.metrics,
                          std::string(openapi_document()), {config.mqtt_host, config.mqtt_claim_port, config.mqtt_device_port}, {}};
  context.calls = p.calls.get();
  context.sip_accounts = p.sip.get();
  context.firmware = p.firmware.get();
  context.clock = &p.clock;
  context.alerting = {p.alert_repo.get(), p.alert_repo.get(), &p.ids};
  if (p.push) context.push = {p.push_repo.get(), p.push->public_key(), &p.ids, &p.clock};
  if (p.sip) {
    context.readiness_checks.emplace_back("sip_edge", [&p] {
      return p.sip->edge_connected() ? std::string() : "Kamailio's event stream is not connected";
    });
  }
  context.readiness_checks.emplace_back("database", [&p] {
    auto s = p.db->ping();
    return s ? std::string() : s.error().message;
  });
  context.readiness_checks.emplace_back("broker", [&p] { return p.link->connected() ? std::string() : "not connected"; });
  context.readiness_checks.emplace_back("claim_bridge", [&p] {
    return p.link->claim_bridge_up() ? std::string() : "claim broker not bridged yet";
  });
  p.metrics.gauge("carillon_broker_connected", "1 when serve is connected to the MQTT broker",
                  [&p] { return p.link->connected() ? 1.0 : 0.0; });

  http::Router router;
  api::add_routes(router, context);
  http::ServerOptions options;
  options.address = config.listen_address;
  options.port = config.port;
  auto cert = read_file(config.tls_cert);
  auto key = read_file(config.tls_key);
  if (!cert || !key) return fail(Errc::invalid_argument, "cannot read the TLS certificate or key", "tls");
  options.cert_pem = *cert;
  options.key_pem = *key;
  options.threads = config.threads;
  options.static_dir = config.web_root;
  // Logos may be larger than ordinary JSON bodies.
  options.body_limit_large = 600 * 1024;
  options.large_body_prefixes = {"/api/v1/companies/"};
  if (p.firmware) {
    // Images are streamed to disk, never held in memory (hundreds of MB).
    options.upload_routes.push_back({"/api/v1/firmware-images", "POST",
                                     std::filesystem::path(config.firmware.image_dir) / "incoming",
                                     static_cast<std::uint64_t>(config.firmware.max_image_bytes)});
  }
  http::Server server(options, router);
  if (auto s = server.start(); !s) return s;
  logger->info("serving https://{}:{} (database {})", config.listen_address, server.port(), p.db->backend());

  // Devices upload snapshots on their own listener, with their certificates (mutual TLS).
  DeviceApiContext device_context{*p.device_repo, *p.calls_repo, *p.recorder};
  device_context.firmware = p.firmware.get();
  http::Router device_router;
  add_device_routes(device_router, device_context);
  std::unique_ptr<http::Server> device_server;
  if (config.device_port != 0) {
    http::ServerOptions device_options = options;
    device_options.port = config.device_port;
    device_options.static_dir.clear();
    device_options.client_ca_pem = *ca_cert;
    device_options.body_limit = calls::kMaxSnapshotBytes + 4096;
    device_options.large_body_prefixes.clear();
    device_options.upload_routes.clear();
    device_server = std::make_unique<http::Server>(device_options, device_router);
    if (auto s = device_server->start(); !s) return s;
    logger->info("device uploads on https://{}:{} (mutual TLS)", config.listen_address, device_server->port());
  }

  if (hooks.on_ready) {
    if (auto s = hooks.on_ready(config); !s) return s;
  }
  // Retention (P3): call data older than each company's period goes, at start and then hourly.
  // Idempotent, so several serve nodes running it do no harm.
  calls::RetentionJob retention(*p.calls_repo, p.ids);
  std::int64_t next_purge = 0;
  while (hooks.stop == nullptr || !hooks.stop->load()) {
    if (auto now = p.clock.now(); now >= next_purge) {
      next_purge = now + config.retention_interval_seconds;
      if (auto purged = retention.run(now); !purged)
        logger->warn("retention purge failed: {}", purged.error().message);
      else if (*purged > 0)
        logger->info("retention purge: {} call(s) older than their company's period removed", *purged);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (p.sip) p.sip->stop();
  if (p.push) p.push->stop();
  if (p.firmware_link) p.firmware_link->stop();
  if (p.alert_worker) {
    p.events.unsubscribe(p.alert_subscription);
    p.alert_worker->stop();
  }
  if (device_server) device_server->stop();
  server.stop();
  logger->info("stopped");
  return {};
}

}  // namespace carillon::apps
