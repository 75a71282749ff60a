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
    {6,
     "alert outbox and recipients",
     {
         // Per company; without a row a company has the defaults and no recipients.
         "CREATE TABLE alert_settings ("
         " company_id TEXT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,"
         " offline_after_minutes BIGINT NOT NULL,"
         // Comma-separated alert kinds ("device_offline,device_online,...").
         " enabled_kinds TEXT NOT NULL,"
         " updated_at BIGINT NOT NULL)",
         "CREATE TABLE alert_recipients ("
         " company_id TEXT NOT NULL REFERENCES alert_settings (company_id) ON DELETE CASCADE,"
         " position BIGINT NOT NULL,"
         " address TEXT NOT NULL,"
         " PRIMARY KEY (company_id, position))",
         // E-mails outlive the companies and devices they mention: no foreign keys. sent_at is 0
         // while unsent; recipients are newline-separated addresses.
         "CREATE TABLE alert_outbox ("
         " id TEXT PRIMARY KEY,"
         " company_id TEXT NOT NULL,"
         " kind TEXT NOT NULL,"
         " dedup_key TEXT NOT NULL UNIQUE,"
         " recipients TEXT NOT NULL,"
         " subject TEXT NOT NULL,"
         " body TEXT NOT NULL,"
         " created_at BIGINT NOT NULL,"
         " next_attempt_at BIGINT NOT NULL,"
         " attempts BIGINT NOT NULL,"
         " last_error TEXT NOT NULL,"
         " sent_at BIGINT NOT NULL)",
         // The dispatcher's query: unsent messages by due time.
         "CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at, id) WHERE sent_at = 0",
         "CREATE INDEX alert_outbox_company ON alert_outbox (company_id, id)",
     }},
    {7,
     "firmware images, update policies, rollouts",
     {
         // The catalogue is platform-wide; the image bytes live in state-dir/firmware.
         "CREATE TABLE firmware_images ("
         " id TEXT PRIMARY KEY,"
         " family TEXT NOT NULL,"
         " version TEXT NOT NULL,"
         " sha256 TEXT NOT NULL,"
         " size BIGINT NOT NULL,"
         " security_critical BIGINT NOT NULL,"
         " models TEXT NOT NULL,"
         " signature TEXT NOT NULL,"
         " release_notes TEXT NOT NULL,"
         " file_name TEXT NOT NULL,"
         " created_at BIGINT NOT NULL,"
         " created_by TEXT NOT NULL,"
         " UNIQUE (family, version))",
         "CREATE INDEX firmware_images_family ON firmware_images (family, id)",
         // scope_id is a company, project or site; the policy goes with it.
         "CREATE TABLE update_policies ("
         " scope_id TEXT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,"
         " mode TEXT NOT NULL,"
         " weekdays BIGINT NOT NULL,"
         " start_minute BIGINT NOT NULL,"
         " end_minute BIGINT NOT NULL,"
         " updated_at BIGINT NOT NULL)",
         "CREATE TABLE rollouts ("
         " id TEXT PRIMARY KEY,"
         " company_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,"
         " image_id TEXT NOT NULL REFERENCES firmware_images (id),"
         " waves TEXT NOT NULL,"
         " failure_threshold BIGINT NOT NULL,"
         " state TEXT NOT NULL,"
         " current_wave BIGINT NOT NULL,"
         " stop_reason TEXT NOT NULL,"
         " created_at BIGINT NOT NULL,"
         " updated_at BIGINT NOT NULL,"
         " created_by TEXT NOT NULL)",
         "CREATE INDEX rollouts_company ON rollouts (company_id, id)",
         "CREATE INDEX rollouts_state ON rollouts (state)",
         // active = 1 while the rollout runs or is paused: the unique index is what refuses a
         // second active rollout for the same device, race-free.
         "CREATE TABLE rollout_devices ("
         " rollout_id TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,"
         " device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,"
         " active_device TEXT,"
         " wave BIGINT NOT NULL,"
         " state TEXT NOT NULL,"
         " percent BIGINT NOT NULL,"
         " error TEXT NOT NULL,"
         " from_version TEXT NOT NULL,"
         " started_at BIGINT NOT NULL,"
         " updated_at BIGINT NOT NULL,"
         " PRIMARY KEY (rollout_id, device_id))",
         "CREATE UNIQUE INDEX rollout_devices_active ON rollout_devices (active_device)",
         "CREATE INDEX rollout_devices_device ON rollout_devices (device_id)",
     }},
};
  return kMigrations;
}

}  // namespace carillon::store
