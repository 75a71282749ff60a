// Ring groups, forwarding rules, call records and retention against real SQLite files and a
// real PostgreSQL server, driven through the calls services (CallsService, CallRecorder,
// RetentionJob) with their real collaborators.

#include <gtest/gtest.h>
#include <soci/soci.h>

#include <memory>
#include <set>
#include <string>

#include "calls/planner.hpp"
#include "calls/recorder.hpp"
#include "calls/report.hpp"
#include "calls/service.hpp"
#include "common/clock.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "store/audit_log.hpp"
#include "store/calls_repository.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/sql_support.hpp"
#include "store/tenancy_repository.hpp"
#include "store/user_repository.hpp"
#include "store/postgres_databases.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::store {
namespace {

using calls::CallRecord;
using calls::DialStatus;
using calls::EdgeCallEvent;
using calls::TargetKind;


constexpr std::int64_t kStart = 1'720'000'000;  // 2024-07-03

class CallsStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = migrated_database(GetParam(), dir_.path(), "c");
    ASSERT_TRUE(db_);
    tenancy_repo_ = std::make_unique<SqlTenancyRepository>(*db_);
    users_ = std::make_unique<SqlUserRepository>(*db_);
    devices_ = std::make_unique<SqlDeviceRepository>(*db_);
    audit_ = std::make_unique<SqlAuditLog>(*db_);
    repo_ = std::make_unique<SqlCallsRepository>(*db_);
    tenancy_ = std::make_unique<tenancy::TenancyService>(*tenancy_repo_, ids_, clock_, events_);
    service_ = std::make_unique<calls::CallsService>(*repo_, *tenancy_, ids_, clock_);
    recorder_ = std::make_unique<calls::CallRecorder>(*repo_, ids_);
    root_.id = "us_root";
    root_.platform_admin = true;
    root_.can_write = true;
  }

  Actor admin_of(const std::string& company, bool can_write = true) {
    Actor a;
    a.id = "us_admin_" + company;
    a.company_id = company;
    a.can_write = can_write;
    return a;
  }

  // A company with one project and one site in `zone`; returns {company id, site id}.
  std::pair<std::string, std::string> company(const std::string& name, const std::string& zone = "Europe/Berlin") {
    tenancy::NodeInput c;
    c.name = name;
    auto co = tenancy_->create(root_, tenancy::NodeKind::company, c);
    EXPECT_TRUE(co);
    tenancy::NodeInput p;
    p.name = name + " project";
    p.parent_id = co->id;
    auto pr = tenancy_->create(root_, tenancy::NodeKind::project, p);
    EXPECT_TRUE(pr);
    tenancy::NodeInput s;
    s.name = name + " site";
    s.parent_id = pr->id;
    s.time_zone = zone;
    auto si = tenancy_->create(root_, tenancy::NodeKind::site, s);
    EXPECT_TRUE(si);
    return {co->id, si->id};
  }

  AuditEvent event(const std::string& action, const std::string& target, const std::string& company) {
    AuditEvent e;
    e.id = ids_.next("au");
    e.at = clock_.now();
    e.actor = "test";
    e.action = action;
    e.target_type = "x";
    e.target_id = target;
    e.company_id = company;
    return e;
  }

  std::string device(const std::string& company, const std::string& site, const std::string& name) {
    devices::ClaimCode code;
    code.id = ids_.next("cc");
    code.code_hash = "hash-" + code.id;
    code.company_id = company;
    code.site_id = site;
    code.role = "door-station";
    code.created_at = clock_.now();
    code.expires_at = clock_.now() + 1000;
    EXPECT_TRUE(devices_->insert_claim_code(code, event("claim_code.create", code.id, company)));
    devices::Device d;
    d.id = ids_.next("dv");
    d.serial = "SER-" + d.id.substr(3, 20);
    d.company_id = company;
    d.site_id = site;
    d.name = name;
    d.role = "door-station";
    d.created_at = d.updated_at = clock_.now();
    auto claimed = devices_->claim(code.id, clock_.now(), d, event("device.claim", d.id, company));
    EXPECT_TRUE(claimed) << claimed.error().message;
    return d.id;
  }

  std::string user(const std::string& company, const std::string& username) {
    identity::User u;
    u.id = ids_.next("us");
    u.username = username;
    u.password_hash = "x";
    u.role = identity::Role::company_admin;
    u.company_id = company;
    u.created_at = clock_.now();
    EXPECT_TRUE(users_->insert(u, event("user.create", u.id, company)));
    return u.id;
  }

  calls::RingGroupInput group_input(const std::string& site, std::vector<calls::Member> members) {
    calls::RingGroupInput in;
    in.name = "Reception";
    in.site_id = site;
    in.members = std::move(members);
    return in;
  }

  std::size_t audit_count(const std::string& target, const std::string& action = {}) {
    AuditFilter f;
    f.target_id = target;
    f.action = action;
    f.page.limit = 500;
    auto page = audit_->list(f);
    EXPECT_TRUE(page);
    return page ? page->items.size() : 0;
  }

  std::int64_t rows(const std::string& table) {
    return detail::guarded(*db_, [&](soci::session& sql) -> Result<std::int64_t> {
             detail::Query q("SELECT COUNT(*) FROM " + table);
             return detail::query_int(sql, q).value_or(-1);
           })
        .value_or(-1);
  }

  Status edge(EdgeCallEvent::Type type, const std::string& call_id, const std::string& member, int code,
              std::int64_t ts_ms) {
    EdgeCallEvent e;
    e.type = type;
    e.call_id = call_id;
    e.member = member;
    e.code = code;
    e.ts = ts_ms;
    return recorder_->handle(e);
  }

  Status start_call(const std::string& call_id, const std::string& caller, const std::string& target,
                    const std::string& company, std::int64_t ts_ms) {
    EdgeCallEvent e;
    e.type = EdgeCallEvent::Type::call_start;
    e.call_id = call_id;
    e.caller = caller;
    e.target = target;
    e.company = company;
    e.ts = ts_ms;
    return recorder_->handle(e);
  }

  testing::TempDir dir_;
  ManualClock clock_{kStart};
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  EventBus events_;
  Actor root_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SqlTenancyRepository> tenancy_repo_;
  std::unique_ptr<SqlUserRepository> users_;
  std::unique_ptr<SqlDeviceRepository> devices_;
  std::unique_ptr<SqlAuditLog> audit_;
  std::unique_ptr<SqlCallsRepository> repo_;
  std::unique_ptr<tenancy::TenancyService> tenancy_;
  std::unique_ptr<calls::CallsService> service_;
  std::unique_ptr<calls::CallRecorder> recorder_;
};

TEST_P(CallsStoreTest, RingGroupsRoundTripPageAndAudit) {
  auto [co, site] = company("Acme");
  const auto admin = admin_of(co);
  const auto door = device(co, site, "Door");
  const auto alice = user(co, "alice");
  auto created = service_->create_ring_group(admin, group_input(site, {{TargetKind::device, door}, {TargetKind::user, alice}}));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->company_id, co);
  auto found = repo_->find_ring_group(created->id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->members, created->members);
  EXPECT_EQ(found->name, "Reception");
  EXPECT_EQ(found->ring_seconds, 30);
  EXPECT_EQ(audit_count(created->id, "ring_group.create"), 1u);

  std::vector<std::string> ids{created->id};
  for (int i = 0; i < 4; ++i) {
    auto g = service_->create_ring_group(admin, group_input(site, {{TargetKind::user, alice}}));
    ASSERT_TRUE(g);
    ids.push_back(g->id);
  }
  calls::RingGroupFilter filter;
  filter.page.limit = 2;
  std::vector<std::string> seen;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = service_->list_ring_groups(admin, filter);
    ASSERT_TRUE(page);
    for (const auto& g : page->items) seen.push_back(g.id);
    if (page->next.empty()) break;
    filter.page.after = page->next;
  }
  EXPECT_EQ(seen, ids);
  // Another company sees none of them.
  auto [other, other_site] = company("Other");
  EXPECT_TRUE(service_->list_ring_groups(admin_of(other), {}).value().items.empty());

  calls::RingGroupInput change;
  change.members = std::vector<calls::Member>{{TargetKind::user, alice}};
  change.ring_seconds = 45;
  ASSERT_TRUE(service_->update_ring_group(admin, created->id, change));
  found = repo_->find_ring_group(created->id);
  EXPECT_EQ(found->members, (std::vector<calls::Member>{{TargetKind::user, alice}}));
  EXPECT_EQ(found->ring_seconds, 45);
  ASSERT_TRUE(service_->remove_ring_group(admin, created->id));
  EXPECT_EQ(repo_->find_ring_group(created->id).error().code, Errc::not_found);
  EXPECT_EQ(audit_count(created->id), 3u);
}

TEST_P(CallsStoreTest, MembersOfOtherCompaniesAreRefusedWithoutStoringAnything) {
  auto [co, site] = company("Acme");
  auto [other, other_site] = company("Rival");
  const auto admin = admin_of(co);
  const auto mine = device(co, site, "Mine");
  const auto theirs = device(other, other_site, "Theirs");
  const auto their_user = user(other, "bob");
  const auto revoked = device(co, site, "Revoked");
  ASSERT_TRUE(devices_->revoke(revoked, clock_.now(), event("device.revoke", revoked, co)));
  const std::string ghost = "dv_" + std::string(28, 'a');
  for (const auto& bad : {calls::Member{TargetKind::device, theirs}, calls::Member{TargetKind::user, their_user},
                          calls::Member{TargetKind::device, revoked}, calls::Member{TargetKind::device, ghost}}) {
    auto r = service_->create_ring_group(admin, group_input(site, {{TargetKind::device, mine}, bad}));
    ASSERT_FALSE(r) << bad.id;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_EQ(r.error().field, "members[1].id");
    EXPECT_EQ(r.error().message, std::string("no such ") + calls::to_string(bad.kind) + " in this company");
  }
  std::vector<calls::Member> many;
  for (int i = 0; i < 33; ++i) many.push_back({TargetKind::device, mine});
  auto too_many = service_->create_ring_group(admin, group_input(site, many));
  EXPECT_EQ(too_many.error().field, "members");
  auto twice = service_->create_ring_group(admin, group_input(site, {{TargetKind::device, mine}, {TargetKind::device, mine}}));
  EXPECT_EQ(twice.error().field, "members[1].id");
  // Another company's site is "no such site".
  auto foreign_site = service_->create_ring_group(admin, group_input(other_site, {{TargetKind::device, mine}}));
  EXPECT_EQ(foreign_site.error().field, "site_id");
  EXPECT_EQ(rows("ring_groups"), 0);
  EXPECT_EQ(rows("ring_group_members"), 0);
  // Viewers may not write.
  auto viewer = service_->create_ring_group(admin_of(co, false), group_input(site, {{TargetKind::device, mine}}));
  EXPECT_EQ(viewer.error().code, Errc::forbidden);
  EXPECT_EQ(rows("ring_groups"), 0);
}

TEST_P(CallsStoreTest, ForwardingRulesOrderTargetsAndDeletion) {
  auto [co, site] = company("Acme", "America/New_York");
  auto [other, other_site] = company("Rival");
  const auto admin = admin_of(co);
  const auto alice = user(co, "alice");
  const auto door = device(co, site, "Door");
  auto reception = service_->create_ring_group(admin, group_input(site, {{TargetKind::device, door}}));
  auto concierge = service_->create_ring_group(admin, group_input(site, {{TargetKind::user, alice}}));
  auto rival = service_->create_ring_group(admin_of(other), group_input(other_site, {{TargetKind::device, device(other, other_site, "R")}}));
  ASSERT_TRUE(reception && concierge && rival);

  calls::RuleInput night;
  night.name = "Night";
  night.priority = 50;
  night.weekdays = 0x1f;
  night.date_from = CivilDate{2024, 1, 1};
  night.date_to = CivilDate{2024, 12, 31};
  night.time = calls::MinuteRange{22 * 60, 6 * 60};
  night.steps = std::vector<calls::Step>{{TargetKind::ring_group, concierge->id, 20}, {TargetKind::user, alice, 40}};
  auto first = service_->create_rule(admin, reception->id, night);
  ASSERT_TRUE(first) << first.error().message;
  calls::RuleInput early = night;
  early.name = "Early";
  early.priority = 10;
  early.date_from = std::optional<CivilDate>();
  early.time = std::optional<calls::MinuteRange>();
  auto second = service_->create_rule(admin, reception->id, early);
  ASSERT_TRUE(second);

  auto stored = repo_->find_rule(first->id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->steps, first->steps);
  EXPECT_EQ(stored->time, first->time);
  EXPECT_EQ(stored->date_from, first->date_from);
  EXPECT_EQ(stored->date_to, first->date_to);
  EXPECT_EQ(stored->weekdays, 0x1fu);
  EXPECT_FALSE(repo_->find_rule(second->id)->time);

  auto page = service_->list_rules(admin, reception->id, {"", 1});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].id, second->id) << "priority 10 first";
  auto rest = service_->list_rules(admin, reception->id, {page->next, 5});
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].id, first->id);
  EXPECT_TRUE(rest->next.empty());

  // Steps into another company: refused like members.
  calls::RuleInput foreign = night;
  foreign.steps = std::vector<calls::Step>{{TargetKind::ring_group, rival->id, 20}};
  auto refused = service_->create_rule(admin, reception->id, foreign);
  EXPECT_EQ(refused.error().field, "steps[0].id");
  // Clearing the time range through an update.
  calls::RuleInput clear;
  clear.time = std::optional<calls::MinuteRange>();
  ASSERT_TRUE(service_->update_rule(admin, first->id, clear));
  EXPECT_FALSE(repo_->find_rule(first->id)->time);

  // The concierge group is a target of the reception's rule: it cannot go.
  EXPECT_EQ(service_->remove_ring_group(admin, concierge->id).error().code, Errc::conflict);
  ASSERT_TRUE(service_->remove_ring_group(admin, reception->id));
  EXPECT_EQ(repo_->find_rule(first->id).error().code, Errc::not_found);
  EXPECT_EQ(rows("forwarding_rule_steps"), 0);
  EXPECT_TRUE(service_->remove_ring_group(admin, concierge->id));
}

TEST_P(CallsStoreTest, RoutingInputFeedsThePlanner) {
  auto [co, site] = company("Acme", "Asia/Kolkata");
  const auto admin = admin_of(co);
  const auto door = device(co, site, "Door");
  const auto alice = user(co, "alice");
  auto group = service_->create_ring_group(admin, group_input(site, {{TargetKind::device, door}, {TargetKind::user, alice}}));
  ASSERT_TRUE(group);
  auto input = service_->routing_input();
  ASSERT_TRUE(input) << input.error().message;
  EXPECT_EQ(input->site_zones.at(site), "Asia/Kolkata");
  TimeZoneDb zones;
  calls::RoutePlanner planner({}, zones);
  auto table = planner.plan(*input, clock_.now());
  EXPECT_TRUE(table.count(co + ":" + group->id));
  EXPECT_TRUE(table.count(co + ":rg." + group->id));
  EXPECT_TRUE(table.count(co + ":" + door));
  EXPECT_TRUE(table.count(co + ":" + alice));
}

TEST_P(CallsStoreTest, RecorderProducesEveryDialStatus) {
  auto [co, site] = company("Acme");
  const auto admin = admin_of(co);
  const auto door = device(co, site, "Front door");
  const auto alice = user(co, "alice");
  const auto bob = user(co, "bob");
  auto group = service_->create_ring_group(admin, group_input(site, {{TargetKind::user, alice}, {TargetKind::user, bob}}));
  ASSERT_TRUE(group);
  const std::int64_t t = kStart * 1000;
  using T = EdgeCallEvent::Type;

  // Answered: alice picks up, bob's leg is cancelled, the door opens, a snapshot arrives.
  ASSERT_TRUE(start_call("c-answered", door, group->id, co, t));
  EXPECT_TRUE(start_call("c-answered", door, group->id, co, t + 5)) << "a repeated start is ignored";
  ASSERT_TRUE(edge(T::leg_ringing, "c-answered", alice, 180, t + 100));
  ASSERT_TRUE(edge(T::leg_ringing, "c-answered", bob, 180, t + 120));
  ASSERT_TRUE(edge(T::leg_answered, "c-answered", alice, 200, t + 3000));
  ASSERT_TRUE(edge(T::call_answered, "c-answered", alice, 200, t + 3000));
  ASSERT_TRUE(recorder_->door_opened("c-answered", door, "main", t + 5000));
  const std::string jpeg = std::string("\xFF\xD8\xFF\xE0", 4) + std::string(100, '\x11') + "\xFF\xD9";
  ASSERT_TRUE(recorder_->attach_snapshot("c-answered", jpeg));
  EXPECT_EQ(recorder_->attach_snapshot("c-answered", "GIF89a....").error().field, "snapshot");
  ASSERT_TRUE(edge(T::call_end, "c-answered", "", 200, t + 63'000));
  auto answered = repo_->find_call_by_sip_id("c-answered");
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, DialStatus::answered);
  EXPECT_EQ(answered->company_id, co);
  EXPECT_EQ(answered->site_id, site);
  EXPECT_EQ(answered->ring_group_id, group->id);
  EXPECT_EQ(answered->caller_kind, "device");
  EXPECT_EQ(answered->caller_id, door);
  EXPECT_EQ(answered->caller_name, "Front door");
  EXPECT_EQ(answered->started_at, t);
  EXPECT_EQ(answered->answered_at, t + 3000);
  EXPECT_EQ(answered->ended_at, t + 63'000);
  EXPECT_EQ(answered->answered_by, alice);
  EXPECT_EQ(answered->duration_seconds, 60);
  ASSERT_EQ(answered->legs.size(), 2u);
  EXPECT_EQ(answered->legs[0].member, alice);
  EXPECT_EQ(answered->legs[0].status, calls::LegStatus::answered);
  EXPECT_EQ(answered->legs[0].ringing_at, t + 100);
  EXPECT_EQ(answered->legs[0].ended_at, t + 63'000);
  EXPECT_EQ(answered->legs[1].status, calls::LegStatus::cancelled);
  EXPECT_EQ(answered->legs[1].ended_at, t + 3000);
  EXPECT_EQ(answered->door_events, (std::vector<calls::DoorEvent>{{door, "main", t + 5000}}));
  EXPECT_TRUE(answered->has_snapshot);
  EXPECT_EQ(repo_->snapshot(answered->id).value(), jpeg);
  // Events after the end change nothing.
  ASSERT_TRUE(edge(T::call_answered, "c-answered", bob, 200, t + 70'000));
  EXPECT_EQ(repo_->find_call_by_sip_id("c-answered")->answered_by, alice);
  EXPECT_EQ(edge(T::leg_ringing, "c-unknown", alice, 180, t).error().code, Errc::not_found);

  struct Case {
    std::string call_id;
    std::vector<std::pair<std::string, int>> failed_legs;
    int end_code;
    DialStatus want;
  };
  for (const Case& c : {Case{"c-missed", {}, 487, DialStatus::missed},
                        Case{"c-busy", {{alice, 486}, {bob, 486}}, 486, DialStatus::busy},
                        Case{"c-rejected", {{alice, 603}}, 603, DialStatus::rejected},
                        Case{"c-timeout", {}, 408, DialStatus::timed_out},
                        Case{"c-failed", {{alice, 503}, {bob, 404}}, 500, DialStatus::failed}}) {
    ASSERT_TRUE(start_call(c.call_id, alice, group->id, co, t + 1000));
    ASSERT_TRUE(edge(T::leg_ringing, c.call_id, alice, 180, t + 1100));
    ASSERT_TRUE(edge(T::leg_ringing, c.call_id, bob, 180, t + 1100));
    for (const auto& [member, code] : c.failed_legs) ASSERT_TRUE(edge(T::leg_failed, c.call_id, member, code, t + 2000));
    ASSERT_TRUE(edge(T::call_end, c.call_id, "", c.end_code, t + 20'000));
    auto call = repo_->find_call_by_sip_id(c.call_id);
    ASSERT_TRUE(call);
    EXPECT_EQ(call->status, c.want) << c.call_id;
    EXPECT_EQ(call->caller_kind, "user");
    EXPECT_EQ(call->caller_name, "alice");
    EXPECT_EQ(call->duration_seconds, 0);
    EXPECT_EQ(call->answered_at, 0);
    for (const auto& leg : call->legs) {
      EXPECT_NE(leg.status, calls::LegStatus::ringing) << "no leg rings after the end";
      EXPECT_NE(leg.ended_at, 0);
    }
  }

  // Filters.
  calls::CallFilter f;
  f.status = DialStatus::busy;
  auto busy = service_->list_calls(admin, f);
  ASSERT_EQ(busy->items.size(), 1u);
  EXPECT_EQ(busy->items[0].sip_call_id, "c-busy");
  f = {};
  f.caller_id = door;
  EXPECT_EQ(service_->list_calls(admin, f)->items.size(), 1u);
  f = {};
  f.ring_group_id = group->id;
  f.from_ms = t + 1;
  EXPECT_EQ(service_->list_calls(admin, f)->items.size(), 5u);
  f.to_ms = t + 1;
  EXPECT_EQ(service_->list_calls(admin, f)->items.size(), 0u);
  auto [other, other_site] = company("Rival");
  EXPECT_TRUE(service_->list_calls(admin_of(other), {})->items.empty());
  EXPECT_EQ(service_->get_call(admin_of(other), answered->id).error().code, Errc::not_found);
  EXPECT_EQ(service_->snapshot(admin_of(other), answered->id).error().code, Errc::not_found);
}

TEST_P(CallsStoreTest, RetentionPurgesOnlyOldCallDataAndAuditsEachPurge) {
  auto [a, a_site] = company("Short");
  auto [b, b_site] = company("Default");
  const auto door_a = device(a, a_site, "A");
  const auto door_b = device(b, b_site, "B");
  ASSERT_TRUE(service_->set_retention_days(admin_of(a), a, 30));
  EXPECT_EQ(service_->set_retention_days(admin_of(a), a, 181).error().field, "retention_days");
  EXPECT_EQ(service_->set_retention_days(admin_of(a), a, 0).error().field, "retention_days");
  EXPECT_EQ(service_->set_retention_days(admin_of(a, false), a, 10).error().code, Errc::forbidden);
  EXPECT_EQ(service_->set_retention_days(admin_of(b), a, 10).error().code, Errc::not_found);
  EXPECT_EQ(service_->retention_days(admin_of(a), a).value(), 30);
  EXPECT_EQ(service_->retention_days(admin_of(b), b).value(), 180);

  const std::int64_t day = 86400;
  const std::string jpeg = std::string("\xFF\xD8\xFF\xE0", 4) + "jpeg";
  auto call_at = [&](const std::string& id, const std::string& door, const std::string& company, std::int64_t at) {
    ASSERT_TRUE(start_call(id, door, door, company, at * 1000));
    ASSERT_TRUE(edge(EdgeCallEvent::Type::leg_ringing, id, door, 180, at * 1000 + 10));
    ASSERT_TRUE(recorder_->door_opened(id, door, "main", at * 1000 + 20));
    ASSERT_TRUE(recorder_->attach_snapshot(id, jpeg));
    ASSERT_TRUE(edge(EdgeCallEvent::Type::call_end, id, "", 487, at * 1000 + 30));
  };
  call_at("a-old", door_a, a, kStart - 40 * day);
  call_at("a-edge", door_a, a, kStart - 30 * day + 1);  // younger than 30 days by a second
  call_at("a-new", door_a, a, kStart - 1 * day);
  call_at("b-old", door_b, b, kStart - 181 * day);
  call_at("b-mid", door_b, b, kStart - 40 * day);
  ASSERT_EQ(rows("calls"), 5);

  calls::RetentionJob job(*repo_, ids_);
  auto purged = job.run(clock_.now());
  ASSERT_TRUE(purged) << purged.error().message;
  EXPECT_EQ(*purged, 2u);
  std::set<std::string> left;
  auto remaining = repo_->list_calls({});
  ASSERT_TRUE(remaining);
  for (const auto& c : remaining->items) left.insert(c.sip_call_id);
  EXPECT_EQ(left, (std::set<std::string>{"a-edge", "a-new", "b-mid"}));
  EXPECT_EQ(rows("call_legs"), 3);
  EXPECT_EQ(rows("call_door_events"), 3);
  EXPECT_EQ(rows("call_snapshots"), 3);
  AuditFilter f;
  f.action = "call.purge";
  auto events = audit_->list(f).value().items;
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) {
    EXPECT_EQ(e.details.at("count"), 1);
    EXPECT_EQ(e.actor, "system");
  }
  // Nothing old left: a second run purges nothing and writes no event.
  EXPECT_EQ(job.run(clock_.now()).value(), 0u);
  EXPECT_EQ(audit_->list(f).value().items.size(), 2u);
  // Two seconds later "a-edge" is older than 30 days.
  clock_.advance(2);
  EXPECT_EQ(job.run(clock_.now()).value(), 1u);
  EXPECT_EQ(rows("calls"), 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, CallsStoreTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& info) { return info.param == Backend::sqlite ? "sqlite" : "postgresql"; });

}  // namespace
}  // namespace carillon::store
