#pragma once

#include "identity/model.hpp"
#include "store/database.hpp"

namespace carillon::store {

// Roles are stored as their text names ("platform_admin", "company_admin", "viewer").
class SqlUserRepository final : public identity::UserRepository {
 public:
  explicit SqlUserRepository(Database& db) : db_(db) {}

  Status insert(const identity::User& user, const AuditEvent& audit) override;
  Result<identity::User> find(const std::string& id) override;
  Result<identity::User> find_by_username(const std::string& username) override;
  Result<Page<identity::User>> list(const std::string& company_id, const PageRequest& page) override;
  Result<std::int64_t> count() override;

  // conflict on a duplicate hash; conflict (foreign key) when the user does not exist.
  Status insert_refresh(const identity::RefreshToken& token) override;
  // A revoked token is unauthenticated, like an unknown or expired one; only a used one is
  // conflict (checked first, so reuse is reported even after expiry).
  Result<identity::RefreshToken> use_refresh(const std::string& token_hash, std::int64_t now) override;
  Status revoke_family(const std::string& family_id) override;
  Result<identity::RefreshToken> find_refresh(const std::string& token_hash) override;

 private:
  Database& db_;
};

}  // namespace carillon::store
