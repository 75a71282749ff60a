#include "store/migrations.hpp"

namespace carillon::store {

std::span<const Migration> migrations() {
  static const std::vector<Migration> kMigrations = {
    {1,
     "tenancy, users, refresh tokens, audit events",
     {
         // Companies, projects and sites share one shape; parent_id is '' for companies, the
         // company for projects and the project for sites.
         "CREATE TABLE nodes ("
         " id TEXT PRIMARY KEY,"
         " kind TEXT NOT NULL,"
         " parent_id TEXT NOT NULL,"
         " company_id TEXT NOT NULL,"
         " name TEXT NOT NULL,"
         " time_zone TEXT NOT NULL,"
         " attributes TEXT NOT NULL,"
         " created_at BIGINT NOT NULL,"
         " updated_at BIGINT NOT NULL)",
         "CREATE INDEX nodes_kind_parent ON nodes (kind, parent_id, id)",
         "CREATE INDEX nodes_kind_company ON nodes (kind, company_id, id)",
         "CREATE TABLE node_labels ("
         " node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,"
         " position BIGINT NOT NULL,"
         " name TEXT NOT NULL,"
         " color TEXT NOT NULL,"
         " PRIMARY KEY (node_id, position))",
         "CREATE INDEX node_labels_name ON node_labels (name, node_id)",
         "CREATE TABLE logos ("
         " company_id TEXT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,"
         " content_type TEXT NOT NULL,"
         " data TEXT NOT NULL)",
         "CREATE TABLE users ("
         " id TEXT PRIMARY KEY,"
         " username TEXT NOT NULL UNIQUE,"
         " password_hash TEXT NOT NULL,"
         " role TEXT NOT NULL,"
         " company_id TEXT NOT NULL,"
         " disabled BIGINT NOT NULL,"
         " created_at BIGINT NOT NULL)",
         "CREATE INDEX users_company ON users (company_id, id)",
         "CREATE TABLE refresh_tokens ("
         " token_hash TEXT PRIMARY KEY,"
         " user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
         " family_id TEXT NOT NULL,"
         " issued_at BIGINT NOT NULL,"
         " expires_at BIGINT NOT NULL,"
         " used_at BIGINT NOT NULL,"
         " revoked BIGINT NOT NULL)",
         "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
         // No foreign keys: events outlive the objects they describe.
         "CREATE TABLE audit_events ("
         " id TEXT PRIMARY KEY,"
         " at BIGINT NOT NULL,"
         " actor TEXT NOT NULL,"
         " action TEXT NOT NULL,"
         " target_type TEXT NOT NULL,"
         " target_id TEXT NOT NULL,"
         " company_id TEXT NOT NULL,"
         " source TEXT NOT NULL,"
         " details TEXT NOT NULL)",
         "CREATE INDEX audit_events_company ON audit_events (company_id, id)",
         "CREATE INDEX audit_events_target ON audit_events (target_id, id)",
     }},
    {2,
     "devices and claim codes",
     {
         "CREATE TABLE claim_codes ("
         " id TEXT PRIMARY KEY,"
         " code_hash TEXT NOT NULL UNIQUE,"
         " company_id TEXT NOT NULL REFERENCES nodes (id),"
         " site_id TEXT NOT NULL REFERENCES nodes (id),"
         " role TEXT NOT NULL,"
         " config TEXT NOT NULL,"
         " created_at BIGINT NOT NULL,"
         " expires_at BIGINT NOT NULL,"
         " used_at BIGINT NOT NULL,"
         " device_id TEXT NOT NULL,"
         " created_by TEXT NOT NULL)",
         "CREATE INDEX claim_codes_site ON claim_codes (site_id, id)",
         "CREATE TABLE devices ("
         " id TEXT PRIMARY KEY,"
         " serial TEXT NOT NULL,"
         " company_id TEXT NOT NULL REFERENCES nodes (id),"
         " site_id TEXT NOT NULL REFERENCES nodes (id),"
         " name TEXT NOT NULL,"
         " role TEXT NOT NULL,"
         " model TEXT NOT NULL,"
         " hardware_revision TEXT NOT NULL,"
         " firmware_version TEXT NOT NULL,"
         " capabilities TEXT NOT NULL,"
         " online BIGINT NOT NULL,"
         " last_seen BIGINT NOT NULL,"
         " cert_serial TEXT NOT NULL,"
         " cert_expires_at BIGINT NOT NULL,"
         " revoked BIGINT NOT NULL,"
         " desired_config TEXT NOT NULL,"
         " desired_version BIGINT NOT NULL,"
         " applied_version BIGINT NOT NULL,"
         " applied_error TEXT NOT NULL,"
         " created_at BIGINT NOT NULL,"
         " updated_at BIGINT NOT NULL)",
         // A serial is claimed by at most one live device; revoked rows stay for the CRL.
         "CREATE UNIQUE INDEX devices_live_serial ON devices (serial) WHERE revoked = 0",
         "CREATE INDEX devices_revoked ON devices (revoked, id)",
         // Device lists are pages in id order filtered by company, site and online state.
         "CREATE INDEX devices_company ON devices (company_id, id)",
         "CREATE INDEX devices_company_online ON devices (company_id, online, id)",
         "CREATE INDEX devices_site ON devices (site_id, id)",
         "CREATE INDEX devices_site_online ON devices (site_id, online, id)",
     }},
    {3,
     "index for device lookups by serial",
     {
         // find_by_serial (every message a device sends) also considers revoked rows, so the
         // partial devices_live_serial cannot serve it: without this it scanned the table.
         "CREATE INDEX devices_serial ON devices (serial, revoked, id)",
     }},
    {4,
     "calls: ring groups, forwarding rules, call records, retention settings",
     {
         "CREATE TABLE ring_groups ("
         " id TEXT PRIMARY KEY,"
         " company_id TEXT NOT NULL REFERENCES nodes (id),"
         " site_id TEXT NOT NULL REFERENCES nodes (id),"
         " name TEXT NOT NULL,"
         " ring_seconds BIGINT NOT NULL,"
         " created_at BIGINT NOT NULL,"
         " updated_at BIGINT NOT NULL)",
         "CREATE INDEX ring_groups_company ON ring_groups (company_id, id)",
         "CREATE INDEX ring_groups_site ON ring_groups (site_id, id)",
         "CREATE TABLE ring_group_members ("
         " ring_group_id TEXT NOT NULL REFERENCES ring_groups (id) ON DELETE CASCADE,"
         " position BIGINT NOT NULL,"
         " kind TEXT NOT NULL,"
         " member_id TEXT NOT NULL,"
         " PRIMARY KEY (ring_group_id, position))",
         "CREATE TABLE forwarding_rules ("
         " id TEXT PRIMARY KEY,"
         " company_id TEXT NOT NULL,"
         " ring_group_id TEXT NOT NULL REFERENCES ring_groups (id) ON DELETE CASCADE,"
         " name TEXT NOT NULL,"
         " priority BIGINT NOT NULL,"
         " enabled BIGINT NOT NULL,"
         " weekdays BIGINT NOT NULL,"
         // '' when the rule has no date bound; -1 when it has no time range.
         " date_from TEXT NOT NULL,"
         " date_to TEXT NOT NULL,"
         " time_from BIGINT NOT NULL,"
         " time_to BIGINT NOT NULL,"
         " created_at BIGINT NOT NULL,"
         " updated_at BIGINT NOT NULL)",
         "CREATE INDEX forwarding_rules_group ON forwarding_rules (ring_group_id, priority, id)",
         "CREATE INDEX forwarding_rules_company ON forwarding_rules (company_id, id)",
         "CREATE TABLE forwarding_rule_steps ("
         " rule_id TEXT NOT NULL REFERENCES forwarding_rules (id) ON DELETE CASCADE,"
         " position BIGINT NOT NULL,"
         " kind TEXT NOT NULL,"
         " target_id TEXT NOT NULL,"
         " ring_seconds BIGINT NOT NULL,"
         " PRIMARY KEY (rule_id, position))",
         // A ring group may not be deleted while another group's rule forwards to it.
         "CREATE INDEX forwarding_rule_steps_target ON forwarding_rule_steps (target_id)",
         // Call records outlive the groups, devices and users they mention: no foreign keys.
         "CREATE TABLE calls ("
         " id TEXT PRIMARY KEY,"
         " sip_call_id TEXT NOT NULL UNIQUE,"
         " company_id TEXT NOT NULL,"
         " site_id TEXT NOT NULL,"
         " ring_group_id TEXT NOT NULL,"
         " target TEXT NOT NULL,"
         " caller_kind TEXT NOT NULL,"
         " caller_id TEXT NOT NULL,"
         " caller_name TEXT NOT NULL,"
         " status TEXT NOT NULL,"
         " started_at BIGINT NOT NULL,"
         " answered_at BIGINT NOT NULL,"
         " ended_at BIGINT NOT NULL,"
         " answered_by TEXT NOT NULL,"
         " duration_seconds BIGINT NOT NULL,"
         " end_code BIGINT NOT NULL,"
         " end_reason TEXT NOT NULL)",
         "CREATE INDEX calls_company ON calls (company_id, id)",
         // The retention purge deletes by company and start time.
         "CREATE INDEX calls_company_started ON calls (company_id, started_at)",
         "CREATE TABLE call_legs ("
         " call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,"
         " position BIGINT NOT NULL,"
         " member TEXT NOT NULL,"
         " status TEXT NOT NULL,"
         " ringing_at BIGINT NOT NULL,"
         " answered_at BIGINT NOT NULL,"
         " ended_at BIGINT NOT NULL,"
         " code BIGINT NOT NULL,"
         " reason TEXT NOT NULL,"
         " PRIMARY KEY (call_id, position))",
         "CREATE TABLE call_door_events ("
         " call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,"
         " position BIGINT NOT NULL,"
         " device_id TEXT NOT NULL,"
         " door TEXT NOT NULL,"
         " at BIGINT NOT NULL,"
         " PRIMARY KEY (call_id, position))",
         "CREATE TABLE call_snapshots ("
         " call_id TEXT PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,"
         " data TEXT NOT NULL)",
         "CREATE TABLE call_settings ("
         " company_id TEXT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,"
         " retention_days BIGINT NOT NULL)",
     }},
    {5,
     "web push subscriptions",
     {
         // A browser's subscription belongs to one user and goes with it.
         "CREATE TABLE push_subscriptions ("
         " id TEXT PRIMARY KEY,"
         " user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
         " company_id TEXT NOT NULL,"
         " endpoint TEXT NOT NULL UNIQUE,"
         " p256dh TEXT NOT NULL,"
         " auth TEXT NOT NULL,"
         " created_at BIGINT NOT NULL)",
         "CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id, id)",
     }},
};
  return kMigrations;
}

}  // namespace carillon::store
