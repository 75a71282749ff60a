#pragma once
// Ring groups, forwarding rules, call reports and retention settings as the API sees them:
// validation, tenant isolation (other companies' objects are not_found), read-only viewers
// (forbidden), audit events written with each change.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "calls/model.hpp"
#include "calls/planner.hpp"
#include "common/actor.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "tenancy/service.hpp"

namespace carillon::calls {

// Fields of a create or update; absent (nullopt) means "keep" on update.
struct RingGroupInput {
  std::optional<std::string> name;
  std::optional<std::string> site_id;  // create only
  std::optional<std::vector<Member>> members;
  std::optional<int> ring_seconds;
};

struct RuleInput {
  std::optional<std::string> name;
  std::optional<int> priority;
  std::optional<bool> enabled;
  std::optional<unsigned> weekdays;
  // The outer optional is "given or not"; an inner nullopt clears the condition.
  std::optional<std::optional<CivilDate>> date_from;
  std::optional<std::optional<CivilDate>> date_to;
  std::optional<std::optional<MinuteRange>> time;
  std::optional<std::vector<Step>> steps;
};

// Text forms used by the API and the CLI.
Result<CivilDate> parse_date(std::string_view text, const std::string& field);      // "YYYY-MM-DD"
std::string format_date(const CivilDate& date);
Result<int> parse_clock(std::string_view text, const std::string& field);           // "HH:MM" -> minute of day
std::string format_clock(int minute);
// ["mon", ..., "sun"] <-> bit set (bit 0 = Monday).
Result<unsigned> parse_weekdays(const std::vector<std::string>& names, const std::string& field);
std::vector<std::string> weekday_names(unsigned weekdays);

class CallsService {
 public:
  CallsService(CallsRepository& repository, tenancy::TenancyService& tenancy, IdGenerator& ids, const Clock& clock);

  Result<RingGroup> create_ring_group(const Actor& actor, const RingGroupInput& input);
  Result<RingGroup> update_ring_group(const Actor& actor, const std::string& id, const RingGroupInput& input);
  Status remove_ring_group(const Actor& actor, const std::string& id);
  Result<RingGroup> get_ring_group(const Actor& actor, const std::string& id);
  Result<Page<RingGroup>> list_ring_groups(const Actor& actor, RingGroupFilter filter);

  Result<ForwardingRule> create_rule(const Actor& actor, const std::string& ring_group_id, const RuleInput& input);
  Result<ForwardingRule> update_rule(const Actor& actor, const std::string& id, const RuleInput& input);
  Status remove_rule(const Actor& actor, const std::string& id);
  Result<ForwardingRule> get_rule(const Actor& actor, const std::string& id);
  Result<Page<ForwardingRule>> list_rules(const Actor& actor, const std::string& ring_group_id, const PageRequest& page);

  Result<Page<CallRecord>> list_calls(const Actor& actor, CallFilter filter);
  // Answered and missed calls per UTC day since `from_ms` (dashboard).
  Result<std::vector<DayCount>> daily_counts(const Actor& actor, const std::string& company_id,
                                             const std::string& site_id, std::int64_t from_ms);
  Result<CallRecord> get_call(const Actor& actor, const std::string& id);
  Result<std::string> snapshot(const Actor& actor, const std::string& call_id);

  Result<int> retention_days(const Actor& actor, const std::string& company_id);
  // 1..kDefaultRetentionDays (field "retention_days").
  Status set_retention_days(const Actor& actor, const std::string& company_id, int days);

  // Everything the route planner needs (all companies): for the pusher in apps.
  Result<RoutingInput> routing_input();
  // Called after every stored change of a ring group or rule (the pusher re-plans at once).
  // Set once at start-up, before requests are served.
  void set_change_listener(std::function<void()> listener) { on_change_ = std::move(listener); }

 private:
  AuditEvent audit(const Actor& actor, const std::string& action, const std::string& type, const std::string& id,
                   const std::string& company_id, nlohmann::json details) const;
  // The company a list may show: the actor's own, or any (given) for platform admins.
  Result<std::string> visible_company(const Actor& actor, const std::string& requested) const;

  void changed() const {
    if (on_change_) on_change_();
  }

  std::function<void()> on_change_;
  CallsRepository& repository_;
  tenancy::TenancyService& tenancy_;
  IdGenerator& ids_;
  const Clock& clock_;
};

}  // namespace carillon::calls
