#include "identity/auth_service.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "common/encoding.hpp"
#include "common/log.hpp"
#include "identity/password.hpp"

namespace carillon::identity {

namespace {

constexpr const char* kInvalidLogin = "invalid username or password";
constexpr const char* kInvalidRefresh = "invalid refresh token";
constexpr std::size_t kRefreshTokenBytes = 32;
// base64url of 32 bytes is 43 characters; anything much longer is not ours and is not hashed.
constexpr std::size_t kMaxRefreshTokenLength = 128;
constexpr std::size_t kMaxCompanyIdLength = 64;
// Throttle keys come from unauthenticated input; cut so they cannot cost much memory. Real
// usernames (<= 64) and IPv6 addresses fit.
constexpr std::size_t kMaxThrottleKeyLength = 128;

std::string throttle_key(const std::string& text) { return text.substr(0, kMaxThrottleKeyLength); }

bool username_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '@' || c == '-';
}

}  // namespace

Status validate_username(std::string_view username) {
  if (username.size() < 3 || username.size() > 64) {
    return fail(Errc::invalid_argument, "username must be 3 to 64 characters", "username");
  }
  for (char c : username) {
    if (!username_char(c)) {
      return fail(Errc::invalid_argument, "username may contain only letters, digits and . _ @ -", "username");
    }
  }
  return {};
}

AuthService::AuthService(UserRepository& users, AuditLog& audit, TokenSigner& signer, const Clock& clock,
                         Random& random, IdGenerator& ids)
    : users_(users),
      audit_(audit),
      signer_(signer),
      clock_(clock),
      random_(random),
      ids_(ids),
      username_throttle_(clock, kLoginThrottleWindow, kMaxFailuresPerUsername, kMaxThrottledKeys),
      source_throttle_(clock, kLoginThrottleWindow, kMaxFailuresPerSource, kMaxThrottledKeys) {
  auto dummy = hash_password(random_.token(24));
  if (!dummy) throw std::runtime_error("hashing the dummy password failed: " + dummy.error().message);
  dummy_hash_ = std::move(*dummy);
}

std::int64_t AuthService::login_retry_after(const std::string& username, const std::string& source_address) {
  std::int64_t wait = username_throttle_.retry_after(throttle_key(username));
  const std::string source_key = throttle_key(source_address);
  if (!source_key.empty()) wait = std::max(wait, source_throttle_.retry_after(source_key));
  return wait;
}

Result<AuthService::Tokens> AuthService::login(const std::string& username, const std::string& password,
                                               const std::string& source_address) {
  const std::int64_t now = clock_.now();
  const std::string username_key = throttle_key(username);
  const std::string source_key = throttle_key(source_address);
  const std::int64_t wait = login_retry_after(username, source_address);
  if (wait > 0) return fail(Errc::throttled, fmt::format("too many failed logins, try again in {} seconds", wait));

  // A name that cannot exist is not looked up, but costs the same Argon2 work as any other.
  std::optional<User> user;
  if (validate_username(username)) {
    auto found = users_.find_by_username(username);
    if (found) {
      user = std::move(*found);
    } else if (found.error().code != Errc::not_found) {
      return tl::unexpected(found.error());
    }
  }
  const bool password_ok = verify_password(user ? user->password_hash : dummy_hash_, password);

  if (!user || !password_ok || user->disabled) {
    username_throttle_.record_failure(username_key);
    if (!source_key.empty()) source_throttle_.record_failure(source_key);
    AuditEvent event;
    event.actor = user ? user->id : "anonymous";
    event.action = "auth.login_failed";
    event.target_type = "user";
    event.target_id = user ? user->id : "";
    event.company_id = user ? user->company_id : "";
    event.source = source_address;
    // Bounded: the name is attacker-chosen and may be a mistyped password.
    event.details = {{"username", username.substr(0, 64)},
                     {"reason", !user ? "unknown user" : !password_ok ? "wrong password" : "disabled"}};
    append_best_effort("auth.login_failed", std::move(event));
    return fail(Errc::unauthenticated, kInvalidLogin);
  }

  username_throttle_.reset(username_key);
  const std::string family_id = ids_.next(kRefreshFamilyPrefix);
  auto tokens = issue_tokens(*user, family_id, now);
  if (!tokens) return tokens;

  AuditEvent event;
  event.id = ids_.next(id_prefix::audit);
  event.at = now;
  event.actor = user->id;
  event.action = "auth.login";
  event.target_type = "user";
  event.target_id = user->id;
  event.company_id = user->company_id;
  event.source = source_address;
  event.details = {{"username", user->username}, {"family_id", family_id}};
  // No login without its audit event: if the event cannot be written, the new session is
  // revoked and the login fails.
  if (auto appended = audit_.append(event); !appended) {
    (void)users_.revoke_family(family_id);
    return tl::unexpected(appended.error());
  }
  return tokens;
}

Result<AuthService::Tokens> AuthService::refresh(const std::string& refresh_token) {
  if (refresh_token.empty() || refresh_token.size() > kMaxRefreshTokenLength) {
    return fail(Errc::unauthenticated, kInvalidRefresh);
  }
  const std::int64_t now = clock_.now();
  const std::string hash = sha256_hex(refresh_token);
  auto used = users_.use_refresh(hash, now);
  if (!used) {
    if (used.error().code == Errc::unauthenticated || used.error().code == Errc::not_found) {
      return fail(Errc::unauthenticated, kInvalidRefresh);
    }
    if (used.error().code != Errc::conflict) return tl::unexpected(used.error());
    auto known = users_.find_refresh(hash);
    if (!known) {
      if (known.error().code == Errc::not_found) return fail(Errc::unauthenticated, kInvalidRefresh);
      return tl::unexpected(known.error());
    }
    if (known->used_at == 0) return fail(Errc::unauthenticated, kInvalidRefresh);  // revoked, never used
    // A rotated token came back: either the client or a thief holds a copy. Which one cannot be
    // told apart, so every token of the login dies (RFC 6819 §5.2.2.3, OAuth 2.0 BCP §4.14).
    if (auto revoked = users_.revoke_family(known->family_id); !revoked) return tl::unexpected(revoked.error());
    AuditEvent event;
    event.actor = known->user_id;
    event.action = "auth.refresh_reused";
    event.target_type = "user";
    event.target_id = known->user_id;
    event.details = {{"family_id", known->family_id}};
    append_best_effort("auth.refresh_reused", std::move(event));
    return fail(Errc::unauthenticated, "refresh token reused");
  }

  auto user = users_.find(used->user_id);
  if (!user) {
    if (user.error().code != Errc::not_found) return tl::unexpected(user.error());
    (void)users_.revoke_family(used->family_id);
    return fail(Errc::unauthenticated, kInvalidRefresh);
  }
  if (user->disabled) {
    (void)users_.revoke_family(used->family_id);
    return fail(Errc::unauthenticated, kInvalidRefresh);
  }
  return issue_tokens(*user, used->family_id, now);
}

Status AuthService::logout(const std::string& refresh_token) {
  if (refresh_token.empty() || refresh_token.size() > kMaxRefreshTokenLength) {
    return fail(Errc::unauthenticated, kInvalidRefresh);
  }
  auto known = users_.find_refresh(sha256_hex(refresh_token));
  if (!known) {
    if (known.error().code == Errc::not_found || known.error().code == Errc::unauthenticated) {
      return fail(Errc::unauthenticated, kInvalidRefresh);
    }
    return tl::unexpected(known.error());
  }
  if (auto revoked = users_.revoke_family(known->family_id); !revoked) return revoked;
  AuditEvent event;
  event.actor = known->user_id;
  event.action = "auth.logout";
  event.target_type = "user";
  event.target_id = known->user_id;
  if (auto user = users_.find(known->user_id)) event.company_id = user->company_id;
  event.details = {{"family_id", known->family_id}};
  append_best_effort("auth.logout", std::move(event));
  return {};
}

Result<User> AuthService::create_user(const std::string& username, const std::string& password, Role role,
                                      const std::string& company_id, const std::string& actor) {
  if (auto valid = validate_username(username); !valid) return tl::unexpected(valid.error());
  if (auto policy = check_password_policy(password); !policy) return tl::unexpected(policy.error());
  if (role == Role::platform_admin && !company_id.empty()) {
    return fail(Errc::invalid_argument, "platform admins belong to no company", "company_id");
  }
  if (role != Role::platform_admin && company_id.empty()) {
    return fail(Errc::invalid_argument, "company_id is required for this role", "company_id");
  }
  if (company_id.size() > kMaxCompanyIdLength) {
    return fail(Errc::invalid_argument, "company_id is too long", "company_id");
  }
  auto hash = hash_password(password);
  if (!hash) return tl::unexpected(hash.error());

  const std::int64_t now = clock_.now();
  User user;
  user.id = ids_.next(id_prefix::user);
  user.username = username;
  user.password_hash = std::move(*hash);
  user.role = role;
  user.company_id = company_id;
  user.created_at = now;

  AuditEvent event;
  event.id = ids_.next(id_prefix::audit);
  event.at = now;
  event.actor = actor;
  event.action = "user.create";
  event.target_type = "user";
  event.target_id = user.id;
  event.company_id = company_id;
  event.details = {{"username", username}, {"role", to_string(role)}};
  if (auto inserted = users_.insert(user, event); !inserted) {
    Error error = inserted.error();
    if (error.code == Errc::conflict) {
      error.message = "username already taken";
      error.field = "username";
    }
    return tl::unexpected(std::move(error));
  }
  user.password_hash.clear();
  return user;
}

Result<AccessClaims> AuthService::authenticate(std::string_view bearer_token) const {
  auto claims = signer_.verify(bearer_token);
  if (!claims) return claims;
  auto user = users_.find(claims->user_id);
  if (!user) {
    if (user.error().code == Errc::not_found) return fail(Errc::unauthenticated, "unknown user");
    return tl::unexpected(user.error());
  }
  if (user->disabled) return fail(Errc::unauthenticated, "user disabled");
  claims->username = user->username;
  claims->role = user->role;
  claims->company_id = user->company_id;
  return claims;
}

Result<AuthService::Tokens> AuthService::issue_tokens(const User& user, const std::string& family_id,
                                                      std::int64_t now) {
  AccessClaims claims;
  claims.user_id = user.id;
  claims.username = user.username;
  claims.role = user.role;
  claims.company_id = user.company_id;
  auto access = signer_.issue(claims);
  if (!access) return tl::unexpected(access.error());

  std::string refresh_token = random_.token(kRefreshTokenBytes);
  RefreshToken stored;
  stored.token_hash = sha256_hex(refresh_token);
  stored.user_id = user.id;
  stored.family_id = family_id;
  stored.issued_at = now;
  stored.expires_at = now + kRefreshTokenLifetime;
  if (auto inserted = users_.insert_refresh(stored); !inserted) return tl::unexpected(inserted.error());
  return Tokens{std::move(*access), signer_.lifetime(), std::move(refresh_token)};
}

void AuthService::append_best_effort(const std::string& action, AuditEvent event) {
  // Events that describe a refusal must not turn the refusal into a different error when the
  // audit log is down; the log line keeps the trace.
  event.id = ids_.next(id_prefix::audit);
  if (event.at == 0) event.at = clock_.now();
  if (auto appended = audit_.append(event); !appended) {
    log::get("identity")->warn("audit append failed action={} error={}", action, appended.error().message);
  }
}

}  // namespace carillon::identity
