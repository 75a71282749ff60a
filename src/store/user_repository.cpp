#include "store/user_repository.hpp"

#include <optional>

#include <soci/soci.h>

#include "store/sql_support.hpp"

namespace carillon::store {

using detail::Query;
using identity::RefreshToken;
using identity::Role;
using identity::User;

namespace {

// Store-internal mapping so the column format does not depend on identity's display names.
const char* role_column(Role role) {
  switch (role) {
    case Role::platform_admin: return "platform_admin";
    case Role::company_admin: return "company_admin";
    case Role::viewer: return "viewer";
  }
  return "viewer";
}

std::optional<Role> role_from_column(const std::string& text) {
  if (text == "platform_admin") return Role::platform_admin;
  if (text == "company_admin") return Role::company_admin;
  if (text == "viewer") return Role::viewer;
  return std::nullopt;
}

constexpr const char* kUserColumns = "id, username, password_hash, role, company_id, disabled, created_at";

struct UserRow {
  std::string id, username, password_hash, role, company_id;
  std::int64_t disabled = 0, created_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(username));
    st.exchange(soci::into(password_hash));
    st.exchange(soci::into(role));
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(disabled));
    st.exchange(soci::into(created_at));
  }
  Result<User> to_user() const {
    auto parsed = role_from_column(role);
    if (!parsed) return fail(Errc::internal, "unknown role '" + role + "' stored for user " + id);
    return User{id, username, password_hash, *parsed, company_id, disabled != 0, created_at};
  }
};

Result<User> select_user(soci::session& sql, const char* column, const std::string& value) {
  Query q(std::string("SELECT ") + kUserColumns + " FROM users WHERE " + column + " = ");
  q.bind(value);
  UserRow row;
  bool found = false;
  q.each(sql, row, [&] { found = true; });
  if (!found) return fail(Errc::not_found, "user not found", column);
  return row.to_user();
}

struct TokenRow {
  RefreshToken token;
  std::int64_t revoked = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(token.token_hash));
    st.exchange(soci::into(token.user_id));
    st.exchange(soci::into(token.family_id));
    st.exchange(soci::into(token.issued_at));
    st.exchange(soci::into(token.expires_at));
    st.exchange(soci::into(token.used_at));
    st.exchange(soci::into(revoked));
  }
};

std::optional<RefreshToken> select_token(soci::session& sql, const std::string& token_hash) {
  Query q("SELECT token_hash, user_id, family_id, issued_at, expires_at, used_at, revoked FROM refresh_tokens "
          "WHERE token_hash = ");
  q.bind(token_hash);
  TokenRow row;
  std::optional<RefreshToken> found;
  q.each(sql, row, [&] {
    found = row.token;
    found->revoked = row.revoked != 0;
  });
  return found;
}

}  // namespace

Status SqlUserRepository::insert(const User& user, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("INSERT INTO users (id, username, password_hash, role, company_id, disabled, created_at) VALUES (");
    q.bind(user.id) << ",";
    q.bind(user.username) << ",";
    q.bind(user.password_hash) << ",";
    q.bind(std::string(role_column(user.role))) << ",";
    q.bind(user.company_id) << ",";
    q.bind(std::int64_t{user.disabled ? 1 : 0}) << ",";
    q.bind(user.created_at) << ")";
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<User> SqlUserRepository::find(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<User> {
    return select_user(sql, "id", id);
  });
}

Result<User> SqlUserRepository::find_by_username(const std::string& username) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<User> {
    return select_user(sql, "username", username);
  });
}

Result<Page<User>> SqlUserRepository::list(const std::string& company_id, const PageRequest& page) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<User>> {
    const int limit = detail::page_limit(page.limit);
    Query q(std::string("SELECT ") + kUserColumns + " FROM users WHERE 1 = 1");
    if (!company_id.empty()) {
      q << " AND company_id = ";
      q.bind(company_id);
    }
    if (!page.after.empty()) {
      q << " AND id > ";
      q.bind(page.after);
    }
    q << " ORDER BY id LIMIT ";
    q.bind(static_cast<std::int64_t>(limit) + 1);
    Page<User> out;
    UserRow row;
    std::optional<Error> bad;
    q.each(sql, row, [&] {
      auto user = row.to_user();
      if (user) {
        out.items.push_back(std::move(*user));
      } else {
        bad = user.error();
      }
    });
    if (bad) return tl::unexpected<Error>(*bad);
    if (static_cast<int>(out.items.size()) > limit) {
      out.items.pop_back();
      out.next = out.items.back().id;
    }
    return out;
  });
}

Result<std::int64_t> SqlUserRepository::count() {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::int64_t> {
    Query q("SELECT COUNT(*) FROM users");
    return detail::query_int(sql, q).value_or(0);
  });
}

Status SqlUserRepository::insert_refresh(const RefreshToken& token) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    // A transaction, not autocommit: a lost connection then means "not written" (retry is safe).
    detail::Transaction tx(sql, db_.kind());
    Query q("INSERT INTO refresh_tokens (token_hash, user_id, family_id, issued_at, expires_at, used_at, revoked) "
            "VALUES (");
    q.bind(token.token_hash) << ",";
    q.bind(token.user_id) << ",";
    q.bind(token.family_id) << ",";
    q.bind(token.issued_at) << ",";
    q.bind(token.expires_at) << ",";
    q.bind(token.used_at) << ",";
    q.bind(std::int64_t{token.revoked ? 1 : 0}) << ")";
    q.execute(sql);
    tx.commit();
    return {};
  });
}

Result<RefreshToken> SqlUserRepository::use_refresh(const std::string& token_hash, std::int64_t now) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<RefreshToken> {
    detail::Transaction tx(sql, db_.kind());
    // The conditional UPDATE is the atomic step: of two concurrent uses only one matches.
    Query q("UPDATE refresh_tokens SET used_at = ");
    q.bind(now) << " WHERE token_hash = ";
    q.bind(token_hash) << " AND used_at = 0 AND revoked = 0 AND expires_at > ";
    q.bind(now);
    const bool marked = q.execute(sql) == 1;
    auto token = select_token(sql, token_hash);
    if (!token) return fail(Errc::unauthenticated, "unknown refresh token");
    if (!marked) {
      if (token->used_at != 0) return fail(Errc::conflict, "refresh token already used");
      return fail(Errc::unauthenticated, token->revoked ? "refresh token revoked" : "refresh token expired");
    }
    tx.commit();
    return *token;
  });
}

Status SqlUserRepository::revoke_family(const std::string& family_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());  // as above
    Query q("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ");
    q.bind(family_id);
    q.execute(sql);
    tx.commit();
    return {};
  });
}

Result<RefreshToken> SqlUserRepository::find_refresh(const std::string& token_hash) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<RefreshToken> {
    auto token = select_token(sql, token_hash);
    if (!token) return fail(Errc::not_found, "unknown refresh token");
    return *token;
  });
}

}  // namespace carillon::store
