// Ring groups, forwarding rules, call reports (JSON and CSV), snapshots and call retention.

#include <charconv>

#include "api/context.hpp"
#include "calls/report.hpp"

namespace carillon::api {

namespace {

using nlohmann::json;

json group_json(const calls::RingGroup& g) {
  json members = json::array();
  for (const auto& m : g.members) members.push_back({{"kind", calls::to_string(m.kind)}, {"id", m.id}});
  return {{"id", g.id},           {"company_id", g.company_id},     {"site_id", g.site_id},
          {"name", g.name},       {"members", members},             {"ring_seconds", g.ring_seconds},
          {"created_at", g.created_at}, {"updated_at", g.updated_at}};
}

json rule_json(const calls::ForwardingRule& r) {
  json steps = json::array();
  for (const auto& s : r.steps)
    steps.push_back({{"kind", calls::to_string(s.kind)}, {"id", s.id}, {"ring_seconds", s.ring_seconds}});
  json j{{"id", r.id},
         {"company_id", r.company_id},
         {"ring_group_id", r.ring_group_id},
         {"name", r.name},
         {"priority", r.priority},
         {"enabled", r.enabled},
         {"weekdays", calls::weekday_names(r.weekdays)},
         {"steps", steps},
         {"created_at", r.created_at},
         {"updated_at", r.updated_at}};
  j["date_from"] = r.date_from ? json(calls::format_date(*r.date_from)) : json(nullptr);
  j["date_to"] = r.date_to ? json(calls::format_date(*r.date_to)) : json(nullptr);
  j["time"] = r.time ? json{{"from", calls::format_clock(r.time->from)}, {"to", calls::format_clock(r.time->to)}}
                     : json(nullptr);
  return j;
}

json ms_or_null(std::int64_t ms) { return ms ? json(ms) : json(nullptr); }

json call_json(const calls::CallRecord& c) {
  json legs = json::array();
  for (const auto& l : c.legs) {
    legs.push_back({{"member", l.member},
                    {"status", calls::to_string(l.status)},
                    {"ringing_at", ms_or_null(l.ringing_at)},
                    {"answered_at", ms_or_null(l.answered_at)},
                    {"ended_at", ms_or_null(l.ended_at)},
                    {"code", l.code ? json(l.code) : json(nullptr)},
                    {"reason", l.reason}});
  }
  json doors = json::array();
  for (const auto& d : c.door_events) doors.push_back({{"device_id", d.device_id}, {"door", d.door}, {"at", d.at}});
  return {{"id", c.id},
          {"sip_call_id", c.sip_call_id},
          {"company_id", c.company_id},
          {"site_id", c.site_id.empty() ? json(nullptr) : json(c.site_id)},
          {"ring_group_id", c.ring_group_id.empty() ? json(nullptr) : json(c.ring_group_id)},
          {"target", c.target},
          {"caller", {{"kind", c.caller_kind.empty() ? json(nullptr) : json(c.caller_kind)},
                      {"id", c.caller_id},
                      {"name", c.caller_name}}},
          {"status", calls::to_string(c.status)},
          {"started_at", c.started_at},
          {"answered_at", ms_or_null(c.answered_at)},
          {"ended_at", ms_or_null(c.ended_at)},
          {"answered_by", c.answered_by.empty() ? json(nullptr) : json(c.answered_by)},
          {"duration_seconds", c.duration_seconds},
          {"end_code", c.end_code ? json(c.end_code) : json(nullptr)},
          {"end_reason", c.end_reason},
          {"legs", legs},
          {"door_events", doors},
          {"has_snapshot", c.has_snapshot}};
}

Result<std::optional<int>> optional_int(const json& body, const char* key) {
  auto v = optional_integer(body, key);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::optional<int>();
  if (**v < -1000000 || **v > 1000000) return fail(Errc::invalid_argument, "is out of range", key);
  return std::optional<int>(static_cast<int>(**v));
}

// [{kind, id}] (members) or [{kind, id, ring_seconds}] (steps).
template <class T>
Result<std::optional<std::vector<T>>> parse_targets(const json& body, const char* key, bool with_seconds) {
  if (!body.contains(key)) return std::optional<std::vector<T>>();
  const auto& v = body[key];
  if (!v.is_array()) return fail(Errc::invalid_argument, "must be an array", key);
  // Far above any limit the service enforces; bounds the work on hostile input.
  if (v.size() > 1000) return fail(Errc::invalid_argument, "too many entries", key);
  std::vector<T> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto at = std::string(key) + "[" + std::to_string(i) + "]";
    if (!v[i].is_object()) return fail(Errc::invalid_argument, "must be an object", at);
    for (auto it = v[i].begin(); it != v[i].end(); ++it) {
      if (it.key() != "kind" && it.key() != "id" && !(with_seconds && it.key() == "ring_seconds"))
        return fail(Errc::invalid_argument, "unknown field", at + "." + it.key());
    }
    if (!v[i].contains("kind") || !v[i]["kind"].is_string())
      return fail(Errc::invalid_argument, "is required and must be a string", at + ".kind");
    auto kind = calls::parse_target_kind(v[i]["kind"].get<std::string>());
    if (!kind) return fail(Errc::invalid_argument, "must be ring_group, device or user", at + ".kind");
    if (!v[i].contains("id") || !v[i]["id"].is_string())
      return fail(Errc::invalid_argument, "is required and must be a string", at + ".id");
    T item;
    item.kind = *kind;
    item.id = v[i]["id"].get<std::string>();
    if constexpr (std::is_same_v<T, calls::Step>) {
      if (v[i].contains("ring_seconds")) {
        if (!v[i]["ring_seconds"].is_number_integer())
          return fail(Errc::invalid_argument, "must be an integer", at + ".ring_seconds");
        item.ring_seconds = static_cast<int>(std::clamp<std::int64_t>(v[i]["ring_seconds"].get<std::int64_t>(), -1, 100000));
      }
    }
    out.push_back(std::move(item));
  }
  return std::optional<std::vector<T>>(std::move(out));
}

Result<calls::RingGroupInput> parse_group(const http::Request& request, bool creating) {
  auto body = creating ? parse_object(request, {"name", "site_id", "members", "ring_seconds"})
                       : parse_object(request, {"name", "members", "ring_seconds"});
  if (!body) return tl::unexpected(body.error());
  calls::RingGroupInput in;
  auto name = optional_string(*body, "name");
  if (!name) return tl::unexpected(name.error());
  in.name = *name;
  auto site = optional_string(*body, "site_id");
  if (!site) return tl::unexpected(site.error());
  in.site_id = *site;
  auto members = parse_targets<calls::Member>(*body, "members", false);
  if (!members) return tl::unexpected(members.error());
  in.members = *members;
  auto seconds = optional_int(*body, "ring_seconds");
  if (!seconds) return tl::unexpected(seconds.error());
  in.ring_seconds = *seconds;
  return in;
}

Result<calls::RuleInput> parse_rule(const http::Request& request) {
  auto body = parse_object(request, {"name", "priority", "enabled", "weekdays", "date_from", "date_to", "time", "steps"});
  if (!body) return tl::unexpected(body.error());
  calls::RuleInput in;
  auto name = optional_string(*body, "name");
  if (!name) return tl::unexpected(name.error());
  in.name = *name;
  auto priority = optional_int(*body, "priority");
  if (!priority) return tl::unexpected(priority.error());
  in.priority = *priority;
  if (body->contains("enabled")) {
    if (!(*body)["enabled"].is_boolean()) return fail(Errc::invalid_argument, "must be true or false", "enabled");
    in.enabled = (*body)["enabled"].get<bool>();
  }
  if (body->contains("weekdays")) {
    const auto& w = (*body)["weekdays"];
    if (!w.is_array() || w.size() > 7) return fail(Errc::invalid_argument, "must be an array of weekday names", "weekdays");
    std::vector<std::string> names;
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (!w[i].is_string()) return fail(Errc::invalid_argument, "must be a string", "weekdays[" + std::to_string(i) + "]");
      names.push_back(w[i].get<std::string>());
    }
    auto bits = calls::parse_weekdays(names, "weekdays");
    if (!bits) return tl::unexpected(bits.error());
    in.weekdays = *bits;
  }
  for (const char* key : {"date_from", "date_to"}) {
    if (!body->contains(key)) continue;
    std::optional<CivilDate> value;
    if (!(*body)[key].is_null()) {
      if (!(*body)[key].is_string()) return fail(Errc::invalid_argument, "must be a date YYYY-MM-DD or null", key);
      auto date = calls::parse_date((*body)[key].get<std::string>(), key);
      if (!date) return tl::unexpected(date.error());
      value = *date;
    }
    (std::string(key) == "date_from" ? in.date_from : in.date_to) = value;
  }
  if (body->contains("time")) {
    const auto& t = (*body)["time"];
    std::optional<calls::MinuteRange> range;
    if (!t.is_null()) {
      if (!t.is_object()) return fail(Errc::invalid_argument, "must be {from, to} or null", "time");
      for (auto it = t.begin(); it != t.end(); ++it) {
        if (it.key() != "from" && it.key() != "to") return fail(Errc::invalid_argument, "unknown field", "time." + it.key());
      }
      calls::MinuteRange r;
      for (const char* part : {"from", "to"}) {
        const auto field = std::string("time.") + part;
        if (!t.contains(part) || !t[part].is_string()) return fail(Errc::invalid_argument, "is required as HH:MM", field);
        auto minute = calls::parse_clock(t[part].get<std::string>(), field);
        if (!minute) return tl::unexpected(minute.error());
        (std::string(part) == "from" ? r.from : r.to) = *minute;
      }
      range = r;
    }
    in.time = range;
  }
  auto steps = parse_targets<calls::Step>(*body, "steps", true);
  if (!steps) return tl::unexpected(steps.error());
  in.steps = *steps;
  return in;
}

Result<std::int64_t> query_seconds(const http::Request& request, const char* key) {
  auto it = request.query.find(key);
  if (it == request.query.end() || it->second.empty()) return 0;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || v < 0 || v > 100000000000LL)
    return fail(Errc::invalid_argument, "must be Unix seconds", key);
  return v;
}

Result<calls::CallFilter> call_filter(const http::Request& request) {
  calls::CallFilter f;
  auto page = page_request(request);
  if (!page) return tl::unexpected(page.error());
  f.page = *page;
  auto q = [&](const char* key) { return request.query.count(key) ? request.query.at(key) : std::string(); };
  f.company_id = q("company_id");
  f.site_id = q("site_id");
  f.ring_group_id = q("ring_group_id");
  f.caller_id = q("caller_id");
  if (auto status = q("status"); !status.empty()) {
    f.status = calls::parse_dial_status(status);
    if (!f.status)
      return fail(Errc::invalid_argument, "must be in_progress, answered, missed, busy, rejected, failed or timed_out", "status");
  }
  auto from = query_seconds(request, "from");
  if (!from) return tl::unexpected(from.error());
  auto to = query_seconds(request, "to");
  if (!to) return tl::unexpected(to.error());
  f.from_ms = *from * 1000;
  f.to_ms = *to * 1000;
  return f;
}

using Handler = std::function<Result<http::Response>(calls::CallsService&, const Actor&, const http::Request&)>;

void add(http::Router& router, ApiContext& context, const std::string& method, const std::string& pattern, Handler h) {
  add_authenticated(router, context, method, pattern,
                    [&context, h](const Actor& actor, const http::Request& request) -> Result<http::Response> {
                      if (context.calls == nullptr) return fail(Errc::unavailable, "call management is not configured");
                      return h(*context.calls, actor, request);
                    });
}

}  // namespace

void add_calls_routes(http::Router& router, ApiContext& context) {
  using calls::CallsService;
  add(router, context, "GET", "/api/v1/ring-groups", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    calls::RingGroupFilter filter;
    filter.page = *page;
    if (auto it = request.query.find("site_id"); it != request.query.end()) filter.site_id = it->second;
    if (auto it = request.query.find("company_id"); it != request.query.end()) filter.company_id = it->second;
    auto groups = s.list_ring_groups(actor, filter);
    if (!groups) return tl::unexpected(groups.error());
    return ok(page_json(*groups, group_json));
  });
  add(router, context, "POST", "/api/v1/ring-groups", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto input = parse_group(request, true);
    if (!input) return tl::unexpected(input.error());
    auto group = s.create_ring_group(actor, *input);
    if (!group) return tl::unexpected(group.error());
    return ok(group_json(*group), 201);
  });
  add(router, context, "GET", "/api/v1/ring-groups/{id}", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto group = s.get_ring_group(actor, request.params.at("id"));
    if (!group) return tl::unexpected(group.error());
    return ok(group_json(*group));
  });
  add(router, context, "PATCH", "/api/v1/ring-groups/{id}", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto input = parse_group(request, false);
    if (!input) return tl::unexpected(input.error());
    auto group = s.update_ring_group(actor, request.params.at("id"), *input);
    if (!group) return tl::unexpected(group.error());
    return ok(group_json(*group));
  });
  add(router, context, "DELETE", "/api/v1/ring-groups/{id}", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto r = s.remove_ring_group(actor, request.params.at("id")); !r) return tl::unexpected(r.error());
    return no_content();
  });

  add(router, context, "GET", "/api/v1/ring-groups/{id}/forwarding-rules", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    auto rules = s.list_rules(actor, request.params.at("id"), *page);
    if (!rules) return tl::unexpected(rules.error());
    return ok(page_json(*rules, rule_json));
  });
  add(router, context, "POST", "/api/v1/ring-groups/{id}/forwarding-rules", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto input = parse_rule(request);
    if (!input) return tl::unexpected(input.error());
    auto rule = s.create_rule(actor, request.params.at("id"), *input);
    if (!rule) return tl::unexpected(rule.error());
    return ok(rule_json(*rule), 201);
  });
  add(router, context, "GET", "/api/v1/forwarding-rules/{id}", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto rule = s.get_rule(actor, request.params.at("id"));
    if (!rule) return tl::unexpected(rule.error());
    return ok(rule_json(*rule));
  });
  add(router, context, "PATCH", "/api/v1/forwarding-rules/{id}", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto input = parse_rule(request);
    if (!input) return tl::unexpected(input.error());
    auto rule = s.update_rule(actor, request.params.at("id"), *input);
    if (!rule) return tl::unexpected(rule.error());
    return ok(rule_json(*rule));
  });
  add(router, context, "DELETE", "/api/v1/forwarding-rules/{id}", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto r = s.remove_rule(actor, request.params.at("id")); !r) return tl::unexpected(r.error());
    return no_content();
  });

  add(router, context, "GET", "/api/v1/calls", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto filter = call_filter(request);
    if (!filter) return tl::unexpected(filter.error());
    auto page = s.list_calls(actor, *filter);
    if (!page) return tl::unexpected(page.error());
    return ok(page_json(*page, call_json));
  });
  // The whole filtered report (every page) as one CSV document.
  add(router, context, "GET", "/api/v1/calls.csv", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto filter = call_filter(request);
    if (!filter) return tl::unexpected(filter.error());
    filter->page.limit = 500;
    std::string body = calls::csv_header();
    for (int pages = 0; pages < 2000; ++pages) {
      auto page = s.list_calls(actor, *filter);
      if (!page) return tl::unexpected(page.error());
      for (const auto& call : page->items) body += calls::csv_row(call);
      if (page->next.empty()) break;
      filter->page.after = page->next;
    }
    return http::Response{200, "text/csv; charset=utf-8", std::move(body),
                          {{"Content-Disposition", "attachment; filename=\"calls.csv\""}}};
  });
  add(router, context, "GET", "/api/v1/calls/{id}", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto call = s.get_call(actor, request.params.at("id"));
    if (!call) return tl::unexpected(call.error());
    return ok(call_json(*call));
  });
  add(router, context, "GET", "/api/v1/calls/{id}/snapshot", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto bytes = s.snapshot(actor, request.params.at("id"));
    if (!bytes) return tl::unexpected(bytes.error());
    return http::Response{200, "image/jpeg", std::move(*bytes), {{"Cache-Control", "private, max-age=3600"}}};
  });

  add(router, context, "GET", "/api/v1/companies/{id}/call-settings", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto days = s.retention_days(actor, request.params.at("id"));
    if (!days) return tl::unexpected(days.error());
    return ok({{"retention_days", *days}, {"max_retention_days", calls::kDefaultRetentionDays}});
  });
  add(router, context, "PUT", "/api/v1/companies/{id}/call-settings", [](CallsService& s, const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto body = parse_object(request, {"retention_days"});
    if (!body) return tl::unexpected(body.error());
    auto days = optional_int(*body, "retention_days");
    if (!days) return tl::unexpected(days.error());
    if (!*days) return fail(Errc::invalid_argument, "is required", "retention_days");
    if (auto r = s.set_retention_days(actor, request.params.at("id"), **days); !r) return tl::unexpected(r.error());
    return ok({{"retention_days", **days}, {"max_retention_days", calls::kDefaultRetentionDays}});
  });
}

}  // namespace carillon::api
