#include "calls/planner.hpp"

#include <algorithm>
#include <set>

namespace carillon::calls {

using nlohmann::json;

namespace {

json document(const char* routing, json routes) {
  return json{{"version", "1.0"}, {"routing", routing}, {"routes", std::move(routes)}};
}

}  // namespace

RoutePlanner::RoutePlanner(PlannerSettings settings, TimeZoneDb& zones) : settings_(std::move(settings)), zones_(zones) {
  settings_.stage_size = std::clamp<std::size_t>(settings_.stage_size, 1, 30);
}

std::shared_ptr<const TimeZone> RoutePlanner::zone_for(const RoutingInput& input, const std::string& site_id) const {
  if (auto it = input.site_zones.find(site_id); it != input.site_zones.end()) {
    if (auto zone = zones_.get(it->second)) return *zone;
  }
  return std::make_shared<const TimeZone>(TimeZone::fixed("UTC", 0));
}

RoutingTable RoutePlanner::plan(const RoutingInput& input, std::int64_t now) const {
  RoutingTable table;
  auto uri = [this](const std::string& user) { return "sip:" + user + "@" + settings_.sip_domain; };
  auto looped = [&](const std::string& user) { return json{{"uri", uri(user)}, {"dst_uri", settings_.loop_uri}}; };

  std::set<std::string> accounts;  // "<company>:<id>"
  for (const Party& p : input.accounts) {
    accounts.insert(p.company_id + ":" + p.id);
    table[p.company_id + ":" + p.id] = document("serial", json::array({looped(p.id)}));
  }

  // Ring stages first: forwarding steps may only target groups that have one.
  std::set<std::string> ringable;  // "<company>:<rg id>"
  for (const RingGroup& g : input.groups) {
    std::vector<std::string> members;
    for (const Member& m : g.members) {
      if (accounts.count(g.company_id + ":" + m.id)) members.push_back(m.id);
    }
    if (members.empty()) continue;
    ringable.insert(g.company_id + ":" + g.id);
    const std::string stage = "rg." + g.id;
    json routes = json::array();
    if (members.size() <= settings_.stage_size) {
      for (const auto& m : members) routes.push_back(looped(m));
    } else {
      const std::size_t stages = (members.size() + settings_.stage_size - 1) / settings_.stage_size;
      std::size_t next = 0;
      for (std::size_t s = 0; s < stages; ++s) {
        // Balanced: the first (size % stages) sub-stages take one member more.
        const std::size_t count = members.size() / stages + (s < members.size() % stages ? 1 : 0);
        const std::string sub = stage + "." + std::string(1, static_cast<char>('a' + s));
        json sub_routes = json::array();
        for (std::size_t i = 0; i < count; ++i) sub_routes.push_back(looped(members[next++]));
        table[g.company_id + ":" + sub] = document("parallel", std::move(sub_routes));
        routes.push_back(looped(sub));
      }
    }
    table[g.company_id + ":" + stage] = document("parallel", std::move(routes));
  }

  std::map<std::string, std::vector<const ForwardingRule*>> rules_by_group;
  for (const ForwardingRule& r : input.rules) {
    if (r.enabled) rules_by_group[r.ring_group_id].push_back(&r);
  }
  for (auto& [group, rules] : rules_by_group) {
    std::sort(rules.begin(), rules.end(), [](const ForwardingRule* a, const ForwardingRule* b) {
      return a->priority != b->priority ? a->priority < b->priority : a->id < b->id;
    });
  }

  for (const RingGroup& g : input.groups) {
    auto zone = zone_for(input, g.site_id);
    json chain = json::array();
    auto add_step = [&](const Step& step) {
      const bool known = step.kind == TargetKind::ring_group ? ringable.count(g.company_id + ":" + step.id) > 0
                                                             : accounts.count(g.company_id + ":" + step.id) > 0;
      if (!known) return;
      json route = looped(step.kind == TargetKind::ring_group ? "rg." + step.id : step.id);
      route["fr_inv_timer"] = step.ring_seconds * 1000;
      chain.push_back(std::move(route));
    };
    for (const ForwardingRule* rule : rules_by_group[g.id]) {
      if (!rule_applies(*rule, *zone, now)) continue;
      for (const Step& step : rule->steps) add_step(step);
      if (!chain.empty()) break;  // a rule whose targets are all gone does not block the next
    }
    if (chain.empty()) add_step(Step{TargetKind::ring_group, g.id, g.ring_seconds});
    if (!chain.empty()) table[g.company_id + ":" + g.id] = document("serial", std::move(chain));
  }
  return table;
}

std::int64_t RoutePlanner::next_change(const RoutingInput& input, std::int64_t now) const {
  const std::int64_t horizon = now + kPlanHorizonSeconds;
  std::int64_t best = horizon;
  std::map<std::string, std::string> group_sites;
  for (const RingGroup& g : input.groups) group_sites[g.id] = g.site_id;
  for (const ForwardingRule& rule : input.rules) {
    if (!rule.enabled) continue;
    auto site = group_sites.find(rule.ring_group_id);
    if (site == group_sites.end()) continue;
    auto zone = zone_for(input, site->second);
    // Validity can only change at a local midnight, at the time range's ends, or when the
    // offset itself changes (a boundary inside a skipped hour takes effect at the jump).
    std::vector<std::int64_t> candidates = zone->transitions(now, best);
    const std::int64_t first_day = zone->to_local(now).day - 1;
    const std::int64_t last_day = zone->to_local(best).day + 1;
    for (std::int64_t day = first_day; day <= last_day; ++day) {
      std::vector<std::int64_t> locals{day * 86400};
      if (rule.time) {
        locals.push_back(day * 86400 + rule.time->from * 60);
        locals.push_back(day * 86400 + rule.time->to * 60);
      }
      for (auto local : locals) {
        for (auto utc : zone->from_local(local)) {
          if (utc > now && utc < best) candidates.push_back(utc);
        }
        // In a skipped hour the boundary has no instant of its own; the transition covers it.
      }
    }
    std::sort(candidates.begin(), candidates.end());
    const bool at_now = rule_applies(rule, *zone, now);
    for (auto t : candidates) {
      if (t >= best) break;
      if (rule_applies(rule, *zone, t) != at_now) {
        best = t;
        break;
      }
    }
  }
  return best;
}

}  // namespace carillon::calls
