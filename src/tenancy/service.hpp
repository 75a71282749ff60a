#pragma once
// Companies, projects and sites: validation, tenant isolation and audit around the repository.

#include <optional>
#include <string>
#include <vector>

#include "common/actor.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "tenancy/model.hpp"

namespace carillon::tenancy {

// Fields a create or update may carry; absent (nullopt) means "keep" on update.
struct NodeInput {
  std::optional<std::string> name;
  std::optional<std::string> parent_id;  // create only: company for a project, project for a site
  std::optional<std::string> time_zone;  // sites only
  std::optional<Attributes> attributes;
  std::optional<std::vector<Label>> labels;
};

const char* to_string(NodeKind kind);

class TenancyService {
 public:
  TenancyService(TenancyRepository& repository, IdGenerator& ids, const Clock& clock, EventBus& events);

  // Only platform admins create companies; company admins create projects and sites in theirs.
  Result<Node> create(const Actor& actor, NodeKind kind, const NodeInput& input);
  Result<Node> update(const Actor& actor, NodeKind kind, const std::string& id, const NodeInput& input);
  Status remove(const Actor& actor, NodeKind kind, const std::string& id);
  // not_found for malformed ids and for other tenants' nodes alike.
  Result<Node> get(const Actor& actor, NodeKind kind, const std::string& id);
  Result<Page<Node>> list(const Actor& actor, const NodeFilter& filter);
  Status set_logo(const Actor& actor, const std::string& company_id, const std::string& bytes);
  Result<Logo> logo(const Actor& actor, const std::string& company_id);

 private:
  AuditEvent audit(const Actor& actor, const std::string& action, const Node& node) const;

  TenancyRepository& repository_;
  IdGenerator& ids_;
  const Clock& clock_;
  EventBus& events_;
};

}  // namespace carillon::tenancy
