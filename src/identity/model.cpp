#include "identity/model.hpp"

namespace carillon::identity {

const char* to_string(Role role) {
  switch (role) {
    case Role::platform_admin: return "platform-admin";
    case Role::company_admin: return "company-admin";
    case Role::viewer: return "viewer";
  }
  return "viewer";
}

Result<Role> parse_role(const std::string& text) {
  for (Role role : {Role::platform_admin, Role::company_admin, Role::viewer}) {
    if (text == to_string(role)) return role;
  }
  return fail(Errc::invalid_argument, "role must be one of platform-admin, company-admin, viewer", "role");
}

}  // namespace carillon::identity
