#pragma once

#include "store/database.hpp"
#include "tenancy/model.hpp"

namespace carillon::store {

// Companies, projects and sites in one `nodes` table (kind + parent_id), labels in
// `node_labels`, logos base64-encoded in `logos`.
class SqlTenancyRepository final : public tenancy::TenancyRepository {
 public:
  explicit SqlTenancyRepository(Database& db) : db_(db) {}

  // Also invalid_argument when a project/site names a company_id other than its parent's, or
  // a company has a parent; conflict on a duplicate id.
  Status insert(const tenancy::Node& node, const AuditEvent& audit) override;
  Status update(const tenancy::Node& node, const AuditEvent& audit) override;
  // Children are projects/sites below it; devices are those of the company or site. Removing
  // a site also removes its claim codes that were never used.
  Status remove(tenancy::NodeKind kind, const std::string& id, const AuditEvent& audit) override;
  Result<tenancy::Node> find(tenancy::NodeKind kind, const std::string& id) override;
  Result<Page<tenancy::Node>> list(const tenancy::Visibility& who, const tenancy::NodeFilter& filter) override;
  Status set_logo(const std::string& company_id, const tenancy::Logo& logo, const AuditEvent& audit) override;
  Result<tenancy::Logo> logo(const std::string& company_id) override;

 private:
  Database& db_;
};

}  // namespace carillon::store
