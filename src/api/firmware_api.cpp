// Firmware catalogue (upload streamed to disk), compatibility table, update policies, rollouts
// and the device dashboard.

#include <sstream>

#include "api/context.hpp"
#include "firmware/compatibility.hpp"
#include "firmware/policy.hpp"

namespace carillon::api {

namespace {

using nlohmann::json;

Status firmware_configured(const ApiContext& context) {
  if (!context.firmware) return fail(Errc::unavailable, "firmware management is not running");
  return {};
}

json image_json(const firmware::Image& image) {
  return {{"id", image.id},
          {"manifest", firmware::to_json(image.manifest)},
          {"signature", image.signature},
          {"release_notes", image.release_notes},
          {"created_at", image.created_at},
          {"created_by", image.created_by}};
}

json policy_json(const firmware::EffectivePolicy& effective) {
  auto j = firmware::to_json(effective.policy);
  j["inherited_from"] = effective.inherited_from;
  return j;
}

json rollout_json(const firmware::Rollout& r) {
  return {{"id", r.id},
          {"company_id", r.company_id},
          {"image_id", r.image_id},
          {"waves", r.waves},
          {"failure_threshold_percent", r.failure_threshold_percent},
          {"state", firmware::to_string(r.state)},
          {"current_wave", r.current_wave},
          {"stop_reason", r.stop_reason},
          {"created_at", r.created_at},
          {"updated_at", r.updated_at},
          {"created_by", r.created_by}};
}

json rollout_view_json(const firmware::RolloutView& view) {
  auto j = rollout_json(view.rollout);
  j["version"] = view.image.manifest.version;
  j["family"] = view.image.manifest.family;
  json counts = json::object();
  for (auto s : {firmware::DeviceUpdateState::pending, firmware::DeviceUpdateState::downloading,
                 firmware::DeviceUpdateState::verifying, firmware::DeviceUpdateState::installing,
                 firmware::DeviceUpdateState::rebooting, firmware::DeviceUpdateState::done,
                 firmware::DeviceUpdateState::failed, firmware::DeviceUpdateState::rolled_back}) {
    counts[firmware::to_string(s)] = 0;
  }
  json devices = json::array();
  for (const auto& d : view.devices) {
    counts[firmware::to_string(d.state)] = counts[firmware::to_string(d.state)].get<int>() + 1;
    auto name = view.device_names.find(d.device_id);
    devices.push_back({{"device_id", d.device_id},
                       {"name", name == view.device_names.end() ? "" : name->second},
                       {"wave", d.wave},
                       {"state", firmware::to_string(d.state)},
                       {"percent", d.percent},
                       {"error", d.error},
                       {"from_version", d.from_version},
                       {"started_at", d.started_at},
                       {"updated_at", d.updated_at}});
  }
  j["counts"] = counts;
  j["devices"] = devices;
  return j;
}

// "a,b,c" -> trimmed non-empty items.
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto first = item.find_first_not_of(' ');
    auto last = item.find_last_not_of(' ');
    if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
  }
  return out;
}

Result<bool> query_bool(const http::Request& request, const char* key) {
  auto it = request.query.find(key);
  if (it == request.query.end() || it->second.empty() || it->second == "false") return false;
  if (it->second == "true") return true;
  return fail(Errc::invalid_argument, "must be true or false", key);
}

std::string query_value(const http::Request& request, const char* key) {
  auto it = request.query.find(key);
  return it == request.query.end() ? std::string() : it->second;
}

Result<firmware::NewRollout> parse_rollout(const http::Request& request) {
  auto body = parse_object(request, {"company_id", "image_id", "site_id", "device_ids", "waves",
                                     "failure_threshold_percent"});
  if (!body) return tl::unexpected(body.error());
  firmware::NewRollout in;
  auto company = required_string(*body, "company_id");
  if (!company) return tl::unexpected(company.error());
  in.company_id = *company;
  auto image = required_string(*body, "image_id");
  if (!image) return tl::unexpected(image.error());
  in.image_id = *image;
  auto site = optional_string(*body, "site_id");
  if (!site) return tl::unexpected(site.error());
  if (*site) in.site_id = **site;
  if (body->contains("device_ids")) {
    const auto& ids = (*body)["device_ids"];
    if (!ids.is_array() || ids.size() > 10000) {
      return fail(Errc::invalid_argument, "must be an array of device ids", "device_ids");
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!ids[i].is_string()) {
        return fail(Errc::invalid_argument, "must be a string", "device_ids[" + std::to_string(i) + "]");
      }
      in.device_ids.push_back(ids[i].get<std::string>());
    }
  }
  if (body->contains("waves")) {
    const auto& waves = (*body)["waves"];
    if (!waves.is_array()) return fail(Errc::invalid_argument, "must be an array of percentages", "waves");
    in.waves.clear();
    for (std::size_t i = 0; i < waves.size() && i < 100; ++i) {
      if (!waves[i].is_number_integer()) {
        return fail(Errc::invalid_argument, "must be an integer", "waves[" + std::to_string(i) + "]");
      }
      in.waves.push_back(static_cast<int>(std::clamp<std::int64_t>(waves[i].get<std::int64_t>(), -1, 1000)));
    }
  }
  auto threshold = optional_integer(*body, "failure_threshold_percent");
  if (!threshold) return tl::unexpected(threshold.error());
  if (*threshold) in.failure_threshold_percent = static_cast<int>(std::clamp<std::int64_t>(**threshold, -1, 1000));
  return in;
}

}  // namespace

void add_firmware_routes(http::Router& router, ApiContext& context) {
  // The body is the image itself (streamed to disk by the server); metadata in the query.
  add_authenticated(router, context, "POST", "/api/v1/firmware-images", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
    if (request.body_file.empty()) return fail(Errc::invalid_argument, "the image must be the request body", "body");
    firmware::ImageUpload upload;
    upload.family = query_value(request, "family");
    upload.version = query_value(request, "version");
    auto critical = query_bool(request, "security_critical");
    if (!critical) return tl::unexpected(critical.error());
    upload.security_critical = *critical;
    upload.models = split_list(query_value(request, "models"));
    upload.release_notes = query_value(request, "release_notes");
    upload.file = request.body_file;
    upload.size = static_cast<std::int64_t>(request.body_size);
    upload.sha256 = request.body_sha256;
    // The uploader may state the digest it expects: a transfer that damaged the image is refused.
    if (auto expected = query_value(request, "sha256"); !expected.empty() && expected != request.body_sha256) {
      return fail(Errc::invalid_argument, "the image's SHA-256 is " + request.body_sha256 + ", not " + expected, "sha256");
    }
    auto image = context.firmware->upload(actor, upload);
    if (!image) return tl::unexpected(image.error());
    return ok(image_json(*image), 201);
  });
  add_authenticated(router, context, "GET", "/api/v1/firmware-images", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    auto images = context.firmware->images(actor, query_value(request, "family"), *page);
    if (!images) return tl::unexpected(images.error());
    return ok(page_json(*images, image_json));
  });
  add_authenticated(router, context, "GET", "/api/v1/firmware-images/{id}", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
    auto image = context.firmware->image(actor, request.params.at("id"));
    if (!image) return tl::unexpected(image.error());
    return ok(image_json(*image));
  });
  add_authenticated(router, context, "GET", "/api/v1/firmware/compatibility", [](const Actor&, const http::Request&) -> Result<http::Response> {
    json rows = json::array();
    for (const auto& row : firmware::compatibility_table()) {
      rows.push_back({{"model", row.model}, {"family", row.family}, {"min_revision", row.min_revision},
                      {"cloud", row.cloud}, {"managed", row.managed}, {"mesh", row.mesh}});
    }
    return ok(json{{"items", rows}});
  });

  add_authenticated(router, context, "GET", "/api/v1/update-policies/{scope_id}", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
    auto policy = context.firmware->policy(actor, request.params.at("scope_id"));
    if (!policy) return tl::unexpected(policy.error());
    return ok(policy_json(*policy));
  });
  add_authenticated(router, context, "PUT", "/api/v1/update-policies/{scope_id}", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
    auto body = parse_object(request, {"mode", "window"});
    if (!body) return tl::unexpected(body.error());
    auto policy = firmware::policy_from_json(*body);
    if (!policy) return tl::unexpected(policy.error());
    const auto& scope = request.params.at("scope_id");
    auto stored = context.firmware->put_policy(actor, scope, *policy);
    if (!stored) return tl::unexpected(stored.error());
    return ok(policy_json({*stored, scope}));
  });

  add_authenticated(router, context, "POST", "/api/v1/rollouts", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
    auto in = parse_rollout(request);
    if (!in) return tl::unexpected(in.error());
    auto rollout = context.firmware->start_rollout(actor, *in);
    if (!rollout) return tl::unexpected(rollout.error());
    auto view = context.firmware->rollout(actor, rollout->id);
    if (!view) return tl::unexpected(view.error());
    return ok(rollout_view_json(*view), 201);
  });
  add_authenticated(router, context, "GET", "/api/v1/rollouts", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    auto rollouts = context.firmware->rollouts(actor, query_value(request, "company_id"), *page);
    if (!rollouts) return tl::unexpected(rollouts.error());
    return ok(page_json(*rollouts, rollout_json));
  });
  add_authenticated(router, context, "GET", "/api/v1/rollouts/{id}", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
    auto view = context.firmware->rollout(actor, request.params.at("id"));
    if (!view) return tl::unexpected(view.error());
    return ok(rollout_view_json(*view));
  });
  for (const char* action : {"pause", "resume", "cancel"}) {
    const std::string name = action;
    add_authenticated(router, context, "POST", "/api/v1/rollouts/{id}/" + name, [&context, name](const Actor& actor, const http::Request& request) -> Result<http::Response> {
      if (auto s = firmware_configured(context); !s) return tl::unexpected(s.error());
      const auto& id = request.params.at("id");
      auto changed = name == "pause"    ? context.firmware->pause(actor, id)
                     : name == "resume" ? context.firmware->resume(actor, id)
                                        : context.firmware->cancel(actor, id);
      if (!changed) return tl::unexpected(changed.error());
      auto view = context.firmware->rollout(actor, id);
      if (!view) return tl::unexpected(view.error());
      return ok(rollout_view_json(*view));
    });
  }
}

}  // namespace carillon::api
