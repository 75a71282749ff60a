#pragma once

#include "common/audit.hpp"
#include "store/database.hpp"

namespace carillon::store {

class SqlAuditLog final : public AuditLog {
 public:
  explicit SqlAuditLog(Database& db) : db_(db) {}
  // conflict when the event id was already used.
  Status append(const AuditEvent& event) override;
  Result<Page<AuditEvent>> list(const AuditFilter& filter) override;

 private:
  Database& db_;
};

}  // namespace carillon::store
