#pragma once
// Calls (S7, C3, P3): ring groups, forwarding rules, call records (VoIP reports) and the
// repository interface that src/store implements. Ids are SIP user parts: a ring group, device
// or user is dialled by its id.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time_zone.hpp"
#include "common/audit.hpp"
#include "common/page.hpp"
#include "common/result.hpp"

namespace carillon::calls {

// Prefixes of the ids this module creates (src/common/ids.hpp lists the platform's others).
namespace id_prefix {
inline constexpr std::string_view ring_group = "rg";
inline constexpr std::string_view forwarding_rule = "fr";
inline constexpr std::string_view call = "cl";
}  // namespace id_prefix

inline constexpr std::size_t kMaxMembers = 32;
inline constexpr std::size_t kMaxSteps = 8;
inline constexpr int kMinRingSeconds = 5;
inline constexpr int kMaxRingSeconds = 300;
inline constexpr int kDefaultRetentionDays = 180;  // also the maximum (P3)

enum class TargetKind { ring_group, device, user };
const char* to_string(TargetKind kind);
std::optional<TargetKind> parse_target_kind(std::string_view text);
// The id prefix of each kind ("rg", "dv", "us").
std::string_view prefix_of(TargetKind kind);

// A ring group member: a device or a user (their SIP accounts).
struct Member {
  TargetKind kind = TargetKind::device;
  std::string id;
  bool operator==(const Member&) const = default;
};

struct RingGroup {
  std::string id;
  std::string company_id;
  std::string site_id;  // the site's time zone governs the group's forwarding rules
  std::string name;
  std::vector<Member> members;  // 1..32, no duplicates, all of the group's company
  int ring_seconds = 30;        // how long members ring when no rule says otherwise
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// One step of a fallback chain: ring `id` for `ring_seconds`; on no answer within that time,
// busy or unreachable the chain moves to the next step.
struct Step {
  TargetKind kind = TargetKind::ring_group;
  std::string id;
  int ring_seconds = 20;
  bool operator==(const Step&) const = default;
};

// Minutes of the local day, [from, to). from > to crosses midnight: "22:00-06:00" starts on a
// matching day and ends the next morning.
struct MinuteRange {
  int from = 0;  // 0..1439
  int to = 0;    // 0..1439, != from
  bool operator==(const MinuteRange&) const = default;
};

// When a rule applies, in the local time of the ring group's site. A rule occurrence starts on
// a day whose weekday is in `weekdays` and whose date is within [date_from, date_to]; it covers
// that whole day, or `time` from that day on (into the next day when it crosses midnight).
struct ForwardingRule {
  std::string id;
  std::string company_id;
  std::string ring_group_id;
  std::string name;
  int priority = 100;              // lower first; the first active rule of a group decides
  bool enabled = true;
  unsigned weekdays = 0x7f;        // bit 0 = Monday ... bit 6 = Sunday; never 0
  std::optional<CivilDate> date_from;
  std::optional<CivilDate> date_to;
  std::optional<MinuteRange> time;
  std::vector<Step> steps;         // 1..8
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// True when `rule` applies at the local time `now` (its site's zone); ignores `enabled`.
bool rule_applies(const ForwardingRule& rule, const TimeZone& zone, std::int64_t now);

// How a call ended, for reports:
//   answered   someone answered
//   missed     the caller hung up while members rang (487 Request Terminated)
//   busy       486 Busy Here / 600 Busy Everywhere, or every leg was busy
//   rejected   603 Decline: a member refused the call
//   timed_out  nobody answered in time (408, 480)
//   failed     anything else: no such target, no registered member, server errors
// in_progress while the call has not ended.
enum class DialStatus { in_progress, answered, missed, busy, rejected, failed, timed_out };
const char* to_string(DialStatus status);
std::optional<DialStatus> parse_dial_status(std::string_view text);

enum class LegStatus { trying, ringing, answered, failed, cancelled };
const char* to_string(LegStatus status);
std::optional<LegStatus> parse_leg_status(std::string_view text);

// One member's leg of a call; times are Unix milliseconds, 0 = never.
struct CallLeg {
  std::string member;
  LegStatus status = LegStatus::trying;
  std::int64_t ringing_at = 0;
  std::int64_t answered_at = 0;
  std::int64_t ended_at = 0;
  int code = 0;
  std::string reason;
  bool operator==(const CallLeg&) const = default;
};

struct DoorEvent {
  std::string device_id;
  std::string door;
  std::int64_t at = 0;  // Unix milliseconds
  bool operator==(const DoorEvent&) const = default;
};

// A SIP account as reports show it; the display name is copied into call records, so a later
// rename does not rewrite history.
struct Party {
  TargetKind kind = TargetKind::device;
  std::string id;
  std::string company_id;
  std::string site_id;  // devices only
  std::string display_name;
};

struct CallRecord {
  std::string id;           // "cl_..."
  std::string sip_call_id;  // the edge's Call-ID
  std::string company_id;
  std::string site_id;       // the ring group's site, else the caller device's site; may be ""
  std::string ring_group_id; // "" when a device or user was dialled directly
  std::string target;        // the dialled user part
  std::string caller_kind;   // "device" | "user" | "" (unknown account)
  std::string caller_id;
  std::string caller_name;
  DialStatus status = DialStatus::in_progress;
  std::int64_t started_at = 0;   // Unix milliseconds
  std::int64_t answered_at = 0;
  std::int64_t ended_at = 0;
  std::string answered_by;       // member id
  std::int64_t duration_seconds = 0;  // answered to ended
  int end_code = 0;
  std::string end_reason;
  std::vector<CallLeg> legs;
  std::vector<DoorEvent> door_events;
  bool has_snapshot = false;
};

struct RingGroupFilter {
  std::string company_id;  // "" = all companies (platform admins)
  std::string site_id;     // "" = any
  PageRequest page;
};

struct CallFilter {
  std::string company_id;  // "" = all companies (platform admins)
  std::string site_id;
  std::string ring_group_id;
  std::optional<DialStatus> status;
  std::string caller_id;
  std::int64_t from_ms = 0;  // started_at >= from_ms when > 0
  std::int64_t to_ms = 0;    // started_at < to_ms when > 0
  bool newest_first = false; // descending ids; `page.after` then means "older than"
  PageRequest page;
};

// Calls of one UTC day (dashboard charts).
struct DayCount {
  std::string date;  // YYYY-MM-DD (UTC)
  int answered = 0;
  int missed = 0;    // every other dial status
};

inline constexpr std::size_t kMaxSnapshotBytes = 2 * 1024 * 1024;

class CallsRepository {
 public:
  virtual ~CallsRepository() = default;

  // Inserting or updating checks in the same transaction that every member is a live device or
  // a user of the group's company: otherwise invalid_argument with field "members[i].id" (the
  // same answer for ids of other companies and for ids that do not exist). not_found (field
  // "site_id") when the site is not a site of that company.
  virtual Status insert_ring_group(const RingGroup& group, const AuditEvent& audit) = 0;
  virtual Status update_ring_group(const RingGroup& group, const AuditEvent& audit) = 0;
  // Removes the group and its rules; conflict when a rule of another group forwards to it.
  virtual Status remove_ring_group(const std::string& id, const AuditEvent& audit) = 0;
  virtual Result<RingGroup> find_ring_group(const std::string& id) = 0;
  virtual Result<Page<RingGroup>> list_ring_groups(const RingGroupFilter& filter) = 0;
  // Every group (of one company, or all with ""), for routing.
  virtual Result<std::vector<RingGroup>> all_ring_groups(const std::string& company_id) = 0;

  // Step targets are checked like members (field "steps[i].id"); ring group targets must be
  // groups of the same company.
  virtual Status insert_rule(const ForwardingRule& rule, const AuditEvent& audit) = 0;
  virtual Status update_rule(const ForwardingRule& rule, const AuditEvent& audit) = 0;
  virtual Status remove_rule(const std::string& id, const AuditEvent& audit) = 0;
  virtual Result<ForwardingRule> find_rule(const std::string& id) = 0;
  // Ordered by priority, then id.
  virtual Result<Page<ForwardingRule>> list_rules(const std::string& ring_group_id, const PageRequest& page) = 0;
  virtual Result<std::vector<ForwardingRule>> all_rules(const std::string& company_id) = 0;

  // A live device or a user by id; not_found otherwise.
  virtual Result<Party> find_party(const std::string& id) = 0;
  // Every live device and user (of one company, or all with ""): the directly dialable accounts.
  virtual Result<std::vector<Party>> all_parties(const std::string& company_id) = 0;
  // Time zones of sites by site id.
  virtual Result<std::vector<std::pair<std::string, std::string>>> site_time_zones(const std::string& company_id) = 0;

  // Inserts or replaces the whole record (legs and door events included) in one transaction.
  virtual Status save_call(const CallRecord& call) = 0;
  virtual Result<CallRecord> find_call(const std::string& id) = 0;
  virtual Result<CallRecord> find_call_by_sip_id(const std::string& sip_call_id) = 0;
  // Ordered by id (creation time).
  virtual Result<Page<CallRecord>> list_calls(const CallFilter& filter) = 0;
  // Per UTC day from `from_ms` on, oldest first; days without calls are left out. site_id "" = all.
  virtual Result<std::vector<DayCount>> daily_counts(const std::string& company_id, const std::string& site_id,
                                                     std::int64_t from_ms) = 0;
  virtual Status save_snapshot(const std::string& call_id, const std::string& jpeg) = 0;
  virtual Result<std::string> snapshot(const std::string& call_id) = 0;  // not_found when none

  // kDefaultRetentionDays when the company never set one.
  virtual Result<int> retention_days(const std::string& company_id) = 0;
  virtual Status set_retention_days(const std::string& company_id, int days, const AuditEvent& audit) = 0;
  virtual Result<std::vector<std::string>> companies_with_calls() = 0;
  // Deletes the company's calls that started before `before_ms` with their legs, door events and
  // snapshots; returns how many calls went. When any did, `audit` is written in the same
  // transaction with details.count set to that number.
  virtual Result<std::size_t> purge_calls(const std::string& company_id, std::int64_t before_ms,
                                          const AuditEvent& audit) = 0;
};

}  // namespace carillon::calls
