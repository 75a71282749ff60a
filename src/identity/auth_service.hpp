#pragma once
// Logins, refresh-token rotation, logout, user creation and bearer-token checks.
// Safe to call from several threads if the repository and audit log are.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/audit.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "common/throttle.hpp"
#include "identity/model.hpp"
#include "identity/tokens.hpp"

namespace carillon::identity {

inline constexpr std::int64_t kRefreshTokenLifetime = 30 * 24 * 3600;  // seconds, from each rotation
inline constexpr std::size_t kMaxFailuresPerUsername = 5;
inline constexpr std::size_t kMaxFailuresPerSource = 20;
inline constexpr std::int64_t kLoginThrottleWindow = 15 * 60;  // seconds
inline constexpr std::size_t kMaxThrottledKeys = 10000;         // per throttle (usernames, sources)
// Prefix of refresh-token family ids (one family per login).
inline constexpr std::string_view kRefreshFamilyPrefix = "rf";

// 3..64 of [A-Za-z0-9._@-]; Errc::invalid_argument, field "username".
Status validate_username(std::string_view username);

class AuthService {
 public:
  struct Tokens {
    std::string access_token;  // JWT ES256, see tokens.hpp
    std::int64_t expires_in;   // seconds until the access token expires
    std::string refresh_token; // opaque, 32 random bytes base64url; only its sha256 is stored
  };

  // Hashes a dummy password once (~65 ms) so that unknown users cost as much as known ones.
  // Throws std::runtime_error if that fails. All references must outlive the service.
  AuthService(UserRepository& users, AuditLog& audit, TokenSigner& signer, const Clock& clock, Random& random,
              IdGenerator& ids);

  // Unknown user, wrong password and disabled user all give Errc::unauthenticated
  // "invalid username or password" after the same Argon2 work. Errc::throttled once a username
  // had 5 or a source address 20 failures within 15 minutes, until the oldest of them is 15
  // minutes old (also for the right password; the message says how many seconds to wait).
  // Audited as "auth.login" / "auth.login_failed"; throttled attempts are not, so a locked-out
  // attacker cannot fill the audit log. Repository failures pass through.
  Result<Tokens> login(const std::string& username, const std::string& password, const std::string& source_address);
  // Seconds until login() stops answering Errc::throttled for this username and address; 0 when
  // it would try now. For an honest Retry-After header.
  std::int64_t login_retry_after(const std::string& username, const std::string& source_address);

  // Rotates: the presented token becomes used and a new one of the same family (valid 30 days
  // from now) is returned with a new access token. Presenting an already rotated token revokes
  // the whole family and fails with "refresh token reused" (audited "auth.refresh_reused").
  // Unknown, expired or revoked tokens, and tokens of deleted or disabled users: Errc::unauthenticated.
  Result<Tokens> refresh(const std::string& refresh_token);

  // Revokes the token's whole family (audited "auth.logout"). Unknown token: Errc::unauthenticated.
  Status logout(const std::string& refresh_token);

  // Validates the username, the password policy (password.hpp) and that platform admins have no
  // company and everyone else has one (field "company_id"); Errc::conflict (field "username")
  // for a taken username. Audited "user.create" by `actor` in the same transaction. Whether
  // `actor` may create this user is the caller's decision. The returned user has an empty
  // password_hash.
  Result<User> create_user(const std::string& username, const std::string& password, Role role,
                           const std::string& company_id, const std::string& actor);

  // Checks the access token (without the "Bearer " scheme) and that its user still exists and is
  // not disabled. Role, company and username come from the user record, so a demotion takes
  // effect before the token expires. Errc::unauthenticated, or a repository failure.
  Result<AccessClaims> authenticate(std::string_view bearer_token) const;

 private:
  Result<Tokens> issue_tokens(const User& user, const std::string& family_id, std::int64_t now);
  // Appends an event that records a refusal or a logout; a failing audit log is logged, not returned.
  void append_best_effort(const std::string& action, AuditEvent event);

  UserRepository& users_;
  AuditLog& audit_;
  TokenSigner& signer_;
  const Clock& clock_;
  Random& random_;
  IdGenerator& ids_;
  std::string dummy_hash_;
  // In memory and per process: with several `carillon serve` nodes each counts on its own.
  FailureThrottle username_throttle_;
  FailureThrottle source_throttle_;
};

}  // namespace carillon::identity
