#pragma once
// Audit events: who did what to which object, when. Repositories write the event in the same
// transaction as the change it describes, so there is never a change without its event.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/page.hpp"
#include "common/result.hpp"

namespace carillon {

struct AuditEvent {
  std::string id;           // "au_..."
  std::int64_t at = 0;      // unix seconds
  std::string actor;        // user id, "device:<serial>" or "system"
  std::string action;       // e.g. "company.create", "device.claim", "claim_code.create"
  std::string target_type;  // "company", "site", "device", ...
  std::string target_id;
  std::string company_id;   // tenant the event belongs to; empty for platform-level events
  std::string source;       // client address, "" when not from a request
  nlohmann::json details = nlohmann::json::object();
};

struct AuditFilter {
  std::string company_id;  // empty = all (platform admins only)
  std::string target_id;   // empty = any
  std::string action;      // empty = any
  PageRequest page;
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Standalone events (logins, failed claims); changes carry theirs through the repositories.
  virtual Status append(const AuditEvent& event) = 0;
  // Newest first is NOT used: pages go by ascending id like every other list.
  virtual Result<Page<AuditEvent>> list(const AuditFilter& filter) = 0;
};

}  // namespace carillon
