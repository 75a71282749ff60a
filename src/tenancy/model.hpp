#pragma once
// Tenancy (S1): companies > projects > sites. The three levels share one shape (a node);
// sites add a time zone.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/audit.hpp"
#include "common/page.hpp"
#include "common/result.hpp"

namespace carillon::tenancy {

enum class NodeKind { company, project, site };

struct Label {
  std::string name;   // 1..40 chars
  std::string color;  // "#rrggbb"
  bool operator==(const Label&) const = default;
};

using Attributes = std::map<std::string, std::string>;

struct Node {
  std::string id;
  NodeKind kind = NodeKind::company;
  std::string parent_id;   // "" for companies; the company for projects; the project for sites
  std::string company_id;  // own id for companies
  std::string name;
  std::string time_zone;   // IANA name; sites only, "" otherwise
  Attributes attributes;
  std::vector<Label> labels;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

struct Logo {
  std::string content_type;  // image/png, image/jpeg, image/svg+xml
  std::string bytes;
};

// Who is asking: platform administrators see every company, everyone else only theirs.
struct Visibility {
  bool all_companies = false;
  std::string company_id;
  bool can_see(const std::string& company) const { return all_companies || company == company_id; }
};

struct NodeFilter {
  NodeKind kind = NodeKind::company;
  std::string parent_id;  // "" = any parent
  std::string label;      // "" = any; otherwise nodes carrying a label with this name
  PageRequest page;
};

class TenancyRepository {
 public:
  virtual ~TenancyRepository() = default;
  // Inserting checks that the parent exists (not_found otherwise).
  virtual Status insert(const Node& node, const AuditEvent& audit) = 0;
  // Replaces name, time zone, attributes and labels; not_found if absent. Bumps nothing itself:
  // the caller sets updated_at.
  virtual Status update(const Node& node, const AuditEvent& audit) = 0;
  // conflict when the node still has children or devices.
  virtual Status remove(NodeKind kind, const std::string& id, const AuditEvent& audit) = 0;
  virtual Result<Node> find(NodeKind kind, const std::string& id) = 0;
  virtual Result<Page<Node>> list(const Visibility& who, const NodeFilter& filter) = 0;
  virtual Status set_logo(const std::string& company_id, const Logo& logo, const AuditEvent& audit) = 0;
  virtual Result<Logo> logo(const std::string& company_id) = 0;  // not_found when none
};

}  // namespace carillon::tenancy
