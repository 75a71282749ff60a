// The calls domain without a database: time zones from the system tz database, forwarding
// rule conditions (DST, midnight), the route planner's rtjson documents, CSV escaping and
// the dial status of unanswered calls.

#include <algorithm>

#include <gtest/gtest.h>

#include <set>

#include "calls/planner.hpp"
#include "calls/recorder.hpp"
#include "calls/report.hpp"
#include "calls/service.hpp"
#include "common/time_zone.hpp"

namespace carillon::calls {
namespace {

using nlohmann::json;

std::int64_t utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return days_from_civil({y, mo, d}) * 86400 + h * 3600 + mi * 60 + s;
}

class TimeZoneTest : public ::testing::Test {
 protected:
  std::shared_ptr<const TimeZone> zone(const std::string& name) {
    auto z = db_.get(name);
    EXPECT_TRUE(z) << name << ": " << (z ? "" : z.error().message);
    return z ? *z : nullptr;
  }
  TimeZoneDb db_;
};

TEST(CivilTest, DaysRoundTripAndWeekdays) {
  EXPECT_EQ(days_from_civil({1970, 1, 1}), 0);
  EXPECT_EQ(days_from_civil({2000, 3, 1}), 11017);
  EXPECT_EQ(weekday_of(0), 3);                               // Thursday
  EXPECT_EQ(weekday_of(days_from_civil({2024, 3, 31})), 6);  // Sunday
  for (std::int64_t d = -800000; d < 800000; d += 997) EXPECT_EQ(days_from_civil(civil_from_days(d)), d);
  EXPECT_EQ(civil_from_days(days_from_civil({2024, 2, 29})), (CivilDate{2024, 2, 29}));
}

TEST_F(TimeZoneTest, OffsetsOfSeveralZonesAtOnce) {
  auto berlin = zone("Europe/Berlin");
  auto york = zone("America/New_York");
  auto kolkata = zone("Asia/Kolkata");
  ASSERT_TRUE(berlin && york && kolkata);
  const auto winter = utc(2024, 1, 15, 12);
  const auto summer = utc(2024, 7, 15, 12);
  EXPECT_EQ(berlin->offset_at(winter), 3600);
  EXPECT_EQ(berlin->offset_at(summer), 7200);
  EXPECT_EQ(york->offset_at(winter), -5 * 3600);
  EXPECT_EQ(york->offset_at(summer), -4 * 3600);
  EXPECT_EQ(kolkata->offset_at(winter), 19800);
  EXPECT_EQ(kolkata->offset_at(summer), 19800);
  auto local = kolkata->to_local(utc(2024, 1, 15, 20, 0));  // 01:30 next day in India
  EXPECT_EQ(local.date, (CivilDate{2024, 1, 16}));
  EXPECT_EQ(local.second_of_day, 90 * 60);
  EXPECT_EQ(local.weekday, 1);  // Tuesday
}

TEST_F(TimeZoneTest, DstTransitionsAreExact) {
  auto berlin = zone("Europe/Berlin");
  auto york = zone("America/New_York");
  ASSERT_TRUE(berlin && york);
  const auto spring = utc(2024, 3, 31, 1);
  EXPECT_EQ(berlin->offset_at(spring - 1), 3600);
  EXPECT_EQ(berlin->offset_at(spring), 7200);
  const auto autumn = utc(2024, 10, 27, 1);
  EXPECT_EQ(berlin->offset_at(autumn - 1), 7200);
  EXPECT_EQ(berlin->offset_at(autumn), 3600);
  EXPECT_EQ(berlin->transitions(utc(2024, 1, 1), utc(2025, 1, 1)), (std::vector<std::int64_t>{spring, autumn}));
  EXPECT_EQ(york->transitions(utc(2024, 1, 1), utc(2025, 1, 1)),
            (std::vector<std::int64_t>{utc(2024, 3, 10, 7), utc(2024, 11, 3, 6)}));
  // 02:30 on the spring day does not exist in Berlin; on the autumn day it exists twice.
  EXPECT_TRUE(berlin->from_local(utc(2024, 3, 31, 2, 30)).empty());
  EXPECT_EQ(berlin->from_local(utc(2024, 10, 27, 2, 30)),
            (std::vector<std::int64_t>{utc(2024, 10, 27, 0, 30), utc(2024, 10, 27, 1, 30)}));
  EXPECT_EQ(berlin->from_local(utc(2024, 7, 1, 12)), (std::vector<std::int64_t>{utc(2024, 7, 1, 10)}));
}

TEST_F(TimeZoneTest, TheFooterRuleCarriesOnAfterTheListedTransitions) {
  auto berlin = zone("Europe/Berlin");
  ASSERT_TRUE(berlin);
  // 2040: last Sunday of March is the 25th, of October the 28th.
  EXPECT_EQ(berlin->offset_at(utc(2040, 3, 25, 1) - 1), 3600);
  EXPECT_EQ(berlin->offset_at(utc(2040, 3, 25, 1)), 7200);
  EXPECT_EQ(berlin->offset_at(utc(2040, 10, 28, 1) - 1), 7200);
  EXPECT_EQ(berlin->offset_at(utc(2040, 10, 28, 1)), 3600);
  auto sydney = zone("Australia/Sydney");  // southern hemisphere: DST spans the new year
  ASSERT_TRUE(sydney);
  EXPECT_EQ(sydney->offset_at(utc(2045, 1, 10)), 11 * 3600);
  EXPECT_EQ(sydney->offset_at(utc(2045, 7, 10)), 10 * 3600);
}

TEST_F(TimeZoneTest, UnknownAndHostileNamesAreRefused) {
  for (std::string name : {"", "Mars/Olympus", "../../etc/passwd", "/etc/passwd", "Europe/../../etc/passwd",
                           "Europe//Berlin", "Europe/Berlin/", "Europe/Berlin\n"}) {
    auto z = db_.get(name);
    ASSERT_FALSE(z) << name;
    EXPECT_EQ(z.error().field, "time_zone");
  }
  EXPECT_FALSE(TimeZone::parse("x", "not a tzif file at all, long enough to have a header.........."));
}

// ---------------------------------------------------------------------------------------------
// Rule conditions

ForwardingRule rule(unsigned weekdays, std::optional<MinuteRange> time = std::nullopt) {
  ForwardingRule r;
  r.id = "fr_1";
  r.ring_group_id = "rg_1";
  r.name = "r";
  r.weekdays = weekdays;
  r.time = time;
  r.steps = {{TargetKind::user, "us_1", 20}};
  return r;
}

constexpr unsigned kMon = 1, kFri = 16, kSat = 32, kWorkdays = 0x1f;

TEST_F(TimeZoneTest, OfficeHoursInTheSitesLocalTime) {
  auto berlin = zone("Europe/Berlin");
  auto kolkata = zone("Asia/Kolkata");
  ASSERT_TRUE(berlin && kolkata);
  auto office = rule(kWorkdays, MinuteRange{8 * 60, 18 * 60});
  // Monday 2024-07-15 07:30 UTC = 09:30 in Berlin, 13:00 in Kolkata.
  EXPECT_TRUE(rule_applies(office, *berlin, utc(2024, 7, 15, 7, 30)));
  EXPECT_TRUE(rule_applies(office, *kolkata, utc(2024, 7, 15, 7, 30)));
  // 16:30 UTC: 18:30 in Berlin (closed), 22:00 in Kolkata (closed).
  EXPECT_FALSE(rule_applies(office, *berlin, utc(2024, 7, 15, 16, 30)));
  EXPECT_TRUE(rule_applies(office, *berlin, utc(2024, 7, 15, 15, 59)));
  EXPECT_FALSE(rule_applies(office, *berlin, utc(2024, 7, 15, 16, 0)));  // [from, to)
  // 02:45 UTC Monday: 08:15 in Kolkata (open), 04:45 in Berlin (closed).
  EXPECT_TRUE(rule_applies(office, *kolkata, utc(2024, 7, 15, 2, 45)));
  EXPECT_FALSE(rule_applies(office, *berlin, utc(2024, 7, 15, 2, 45)));
  // Saturday.
  EXPECT_FALSE(rule_applies(office, *berlin, utc(2024, 7, 20, 10)));
}

TEST_F(TimeZoneTest, RangesCrossingMidnightBelongToTheDayTheyStart) {
  auto berlin = zone("Europe/Berlin");
  ASSERT_TRUE(berlin);
  auto friday_night = rule(kFri, MinuteRange{22 * 60, 6 * 60});
  // Friday 2024-07-19 23:00 local = 21:00 UTC.
  EXPECT_TRUE(rule_applies(friday_night, *berlin, utc(2024, 7, 19, 21)));
  // Saturday 03:00 local belongs to Friday's occurrence.
  EXPECT_TRUE(rule_applies(friday_night, *berlin, utc(2024, 7, 20, 1)));
  EXPECT_FALSE(rule_applies(friday_night, *berlin, utc(2024, 7, 20, 4)));  // 06:00 local: over
  // Friday 03:00 local belongs to Thursday, which is not in the set; Saturday 23:00 neither.
  EXPECT_FALSE(rule_applies(friday_night, *berlin, utc(2024, 7, 19, 1)));
  EXPECT_FALSE(rule_applies(friday_night, *berlin, utc(2024, 7, 20, 21)));
}

TEST_F(TimeZoneTest, DateRangesAreInclusiveLocalDates) {
  auto york = zone("America/New_York");
  ASSERT_TRUE(york);
  auto holidays = rule(0x7f);
  holidays.date_from = CivilDate{2024, 12, 24};
  holidays.date_to = CivilDate{2024, 12, 26};
  // 2024-12-24 03:00 UTC is still the 23rd in New York.
  EXPECT_FALSE(rule_applies(holidays, *york, utc(2024, 12, 24, 3)));
  EXPECT_TRUE(rule_applies(holidays, *york, utc(2024, 12, 24, 5)));
  EXPECT_TRUE(rule_applies(holidays, *york, utc(2024, 12, 27, 4, 59)));  // 23:59 on the 26th
  EXPECT_FALSE(rule_applies(holidays, *york, utc(2024, 12, 27, 5)));
}

// ---------------------------------------------------------------------------------------------
// Planner

class PlannerTest : public ::testing::Test {
 protected:
  PlannerTest() : planner_(settings(), zones_) {}
  static PlannerSettings settings() {
    PlannerSettings s;
    s.sip_domain = "carillon.test";
    s.loop_uri = "sip:127.0.0.1:5999";
    return s;
  }

  static std::string hex_id(const char* prefix, int n) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%s_%028d", prefix, n);
    return buffer;
  }

  RingGroup group(int n_members, const std::string& company = "co_a", const std::string& site = "si_berlin") {
    RingGroup g;
    g.id = hex_id("rg", ++counter_);
    g.company_id = company;
    g.site_id = site;
    g.name = "group";
    g.ring_seconds = 25;
    for (int i = 0; i < n_members; ++i) {
      const bool device = i % 2 == 0;
      Party p{device ? TargetKind::device : TargetKind::user, hex_id(device ? "dv" : "us", ++counter_), company, site, "m"};
      input_.accounts.push_back(p);
      g.members.push_back({p.kind, p.id});
    }
    input_.groups.push_back(g);
    return g;
  }

  // Every member user part reachable from key `key`, following loop routes through the table.
  std::vector<std::string> reached(const RoutingTable& table, const std::string& company, const std::string& user,
                                   int depth = 0) {
    std::vector<std::string> out;
    auto it = table.find(company + ":" + user);
    if (it == table.end() || depth > 4) return out;
    const json& doc = it->second;
    EXPECT_EQ(doc.at("version"), "1.0");
    EXPECT_LE(doc.at("routes").size(), 8u) << it->first;
    for (const auto& route : doc.at("routes")) {
      const auto uri = route.at("uri").get<std::string>();
      EXPECT_EQ(uri.substr(0, 4), "sip:");
      EXPECT_EQ(uri.substr(uri.find('@')), "@carillon.test");
      const auto part = uri.substr(4, uri.find('@') - 4);
      EXPECT_EQ(route.at("dst_uri"), "sip:127.0.0.1:5999");
      // What Kamailio does in the loop: an account's user part ends at its own contacts.
      bool account = std::any_of(input_.accounts.begin(), input_.accounts.end(),
                                 [&](const Party& p) { return p.id == part; });
      if (account) {
        out.push_back(part);
        continue;
      }
      auto below = reached(table, company, part, depth + 1);
      out.insert(out.end(), below.begin(), below.end());
    }
    return out;
  }

  TimeZoneDb zones_;
  RoutingInput input_;
  RoutePlanner planner_;
  int counter_ = 0;
};

TEST_F(PlannerTest, DirectCallsGoThroughTheLoopToTheAccount) {
  auto g = group(1);
  auto table = planner_.plan(input_, utc(2024, 7, 1));
  const auto& member = g.members[0].id;
  const json& direct = table.at("co_a:" + member);
  EXPECT_EQ(direct, json::parse(R"({"version":"1.0","routing":"serial","routes":[{"uri":"sip:)" + member +
                                R"(@carillon.test","dst_uri":"sip:127.0.0.1:5999"}]})"));
}

TEST_F(PlannerTest, GroupSizesSplitIntoStagesOfAtMostEight) {
  input_.site_zones["si_berlin"] = "Europe/Berlin";
  struct Case {
    int members;
    std::size_t sub_stages;
  };
  for (Case c : {Case{1, 0}, Case{8, 0}, Case{9, 2}, Case{32, 4}, Case{33, 5}}) {
    input_ = {};
    input_.site_zones["si_berlin"] = "Europe/Berlin";
    auto g = group(c.members);
    auto table = planner_.plan(input_, utc(2024, 7, 1));
    SCOPED_TRACE(c.members);
    // Dialling the group: one serial step ringing the group's stage for its ring time.
    const json& entry = table.at("co_a:" + g.id);
    EXPECT_EQ(entry.at("routing"), "serial");
    ASSERT_EQ(entry.at("routes").size(), 1u);
    EXPECT_EQ(entry["routes"][0].at("uri"), "sip:rg." + g.id + "@carillon.test");
    EXPECT_EQ(entry["routes"][0].at("fr_inv_timer"), 25000);
    const json& stage = table.at("co_a:rg." + g.id);
    EXPECT_EQ(stage.at("routing"), "parallel");
    EXPECT_EQ(stage.at("routes").size(), c.sub_stages == 0 ? static_cast<std::size_t>(c.members) : c.sub_stages);
    std::size_t smallest = 100, largest = 0;
    for (std::size_t s = 0; s < c.sub_stages; ++s) {
      const json& sub = table.at("co_a:rg." + g.id + "." + std::string(1, static_cast<char>('a' + s)));
      EXPECT_EQ(sub.at("routing"), "parallel");
      smallest = std::min(smallest, sub.at("routes").size());
      largest = std::max(largest, sub.at("routes").size());
    }
    if (c.sub_stages > 0) {
      EXPECT_LE(largest - smallest, 1u) << "sub-stages are balanced";
    }
    auto members = reached(table, "co_a", g.id);
    std::multiset<std::string> got(members.begin(), members.end());
    std::multiset<std::string> want;
    for (const auto& m : g.members) want.insert(m.id);
    EXPECT_EQ(got, want) << "every member rings exactly once";
  }
}

TEST_F(PlannerTest, ForwardingChainIsASerialDocumentWithRingTimes) {
  input_.site_zones["si_berlin"] = "Europe/Berlin";
  auto reception = group(3);
  auto concierge = group(2);
  const std::string night_user = input_.accounts.back().id;
  ForwardingRule night = rule(0x7f, MinuteRange{18 * 60, 8 * 60});
  night.ring_group_id = reception.id;
  night.company_id = "co_a";
  night.steps = {{TargetKind::ring_group, reception.id, 15},
                 {TargetKind::ring_group, concierge.id, 20},
                 {TargetKind::user, night_user, 30}};
  input_.rules.push_back(night);

  auto day = planner_.plan(input_, utc(2024, 7, 1, 10));  // 12:00 in Berlin: no rule
  EXPECT_EQ(day.at("co_a:" + reception.id)["routes"].size(), 1u);
  auto evening = planner_.plan(input_, utc(2024, 7, 1, 19));  // 21:00 in Berlin
  const json& chain = evening.at("co_a:" + reception.id);
  EXPECT_EQ(chain, json::parse(R"({"version":"1.0","routing":"serial","routes":[
      {"uri":"sip:rg.)" + reception.id + R"(@carillon.test","dst_uri":"sip:127.0.0.1:5999","fr_inv_timer":15000},
      {"uri":"sip:rg.)" + concierge.id + R"(@carillon.test","dst_uri":"sip:127.0.0.1:5999","fr_inv_timer":20000},
      {"uri":"sip:)" + night_user + R"(@carillon.test","dst_uri":"sip:127.0.0.1:5999","fr_inv_timer":30000}]})"));
  // The concierge group's own entry is untouched by the reception's rule.
  EXPECT_EQ(evening.at("co_a:" + concierge.id), day.at("co_a:" + concierge.id));

  // Lower priority number wins; a disabled rule never applies.
  ForwardingRule first = night;
  first.id = "fr_0";
  first.priority = 1;
  first.steps = {{TargetKind::user, night_user, 45}};
  input_.rules.push_back(first);
  EXPECT_EQ(planner_.plan(input_, utc(2024, 7, 1, 19)).at("co_a:" + reception.id)["routes"].size(), 1u);
  input_.rules.back().enabled = false;
  EXPECT_EQ(planner_.plan(input_, utc(2024, 7, 1, 19)).at("co_a:" + reception.id)["routes"].size(), 3u);
}

TEST_F(PlannerTest, GoneTargetsAreLeftOutAndCompaniesStaySeparate) {
  auto a = group(2, "co_a");
  auto b = group(2, "co_b", "si_other");
  // The first member of a was revoked: no longer an account.
  input_.accounts.erase(std::remove_if(input_.accounts.begin(), input_.accounts.end(),
                                       [&](const Party& p) { return p.id == a.members[0].id; }),
                        input_.accounts.end());
  auto table = planner_.plan(input_, utc(2024, 7, 1));
  EXPECT_EQ(reached(table, "co_a", a.id), std::vector<std::string>{a.members[1].id});
  EXPECT_FALSE(table.count("co_a:" + a.members[0].id));
  EXPECT_FALSE(table.count("co_a:" + b.id)) << "no route from one tenant into another";
  EXPECT_TRUE(table.count("co_b:" + b.id));
  for (const auto& [key, doc] : table) {
    const auto company = key.substr(0, key.find(':'));
    for (const auto& part : reached(table, company, key.substr(key.find(':') + 1))) {
      auto owner = std::find_if(input_.accounts.begin(), input_.accounts.end(), [&](const Party& p) { return p.id == part; });
      ASSERT_NE(owner, input_.accounts.end());
      EXPECT_EQ(owner->company_id, company) << key;
    }
  }
  // A group with nobody left to ring gets no entry at all.
  input_.accounts.clear();
  EXPECT_TRUE(planner_.plan(input_, utc(2024, 7, 1)).empty());
}

TEST_F(PlannerTest, NextChangeFollowsEachSitesLocalTimeAndDst) {
  auto berlin_group = group(1, "co_a", "si_berlin");
  auto york_group = group(1, "co_a", "si_york");
  auto kolkata_group = group(1, "co_a", "si_kolkata");
  input_.site_zones = {{"si_berlin", "Europe/Berlin"}, {"si_york", "America/New_York"}, {"si_kolkata", "Asia/Kolkata"}};
  auto daily = [&](const RingGroup& g, MinuteRange range) {
    auto r = rule(0x7f, range);
    r.id = "fr_" + g.id;
    r.ring_group_id = g.id;
    r.company_id = "co_a";
    return r;
  };
  // Only Berlin: 01:30-02:30 every night. On 2024-03-31 02:30 does not exist: the rule starts
  // at 01:30 CET (00:30 UTC) and stops when the clock jumps to 03:00 (01:00 UTC).
  input_.rules = {daily(berlin_group, {90, 150})};
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 3, 30, 23)), utc(2024, 3, 31, 0, 30));
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 3, 31, 0, 30)), utc(2024, 3, 31, 1));
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 3, 31, 1)), utc(2024, 3, 31, 23, 30));  // 01:30 CEST
  // Autumn: 01:30 CEST (23:30 UTC on the 26th) to 02:30 CEST (00:30 UTC), then 02:00-02:30 CET
  // again after the clock went back: a wall-time rule applies to both 02:xx hours.
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 10, 26, 23, 30)), utc(2024, 10, 27, 0, 30));
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 10, 27, 0, 30)), utc(2024, 10, 27, 1, 0));
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 10, 27, 1, 0)), utc(2024, 10, 27, 1, 30));

  // Three zones at once: office hours 09:00-17:00 everywhere; the earliest local change wins.
  input_.rules = {daily(berlin_group, {540, 1020}), daily(york_group, {540, 1020}), daily(kolkata_group, {540, 1020})};
  // 2024-07-01 00:00 UTC: Kolkata opens at 03:30 UTC, Berlin at 07:00, New York at 13:00.
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 7, 1)), utc(2024, 7, 1, 3, 30));
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 7, 1, 3, 30)), utc(2024, 7, 1, 7));
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 7, 1, 7)), utc(2024, 7, 1, 11, 30));  // Kolkata closes
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 7, 1, 11, 30)), utc(2024, 7, 1, 13));
  // In January New York is UTC-5: it opens at 14:00 UTC.
  input_.rules = {daily(york_group, {540, 1020})};
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 1, 15, 12)), utc(2024, 1, 15, 14));

  // A rule that starts next year is found; no rules at all: the horizon.
  auto later = daily(berlin_group, {540, 1020});
  later.date_from = CivilDate{2025, 2, 1};
  input_.rules = {later};
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 7, 1)), utc(2025, 2, 1, 8));
  input_.rules.clear();
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 7, 1)), utc(2024, 7, 1) + kPlanHorizonSeconds);
}

TEST_F(PlannerTest, MidnightCrossingRuleSwitchesTheChainAtTheRightInstants) {
  auto g = group(2, "co_a", "si_kolkata");
  input_.site_zones["si_kolkata"] = "Asia/Kolkata";
  auto r = rule(kFri, MinuteRange{22 * 60, 6 * 60});
  r.ring_group_id = g.id;
  r.company_id = "co_a";
  r.steps = {{TargetKind::user, g.members[1].id, 40}};
  input_.rules = {r};
  // Friday 2024-07-19 22:00 IST = 16:30 UTC; Saturday 06:00 IST = 00:30 UTC.
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 7, 19, 12)), utc(2024, 7, 19, 16, 30));
  EXPECT_EQ(planner_.next_change(input_, utc(2024, 7, 19, 16, 30)), utc(2024, 7, 20, 0, 30));
  EXPECT_EQ(planner_.plan(input_, utc(2024, 7, 19, 23)).at("co_a:" + g.id)["routes"][0]["fr_inv_timer"], 40000);
  EXPECT_EQ(planner_.plan(input_, utc(2024, 7, 20, 0, 31)).at("co_a:" + g.id)["routes"][0]["fr_inv_timer"], 25000);
}

// ---------------------------------------------------------------------------------------------
// Reports

TEST(CsvTest, FieldsAreQuotedAndFormulasNeutralised) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(csv_field("+1"), "'+1");
  EXPECT_EQ(csv_field("-2+3"), "'-2+3");
  EXPECT_EQ(csv_field("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(csv_field("\tx"), "'\tx");
  EXPECT_EQ(csv_field("a=b"), "a=b");
  EXPECT_EQ(csv_field("Grüße"), "Grüße");
}

TEST(CsvTest, RowsHaveTheHeadersColumns) {
  CallRecord c;
  c.id = "cl_1";
  c.caller_name = "=cmd|' /C calc'!A0";
  c.caller_kind = "device";
  c.status = DialStatus::answered;
  c.started_at = utc(2024, 3, 31, 1) * 1000 + 5;
  c.legs.resize(2);
  const auto header = csv_header();
  const auto row = csv_row(c);
  ASSERT_EQ(row.substr(row.size() - 2), "\r\n");
  EXPECT_EQ(std::count(header.begin(), header.end(), ','), std::count(row.begin(), row.end(), ','));
  EXPECT_NE(row.find(",'=cmd|' /C calc'!A0,"), std::string::npos) << row;
  EXPECT_NE(row.find("2024-03-31T01:00:00.005Z"), std::string::npos) << row;
  EXPECT_EQ(iso_time_ms(0), "");
}

TEST(DialStatusTest, UnansweredCallsAreClassified) {
  auto leg = [](LegStatus s, int code) {
    CallLeg l;
    l.member = "m";
    l.status = s;
    l.code = code;
    return l;
  };
  EXPECT_EQ(CallRecorder::unanswered_status(486, {}), DialStatus::busy);
  EXPECT_EQ(CallRecorder::unanswered_status(600, {}), DialStatus::busy);
  EXPECT_EQ(CallRecorder::unanswered_status(603, {}), DialStatus::rejected);
  EXPECT_EQ(CallRecorder::unanswered_status(487, {leg(LegStatus::cancelled, 0)}), DialStatus::missed);
  EXPECT_EQ(CallRecorder::unanswered_status(408, {}), DialStatus::timed_out);
  EXPECT_EQ(CallRecorder::unanswered_status(480, {}), DialStatus::timed_out);
  EXPECT_EQ(CallRecorder::unanswered_status(404, {}), DialStatus::failed);
  EXPECT_EQ(CallRecorder::unanswered_status(500, {leg(LegStatus::failed, 486), leg(LegStatus::failed, 486)}),
            DialStatus::busy);
  EXPECT_EQ(CallRecorder::unanswered_status(500, {leg(LegStatus::failed, 486), leg(LegStatus::failed, 603)}),
            DialStatus::rejected);
  EXPECT_EQ(CallRecorder::unanswered_status(500, {leg(LegStatus::failed, 408), leg(LegStatus::failed, 480)}),
            DialStatus::timed_out);
  EXPECT_EQ(CallRecorder::unanswered_status(500, {leg(LegStatus::failed, 486), leg(LegStatus::cancelled, 0)}),
            DialStatus::failed);
}

TEST(EdgeEventTest, ContractEventsParse) {
  auto start = EdgeCallEvent::from_json(json::parse(
      R"({"event":"call.start","call_id":"abc@h","caller":"dv_1","target":"rg_1","company":"co_1","ts":1700000000123})"));
  ASSERT_TRUE(start) << start.error().message;
  EXPECT_EQ(start->type, EdgeCallEvent::Type::call_start);
  EXPECT_EQ(start->ts, 1700000000123);
  auto failed = EdgeCallEvent::from_json(
      json::parse(R"({"event":"leg.failed","call_id":"abc@h","member":"us_1","code":486,"reason":"Busy Here","ts":5})"));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->code, 486);
  EXPECT_FALSE(EdgeCallEvent::from_json(json::parse(R"({"event":"register","user":"x","ts":1})")));
  EXPECT_EQ(EdgeCallEvent::from_json(json::parse(R"({"event":"call.start","call_id":"a","ts":1})")).error().field, "caller");
  EXPECT_EQ(EdgeCallEvent::from_json(json::parse(R"({"event":"leg.ringing","call_id":"a","ts":1})")).error().field, "member");
  EXPECT_EQ(EdgeCallEvent::from_json(json::parse(R"({"event":"call.end","call_id":"a","code":"x","ts":1})")).error().field, "code");
  EXPECT_FALSE(EdgeCallEvent::from_json(json::parse("[1,2]")));
}

TEST(TextFormsTest, DatesClocksAndWeekdays) {
  EXPECT_EQ(parse_date("2024-02-29", "d").value(), (CivilDate{2024, 2, 29}));
  for (auto bad : {"2023-02-29", "2024-13-01", "2024-1-01", "24-01-01", "2024-01-01x", "", "1969-12-31"})
    EXPECT_FALSE(parse_date(bad, "d")) << bad;
  EXPECT_EQ(parse_clock("00:00", "t").value(), 0);
  EXPECT_EQ(parse_clock("23:59", "t").value(), 1439);
  for (auto bad : {"24:00", "7:00", "07:60", "0700", ""}) EXPECT_FALSE(parse_clock(bad, "t")) << bad;
  EXPECT_EQ(parse_weekdays({"mon", "sun"}, "weekdays").value(), kMon | 64u);
  EXPECT_EQ(parse_weekdays({"Mon"}, "weekdays").error().field, "weekdays[0]");
  EXPECT_FALSE(parse_weekdays({}, "weekdays"));
  EXPECT_EQ(weekday_names(kWorkdays | kSat), (std::vector<std::string>{"mon", "tue", "wed", "thu", "fri", "sat"}));
}

}  // namespace
}  // namespace carillon::calls
