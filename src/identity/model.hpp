#pragma once
// Users and their sessions. Issue 6 extends roles and scopes; this is the foundation subset.

#include <cstdint>
#include <string>

#include "common/audit.hpp"
#include "common/page.hpp"
#include "common/result.hpp"

namespace carillon::identity {

enum class Role {
  platform_admin,  // operates the platform: every company
  company_admin,   // configures one company
  viewer,          // reads one company
};

const char* to_string(Role role);
Result<Role> parse_role(const std::string& text);

struct User {
  std::string id;
  std::string username;       // unique, case-sensitive, 3..64 of [A-Za-z0-9._@-]
  std::string password_hash;  // libsodium argon2id encoded string
  Role role = Role::viewer;
  std::string company_id;     // "" for platform admins
  bool disabled = false;
  std::int64_t created_at = 0;
};

struct RefreshToken {
  std::string token_hash;  // sha256 hex of the opaque token; the token itself is never stored
  std::string user_id;
  std::string family_id;   // all tokens rotated from one login
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t used_at = 0;  // 0 = not yet rotated
  bool revoked = false;
};

class UserRepository {
 public:
  virtual ~UserRepository() = default;
  virtual Status insert(const User& user, const AuditEvent& audit) = 0;  // conflict on duplicate username
  virtual Result<User> find(const std::string& id) = 0;
  virtual Result<User> find_by_username(const std::string& username) = 0;
  // company_id "" = all users.
  virtual Result<Page<User>> list(const std::string& company_id, const PageRequest& page) = 0;
  virtual Result<std::int64_t> count() = 0;

  virtual Status insert_refresh(const RefreshToken& token) = 0;
  // Atomically marks the token used at `now` if it is unused, unrevoked and unexpired, and
  // returns it. A token that was already used returns conflict together with nothing changed,
  // so the caller can revoke the family (reuse detection). Unknown/expired -> unauthenticated.
  virtual Result<RefreshToken> use_refresh(const std::string& token_hash, std::int64_t now) = 0;
  virtual Status revoke_family(const std::string& family_id) = 0;
  // Looks a token up without changing it (for reuse detection).
  virtual Result<RefreshToken> find_refresh(const std::string& token_hash) = 0;
};

}  // namespace carillon::identity
