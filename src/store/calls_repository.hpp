#pragma once

#include "calls/model.hpp"
#include "store/database.hpp"

namespace carillon::store {

// Ring groups (+ ring_group_members), forwarding rules (+ forwarding_rule_steps), call records
// (calls, call_legs, call_door_events, call_snapshots with base64 JPEG) and call_settings.
class SqlCallsRepository final : public calls::CallsRepository {
 public:
  explicit SqlCallsRepository(Database& db) : db_(db) {}

  Status insert_ring_group(const calls::RingGroup& group, const AuditEvent& audit) override;
  Status update_ring_group(const calls::RingGroup& group, const AuditEvent& audit) override;
  Status remove_ring_group(const std::string& id, const AuditEvent& audit) override;
  Result<calls::RingGroup> find_ring_group(const std::string& id) override;
  Result<Page<calls::RingGroup>> list_ring_groups(const calls::RingGroupFilter& filter) override;
  Result<std::vector<calls::RingGroup>> all_ring_groups(const std::string& company_id) override;

  Status insert_rule(const calls::ForwardingRule& rule, const AuditEvent& audit) override;
  Status update_rule(const calls::ForwardingRule& rule, const AuditEvent& audit) override;
  Status remove_rule(const std::string& id, const AuditEvent& audit) override;
  Result<calls::ForwardingRule> find_rule(const std::string& id) override;
  Result<Page<calls::ForwardingRule>> list_rules(const std::string& ring_group_id, const PageRequest& page) override;
  Result<std::vector<calls::ForwardingRule>> all_rules(const std::string& company_id) override;

  Result<calls::Party> find_party(const std::string& id) override;
  Result<std::vector<calls::Party>> all_parties(const std::string& company_id) override;
  Result<std::vector<std::pair<std::string, std::string>>> site_time_zones(const std::string& company_id) override;

  Status save_call(const calls::CallRecord& call) override;
  Result<calls::CallRecord> find_call(const std::string& id) override;
  Result<calls::CallRecord> find_call_by_sip_id(const std::string& sip_call_id) override;
  Result<Page<calls::CallRecord>> list_calls(const calls::CallFilter& filter) override;
  Result<std::vector<calls::DayCount>> daily_counts(const std::string& company_id, const std::string& site_id,
                                                    std::int64_t from_ms) override;
  Status save_snapshot(const std::string& call_id, const std::string& jpeg) override;
  Result<std::string> snapshot(const std::string& call_id) override;

  Result<int> retention_days(const std::string& company_id) override;
  Status set_retention_days(const std::string& company_id, int days, const AuditEvent& audit) override;
  Result<std::vector<std::string>> companies_with_calls() override;
  Result<std::size_t> purge_calls(const std::string& company_id, std::int64_t before_ms, const AuditEvent& audit) override;

 private:
  Database& db_;
};

}  // namespace carillon::store
