#include "emulator/device.hpp"

#include <condition_variable>
#include <thread>

#include "common/files.hpp"
#include "common/log.hpp"
#include "devices/config.hpp"
#include "emulator/snapshot.hpp"
#include "devices/protocol.hpp"
#include "http/client.hpp"
#include "mqtt/client.hpp"
#include "pki/pki.hpp"

namespace carillon::emulator {

namespace protocol = devices::protocol;
using nlohmann::json;

namespace {

const json kCapabilities = json::array({"audio", "video", "door-opener", "dtmf", "hearing-loop"});

Result<std::pair<std::string, unsigned short>> split_host_port(const std::string& url) {
  auto rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  auto slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) return std::make_pair(rest, static_cast<unsigned short>(443));
  return std::make_pair(rest.substr(0, colon), static_cast<unsigned short>(std::stoi(rest.substr(colon + 1))));
}

}  // namespace

EmulatedDevice::EmulatedDevice(DeviceOptions options, Random& random) : options_(std::move(options)), random_(random) {}

EmulatedDevice::~EmulatedDevice() { stop(); }

namespace {
// The platform-provisioned section is checked where it is used (SIP account, upload URL).
json without_provisioned(json document) {
  document.erase(devices::kProvisionedSection);
  return document;
}
}  // namespace

json EmulatedDevice::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}


Status EmulatedDevice::start() {
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  if (ec) return fail(Errc::invalid_argument, "cannot create " + options_.state_dir.string() + ": " + ec.message(), "state_dir");
  if (auto s = load_or_claim(); !s) return s;
  if (auto s = start_firmware(); !s) return s;
  auto station_options = options_.station;
  station_options.cert_file = file("device.pem");
  station_options.key_file = file("device.key");
  station_options.ca_file = file("ca.pem");
  station_ = std::make_unique<Station>(
      station_options, clock_, [this](const json& event) { emit_event(event); },
      [this](const std::string& sip_call_id) { return upload_snapshot(sip_call_id); });
  if (auto s = station_->apply(config()); !s)
    log::get("device")->warn("{}: SIP station not started: {}", serial_, s.error().message);
  if (options_.control_port != 0) {
    auto channel = ControlChannel::start(options_.control_port, [this](const json& r) { return control(r); });
    if (!channel) return tl::unexpected(channel.error());
    control_ = std::move(*channel);
  }
  // Power-on: the bootloader picks the slot; an image that does not come up stays offline until
  // resume() rolls it back.
  if (firmware_->boot()) {
    if (auto s = connect(); !s) return s;
  } else {
    log::get("device")->warn("serial={} firmware {} does not come up", serial_, firmware_->running_version());
  }
  firmware_->resume();
  return {};
}

Status EmulatedDevice::start_firmware() {
  std::string key_pem;
  if (!options_.firmware_key_file.empty()) {
    auto key = read_file(options_.firmware_key_file);
    if (!key) return fail(Errc::invalid_argument, "cannot read the firmware key " + options_.firmware_key_file.string(), "firmware_key");
    key_pem = *key;
  } else if (auto key = read_file(file("firmware-key.pem"))) {
    key_pem = *key;
  }
  auto ca = read_file(file("ca.pem"));
  auto cert = read_file(file("device.pem"));
  auto key = read_file(file("device.key"));
  if (!ca || !cert || !key) return fail(Errc::internal, "device identity files are missing");
  FirmwareUpdaterOptions o;
  o.dir = file("firmware");
  o.model = options_.model;
  o.hardware_revision = options_.hardware_revision;
  o.factory_version = options_.firmware_version;
  o.public_key_pem = key_pem;
  o.health_timeout = options_.firmware_health_timeout;
  FirmwareUpdaterHooks hooks;
  hooks.download = https_download(http::ClientOptions{*ca, *cert, *key, 10000});
  hooks.publish = [this](const json& event) { emit_event(event); };
  hooks.reboot = [this] { reboot(); };
  hooks.wait_link_up = [this](std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!connected()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  };
  firmware_ = std::make_unique<FirmwareUpdater>(std::move(o), std::move(hooks), clock_);
  return {};
}

std::string EmulatedDevice::firmware_version() const {
  return firmware_ ? firmware_->running_version() : options_.firmware_version;
}

void EmulatedDevice::emit_event(const json& event) {
  json message = event;
  message["schema"] = protocol::kSchema;
  std::lock_guard lock(link_mutex_);
  if (client_) (void)client_->publish(protocol::device_topic(serial_, "events"), message.dump());
}

Status EmulatedDevice::upload_snapshot(const std::string& sip_call_id) {
  auto document = config();
  std::string url;
  if (document.contains("platform") && document["platform"].is_object())
    url = document["platform"].value("snapshot_url", "");
  if (url.empty()) return fail(Errc::unavailable, "no snapshot URL provisioned");
  auto jpeg = make_snapshot_jpeg(clock_.now());
  if (!jpeg) return tl::unexpected(jpeg.error());
  auto ca = read_file(file("ca.pem"));
  auto cert = read_file(file("device.pem"));
  auto key = read_file(file("device.key"));
  if (!ca || !cert || !key) return fail(Errc::internal, "device identity files are missing");
  http::Client client(http::ClientOptions{*ca, *cert, *key, 10000});
  auto response = client.request("POST", url + "?call_id=" + sip_call_id, *jpeg, {{"Content-Type", "image/jpeg"}});
  if (!response) return tl::unexpected(response.error());
  if (response->status != 201 && response->status != 200)
    return fail(Errc::unavailable, "snapshot upload answered " + std::to_string(response->status) + ": " + response->body);
  return {};
}

json EmulatedDevice::control(const json& request) {
  auto cmd = request.value("cmd", "");
  auto answer = [](const Status& s) {
    return s ? json{{"ok", true}} : json{{"ok", false}, {"error", s.error().message}};
  };
  if (!station_) return {{"ok", false}, {"error", "the device has no identity yet"}};
  if (cmd == "status") {
    json out = station_->status();
    out["ok"] = true;
    out["serial"] = serial_;
    out["connected"] = connected();
    out["config_version"] = applied_version_.load();
    return out;
  }
  if (cmd == "press") {
    auto call = station_->press(request.value("button", ""));
    if (!call) return {{"ok", false}, {"error", call.error().message}};
    return {{"ok", true}, {"call", *call}};
  }
  std::optional<media::CallId> call;
  if (request.contains("call") && request["call"].is_number_unsigned()) call = request["call"].get<media::CallId>();
  if (cmd == "answer") return answer(station_->answer(call));
  if (cmd == "hangup") return answer(station_->hangup(call));
  if (cmd == "dtmf") return answer(station_->send_dtmf(request.value("digits", ""), call));
  return {{"ok", false}, {"error", "unknown cmd; use press, answer, hangup, dtmf or status"}};
}


Status EmulatedDevice::load_or_claim() {
  auto identity = read_file(file("identity.json"));
  if (identity) {
    auto j = json::parse(*identity, nullptr, false);
    if (j.is_discarded() || !j.contains("serial")) return fail(Errc::internal, "corrupt identity.json in " + options_.state_dir.string());
    serial_ = j["serial"].get<std::string>();
    device_id_ = j.value("device_id", "");
    mqtt_host_ = j.value("mqtt_host", "");
    device_port_ = j.value("device_port", static_cast<unsigned short>(0));
    if (auto stored = read_file(file("config.json"))) {
      auto c = json::parse(*stored, nullptr, false);
      if (!c.is_discarded()) {
        config_ = c;
        applied_version_ = c.value("version", std::int64_t{0});
      }
    }
    if (!device_id_.empty()) return {};
  }
  return claim();
}

Status EmulatedDevice::claim() {
  auto logger = log::get("device");
  if (options_.claim_code.empty()) return fail(Errc::invalid_argument, "this device is not claimed yet: give it a claim code", "claim");
  auto ca = read_file(options_.ca_file);
  if (!ca) return fail(Errc::invalid_argument, "cannot read the platform CA " + options_.ca_file.string(), "ca");

  // Identity: a serial and a key made once, kept across restarts and failed claims.
  if (serial_.empty()) serial_ = options_.serial.empty() ? "EMU-" + random_.hex(6) : options_.serial;
  if (!pki::is_safe_common_name(serial_)) return fail(Errc::invalid_argument, "serials are 1..64 of A-Z a-z 0-9 -", "serial");
  auto key = read_file(file("device.key"));
  if (!key) {
    auto fresh = pki::generate_private_key_pem();
    if (!fresh) return tl::unexpected(fresh.error());
    if (auto s = write_file(file("device.key"), *fresh, std::filesystem::perms(0600)); !s) return s;
    key = *fresh;
  }
  if (auto s = write_file(file("identity.json"), json{{"serial", serial_}}.dump()); !s) return s;
  auto csr = pki::make_csr_pem(*key, serial_);
  if (!csr) return tl::unexpected(csr.error());

  http::Client web(http::ClientOptions{*ca, "", "", 10000});
  auto bootstrap = web.request("GET", options_.platform_url + "/api/v1/device-bootstrap");
  if (!bootstrap) return tl::unexpected(bootstrap.error());
  if (bootstrap->status != 200) return fail(Errc::unavailable, "device bootstrap answered " + std::to_string(bootstrap->status));
  auto boot = json::parse(bootstrap->body, nullptr, false);
  if (boot.is_discarded() || !boot.contains("mqtt")) return fail(Errc::unavailable, "device bootstrap is not understood");
  mqtt_host_ = boot["mqtt"].value("host", "");
  if (mqtt_host_.empty()) {
    auto hp = split_host_port(options_.platform_url);
    if (hp) mqtt_host_ = hp->first;
  }
  device_port_ = boot["mqtt"].value("device_port", static_cast<unsigned short>(0));
  auto claim_port = boot["mqtt"].value("claim_port", static_cast<unsigned short>(0));

  auto client_id = "claim-" + random_.hex(12);
  mqtt::ClientOptions claim_options;
  claim_options.host = mqtt_host_;
  claim_options.port = claim_port;
  claim_options.client_id = client_id;
  claim_options.ca_pem_file = options_.ca_file.string();
  mqtt::Client claimer(claim_options);

  std::mutex m;
  std::condition_variable cv;
  std::string answer;
  claimer.on_message([&](const std::string&, const std::string& payload, bool) {
    std::lock_guard lock(m);
    answer = payload;
    cv.notify_all();
  });
  if (auto s = claimer.connect(); !s) return s;
  if (auto s = claimer.wait_connected(options_.claim_timeout); !s) return s;
  if (auto s = claimer.subscribe(protocol::claim_topic(client_id, "response")); !s) return s;
  json request{{"schema", protocol::kSchema},       {"code", options_.claim_code},
               {"csr", *csr},                       {"serial", serial_},
               {"model", options_.model},           {"hardware_revision", options_.hardware_revision},
               {"firmware_version", options_.firmware_version}, {"capabilities", kCapabilities}};
  if (auto s = claimer.publish(protocol::claim_topic(client_id, "request"), request.dump()); !s) return s;
  {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, options_.claim_timeout, [&] { return !answer.empty(); }))
      return fail(Errc::unavailable, "no answer to the claim request");
  }
  claimer.disconnect();

  auto response = json::parse(answer, nullptr, false);
  if (response.is_discarded() || !response.value("ok", false)) {
    auto message = response.is_discarded() ? std::string("unreadable claim response")
                                            : response["error"].value("message", std::string("claim refused"));
    return fail(Errc::forbidden, "claim refused: " + message, "claim");
  }
  auto cert = response.value("certificate", "");
  if (auto s = pki::verify_certificate(cert, *ca); !s) return fail(Errc::forbidden, "claim answer carries a certificate the trust anchor does not vouch for");
  device_id_ = response.value("device_id", "");
  if (auto s = write_file(file("device.pem"), cert); !s) return s;
  // The firmware trust anchor comes over the same verified channel as the certificate.
  if (auto firmware_key = response.value("firmware_public_key_pem", std::string()); !firmware_key.empty())
    if (auto s = write_file(file("firmware-key.pem"), firmware_key); !s) return s;
  if (auto s = write_file(file("ca.pem"), *ca); !s) return s;
  if (auto s = write_file(file("identity.json"), json{{"serial", serial_}, {"device_id", device_id_}, {"mqtt_host", mqtt_host_},
                                                      {"device_port", device_port_}}.dump(2));
      !s)
    return s;
  logger->info("claimed serial={} device={}", serial_, device_id_);
  return {};
}

std::string EmulatedDevice::state_message(bool online) const {
  json m{{"schema", protocol::kSchema}, {"online", online}};
  if (online) {
    m["model"] = options_.model;
    m["hardware_revision"] = options_.hardware_revision;
    m["firmware_version"] = firmware_version();
    m["capabilities"] = kCapabilities;
    m["config_version"] = applied_version_.load();
  }
  return m.dump();
}

Status EmulatedDevice::connect() {
  mqtt::ClientOptions o;
  o.host = mqtt_host_;
  o.port = device_port_;
  o.client_id = serial_;
  o.ca_pem_file = file("ca.pem").string();
  o.cert_file = file("device.pem").string();
  o.key_file = file("device.key").string();
  o.keepalive_seconds = options_.keepalive_seconds;
  o.will = mqtt::Will{protocol::device_topic(serial_, "state"), state_message(false), 1, true};
  auto client = std::make_unique<mqtt::Client>(o);
  // Callbacks run on this client's own thread and use this client, never client_, which a
  // restart swaps.
  mqtt::Client* link = client.get();
  link->on_message([this, link](const std::string& topic, const std::string& payload, bool) {
    on_message(*link, topic, payload);
  });
  // Birth message on every (re)connect: the platform re-sends desired state after it.
  link->on_connection([this, link](bool up) {
    if (up) (void)link->publish(protocol::device_topic(serial_, "state"), state_message(true), 1, true);
  });
  if (auto s = link->subscribe(protocol::device_topic(serial_, "config")); !s) return s;
  if (auto s = link->subscribe(protocol::device_topic(serial_, "commands")); !s) return s;
  if (auto s = link->connect(); !s) return s;
  std::lock_guard lock(link_mutex_);
  client_ = std::move(client);
  return {};
}

bool EmulatedDevice::connected() const {
  std::lock_guard lock(link_mutex_);
  return client_ && client_->connected();
}

void EmulatedDevice::stop() {
  // First: the updater's thread may be inside reboot().
  if (firmware_) firmware_->stop();
  if (restart_thread_.joinable()) restart_thread_.join();
  control_.reset();
  station_.reset();
  std::unique_ptr<mqtt::Client> client;
  {
    std::lock_guard lock(link_mutex_);
    client = std::move(client_);
  }
  if (client) {
    // A clean disconnect suppresses the last will, so say goodbye explicitly.
    (void)client->publish(protocol::device_topic(serial_, "state"), state_message(false), 1, true);
    client->disconnect();
  }
}

void EmulatedDevice::reboot() {
  std::unique_ptr<mqtt::Client> old;
  {
    std::lock_guard lock(link_mutex_);
    old = std::move(client_);
  }
  // Drops the link without a goodbye, like a power cycle: the broker publishes the will (offline).
  if (old) old->disconnect_with_will();
  old.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  restarts_++;
  if (firmware_ && !firmware_->boot()) {
    log::get("device")->warn("serial={} firmware {} does not come up", serial_, firmware_->running_version());
    return;
  }
  if (auto s = connect(); !s) log::get("device")->warn("serial={} did not come back after restart: {}", serial_, s.error().message);
}

void EmulatedDevice::on_message(mqtt::Client& link, const std::string& topic, const std::string& payload) {
  auto parsed = protocol::parse_topic(topic);
  if (!parsed || parsed->claim || parsed->id != serial_) return;
  if (parsed->leaf == "config") apply_config(link, payload);
  else if (parsed->leaf == "commands") run_command(link, payload);
}

void EmulatedDevice::apply_config(mqtt::Client& link, const std::string& payload) {
  auto document = json::parse(payload, nullptr, false);
  json ack{{"schema", protocol::kSchema}};
  if (document.is_discarded() || !document.is_object()) {
    ack["ok"] = false;
    ack["version"] = 0;
    ack["error"] = "config is not a JSON object";
  } else {
    auto version = document.value("version", std::int64_t{0});
    ack["version"] = version;
    if (version <= applied_version_.load()) {
      ack["ok"] = true;  // already running it (retained copy after a reconnect)
      version = applied_version_.load();
      ack["version"] = version;
    } else if (auto valid = devices::validate_config(without_provisioned(document)); !valid) {
      ack["ok"] = false;
      ack["error"] = valid.error().field + ": " + valid.error().message;
    } else {
      {
        std::lock_guard lock(mutex_);
        config_ = document;
      }
      if (auto s = write_file(file("config.json"), document.dump(2)); !s) {
        ack["ok"] = false;
        ack["error"] = "cannot store config: " + s.error().message;
      } else if (auto sip = station_ ? station_->apply(document) : Status{}; !sip) {
        // Stored, but the station cannot use it: report that instead of pretending.
        applied_version_ = version;
        ack["ok"] = false;
        ack["error"] = sip.error().field + ": " + sip.error().message;
      } else {
        applied_version_ = version;
        ack["ok"] = true;
      }
    }
  }
  (void)link.publish(protocol::device_topic(serial_, "config/ack"), ack.dump());
}

void EmulatedDevice::run_command(mqtt::Client& link, const std::string& payload) {
  auto command = json::parse(payload, nullptr, false);
  if (command.is_discarded() || !command.is_object()) return;
  auto id = command.value("id", std::string());
  auto type = command.value("type", std::string());
  json result{{"schema", protocol::kSchema}, {"id", id}};
  if (type == "restart") {
    result["ok"] = true;
    result["detail"] = "restarting";
    (void)link.publish(protocol::device_topic(serial_, "commands/result"), result.dump());
    // A reboot cannot run on the link's own thread (it ends that thread).
    if (restart_thread_.joinable()) restart_thread_.join();
    restart_thread_ = std::thread([this] { reboot(); });
    return;
  }
  if (type == "update-firmware") {
    auto request = parse_firmware_update_args(command.contains("args") ? command["args"] : json());
    Status started = request ? firmware_->start(std::move(*request)) : Status(tl::unexpected(request.error()));
    result["ok"] = started.has_value();
    result["detail"] = started ? std::string("update started") : started.error().message;
    (void)link.publish(protocol::device_topic(serial_, "commands/result"), result.dump());
    return;
  }
  result["ok"] = false;
  result["detail"] = "unknown command " + type;
  (void)link.publish(protocol::device_topic(serial_, "commands/result"), result.dump());
}

}  // namespace carillon::emulator
