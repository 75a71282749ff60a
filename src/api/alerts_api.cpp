// Alert e-mail settings per company (recipients, offline threshold, kinds) and the company's
// outbox, so mail that is stuck (SMTP down) is visible with its attempts and last error.

#include <algorithm>

#include "api/context.hpp"

namespace carillon::api {

namespace {

using nlohmann::json;

// The portal's names for the alert kinds.
constexpr std::pair<const char*, alerts::AlertKind> kKinds[] = {
    {"offline", alerts::AlertKind::device_offline},
    {"online", alerts::AlertKind::device_online},
    {"firmware", alerts::AlertKind::firmware_available},
    {"platform", alerts::AlertKind::platform_version},
};

Status alerts_configured(const ApiContext& context) {
  if (!context.alerting.settings || !context.alerting.outbox) return fail(Errc::unavailable, "alert e-mail is not set up");
  return {};
}

json settings_json(const alerts::AlertSettings& s) {
  json kinds = json::object();
  for (const auto& [name, kind] : kKinds) kinds[name] = s.wants(kind);
  return {{"company_id", s.company_id},
          {"recipients", s.recipients},
          {"offline_after_minutes", s.offline_after_minutes},
          {"kinds", kinds},
          {"updated_at", s.updated_at}};
}

json message_json(const alerts::OutboxMessage& m) {
  return {{"id", m.id},
          {"kind", alerts::to_string(m.kind)},
          {"subject", m.subject},
          {"recipients", m.recipients},
          {"created_at", m.created_at},
          {"attempts", m.attempts},
          {"last_error", m.last_error},
          {"next_attempt_at", m.sent_at ? json(nullptr) : json(m.next_attempt_at)},
          {"sent_at", m.sent_at ? json(m.sent_at) : json(nullptr)}};
}

// The alerts module names list items "recipients/2"; the API says "recipients[2]" everywhere.
Error api_field(Error error) {
  auto slash = error.field.find('/');
  if (slash != std::string::npos) error.field = error.field.substr(0, slash) + "[" + error.field.substr(slash + 1) + "]";
  return error;
}

Result<alerts::AlertSettings> parse_settings(const http::Request& request, alerts::AlertSettings current) {
  auto body = parse_object(request, {"recipients", "offline_after_minutes", "kinds"});
  if (!body) return tl::unexpected(body.error());
  if (body->contains("recipients")) {
    const auto& r = (*body)["recipients"];
    if (!r.is_array()) return fail(Errc::invalid_argument, "must be an array of e-mail addresses", "recipients");
    if (r.size() > alerts::kMaxRecipients) return fail(Errc::invalid_argument, "too many recipients", "recipients");
    current.recipients.clear();
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (!r[i].is_string()) return fail(Errc::invalid_argument, "must be a string", "recipients[" + std::to_string(i) + "]");
      current.recipients.push_back(r[i].get<std::string>());
    }
  }
  auto minutes = optional_integer(*body, "offline_after_minutes");
  if (!minutes) return tl::unexpected(minutes.error());
  if (*minutes) current.offline_after_minutes = static_cast<int>(std::clamp<std::int64_t>(**minutes, -1, 100000));
  if (body->contains("kinds")) {
    const auto& k = (*body)["kinds"];
    if (!k.is_object()) return fail(Errc::invalid_argument, "must be an object of booleans", "kinds");
    for (auto it = k.begin(); it != k.end(); ++it) {
      auto known = std::find_if(std::begin(kKinds), std::end(kKinds), [&](const auto& p) { return it.key() == p.first; });
      if (known == std::end(kKinds)) return fail(Errc::invalid_argument, "unknown alert kind", "kinds." + it.key());
      if (!it->is_boolean()) return fail(Errc::invalid_argument, "must be true or false", "kinds." + it.key());
    }
    std::vector<alerts::AlertKind> enabled;
    for (const auto& [name, kind] : kKinds) {
      const bool on = k.contains(name) ? k[name].get<bool>() : current.wants(kind);
      if (on) enabled.push_back(kind);
    }
    current.enabled = enabled;
  }
  if (auto s = alerts::validate(current); !s) return tl::unexpected(api_field(s.error()));
  return current;
}

}  // namespace

void add_alert_routes(http::Router& router, ApiContext& context) {
  add_authenticated(router, context, "GET", "/api/v1/companies/{id}/alert-settings", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = alerts_configured(context); !s) return tl::unexpected(s.error());
    auto company = context.tenancy.get(actor, tenancy::NodeKind::company, request.params.at("id"));
    if (!company) return tl::unexpected(company.error());
    auto settings = context.alerting.settings->get(company->id);
    if (!settings) return tl::unexpected(settings.error());
    return ok(settings_json(*settings));
  });
  add_authenticated(router, context, "PUT", "/api/v1/companies/{id}/alert-settings", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = alerts_configured(context); !s) return tl::unexpected(s.error());
    auto company = context.tenancy.get(actor, tenancy::NodeKind::company, request.params.at("id"));
    if (!company) return tl::unexpected(company.error());
    if (!actor.can_change(company->id)) return fail(Errc::forbidden, "your role may not change alert settings");
    auto current = context.alerting.settings->get(company->id);
    if (!current) return tl::unexpected(current.error());
    auto next = parse_settings(request, *current);
    if (!next) return tl::unexpected(next.error());
    next->company_id = company->id;
    next->updated_at = context.clock ? context.clock->now() : 0;
    if (auto s = context.alerting.settings->put(*next); !s) return tl::unexpected(s.error());
    AuditEvent audit;
    audit.id = context.alerting.ids->next(id_prefix::audit);
    audit.at = next->updated_at;
    audit.actor = actor.id;
    audit.action = "alert_settings.update";
    audit.target_type = "company";
    audit.target_id = company->id;
    audit.company_id = company->id;
    audit.source = actor.source;
    audit.details = {{"recipients", next->recipients.size()}, {"offline_after_minutes", next->offline_after_minutes}};
    (void)context.audit.append(audit);
    return ok(settings_json(*next));
  });
  add_authenticated(router, context, "GET", "/api/v1/companies/{id}/alert-messages", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = alerts_configured(context); !s) return tl::unexpected(s.error());
    auto company = context.tenancy.get(actor, tenancy::NodeKind::company, request.params.at("id"));
    if (!company) return tl::unexpected(company.error());
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    auto messages = context.alerting.outbox->list(company->id, *page);
    if (!messages) return tl::unexpected(messages.error());
    return ok(page_json(*messages, message_json));
  });
}

}  // namespace carillon::api
