#include "devices/service.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>

#include "common/encoding.hpp"
#include "common/log.hpp"
#include "devices/config.hpp"
#include "devices/protocol.hpp"

namespace carillon::devices {

namespace {

using nlohmann::json;

constexpr std::string_view kCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // no 0/O, 1/I
constexpr std::size_t kCodeLength = 12;                                          // 60 bits
constexpr std::size_t kMaxCommands = 10000;

// Unknown, used and expired codes must look the same to the claimer.
constexpr const char* kInvalidClaim = "claim code is unknown, used or expired";

json claim_error(const std::string& code, const std::string& message) {
  return json{{"schema", protocol::kSchema}, {"ok", false}, {"error", {{"code", code}, {"message", message}}}};
}

// The device as it is once `change` is stored.
void apply_change(Device& device, const DesiredConfigChange& change) {
  device.desired_config = change.config;
  device.desired_version = change.version;
  device.name = change.config["name"].get<std::string>();
}

std::string text_or_empty(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

DeviceService::DeviceService(DeviceRepository& repository, tenancy::TenancyService& tenancy,
                             pki::CertificateAuthority& ca, DeviceChannel& channel, AuditLog& audit, EventBus& events,
                             IdGenerator& ids, const Clock& clock, Random& random, DeviceSettings settings)
    : repository_(repository),
      tenancy_(tenancy),
      ca_(ca),
      channel_(channel),
      audit_(audit),
      events_(events),
      ids_(ids),
      clock_(clock),
      random_(random),
      settings_(std::move(settings)),
      client_failures_(clock, settings_.claim_failure_window, settings_.claim_failures_per_client),
      global_failures_(clock, settings_.claim_failure_window, settings_.claim_failures_global) {}

std::string DeviceService::normalise_code(std::string_view code) {
  std::string out;
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

AuditEvent DeviceService::audit_event(const std::string& actor, const std::string& source, const std::string& action,
                                      const std::string& target_type, const std::string& target_id,
                                      const std::string& company_id) const {
  AuditEvent e;
  e.id = ids_.next(id_prefix::audit);
  e.at = clock_.now();
  e.actor = actor;
  e.source = source;
  e.action = action;
  e.target_type = target_type;
  e.target_id = target_id;
  e.company_id = company_id;
  return e;
}

Result<NewClaimCode> DeviceService::create_claim_code(const Actor& actor, const std::string& site_id,
                                                      const std::string& role, const json& config_patch,
                                                      std::optional<std::int64_t> ttl_seconds) {
  auto site = tenancy_.get(actor, tenancy::NodeKind::site, site_id);
  if (!site) return tl::unexpected(site.error());
  if (!actor.can_change(site->company_id)) return fail(Errc::forbidden, "read-only access");
  if (!is_valid_role(role))
    return fail(Errc::invalid_argument, "must be door-station, receiving-station, call-trigger or call-receiver", "role");
  auto ttl = ttl_seconds.value_or(settings_.claim_code_ttl);
  if (ttl < 60 || ttl > settings_.claim_code_max_ttl)
    return fail(Errc::invalid_argument,
                "must be between 60 and " + std::to_string(settings_.claim_code_max_ttl) + " seconds", "expires_in");
  // The pre-installation config must already be valid on top of the defaults.
  if (!config_patch.is_object()) return fail(Errc::invalid_argument, "must be a JSON object", "config");
  auto preview = merge_config(default_config("Device", role), config_patch);
  if (!preview) {
    auto e = preview.error();
    e.field = "config." + e.field;
    return tl::unexpected(e);
  }

  NewClaimCode result;
  auto raw = random_.from_alphabet(kCodeLength, std::string(kCodeAlphabet));
  result.code = raw.substr(0, 4) + "-" + raw.substr(4, 4) + "-" + raw.substr(8, 4);
  result.link = settings_.portal_url + "/claim?code=" + result.code;
  auto& c = result.record;
  c.id = ids_.next(id_prefix::claim_code);
  c.code_hash = sha256_hex(raw);
  c.company_id = site->company_id;
  c.site_id = site->id;
  c.role = role;
  c.config = config_patch;
  c.created_at = clock_.now();
  c.expires_at = c.created_at + ttl;
  c.created_by = actor.id;
  auto event = audit_event(actor.id, actor.source, "claim_code.create", "claim_code", c.id, c.company_id);
  event.details = {{"site_id", c.site_id}, {"role", role}, {"expires_at", c.expires_at}};
  if (auto s = repository_.insert_claim_code(c, event); !s) return tl::unexpected(s.error());
  return result;
}

Result<Page<ClaimCode>> DeviceService::list_claim_codes(const Actor& actor, const std::string& site_id,
                                                        const PageRequest& page) {
  auto site = tenancy_.get(actor, tenancy::NodeKind::site, site_id);
  if (!site) return tl::unexpected(site.error());
  return repository_.list_claim_codes(site->id, page);
}

void DeviceService::handle_claim(const std::string& client_id, const std::string& payload) {
  json response;
  auto request = json::parse(payload, nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    response = claim_error("invalid-request", "claim request must be a JSON object");
  } else {
    auto result = claim(client_id, request);
    response = result ? *result : claim_error(to_string(result.error().code), result.error().message);
    if (!result && !result.error().field.empty()) response["error"]["field"] = result.error().field;
  }
  if (auto s = channel_.send_claim_response(client_id, response); !s)
    log::get("devices")->warn("claim response to {} not sent: {}", client_id, s.error().message);
}

Result<json> DeviceService::claim(const std::string& client_id, const json& request) {
  if (!protocol::is_valid_claim_client_id(client_id))
    return fail(Errc::invalid_argument, "claim client ids look like claim-<id>", "client_id");
  auto wait = std::max(client_failures_.retry_after(client_id), global_failures_.retry_after("*"));
  if (wait > 0) return fail(Errc::throttled, "too many failed claims; retry in " + std::to_string(wait) + " s");

  for (const char* key : {"code", "csr", "serial"}) {
    if (!request.contains(key) || !request[key].is_string())
      return fail(Errc::invalid_argument, "is required and must be a string", key);
  }
  auto serial = request["serial"].get<std::string>();
  if (!pki::is_safe_common_name(serial))
    return fail(Errc::invalid_argument, "serials are 1..64 of A-Z a-z 0-9 -", "serial");

  auto now = clock_.now();
  auto code_hash = sha256_hex(normalise_code(request["code"].get<std::string>()));
  auto code = repository_.find_claim_code_by_hash(code_hash);
  if (!code || code->used_at != 0 || code->expires_at <= now) {
    client_failures_.record_failure(client_id);
    global_failures_.record_failure("*");
    auto event = audit_event("device:" + serial, client_id, "device.claim_failed", "device", "", code ? code->company_id : "");
    (void)audit_.append(event);
    return fail(Errc::forbidden, kInvalidClaim, "code");
  }

  if (settings_.check_model) {
    if (auto s = settings_.check_model(text_or_empty(request, "model"), text_or_empty(request, "hardware_revision")); !s)
      return tl::unexpected(s.error());
  }

  auto issued = ca_.sign_device_csr(request["csr"].get<std::string>(), serial, settings_.certificate_days);
  if (!issued) return tl::unexpected(issued.error());

  Device d;
  d.id = ids_.next(id_prefix::device);
  d.serial = serial;
  d.company_id = code->company_id;
  d.site_id = code->site_id;
  d.role = code->role;
  d.name = serial;
  d.model = text_or_empty(request, "model");
  d.hardware_revision = text_or_empty(request, "hardware_revision");
  d.firmware_version = text_or_empty(request, "firmware_version");
  if (request.contains("capabilities") && request["capabilities"].is_array()) d.capabilities = request["capabilities"];
  d.cert_serial = issued->serial_hex;
  d.cert_expires_at = issued->not_after;
  auto config = merge_config(default_config(d.name, d.role), code->config);
  if (!config) return tl::unexpected(config.error());  // validated at creation; only a schema change gets here
  d.name = (*config)["name"].get<std::string>();
  d.desired_config = *config;
  d.desired_version = 1;
  d.created_at = d.updated_at = now;

  auto event = audit_event("device:" + serial, client_id, "device.claim", "device", d.id, d.company_id);
  event.details = {{"serial", serial}, {"site_id", d.site_id}, {"claim_code_id", code->id}, {"model", d.model}};
  if (auto s = repository_.claim(code->id, now, d, event); !s) {
    if (s.error().code == Errc::conflict && s.error().field == "serial")
      return fail(Errc::conflict, "a device with this serial is already claimed", "serial");
    if (s.error().code == Errc::conflict) return fail(Errc::forbidden, kInvalidClaim, "code");
    return tl::unexpected(s.error());
  }
  client_failures_.reset(client_id);
  log::get("devices")->info("claimed serial={} device={} site={}", serial, d.id, d.site_id);
  events_.publish({"device.claimed", d.company_id, {{"id", d.id}, {"serial", serial}, {"site_id", d.site_id}}});
  (void)channel_.publish_config(serial, published(d.id, d.desired_config));
  json response{{"schema", protocol::kSchema}, {"ok", true},         {"device_id", d.id},
                {"serial", serial},            {"certificate", issued->cert_pem}, {"ca", ca_.cert_pem()},
                {"config", published(d.id, d.desired_config)}};
  if (!settings_.firmware_public_key_pem.empty()) response["firmware_public_key_pem"] = settings_.firmware_public_key_pem;
  return response;
}

void DeviceService::handle_device_message(const std::string& serial, const std::string& leaf, const std::string& payload) {
  auto logger = log::get("devices");
  auto message = json::parse(payload, nullptr, false);
  if (message.is_discarded() || !message.is_object()) {
    logger->warn("ignored non-JSON message serial={} leaf={}", serial, leaf);
    return;
  }
  auto device = repository_.find_by_serial(serial);
  if (!device || device->revoked) return;  // not ours (or no longer): nothing to record
  auto now = clock_.now();

  if (leaf == "state") {
    bool online = message.value("online", false);
    if (online) {
      DeviceReport report;
      report.model = text_or_empty(message, "model");
      report.hardware_revision = text_or_empty(message, "hardware_revision");
      report.firmware_version = text_or_empty(message, "firmware_version");
      if (message.contains("capabilities") && message["capabilities"].is_array())
        report.capabilities = message["capabilities"];
      (void)repository_.set_report(serial, report, now);
    }
    if (online != device->online || online) (void)repository_.set_online(serial, online, now);
    // The database, not the retained message, is the truth: re-send what the device should run.
    if (online && message.value("config_version", std::int64_t{0}) != device->desired_version)
      (void)channel_.publish_config(serial, published(device->id, device->desired_config));
    if (online != device->online) {
      events_.publish({online ? "device.online" : "device.offline", device->company_id,
                       {{"id", device->id}, {"serial", serial}, {"at", now}}});
    }
  } else if (leaf == "config/ack") {
    auto version = message.value("version", std::int64_t{0});
    auto error = message.value("ok", false) ? std::string() : message.value("error", std::string("rejected"));
    (void)repository_.set_applied(serial, version, error, now);
    finish_rename_commands(device->id, version, error);
    events_.publish({"device.config_applied", device->company_id,
                     {{"id", device->id}, {"serial", serial}, {"version", version}, {"ok", error.empty()}, {"error", error}}});
  } else if (leaf == "commands/result") {
    auto id = message.value("id", std::string());
    std::lock_guard lock(commands_mutex_);
    auto it = commands_.find(id);
    if (it != commands_.end() && it->second.device_id == device->id && it->second.state == "pending") {
      it->second.state = message.value("ok", false) ? "succeeded" : "failed";
      it->second.detail = message.value("detail", std::string());
      it->second.finished_at = now;
      events_.publish({"device.command_result", device->company_id,
                       {{"id", device->id}, {"command_id", id}, {"state", it->second.state}}});
    }
  } else if (leaf == "events") {
    events_.publish({"device.event", device->company_id, {{"id", device->id}, {"serial", serial}, {"event", message}}});
  }
}

Result<std::size_t> DeviceService::expire_presence(std::int64_t since) {
  DeviceFilter filter;
  filter.online = true;
  filter.page.limit = 500;
  std::vector<Device> stale;
  for (;;) {
    auto page = repository_.list(filter);
    if (!page) return tl::unexpected(page.error());
    for (auto& d : page->items) {
      if (d.last_seen < since) stale.push_back(std::move(d));
    }
    if (page->next.empty()) break;
    filter.page.after = page->next;
  }
  auto now = clock_.now();
  for (const auto& d : stale) {
    if (auto s = repository_.set_online(d.serial, false, now); !s) return tl::unexpected(s.error());
    events_.publish({"device.offline", d.company_id, {{"id", d.id}, {"serial", d.serial}, {"at", now}}});
  }
  if (!stale.empty()) log::get("devices")->info("presence: {} device(s) silent since {} marked offline", stale.size(), since);
  return stale.size();
}

Result<Device> DeviceService::visible_device(const Actor& actor, const std::string& id) {
  auto missing = [] { return fail(Errc::not_found, "no such device"); };
  if (!is_valid_id(id, id_prefix::device)) return missing();
  auto device = repository_.find(id);
  if (!device) return device.error().code == Errc::not_found ? missing() : device;
  if (!actor.can_see(device->company_id)) return missing();
  return device;
}

Result<Device> DeviceService::get(const Actor& actor, const std::string& id) { return visible_device(actor, id); }

Result<Page<Device>> DeviceService::list(const Actor& actor, DeviceFilter filter) {
  if (!actor.platform_admin) {
    if (!filter.company_id.empty() && filter.company_id != actor.company_id) return Page<Device>{};
    filter.company_id = actor.company_id;
  }
  return repository_.list(filter);
}

Result<std::vector<DeviceSummary>> DeviceService::summaries(const Actor& actor, DeviceFilter filter,
                                                            const std::vector<std::string>& site_ids) {
  if (!actor.platform_admin) {
    if (!filter.company_id.empty() && filter.company_id != actor.company_id) return std::vector<DeviceSummary>{};
    filter.company_id = actor.company_id;
  }
  return repository_.summaries(filter, site_ids);
}

Result<DesiredConfigChange> DeviceService::next_config(const Actor& actor, const Device& device,
                                                       const json& patch) const {
  if (!actor.can_change(device.company_id)) return fail(Errc::forbidden, "read-only access");
  if (device.revoked) return fail(Errc::conflict, "device is revoked");
  auto merged = merge_config(device.desired_config, patch);
  if (!merged) {
    auto e = merged.error();
    e.field = "config." + e.field;
    return tl::unexpected(e);
  }
  DesiredConfigChange change;
  change.id = device.id;
  change.version = device.desired_version + 1;
  (*merged)["version"] = change.version;
  change.config = std::move(*merged);
  change.audit = audit_event(actor.id, actor.source, "device.config", "device", device.id, device.company_id);
  change.audit.details = {{"version", change.version}, {"change", patch}};
  return change;
}

json DeviceService::published(const std::string& device_id, const json& config) const {
  return provisioning_ ? provisioning_->provision(device_id, config) : config;
}

void DeviceService::publish_change(const std::string& serial, const DesiredConfigChange& change) {
  if (auto s = channel_.publish_config(serial, published(change.id, change.config)); !s)
    log::get("devices")->warn("config v{} for {} not published now ({}); sent on reconnect", change.version, serial,
                              s.error().message);
}

Result<Device> DeviceService::change_config(const Actor& actor, const std::string& id, const json& patch) {
  auto device = visible_device(actor, id);
  if (!device) return device;
  auto change = next_config(actor, *device, patch);
  if (!change) return tl::unexpected(change.error());
  if (auto s = repository_.set_desired_config(change->id, change->config, change->version, clock_.now(), change->audit); !s)
    return tl::unexpected(s.error());
  apply_change(*device, *change);
  publish_change(device->serial, *change);
  return device;
}

std::vector<Result<Device>> DeviceService::change_config_many(const Actor& actor, const std::vector<std::string>& ids,
                                                              const json& patch) {
  using Steady = std::chrono::steady_clock;
  const auto t0 = Steady::now();
  std::vector<Result<Device>> results;
  results.reserve(ids.size());
  std::vector<DesiredConfigChange> changes;
  std::vector<std::size_t> changed;    // for each change: its index in `ids`
  std::map<std::string, Device> seen;  // devices checked so far, as changed by this batch
  for (const auto& id : ids) {
    auto known = seen.find(id);
    Result<Device> device = known != seen.end() ? Result<Device>(known->second) : visible_device(actor, id);
    if (!device) {
      results.push_back(std::move(device));
      continue;
    }
    auto change = next_config(actor, *device, patch);
    if (!change) {
      results.push_back(tl::unexpected(change.error()));
      continue;
    }
    apply_change(*device, *change);
    seen.insert_or_assign(id, *device);
    changed.push_back(results.size());
    results.push_back(std::move(*device));
    changes.push_back(std::move(*change));
  }
  if (changes.empty()) return results;
  const auto t_checked = Steady::now();
  if (auto s = repository_.set_desired_configs(changes, clock_.now()); !s) {
    // Nothing was stored: change them one by one, which re-reads each device.
    log::get("devices")->warn("bulk config of {} devices not stored at once ({}); changing them one by one",
                              changes.size(), s.error().message);
    for (auto i : changed) results[i] = change_config(actor, ids[i], patch);
    return results;
  }
  const auto t_stored = Steady::now();
  std::vector<std::pair<std::string, json>> documents;
  documents.reserve(changes.size());
  for (std::size_t k = 0; k < changes.size(); ++k) documents.emplace_back(results[changed[k]]->serial, published(changes[k].id, changes[k].config));
  auto published = channel_.publish_configs(documents);
  for (std::size_t k = 0; k < published.size() && k < changes.size(); ++k) {
    if (!published[k])
      log::get("devices")->warn("config v{} for {} not published now ({}); sent on reconnect", changes[k].version,
                                documents[k].first, published[k].error().message);
  }
  auto ms = [](Steady::time_point a, Steady::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  log::get("devices")->info("bulk config: {} of {} devices changed; checked in {:.0f} ms, stored in {:.0f} ms, published in {:.0f} ms",
                            changes.size(), ids.size(), ms(t0, t_checked), ms(t_checked, t_stored), ms(t_stored, Steady::now()));
  return results;
}

void DeviceService::record_command(CommandStatus status) {
  std::lock_guard lock(commands_mutex_);
  command_order_.push_back(status.id);
  commands_[status.id] = std::move(status);
  while (command_order_.size() > kMaxCommands) {
    commands_.erase(command_order_.front());
    command_order_.pop_front();
  }
}

void DeviceService::finish_rename_commands(const std::string& device_id, std::int64_t applied_version,
                                           const std::string& error) {
  std::lock_guard lock(commands_mutex_);
  for (auto& [_, c] : commands_) {
    if (c.device_id == device_id && c.type == "rename" && c.state == "pending" && c.config_version == applied_version) {
      c.state = error.empty() ? "succeeded" : "failed";
      c.detail = error;
      c.finished_at = clock_.now();
    }
  }
}

Result<CommandStatus> DeviceService::send_command(const Actor& actor, const std::string& id, const std::string& type,
                                                  const json& arguments) {
  auto device = visible_device(actor, id);
  if (!device) return tl::unexpected(device.error());
  if (!actor.can_change(device->company_id)) return fail(Errc::forbidden, "read-only access");
  if (device->revoked) return fail(Errc::conflict, "device is revoked");
  CommandStatus status;
  status.id = ids_.next(id_prefix::command);
  status.device_id = device->id;
  status.type = type;
  status.state = "pending";
  status.created_at = clock_.now();
  if (type == "rename") {
    if (!arguments.is_object() || !arguments.contains("name"))
      return fail(Errc::invalid_argument, "is required", "arguments.name");
    auto changed = change_config(actor, id, json{{"name", arguments["name"]}});
    if (!changed) {
      auto e = changed.error();
      if (e.field == "config.name") e.field = "arguments.name";
      return tl::unexpected(e);
    }
    status.config_version = changed->desired_version;
    record_command(status);
    return status;
  }
  if (type != "restart") return fail(Errc::invalid_argument, "must be restart or rename", "type");
  if (!arguments.is_object() || !arguments.empty())
    return fail(Errc::invalid_argument, "restart takes no arguments", "arguments");
  auto event = audit_event(actor.id, actor.source, "device.command", "device", device->id, device->company_id);
  event.details = {{"type", type}, {"command_id", status.id}};
  if (auto s = audit_.append(event); !s) return tl::unexpected(s.error());
  record_command(status);
  auto sent = channel_.send_command(device->serial, json{{"schema", protocol::kSchema}, {"id", status.id}, {"type", type}});
  if (!sent) {
    std::lock_guard lock(commands_mutex_);
    commands_[status.id].state = "failed";
    commands_[status.id].detail = "not sent: " + sent.error().message;
    return commands_[status.id];
  }
  return status;
}

Result<CommandStatus> DeviceService::command(const Actor& actor, const std::string& id, const std::string& command_id) {
  auto device = visible_device(actor, id);
  if (!device) return tl::unexpected(device.error());
  std::lock_guard lock(commands_mutex_);
  auto it = commands_.find(command_id);
  if (it == commands_.end() || it->second.device_id != device->id) return fail(Errc::not_found, "no such command");
  return it->second;
}

Status DeviceService::revoke(const Actor& actor, const std::string& id) {
  auto device = visible_device(actor, id);
  if (!device) return tl::unexpected(device.error());
  if (!actor.can_change(device->company_id)) return fail(Errc::forbidden, "read-only access");
  if (device->revoked) return {};
  auto event = audit_event(actor.id, actor.source, "device.revoke", "device", device->id, device->company_id);
  event.details = {{"serial", device->serial}, {"cert_serial", device->cert_serial}};
  if (auto s = repository_.revoke(device->id, clock_.now(), event); !s) return s;
  auto serials = repository_.revoked_cert_serials();
  if (!serials) return tl::unexpected(serials.error());
  if (auto s = channel_.cut_off(device->serial, *serials); !s) return s;
  events_.publish({"device.revoked", device->company_id, {{"id", device->id}, {"serial", device->serial}}});
  return {};
}

}  // namespace carillon::devices
