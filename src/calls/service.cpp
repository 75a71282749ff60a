#include "calls/service.hpp"

#include <set>

#include <fmt/format.h>

#include "tenancy/validation.hpp"

namespace carillon::calls {

namespace {

constexpr const char* kWeekdays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

Status check_ring_seconds(int seconds, const std::string& field) {
  if (seconds < kMinRingSeconds || seconds > kMaxRingSeconds)
    return fail(Errc::invalid_argument, fmt::format("must be {} to {} seconds", kMinRingSeconds, kMaxRingSeconds), field);
  return {};
}

// Ids of the wrong shape get the answer a wrong company's id gets (no existence leak).
Status check_target_id(TargetKind kind, const std::string& id, const std::string& field) {
  if (!is_valid_id(id, prefix_of(kind))) return fail(Errc::invalid_argument, std::string("no such ") + to_string(kind) + " in this company", field);
  return {};
}

Status check_group(const RingGroup& g) {
  if (auto s = tenancy::check_name(g.name); !s) return s;
  if (g.members.empty()) return fail(Errc::invalid_argument, "needs at least one member", "members");
  if (g.members.size() > kMaxMembers) return fail(Errc::invalid_argument, "at most 32 members", "members");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < g.members.size(); ++i) {
    const auto at = "members[" + std::to_string(i) + "]";
    const Member& m = g.members[i];
    if (m.kind == TargetKind::ring_group) return fail(Errc::invalid_argument, "must be device or user", at + ".kind");
    if (auto s = check_target_id(m.kind, m.id, at + ".id"); !s) return s;
    if (!seen.insert(m.id).second) return fail(Errc::invalid_argument, "is listed twice", at + ".id");
  }
  return check_ring_seconds(g.ring_seconds, "ring_seconds");
}

Status check_rule(const ForwardingRule& r) {
  if (auto s = tenancy::check_name(r.name); !s) return s;
  if (r.priority < 0 || r.priority > 10000) return fail(Errc::invalid_argument, "must be 0 to 10000", "priority");
  if (r.weekdays == 0 || r.weekdays > 0x7f) return fail(Errc::invalid_argument, "needs at least one weekday", "weekdays");
  if (r.date_from && r.date_to && *r.date_to < *r.date_from)
    return fail(Errc::invalid_argument, "is before date_from", "date_to");
  if (r.time) {
    if (r.time->from < 0 || r.time->from >= 1440) return fail(Errc::invalid_argument, "must be HH:MM", "time.from");
    if (r.time->to < 0 || r.time->to >= 1440) return fail(Errc::invalid_argument, "must be HH:MM", "time.to");
    if (r.time->from == r.time->to) return fail(Errc::invalid_argument, "must differ from time.from", "time.to");
  }
  if (r.steps.empty()) return fail(Errc::invalid_argument, "needs at least one step", "steps");
  if (r.steps.size() > kMaxSteps) return fail(Errc::invalid_argument, "at most 8 steps", "steps");
  for (std::size_t i = 0; i < r.steps.size(); ++i) {
    const auto at = "steps[" + std::to_string(i) + "]";
    if (auto s = check_target_id(r.steps[i].kind, r.steps[i].id, at + ".id"); !s) return s;
    if (auto s = check_ring_seconds(r.steps[i].ring_seconds, at + ".ring_seconds"); !s) return s;
  }
  return {};
}

}  // namespace

Result<CivilDate> parse_date(std::string_view t, const std::string& field) {
  auto bad = [&] { return fail(Errc::invalid_argument, "must be a date YYYY-MM-DD", field); };
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return bad();
  int v[3] = {0, 0, 0};
  const std::size_t starts[3] = {0, 5, 8}, lengths[3] = {4, 2, 2};
  for (int p = 0; p < 3; ++p) {
    for (std::size_t i = 0; i < lengths[p]; ++i) {
      char c = t[starts[p] + i];
      if (c < '0' || c > '9') return bad();
      v[p] = v[p] * 10 + (c - '0');
    }
  }
  CivilDate date{v[0], v[1], v[2]};
  if (date.year < 1970 || date.month < 1 || date.month > 12 || date.day < 1 ||
      civil_from_days(days_from_civil(date)) != date)
    return bad();
  return date;
}

std::string format_date(const CivilDate& d) { return fmt::format("{:04d}-{:02d}-{:02d}", d.year, d.month, d.day); }

Result<int> parse_clock(std::string_view t, const std::string& field) {
  auto bad = [&] { return fail(Errc::invalid_argument, "must be a time HH:MM (00:00 to 23:59)", field); };
  if (t.size() != 5 || t[2] != ':') return bad();
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    if (t[i] < '0' || t[i] > '9') return bad();
  }
  const int h = (t[0] - '0') * 10 + (t[1] - '0');
  const int m = (t[3] - '0') * 10 + (t[4] - '0');
  if (h > 23 || m > 59) return bad();
  return h * 60 + m;
}

std::string format_clock(int minute) { return fmt::format("{:02d}:{:02d}", minute / 60, minute % 60); }

Result<unsigned> parse_weekdays(const std::vector<std::string>& names, const std::string& field) {
  unsigned bits = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    bool found = false;
    for (unsigned d = 0; d < 7; ++d) {
      if (names[i] == kWeekdays[d]) {
        bits |= 1u << d;
        found = true;
      }
    }
    if (!found) return fail(Errc::invalid_argument, "must be one of mon tue wed thu fri sat sun", field + "[" + std::to_string(i) + "]");
  }
  if (bits == 0) return fail(Errc::invalid_argument, "needs at least one weekday", field);
  return bits;
}

std::vector<std::string> weekday_names(unsigned weekdays) {
  std::vector<std::string> out;
  for (unsigned d = 0; d < 7; ++d) {
    if (weekdays & (1u << d)) out.emplace_back(kWeekdays[d]);
  }
  return out;
}

CallsService::CallsService(CallsRepository& repository, tenancy::TenancyService& tenancy, IdGenerator& ids,
                           const Clock& clock)
    : repository_(repository), tenancy_(tenancy), ids_(ids), clock_(clock) {}

AuditEvent CallsService::audit(const Actor& actor, const std::string& action, const std::string& type,
                               const std::string& id, const std::string& company_id, nlohmann::json details) const {
  AuditEvent e;
  e.id = ids_.next(carillon::id_prefix::audit);
  e.at = clock_.now();
  e.actor = actor.id;
  e.action = action;
  e.target_type = type;
  e.target_id = id;
  e.company_id = company_id;
  e.source = actor.source;
  e.details = std::move(details);
  return e;
}

Result<std::string> CallsService::visible_company(const Actor& actor, const std::string& requested) const {
  if (actor.platform_admin) return requested;
  if (!requested.empty() && requested != actor.company_id) return fail(Errc::not_found, "no such company");
  return actor.company_id;
}

// --- ring groups

Result<RingGroup> CallsService::create_ring_group(const Actor& actor, const RingGroupInput& in) {
  if (!in.site_id) return fail(Errc::invalid_argument, "is required", "site_id");
  if (!in.name) return fail(Errc::invalid_argument, "is required", "name");
  if (!in.members) return fail(Errc::invalid_argument, "is required", "members");
  RingGroup g;
  g.id = ids_.next(id_prefix::ring_group);
  g.name = *in.name;
  g.members = *in.members;
  g.ring_seconds = in.ring_seconds.value_or(30);
  if (auto s = check_group(g); !s) return tl::unexpected(s.error());
  auto site = tenancy_.get(actor, tenancy::NodeKind::site, *in.site_id);
  if (!site) return fail(Errc::invalid_argument, "no such site", "site_id");
  if (!actor.can_change(site->company_id)) return fail(Errc::forbidden, "read-only access");
  g.site_id = site->id;
  g.company_id = site->company_id;
  g.created_at = g.updated_at = clock_.now();
  auto event = audit(actor, "ring_group.create", "ring_group", g.id, g.company_id,
                     {{"name", g.name}, {"members", g.members.size()}});
  if (auto s = repository_.insert_ring_group(g, event); !s) return tl::unexpected(s.error());
  changed();
  return g;
}

Result<RingGroup> CallsService::update_ring_group(const Actor& actor, const std::string& id, const RingGroupInput& in) {
  if (in.site_id) return fail(Errc::invalid_argument, "cannot be changed", "site_id");
  auto g = get_ring_group(actor, id);
  if (!g) return g;
  if (in.name) g->name = *in.name;
  if (in.members) g->members = *in.members;
  if (in.ring_seconds) g->ring_seconds = *in.ring_seconds;
  if (auto s = check_group(*g); !s) return tl::unexpected(s.error());
  if (!actor.can_change(g->company_id)) return fail(Errc::forbidden, "read-only access");
  g->updated_at = clock_.now();
  auto event = audit(actor, "ring_group.update", "ring_group", g->id, g->company_id,
                     {{"name", g->name}, {"members", g->members.size()}});
  if (auto s = repository_.update_ring_group(*g, event); !s) return tl::unexpected(s.error());
  changed();
  return g;
}

Status CallsService::remove_ring_group(const Actor& actor, const std::string& id) {
  auto g = get_ring_group(actor, id);
  if (!g) return tl::unexpected(g.error());
  if (!actor.can_change(g->company_id)) return fail(Errc::forbidden, "read-only access");
  auto removed = repository_.remove_ring_group(id, audit(actor, "ring_group.delete", "ring_group", g->id,
                                                         g->company_id, {{"name", g->name}}));
  if (removed) changed();
  return removed;
}

Result<RingGroup> CallsService::get_ring_group(const Actor& actor, const std::string& id) {
  auto missing = [] { return fail(Errc::not_found, "no such ring group"); };
  if (!is_valid_id(id, id_prefix::ring_group)) return missing();
  auto g = repository_.find_ring_group(id);
  if (!g) return g.error().code == Errc::not_found ? missing() : g;
  if (!actor.can_see(g->company_id)) return missing();
  return g;
}

Result<Page<RingGroup>> CallsService::list_ring_groups(const Actor& actor, RingGroupFilter filter) {
  auto company = visible_company(actor, filter.company_id);
  if (!company) return Page<RingGroup>{};
  filter.company_id = *company;
  return repository_.list_ring_groups(filter);
}

// --- forwarding rules

namespace {

void apply(ForwardingRule& r, const RuleInput& in) {
  if (in.name) r.name = *in.name;
  if (in.priority) r.priority = *in.priority;
  if (in.enabled) r.enabled = *in.enabled;
  if (in.weekdays) r.weekdays = *in.weekdays;
  if (in.date_from) r.date_from = *in.date_from;
  if (in.date_to) r.date_to = *in.date_to;
  if (in.time) r.time = *in.time;
  if (in.steps) r.steps = *in.steps;
}

nlohmann::json rule_details(const ForwardingRule& r) {
  return {{"name", r.name}, {"ring_group_id", r.ring_group_id}, {"steps", r.steps.size()}, {"enabled", r.enabled}};
}

}  // namespace

Result<ForwardingRule> CallsService::create_rule(const Actor& actor, const std::string& ring_group_id,
                                                 const RuleInput& in) {
  auto group = get_ring_group(actor, ring_group_id);
  if (!group) return tl::unexpected(group.error());
  if (!in.name) return fail(Errc::invalid_argument, "is required", "name");
  if (!in.steps) return fail(Errc::invalid_argument, "is required", "steps");
  ForwardingRule r;
  r.id = ids_.next(id_prefix::forwarding_rule);
  r.company_id = group->company_id;
  r.ring_group_id = group->id;
  apply(r, in);
  if (auto s = check_rule(r); !s) return tl::unexpected(s.error());
  if (!actor.can_change(r.company_id)) return fail(Errc::forbidden, "read-only access");
  r.created_at = r.updated_at = clock_.now();
  auto event = audit(actor, "forwarding_rule.create", "forwarding_rule", r.id, r.company_id, rule_details(r));
  if (auto s = repository_.insert_rule(r, event); !s) return tl::unexpected(s.error());
  changed();
  return r;
}

Result<ForwardingRule> CallsService::update_rule(const Actor& actor, const std::string& id, const RuleInput& in) {
  auto r = get_rule(actor, id);
  if (!r) return r;
  apply(*r, in);
  if (auto s = check_rule(*r); !s) return tl::unexpected(s.error());
  if (!actor.can_change(r->company_id)) return fail(Errc::forbidden, "read-only access");
  r->updated_at = clock_.now();
  auto event = audit(actor, "forwarding_rule.update", "forwarding_rule", r->id, r->company_id, rule_details(*r));
  if (auto s = repository_.update_rule(*r, event); !s) return tl::unexpected(s.error());
  changed();
  return r;
}

Status CallsService::remove_rule(const Actor& actor, const std::string& id) {
  auto r = get_rule(actor, id);
  if (!r) return tl::unexpected(r.error());
  if (!actor.can_change(r->company_id)) return fail(Errc::forbidden, "read-only access");
  auto removed = repository_.remove_rule(id, audit(actor, "forwarding_rule.delete", "forwarding_rule", r->id,
                                                   r->company_id, rule_details(*r)));
  if (removed) changed();
  return removed;
}

Result<ForwardingRule> CallsService::get_rule(const Actor& actor, const std::string& id) {
  auto missing = [] { return fail(Errc::not_found, "no such forwarding rule"); };
  if (!is_valid_id(id, id_prefix::forwarding_rule)) return missing();
  auto r = repository_.find_rule(id);
  if (!r) return r.error().code == Errc::not_found ? missing() : r;
  if (!actor.can_see(r->company_id)) return missing();
  return r;
}

Result<Page<ForwardingRule>> CallsService::list_rules(const Actor& actor, const std::string& ring_group_id,
                                                      const PageRequest& page) {
  auto group = get_ring_group(actor, ring_group_id);
  if (!group) return tl::unexpected(group.error());
  return repository_.list_rules(group->id, page);
}

// --- call reports

Result<Page<CallRecord>> CallsService::list_calls(const Actor& actor, CallFilter filter) {
  auto company = visible_company(actor, filter.company_id);
  if (!company) return Page<CallRecord>{};
  filter.company_id = *company;
  return repository_.list_calls(filter);
}

Result<std::vector<DayCount>> CallsService::daily_counts(const Actor& actor, const std::string& company_id,
                                                         const std::string& site_id, std::int64_t from_ms) {
  auto company = tenancy_.get(actor, tenancy::NodeKind::company, company_id);
  if (!company) return tl::unexpected(company.error());
  return repository_.daily_counts(company->id, site_id, from_ms);
}

Result<CallRecord> CallsService::get_call(const Actor& actor, const std::string& id) {
  auto missing = [] { return fail(Errc::not_found, "no such call"); };
  if (!is_valid_id(id, id_prefix::call)) return missing();
  auto call = repository_.find_call(id);
  if (!call) return call.error().code == Errc::not_found ? missing() : call;
  if (!actor.can_see(call->company_id)) return missing();
  return call;
}

Result<std::string> CallsService::snapshot(const Actor& actor, const std::string& call_id) {
  auto call = get_call(actor, call_id);
  if (!call) return tl::unexpected(call.error());
  auto bytes = repository_.snapshot(call->id);
  if (!bytes && bytes.error().code == Errc::not_found) return fail(Errc::not_found, "this call has no snapshot");
  return bytes;
}

Result<int> CallsService::retention_days(const Actor& actor, const std::string& company_id) {
  auto company = tenancy_.get(actor, tenancy::NodeKind::company, company_id);
  if (!company) return tl::unexpected(company.error());
  return repository_.retention_days(company->id);
}

Status CallsService::set_retention_days(const Actor& actor, const std::string& company_id, int days) {
  auto company = tenancy_.get(actor, tenancy::NodeKind::company, company_id);
  if (!company) return tl::unexpected(company.error());
  if (days < 1 || days > kDefaultRetentionDays)
    return fail(Errc::invalid_argument, "must be 1 to 180 days", "retention_days");
  if (!actor.can_change(company->id)) return fail(Errc::forbidden, "read-only access");
  return repository_.set_retention_days(company->id, days,
                                        audit(actor, "company.call_retention", "company", company->id, company->id,
                                              {{"retention_days", days}}));
}

Result<RoutingInput> CallsService::routing_input() {
  RoutingInput in;
  auto groups = repository_.all_ring_groups("");
  if (!groups) return tl::unexpected(groups.error());
  in.groups = std::move(*groups);
  auto rules = repository_.all_rules("");
  if (!rules) return tl::unexpected(rules.error());
  in.rules = std::move(*rules);
  auto parties = repository_.all_parties("");
  if (!parties) return tl::unexpected(parties.error());
  in.accounts = std::move(*parties);
  auto zones = repository_.site_time_zones("");
  if (!zones) return tl::unexpected(zones.error());
  for (auto& [site, zone] : *zones) in.site_zones[site] = zone;
  return in;
}

}  // namespace carillon::calls
