// Claim codes, devices, their config documents, commands and revocation.

#include "api/context.hpp"

namespace carillon::api {

namespace {

// The SIP registration state the edge reported for the device's account (its id).
nlohmann::json sip_state(const ApiContext& context, const std::string& username) {
  auto contacts = nlohmann::json::array();
  if (context.sip_accounts) {
    for (const auto& r : context.sip_accounts->registrations(username)) {
      contacts.push_back({{"contact", r.contact}, {"expires_at", r.expires_at}, {"user_agent", r.user_agent},
                          {"source", r.source}, {"updated_at", r.updated_at}});
    }
  }
  return {{"username", username}, {"registered", !contacts.empty()}, {"contacts", contacts}};
}

nlohmann::json device_json(const ApiContext& context, const devices::Device& d) {
  return {{"id", d.id},
          {"serial", d.serial},
          {"name", d.name},
          {"role", d.role},
          {"company_id", d.company_id},
          {"site_id", d.site_id},
          {"model", d.model},
          {"hardware_revision", d.hardware_revision},
          {"firmware_version", d.firmware_version},
          {"capabilities", d.capabilities},
          {"online", d.online},
          {"last_seen", d.last_seen},
          {"revoked", d.revoked},
          {"certificate", {{"serial", d.cert_serial}, {"expires_at", d.cert_expires_at}}},
          {"config",
           {{"desired_version", d.desired_version},
            {"applied_version", d.applied_version},
            {"state", d.applied_version == d.desired_version ? "applied" : d.applied_error.empty() ? "pending" : "rejected"},
            {"error", d.applied_error}}},
          {"sip", sip_state(context, d.id)},
          {"created_at", d.created_at},
          {"updated_at", d.updated_at}};
}

nlohmann::json claim_code_json(const devices::ClaimCode& c) {
  nlohmann::json j{{"id", c.id},           {"site_id", c.site_id},       {"company_id", c.company_id},
                   {"role", c.role},       {"config", c.config},         {"created_at", c.created_at},
                   {"expires_at", c.expires_at}, {"created_by", c.created_by}};
  j["used_at"] = c.used_at ? nlohmann::json(c.used_at) : nlohmann::json(nullptr);
  j["device_id"] = c.device_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.device_id);
  return j;
}

nlohmann::json command_json(const devices::CommandStatus& c) {
  nlohmann::json j{{"id", c.id}, {"device_id", c.device_id}, {"type", c.type},
                   {"state", c.state}, {"detail", c.detail}, {"created_at", c.created_at}};
  j["finished_at"] = c.finished_at ? nlohmann::json(c.finished_at) : nlohmann::json(nullptr);
  return j;
}

}  // namespace

void add_device_routes(http::Router& router, ApiContext& context) {
  add_authenticated(router, context, "POST", "/api/v1/claim-codes", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto body = parse_object(request, {"site_id", "role", "config", "expires_in"});
    if (!body) return tl::unexpected(body.error());
    auto site = required_string(*body, "site_id");
    if (!site) return tl::unexpected(site.error());
    auto role = required_string(*body, "role");
    if (!role) return tl::unexpected(role.error());
    auto ttl = optional_integer(*body, "expires_in");
    if (!ttl) return tl::unexpected(ttl.error());
    auto config = body->value("config", nlohmann::json::object());
    auto created = context.devices.create_claim_code(actor, *site, *role, config, *ttl);
    if (!created) {
      // An unknown site in the body is a field error, not a missing resource.
      if (created.error().code == Errc::not_found) return fail(Errc::invalid_argument, "no such site", "site_id");
      return tl::unexpected(created.error());
    }
    auto j = claim_code_json(created->record);
    j["code"] = created->code;
    j["link"] = created->link;
    return ok(j, 201);
  });
  add_authenticated(router, context, "GET", "/api/v1/claim-codes", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    auto site = request.query.find("site_id");
    if (site == request.query.end()) return fail(Errc::invalid_argument, "is required", "site_id");
    auto codes = context.devices.list_claim_codes(actor, site->second, *page);
    if (!codes) return tl::unexpected(codes.error());
    return ok(page_json(*codes, claim_code_json));
  });

  add_authenticated(router, context, "GET", "/api/v1/devices", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    devices::DeviceFilter filter;
    filter.page = *page;
    auto q = [&](const char* key) { return request.query.count(key) ? request.query.at(key) : std::string(); };
    filter.company_id = q("company_id");
    filter.project_id = q("project_id");
    filter.site_id = q("site_id");
    filter.query = q("q");
    if (auto online = q("online"); !online.empty()) {
      if (online != "true" && online != "false") return fail(Errc::invalid_argument, "must be true or false", "online");
      filter.online = online == "true";
    }
    auto devices = context.devices.list(actor, filter);
    if (!devices) return tl::unexpected(devices.error());
    return ok(page_json(*devices, [&context](const devices::Device& d) { return device_json(context, d); }));
  });
  add_authenticated(router, context, "GET", "/api/v1/devices/{id}", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto device = context.devices.get(actor, request.params.at("id"));
    if (!device) return tl::unexpected(device.error());
    return ok(device_json(context, *device));
  });
  add_authenticated(router, context, "GET", "/api/v1/devices/{id}/config", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto device = context.devices.get(actor, request.params.at("id"));
    if (!device) return tl::unexpected(device.error());
    return ok({{"desired", device->desired_config},
               {"desired_version", device->desired_version},
               {"applied_version", device->applied_version},
               {"error", device->applied_error}});
  });
  add_authenticated(router, context, "PATCH", "/api/v1/devices/{id}/config", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto patch = parse_object(request, {"name", "role", "language", "call_buttons", "door_openers", "audio", "screen"});
    if (!patch) {
      auto e = patch.error();
      if (e.message == "unknown field") e.field = "config." + e.field;
      return tl::unexpected(e);
    }
    auto device = context.devices.change_config(actor, request.params.at("id"), *patch);
    if (!device) return tl::unexpected(device.error());
    return ok(device_json(context, *device));
  });
  // D4 bulk edit: one change for many devices, a result per device. Devices that fail do not
  // stop the others; nothing is changed on a device whose result is an error.
  add_authenticated(router, context, "POST", "/api/v1/devices/bulk-config", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto body = parse_object(request, {"device_ids", "config"});
    if (!body) return tl::unexpected(body.error());
    if (!body->contains("device_ids") || !(*body)["device_ids"].is_array() || (*body)["device_ids"].empty())
      return fail(Errc::invalid_argument, "must be a non-empty array of device ids", "device_ids");
    const auto& ids = (*body)["device_ids"];
    if (ids.size() > 10000) return fail(Errc::invalid_argument, "at most 10000 devices per request", "device_ids");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!ids[i].is_string()) return fail(Errc::invalid_argument, "must be a string", "device_ids[" + std::to_string(i) + "]");
    }
    if (!body->contains("config") || !(*body)["config"].is_object())
      return fail(Errc::invalid_argument, "must be an object (JSON merge patch)", "config");
    std::vector<std::string> device_ids;
    device_ids.reserve(ids.size());
    for (const auto& id : ids) device_ids.push_back(id.get<std::string>());
    auto changed = context.devices.change_config_many(actor, device_ids, (*body)["config"]);
    nlohmann::json results = nlohmann::json::array();
    std::size_t failed = 0;
    for (std::size_t i = 0; i < changed.size(); ++i) {
      const auto& device = changed[i];
      if (device) {
        results.push_back({{"id", device->id}, {"ok", true}, {"version", device->desired_version}});
      } else {
        failed++;
        nlohmann::json r{{"id", ids[i]}, {"ok", false}, {"status", http::status_for(device.error().code)}, {"detail", device.error().message}};
        if (!device.error().field.empty()) r["field"] = device.error().field;
        results.push_back(r);
      }
    }
    return ok({{"results", results}, {"succeeded", ids.size() - failed}, {"failed", failed}});
  });
  add_authenticated(router, context, "POST", "/api/v1/devices/{id}/commands", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto body = parse_object(request, {"type", "arguments"});
    if (!body) return tl::unexpected(body.error());
    auto type = required_string(*body, "type");
    if (!type) return tl::unexpected(type.error());
    auto args = body->value("arguments", nlohmann::json::object());
    if (!args.is_object()) return fail(Errc::invalid_argument, "must be an object", "arguments");
    auto command = context.devices.send_command(actor, request.params.at("id"), *type, args);
    if (!command) return tl::unexpected(command.error());
    return ok(command_json(*command), 202);
  });
  add_authenticated(router, context, "GET", "/api/v1/devices/{id}/commands/{command_id}", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto command = context.devices.command(actor, request.params.at("id"), request.params.at("command_id"));
    if (!command) return tl::unexpected(command.error());
    return ok(command_json(*command));
  });
  add_authenticated(router, context, "POST", "/api/v1/devices/{id}/revoke", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (!request.body.empty()) {
      auto body = parse_object(request, {});
      if (!body) return tl::unexpected(body.error());
    }
    if (auto s = context.devices.revoke(actor, request.params.at("id")); !s) return tl::unexpected(s.error());
    auto device = context.devices.get(actor, request.params.at("id"));
    if (!device) return tl::unexpected(device.error());
    return ok(device_json(context, *device));
  });

  add_authenticated(router, context, "GET", "/api/v1/audit-events", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    AuditFilter filter;
    filter.page = *page;
    filter.company_id = actor.platform_admin ? (request.query.count("company_id") ? request.query.at("company_id") : "")
                                             : actor.company_id;
    if (request.query.count("target_id")) filter.target_id = request.query.at("target_id");
    if (request.query.count("action")) filter.action = request.query.at("action");
    auto events = context.audit.list(filter);
    if (!events) return tl::unexpected(events.error());
    return ok(page_json(*events, [](const AuditEvent& e) {
      return nlohmann::json{{"id", e.id},         {"at", e.at},         {"actor", e.actor},
                            {"action", e.action}, {"target_type", e.target_type}, {"target_id", e.target_id},
                            {"company_id", e.company_id}, {"source", e.source}, {"details", e.details}};
    }));
  });
}

}  // namespace carillon::api
