#include "store/calls_repository.hpp"

#include <map>

#include <fmt/format.h>
#include <soci/soci.h>

#include "calls/service.hpp"
#include "common/encoding.hpp"
#include "common/time_zone.hpp"
#include "store/sql_support.hpp"

namespace carillon::store {

using calls::CallLeg;
using calls::CallRecord;
using calls::ForwardingRule;
using calls::RingGroup;
using calls::TargetKind;
using detail::Query;

namespace {

std::int64_t count(soci::session& sql, Query& q) { return detail::query_int(sql, q).value_or(0); }

// ---- ring groups

constexpr const char* kGroupColumns = "id, company_id, site_id, name, ring_seconds, created_at, updated_at";

struct GroupRow {
  std::string id, company_id, site_id, name;
  std::int64_t ring_seconds = 0, created_at = 0, updated_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(site_id));
    st.exchange(soci::into(name));
    st.exchange(soci::into(ring_seconds));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
  }
  RingGroup to_group() const {
    RingGroup g;
    g.id = id;
    g.company_id = company_id;
    g.site_id = site_id;
    g.name = name;
    g.ring_seconds = static_cast<int>(ring_seconds);
    g.created_at = created_at;
    g.updated_at = updated_at;
    return g;
  }
};

TargetKind kind_from(const std::string& text) { return calls::parse_target_kind(text).value_or(TargetKind::device); }

void load_members(soci::session& sql, std::vector<RingGroup>& groups) {
  if (groups.empty()) return;
  std::vector<std::string> ids;
  std::map<std::string, RingGroup*> by_id;
  for (auto& g : groups) {
    ids.push_back(g.id);
    by_id[g.id] = &g;
  }
  struct Row {
    std::string group, kind, member;
    void bind(soci::statement& st) {
      st.exchange(soci::into(group));
      st.exchange(soci::into(kind));
      st.exchange(soci::into(member));
    }
  } row;
  Query q("SELECT ring_group_id, kind, member_id FROM ring_group_members WHERE ring_group_id IN ");
  detail::bind_list(q, ids);
  q << " ORDER BY ring_group_id, position";
  q.each(sql, row, [&] { by_id.at(row.group)->members.push_back({kind_from(row.kind), row.member}); });
}

// Same answer for ids of other companies and ids that do not exist.
Status check_target(soci::session& sql, TargetKind kind, const std::string& id, const std::string& company_id,
                    const std::string& field) {
  Query q;
  switch (kind) {
    case TargetKind::device: q << "SELECT COUNT(*) FROM devices WHERE revoked = 0 AND id = "; break;
    case TargetKind::user: q << "SELECT COUNT(*) FROM users WHERE id = "; break;
    case TargetKind::ring_group: q << "SELECT COUNT(*) FROM ring_groups WHERE id = "; break;
  }
  q.bind(id) << " AND company_id = ";
  q.bind(company_id);
  if (count(sql, q) == 0)
    return fail(Errc::invalid_argument, std::string("no such ") + calls::to_string(kind) + " in this company", field);
  return {};
}

Status write_members(soci::session& sql, const RingGroup& g) {
  for (std::size_t i = 0; i < g.members.size(); ++i) {
    const auto& m = g.members[i];
    if (auto s = check_target(sql, m.kind, m.id, g.company_id, "members[" + std::to_string(i) + "].id"); !s) return s;
  }
  Query del("DELETE FROM ring_group_members WHERE ring_group_id = ");
  del.bind(g.id);
  del.execute(sql);
  std::int64_t position = 0;
  for (const auto& m : g.members) {
    Query q("INSERT INTO ring_group_members (ring_group_id, position, kind, member_id) VALUES (");
    q.bind(g.id) << ",";
    q.bind(position++) << ",";
    q.bind(std::string(calls::to_string(m.kind))) << ",";
    q.bind(m.id) << ")";
    q.execute(sql);
  }
  return {};
}

std::optional<RingGroup> select_group(soci::session& sql, const std::string& id) {
  Query q(std::string("SELECT ") + kGroupColumns + " FROM ring_groups WHERE id = ");
  q.bind(id);
  GroupRow row;
  std::optional<RingGroup> out;
  q.each(sql, row, [&] { out = row.to_group(); });
  if (out) {
    std::vector<RingGroup> one{*out};
    load_members(sql, one);
    out = std::move(one.front());
  }
  return out;
}

// ---- forwarding rules

constexpr const char* kRuleColumns =
    "id, company_id, ring_group_id, name, priority, enabled, weekdays, date_from, date_to, time_from, time_to, "
    "created_at, updated_at";

struct RuleRow {
  std::string id, company_id, ring_group_id, name, date_from, date_to;
  std::int64_t priority = 0, enabled = 0, weekdays = 0, time_from = 0, time_to = 0, created_at = 0, updated_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(ring_group_id));
    st.exchange(soci::into(name));
    st.exchange(soci::into(priority));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(weekdays));
    st.exchange(soci::into(date_from));
    st.exchange(soci::into(date_to));
    st.exchange(soci::into(time_from));
    st.exchange(soci::into(time_to));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
  }
  ForwardingRule to_rule() const {
    ForwardingRule r;
    r.id = id;
    r.company_id = company_id;
    r.ring_group_id = ring_group_id;
    r.name = name;
    r.priority = static_cast<int>(priority);
    r.enabled = enabled != 0;
    r.weekdays = static_cast<unsigned>(weekdays);
    if (!date_from.empty()) r.date_from = calls::parse_date(date_from, "date_from").value_or(CivilDate{});
    if (!date_to.empty()) r.date_to = calls::parse_date(date_to, "date_to").value_or(CivilDate{});
    if (time_from >= 0) r.time = calls::MinuteRange{static_cast<int>(time_from), static_cast<int>(time_to)};
    r.created_at = created_at;
    r.updated_at = updated_at;
    return r;
  }
};

void load_steps(soci::session& sql, std::vector<ForwardingRule>& rules) {
  if (rules.empty()) return;
  std::vector<std::string> ids;
  std::map<std::string, ForwardingRule*> by_id;
  for (auto& r : rules) {
    ids.push_back(r.id);
    by_id[r.id] = &r;
  }
  struct Row {
    std::string rule, kind, target;
    std::int64_t ring_seconds = 0;
    void bind(soci::statement& st) {
      st.exchange(soci::into(rule));
      st.exchange(soci::into(kind));
      st.exchange(soci::into(target));
      st.exchange(soci::into(ring_seconds));
    }
  } row;
  Query q("SELECT rule_id, kind, target_id, ring_seconds FROM forwarding_rule_steps WHERE rule_id IN ");
  detail::bind_list(q, ids);
  q << " ORDER BY rule_id, position";
  q.each(sql, row, [&] {
    by_id.at(row.rule)->steps.push_back({kind_from(row.kind), row.target, static_cast<int>(row.ring_seconds)});
  });
}

Status write_steps(soci::session& sql, const ForwardingRule& r) {
  for (std::size_t i = 0; i < r.steps.size(); ++i) {
    const auto& s = r.steps[i];
    if (auto ok = check_target(sql, s.kind, s.id, r.company_id, "steps[" + std::to_string(i) + "].id"); !ok) return ok;
  }
  Query del("DELETE FROM forwarding_rule_steps WHERE rule_id = ");
  del.bind(r.id);
  del.execute(sql);
  std::int64_t position = 0;
  for (const auto& s : r.steps) {
    Query q("INSERT INTO forwarding_rule_steps (rule_id, position, kind, target_id, ring_seconds) VALUES (");
    q.bind(r.id) << ",";
    q.bind(position++) << ",";
    q.bind(std::string(calls::to_string(s.kind))) << ",";
    q.bind(s.id) << ",";
    q.bind(static_cast<std::int64_t>(s.ring_seconds)) << ")";
    q.execute(sql);
  }
  return {};
}

void bind_rule_values(Query& q, const ForwardingRule& r) {
  q.bind(r.name) << ",";
  q.bind(static_cast<std::int64_t>(r.priority)) << ",";
  q.bind(static_cast<std::int64_t>(r.enabled ? 1 : 0)) << ",";
  q.bind(static_cast<std::int64_t>(r.weekdays)) << ",";
  q.bind(r.date_from ? calls::format_date(*r.date_from) : std::string()) << ",";
  q.bind(r.date_to ? calls::format_date(*r.date_to) : std::string()) << ",";
  q.bind(static_cast<std::int64_t>(r.time ? r.time->from : -1)) << ",";
  q.bind(static_cast<std::int64_t>(r.time ? r.time->to : -1));
}

std::vector<ForwardingRule> select_rules(soci::session& sql, Query& q) {
  RuleRow row;
  std::vector<ForwardingRule> out;
  q.each(sql, row, [&] { out.push_back(row.to_rule()); });
  load_steps(sql, out);
  return out;
}

// ---- calls

constexpr const char* kCallColumns =
    "id, sip_call_id, company_id, site_id, ring_group_id, target, caller_kind, caller_id, caller_name, status, "
    "started_at, answered_at, ended_at, answered_by, duration_seconds, end_code, end_reason, "
    "(SELECT COUNT(*) FROM call_snapshots s WHERE s.call_id = calls.id)";

struct CallRow {
  std::string id, sip_call_id, company_id, site_id, ring_group_id, target, caller_kind, caller_id, caller_name, status,
      answered_by, end_reason;
  std::int64_t started_at = 0, answered_at = 0, ended_at = 0, duration = 0, end_code = 0, snapshots = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(sip_call_id));
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(site_id));
    st.exchange(soci::into(ring_group_id));
    st.exchange(soci::into(target));
    st.exchange(soci::into(caller_kind));
    st.exchange(soci::into(caller_id));
    st.exchange(soci::into(caller_name));
    st.exchange(soci::into(status));
    st.exchange(soci::into(started_at));
    st.exchange(soci::into(answered_at));
    st.exchange(soci::into(ended_at));
    st.exchange(soci::into(answered_by));
    st.exchange(soci::into(duration));
    st.exchange(soci::into(end_code));
    st.exchange(soci::into(end_reason));
    st.exchange(soci::into(snapshots));
  }
  CallRecord to_call() const {
    CallRecord c;
    c.id = id;
    c.sip_call_id = sip_call_id;
    c.company_id = company_id;
    c.site_id = site_id;
    c.ring_group_id = ring_group_id;
    c.target = target;
    c.caller_kind = caller_kind;
    c.caller_id = caller_id;
    c.caller_name = caller_name;
    c.status = calls::parse_dial_status(status).value_or(calls::DialStatus::failed);
    c.started_at = started_at;
    c.answered_at = answered_at;
    c.ended_at = ended_at;
    c.answered_by = answered_by;
    c.duration_seconds = duration;
    c.end_code = static_cast<int>(end_code);
    c.end_reason = end_reason;
    c.has_snapshot = snapshots > 0;
    return c;
  }
};

void load_call_details(soci::session& sql, std::vector<CallRecord>& list) {
  if (list.empty()) return;
  std::vector<std::string> ids;
  std::map<std::string, CallRecord*> by_id;
  for (auto& c : list) {
    ids.push_back(c.id);
    by_id[c.id] = &c;
  }
  struct LegRow {
    std::string call, member, status, reason;
    std::int64_t ringing = 0, answered = 0, ended = 0, code = 0;
    void bind(soci::statement& st) {
      st.exchange(soci::into(call));
      st.exchange(soci::into(member));
      st.exchange(soci::into(status));
      st.exchange(soci::into(ringing));
      st.exchange(soci::into(answered));
      st.exchange(soci::into(ended));
      st.exchange(soci::into(code));
      st.exchange(soci::into(reason));
    }
  } leg;
  Query legs("SELECT call_id, member, status, ringing_at, answered_at, ended_at, code, reason FROM call_legs "
             "WHERE call_id IN ");
  detail::bind_list(legs, ids);
  legs << " ORDER BY call_id, position";
  legs.each(sql, leg, [&] {
    CallLeg l;
    l.member = leg.member;
    l.status = calls::parse_leg_status(leg.status).value_or(calls::LegStatus::failed);
    l.ringing_at = leg.ringing;
    l.answered_at = leg.answered;
    l.ended_at = leg.ended;
    l.code = static_cast<int>(leg.code);
    l.reason = leg.reason;
    by_id.at(leg.call)->legs.push_back(std::move(l));
  });
  struct DoorRow {
    std::string call, device, door;
    std::int64_t at = 0;
    void bind(soci::statement& st) {
      st.exchange(soci::into(call));
      st.exchange(soci::into(device));
      st.exchange(soci::into(door));
      st.exchange(soci::into(at));
    }
  } door;
  Query doors("SELECT call_id, device_id, door, at FROM call_door_events WHERE call_id IN ");
  detail::bind_list(doors, ids);
  doors << " ORDER BY call_id, position";
  doors.each(sql, door, [&] { by_id.at(door.call)->door_events.push_back({door.device, door.door, door.at}); });
}

std::optional<CallRecord> select_call(soci::session& sql, const char* column, const std::string& value) {
  Query q(std::string("SELECT ") + kCallColumns + " FROM calls WHERE " + column + " = ");
  q.bind(value);
  CallRow row;
  std::vector<CallRecord> found;
  q.each(sql, row, [&] { found.push_back(row.to_call()); });
  if (found.empty()) return std::nullopt;
  load_call_details(sql, found);
  return std::move(found.front());
}

}  // namespace

// ---- ring groups

Status SqlCallsRepository::insert_ring_group(const RingGroup& g, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query site("SELECT COUNT(*) FROM nodes WHERE kind = 'site' AND id = ");
    site.bind(g.site_id) << " AND company_id = ";
    site.bind(g.company_id);
    if (count(sql, site) == 0) return fail(Errc::not_found, "no such site", "site_id");
    Query q(std::string("INSERT INTO ring_groups (") + kGroupColumns + ") VALUES (");
    q.bind(g.id) << ",";
    q.bind(g.company_id) << ",";
    q.bind(g.site_id) << ",";
    q.bind(g.name) << ",";
    q.bind(static_cast<std::int64_t>(g.ring_seconds)) << ",";
    q.bind(g.created_at) << ",";
    q.bind(g.updated_at) << ")";
    q.execute(sql);
    if (auto s = write_members(sql, g); !s) return s;
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Status SqlCallsRepository::update_ring_group(const RingGroup& g, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE ring_groups SET name = ");
    q.bind(g.name) << ", ring_seconds = ";
    q.bind(static_cast<std::int64_t>(g.ring_seconds)) << ", updated_at = ";
    q.bind(g.updated_at) << " WHERE id = ";
    q.bind(g.id);
    if (q.execute(sql) == 0) return fail(Errc::not_found, "no such ring group", "id");
    if (auto s = write_members(sql, g); !s) return s;
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Status SqlCallsRepository::remove_ring_group(const std::string& id, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    if (!select_group(sql, id)) return fail(Errc::not_found, "no such ring group", "id");
    Query used("SELECT COUNT(*) FROM forwarding_rule_steps s JOIN forwarding_rules r ON r.id = s.rule_id "
               "WHERE s.target_id = ");
    used.bind(id) << " AND r.ring_group_id <> ";
    used.bind(id);
    if (count(sql, used) > 0) return fail(Errc::conflict, "a forwarding rule of another ring group forwards to it");
    // Children go explicitly: SQLite honours ON DELETE CASCADE only with foreign keys enabled.
    Query steps("DELETE FROM forwarding_rule_steps WHERE rule_id IN (SELECT id FROM forwarding_rules WHERE ring_group_id = ");
    steps.bind(id) << ")";
    steps.execute(sql);
    Query rules("DELETE FROM forwarding_rules WHERE ring_group_id = ");
    rules.bind(id);
    rules.execute(sql);
    Query members("DELETE FROM ring_group_members WHERE ring_group_id = ");
    members.bind(id);
    members.execute(sql);
    Query q("DELETE FROM ring_groups WHERE id = ");
    q.bind(id);
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<RingGroup> SqlCallsRepository::find_ring_group(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<RingGroup> {
    auto g = select_group(sql, id);
    if (!g) return fail(Errc::not_found, "no such ring group", "id");
    return std::move(*g);
  });
}

Result<Page<RingGroup>> SqlCallsRepository::list_ring_groups(const calls::RingGroupFilter& filter) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<RingGroup>> {
    const int limit = detail::page_limit(filter.page.limit);
    Query q(std::string("SELECT ") + kGroupColumns + " FROM ring_groups WHERE 1 = 1");
    if (!filter.company_id.empty()) {
      q << " AND company_id = ";
      q.bind(filter.company_id);
    }
    if (!filter.site_id.empty()) {
      q << " AND site_id = ";
      q.bind(filter.site_id);
    }
    if (!filter.page.after.empty()) {
      q << " AND id > ";
      q.bind(filter.page.after);
    }
    q << " ORDER BY id";
    GroupRow row;
    auto page = fetch_page<RingGroup>(sql, q, row, limit, [&] { return row.to_group(); });
    load_members(sql, page.items);
    return page;
  });
}

Result<std::vector<RingGroup>> SqlCallsRepository::all_ring_groups(const std::string& company_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<RingGroup>> {
    Query q(std::string("SELECT ") + kGroupColumns + " FROM ring_groups");
    if (!company_id.empty()) {
      q << " WHERE company_id = ";
      q.bind(company_id);
    }
    q << " ORDER BY id";
    GroupRow row;
    std::vector<RingGroup> out;
    q.each(sql, row, [&] { out.push_back(row.to_group()); });
    // Members in chunks: IN lists stay well below SQLite's bound-parameter limit.
    for (std::size_t at = 0; at < out.size(); at += 500) {
      std::vector<RingGroup> chunk(out.begin() + static_cast<std::ptrdiff_t>(at),
                                   out.begin() + static_cast<std::ptrdiff_t>(std::min(out.size(), at + 500)));
      load_members(sql, chunk);
      std::move(chunk.begin(), chunk.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
    }
    return out;
  });
}

// ---- forwarding rules

Status SqlCallsRepository::insert_rule(const ForwardingRule& r, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    auto group = select_group(sql, r.ring_group_id);
    if (!group || group->company_id != r.company_id) return fail(Errc::not_found, "no such ring group", "ring_group_id");
    Query q(std::string("INSERT INTO forwarding_rules (") + kRuleColumns + ") VALUES (");
    q.bind(r.id) << ",";
    q.bind(r.company_id) << ",";
    q.bind(r.ring_group_id) << ",";
    bind_rule_values(q, r);
    q << ",";
    q.bind(r.created_at) << ",";
    q.bind(r.updated_at) << ")";
    q.execute(sql);
    if (auto s = write_steps(sql, r); !s) return s;
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Status SqlCallsRepository::update_rule(const ForwardingRule& r, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE forwarding_rules SET (name, priority, enabled, weekdays, date_from, date_to, time_from, time_to) = (");
    bind_rule_values(q, r);
    q << "), updated_at = ";
    q.bind(r.updated_at) << " WHERE id = ";
    q.bind(r.id);
    if (q.execute(sql) == 0) return fail(Errc::not_found, "no such forwarding rule", "id");
    if (auto s = write_steps(sql, r); !s) return s;
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Status SqlCallsRepository::remove_rule(const std::string& id, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query steps("DELETE FROM forwarding_rule_steps WHERE rule_id = ");
    steps.bind(id);
    steps.execute(sql);
    Query q("DELETE FROM forwarding_rules WHERE id = ");
    q.bind(id);
    if (q.execute(sql) == 0) return fail(Errc::not_found, "no such forwarding rule", "id");
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<ForwardingRule> SqlCallsRepository::find_rule(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<ForwardingRule> {
    Query q(std::string("SELECT ") + kRuleColumns + " FROM forwarding_rules WHERE id = ");
    q.bind(id);
    auto rules = select_rules(sql, q);
    if (rules.empty()) return fail(Errc::not_found, "no such forwarding rule", "id");
    return std::move(rules.front());
  });
}

Result<Page<ForwardingRule>> SqlCallsRepository::list_rules(const std::string& ring_group_id, const PageRequest& page) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<ForwardingRule>> {
    // Rules are few per group and shown in priority order; the cursor is the rule id after
    // which the (priority, id) order continues.
    const int limit = detail::page_limit(page.limit);
    Query q(std::string("SELECT ") + kRuleColumns + " FROM forwarding_rules WHERE ring_group_id = ");
    q.bind(ring_group_id);
    if (!page.after.empty()) {
      q << " AND (priority > (SELECT priority FROM forwarding_rules WHERE id = ";
      q.bind(page.after) << ") OR (priority = (SELECT priority FROM forwarding_rules WHERE id = ";
      q.bind(page.after) << ") AND id > ";
      q.bind(page.after) << "))";
    }
    q << " ORDER BY priority, id LIMIT ";
    q.bind(static_cast<std::int64_t>(limit) + 1);
    Page<ForwardingRule> out;
    out.items = select_rules(sql, q);
    if (static_cast<int>(out.items.size()) > limit) {
      out.items.pop_back();
      out.next = out.items.back().id;
    }
    return out;
  });
}

Result<std::vector<ForwardingRule>> SqlCallsRepository::all_rules(const std::string& company_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<ForwardingRule>> {
    Query q(std::string("SELECT ") + kRuleColumns + " FROM forwarding_rules");
    if (!company_id.empty()) {
      q << " WHERE company_id = ";
      q.bind(company_id);
    }
    q << " ORDER BY id";
    RuleRow row;
    std::vector<ForwardingRule> out;
    q.each(sql, row, [&] { out.push_back(row.to_rule()); });
    for (std::size_t at = 0; at < out.size(); at += 500) {
      std::vector<ForwardingRule> chunk(out.begin() + static_cast<std::ptrdiff_t>(at),
                                        out.begin() + static_cast<std::ptrdiff_t>(std::min(out.size(), at + 500)));
      load_steps(sql, chunk);
      std::move(chunk.begin(), chunk.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
    }
    return out;
  });
}

// ---- parties

namespace {

struct PartyRow {
  std::string id, company_id, site_id, name;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(site_id));
    st.exchange(soci::into(name));
  }
};

// Devices are shown by name, or by serial while unnamed; users by username.
constexpr const char* kDeviceParty =
    "SELECT id, company_id, site_id, CASE WHEN name = '' THEN serial ELSE name END FROM devices WHERE revoked = 0";
constexpr const char* kUserParty = "SELECT id, company_id, '', username FROM users WHERE disabled = 0 AND company_id <> ''";

std::vector<calls::Party> select_parties(soci::session& sql, const std::string& id, const std::string& company_id) {
  std::vector<calls::Party> out;
  for (auto [text, kind] : {std::pair{kDeviceParty, TargetKind::device}, std::pair{kUserParty, TargetKind::user}}) {
    Query q(text);
    if (!id.empty()) {
      q << " AND id = ";
      q.bind(id);
    }
    if (!company_id.empty()) {
      q << " AND company_id = ";
      q.bind(company_id);
    }
    q << " ORDER BY id";
    PartyRow row;
    q.each(sql, row, [&, kind = kind] { out.push_back({kind, row.id, row.company_id, row.site_id, row.name}); });
  }
  return out;
}

}  // namespace

Result<calls::Party> SqlCallsRepository::find_party(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<calls::Party> {
    if (id.empty()) return fail(Errc::not_found, "no such account");
    auto found = select_parties(sql, id, "");
    if (found.empty()) return fail(Errc::not_found, "no such account");
    return found.front();
  });
}

Result<std::vector<calls::Party>> SqlCallsRepository::all_parties(const std::string& company_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<calls::Party>> {
    return select_parties(sql, "", company_id);
  });
}

Result<std::vector<std::pair<std::string, std::string>>> SqlCallsRepository::site_time_zones(const std::string& company_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<std::pair<std::string, std::string>>> {
    Query q("SELECT id, time_zone FROM nodes WHERE kind = 'site'");
    if (!company_id.empty()) {
      q << " AND company_id = ";
      q.bind(company_id);
    }
    struct Row {
      std::string id, zone;
      void bind(soci::statement& st) {
        st.exchange(soci::into(id));
        st.exchange(soci::into(zone));
      }
    } row;
    std::vector<std::pair<std::string, std::string>> out;
    q.each(sql, row, [&] { out.emplace_back(row.id, row.zone); });
    return out;
  });
}

// ---- calls

Status SqlCallsRepository::save_call(const CallRecord& c) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query exists("SELECT COUNT(*) FROM calls WHERE id = ");
    exists.bind(c.id);
    const bool update = count(sql, exists) > 0;
    Query q;
    if (update) {
      q << "UPDATE calls SET (sip_call_id, company_id, site_id, ring_group_id, target, caller_kind, caller_id, "
           "caller_name, status, started_at, answered_at, ended_at, answered_by, duration_seconds, end_code, "
           "end_reason) = (";
    } else {
      q << "INSERT INTO calls (sip_call_id, company_id, site_id, ring_group_id, target, caller_kind, caller_id, "
           "caller_name, status, started_at, answered_at, ended_at, answered_by, duration_seconds, end_code, "
           "end_reason, id) VALUES (";
    }
    q.bind(c.sip_call_id) << ",";
    q.bind(c.company_id) << ",";
    q.bind(c.site_id) << ",";
    q.bind(c.ring_group_id) << ",";
    q.bind(c.target) << ",";
    q.bind(c.caller_kind) << ",";
    q.bind(c.caller_id) << ",";
    q.bind(c.caller_name) << ",";
    q.bind(std::string(calls::to_string(c.status))) << ",";
    q.bind(c.started_at) << ",";
    q.bind(c.answered_at) << ",";
    q.bind(c.ended_at) << ",";
    q.bind(c.answered_by) << ",";
    q.bind(c.duration_seconds) << ",";
    q.bind(static_cast<std::int64_t>(c.end_code)) << ",";
    q.bind(c.end_reason);
    if (update) {
      q << ") WHERE id = ";
      q.bind(c.id);
    } else {
      q << ",";
      q.bind(c.id) << ")";
    }
    q.execute(sql);
    for (const char* table : {"call_legs", "call_door_events"}) {
      Query del(std::string("DELETE FROM ") + table + " WHERE call_id = ");
      del.bind(c.id);
      del.execute(sql);
    }
    std::int64_t position = 0;
    for (const auto& l : c.legs) {
      Query leg("INSERT INTO call_legs (call_id, position, member, status, ringing_at, answered_at, ended_at, code, "
                "reason) VALUES (");
      leg.bind(c.id) << ",";
      leg.bind(position++) << ",";
      leg.bind(l.member) << ",";
      leg.bind(std::string(calls::to_string(l.status))) << ",";
      leg.bind(l.ringing_at) << ",";
      leg.bind(l.answered_at) << ",";
      leg.bind(l.ended_at) << ",";
      leg.bind(static_cast<std::int64_t>(l.code)) << ",";
      leg.bind(l.reason) << ")";
      leg.execute(sql);
    }
    position = 0;
    for (const auto& d : c.door_events) {
      Query door("INSERT INTO call_door_events (call_id, position, device_id, door, at) VALUES (");
      door.bind(c.id) << ",";
      door.bind(position++) << ",";
      door.bind(d.device_id) << ",";
      door.bind(d.door) << ",";
      door.bind(d.at) << ")";
      door.execute(sql);
    }
    tx.commit();
    return {};
  });
}

Result<CallRecord> SqlCallsRepository::find_call(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<CallRecord> {
    auto c = select_call(sql, "id", id);
    if (!c) return fail(Errc::not_found, "no such call", "id");
    return std::move(*c);
  });
}

Result<CallRecord> SqlCallsRepository::find_call_by_sip_id(const std::string& sip_call_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<CallRecord> {
    auto c = select_call(sql, "sip_call_id", sip_call_id);
    if (!c) return fail(Errc::not_found, "no such call", "call_id");
    return std::move(*c);
  });
}

Result<Page<CallRecord>> SqlCallsRepository::list_calls(const calls::CallFilter& f) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<CallRecord>> {
    const int limit = detail::page_limit(f.page.limit);
    Query q(std::string("SELECT ") + kCallColumns + " FROM calls WHERE 1 = 1");
    auto eq = [&q](const char* column, const std::string& value) {
      if (value.empty()) return;
      q << " AND " << column << " = ";
      q.bind(value);
    };
    eq("company_id", f.company_id);
    eq("site_id", f.site_id);
    eq("ring_group_id", f.ring_group_id);
    eq("caller_id", f.caller_id);
    if (f.status) eq("status", calls::to_string(*f.status));
    if (f.from_ms > 0) {
      q << " AND started_at >= ";
      q.bind(f.from_ms);
    }
    if (f.to_ms > 0) {
      q << " AND started_at < ";
      q.bind(f.to_ms);
    }
    if (!f.page.after.empty()) {
      q << (f.newest_first ? " AND id < " : " AND id > ");
      q.bind(f.page.after);
    }
    q << (f.newest_first ? " ORDER BY id DESC" : " ORDER BY id");
    CallRow row;
    auto page = fetch_page<CallRecord>(sql, q, row, limit, [&] { return row.to_call(); });
    load_call_details(sql, page.items);
    return page;
  });
}

Result<std::vector<calls::DayCount>> SqlCallsRepository::daily_counts(const std::string& company_id,
                                                                     const std::string& site_id, std::int64_t from_ms) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<calls::DayCount>> {
    Query q("SELECT started_at, status FROM calls WHERE company_id = ");
    q.bind(company_id) << " AND started_at >= ";
    q.bind(from_ms);
    if (!site_id.empty()) {
      q << " AND site_id = ";
      q.bind(site_id);
    }
    struct Row {
      std::int64_t started_at = 0;
      std::string status;
      void bind(soci::statement& st) {
        st.exchange(soci::into(started_at));
        st.exchange(soci::into(status));
      }
    } row;
    std::map<std::int64_t, calls::DayCount> days;
    q.each(sql, row, [&] {
      const std::int64_t day = row.started_at / 1000 / 86400;
      auto& count = days[day];
      if (row.status == "answered") {
        ++count.answered;
      } else {
        ++count.missed;
      }
    });
    std::vector<calls::DayCount> out;
    for (auto& [day, count] : days) {
      const auto date = civil_from_days(day);
      count.date = fmt::format("{:04d}-{:02d}-{:02d}", date.year, date.month, date.day);
      out.push_back(count);
    }
    return out;
  });
}

Status SqlCallsRepository::save_snapshot(const std::string& call_id, const std::string& jpeg) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query exists("SELECT COUNT(*) FROM calls WHERE id = ");
    exists.bind(call_id);
    if (count(sql, exists) == 0) return fail(Errc::not_found, "no such call", "id");
    Query del("DELETE FROM call_snapshots WHERE call_id = ");
    del.bind(call_id);
    del.execute(sql);
    Query q("INSERT INTO call_snapshots (call_id, data) VALUES (");
    q.bind(call_id) << ",";
    q.bind(base64_encode(jpeg)) << ")";
    q.execute(sql);
    tx.commit();
    return {};
  });
}

Result<std::string> SqlCallsRepository::snapshot(const std::string& call_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::string> {
    Query q("SELECT data FROM call_snapshots WHERE call_id = ");
    q.bind(call_id);
    auto data = detail::query_text(sql, q);
    if (!data) return fail(Errc::not_found, "no snapshot", "id");
    auto bytes = base64_decode(*data);
    if (!bytes) return fail(Errc::internal, "stored snapshot is not valid base64");
    return std::move(*bytes);
  });
}

// ---- retention

Result<int> SqlCallsRepository::retention_days(const std::string& company_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<int> {
    Query q("SELECT retention_days FROM call_settings WHERE company_id = ");
    q.bind(company_id);
    return static_cast<int>(detail::query_int(sql, q).value_or(calls::kDefaultRetentionDays));
  });
}

Status SqlCallsRepository::set_retention_days(const std::string& company_id, int days, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query del("DELETE FROM call_settings WHERE company_id = ");
    del.bind(company_id);
    del.execute(sql);
    Query q("INSERT INTO call_settings (company_id, retention_days) VALUES (");
    q.bind(company_id) << ",";
    q.bind(static_cast<std::int64_t>(days)) << ")";
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<std::vector<std::string>> SqlCallsRepository::companies_with_calls() {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<std::string>> {
    Query q("SELECT DISTINCT company_id FROM calls ORDER BY company_id");
    struct Row {
      std::string id;
      void bind(soci::statement& st) { st.exchange(soci::into(id)); }
    } row;
    std::vector<std::string> out;
    q.each(sql, row, [&] { out.push_back(row.id); });
    return out;
  });
}

Result<std::size_t> SqlCallsRepository::purge_calls(const std::string& company_id, std::int64_t before_ms,
                                                    const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::size_t> {
    detail::Transaction tx(sql, db_.kind());
    for (const char* table : {"call_legs", "call_door_events", "call_snapshots"}) {
      Query d(std::string("DELETE FROM ") + table + " WHERE call_id IN (SELECT id FROM calls WHERE company_id = ");
      d.bind(company_id) << " AND started_at < ";
      d.bind(before_ms) << ")";
      d.execute(sql);
    }
    Query q("DELETE FROM calls WHERE company_id = ");
    q.bind(company_id) << " AND started_at < ";
    q.bind(before_ms);
    const auto purged = static_cast<std::size_t>(q.execute(sql));
    if (purged > 0) {
      AuditEvent event = audit;
      event.details["count"] = purged;
      detail::insert_audit(sql, event);
    }
    tx.commit();
    return purged;
  });
}

}  // namespace carillon::store
