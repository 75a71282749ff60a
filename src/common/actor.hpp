#pragma once
// Who is making a request, as the domain services see it. Built by the API layer from a
// verified access token; domain code never sees tokens or HTTP.

#include <string>

namespace carillon {

struct Actor {
  std::string id;          // user id, or "system"
  bool platform_admin = false;
  std::string company_id;  // "" for platform admins
  bool can_write = false;  // viewers read only
  std::string source;      // client address for the audit trail

  bool can_see(const std::string& company) const { return platform_admin || company == company_id; }
  bool can_change(const std::string& company) const { return can_write && can_see(company); }
};

}  // namespace carillon
