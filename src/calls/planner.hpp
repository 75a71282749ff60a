#pragma once
// Routing decisions for the SIP edge (docs/sip-edge.md): the entries of Kamailio's `routes`
// htable, computed from ring groups, forwarding rules and accounts at a given instant. Pure:
// the same input and instant give the same table; nothing here talks to Kamailio.
//
// Keys are "<company_id>:<user part>" and values rtjson documents. For a company C:
//   C:<rg id>         what dialling the ring group does: a serial document, the fallback chain
//                     of the group's first applying forwarding rule, or else one step ringing
//                     the group for its ring_seconds. Each route carries fr_inv_timer (ms); no
//                     answer in time, busy or unreachable moves on to the next route.
//   C:rg.<rg id>      the group ringing: a parallel document over its members (<= 8), or over
//                     the loop URIs of its sub-stages (> 8 members).
//   C:rg.<rg id>.<x>  sub-stage x (a, b, c, d) of at most 8 members, balanced in size, so no
//                     transaction forks to more than 8 routes (Kamailio forks at most 30).
//   C:<dv/us id>      a direct call to a device or user: a serial document with one route
//                     to the loop.
// Every route points at the loop listener (dst_uri): Kamailio relays there, and the looped
// request (user part = the route's user part) is looked up again. An account's user part (a
// device or user id, known from htable `tenant`) ends the loop: Kamailio looks up the
// account's registered contacts (lookup("location")) and relays to them. Any other user part
// is looked up in `routes` (a further stage). So a member of a ring group is reached as
// sip:<member id>@domain through the loop and ends at its contacts.
// Forwarding steps that target a ring group ring that group's members (C:rg.<id>), never the
// target's own rules, so chains cannot cycle.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "calls/model.hpp"
#include "common/time_zone.hpp"

namespace carillon::calls {

struct PlannerSettings {
  std::string sip_domain = "carillon.local";  // host part of every URI
  std::string loop_uri = "sip:127.0.0.1:5090";  // dst_uri of looped routes: Kamailio's loop socket
  std::size_t stage_size = 8;                 // most members per parallel document (1..30)
};

struct RoutingInput {
  std::vector<RingGroup> groups;
  std::vector<ForwardingRule> rules;
  std::vector<Party> accounts;                   // the dialable devices and users
  std::map<std::string, std::string> site_zones; // site id -> IANA zone; missing or unknown: UTC
};

// key -> rtjson document.
using RoutingTable = std::map<std::string, nlohmann::json>;

inline constexpr std::int64_t kPlanHorizonSeconds = 400 * 86400;

class RoutePlanner {
 public:
  RoutePlanner(PlannerSettings settings, TimeZoneDb& zones);

  // The whole `routes` table at instant `now` (Unix seconds). Members and step targets that are
  // not in input.accounts / input.groups (revoked devices, deleted users) are left out; a
  // group left with nothing to ring gets no entry (Kamailio answers 404).
  RoutingTable plan(const RoutingInput& input, std::int64_t now) const;

  // The first instant after `now` at which some enabled rule starts or stops applying (its
  // site's local time, DST included), so the table must be planned again then; now +
  // kPlanHorizonSeconds when nothing changes before that.
  std::int64_t next_change(const RoutingInput& input, std::int64_t now) const;

 private:
  std::shared_ptr<const TimeZone> zone_for(const RoutingInput& input, const std::string& site_id) const;

  PlannerSettings settings_;
  TimeZoneDb& zones_;
};

}  // namespace carillon::calls
