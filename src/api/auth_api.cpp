// Login, token refresh, logout, the caller's own identity, and users.

#include <algorithm>

#include "api/context.hpp"
#include "common/ids.hpp"

namespace carillon::api {

namespace {

nlohmann::json tokens_json(const identity::AuthService::Tokens& t) {
  return {{"access_token", t.access_token},
          {"token_type", "Bearer"},
          {"expires_in", t.expires_in},
          {"refresh_token", t.refresh_token}};
}

nlohmann::json user_json(const identity::User& u) {
  nlohmann::json j{{"id", u.id},
                   {"username", u.username},
                   {"role", identity::to_string(u.role)},
                   {"disabled", u.disabled},
                   {"created_at", u.created_at}};
  j["company_id"] = u.company_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(u.company_id);
  return j;
}

}  // namespace

void add_auth_routes(http::Router& router, ApiContext& context) {
  add_public(router, context, "POST", "/api/v1/auth/login", [&context](const http::Request& request) -> Result<http::Response> {
    auto body = parse_object(request, {"username", "password"});
    if (!body) return tl::unexpected(body.error());
    auto username = required_string(*body, "username");
    if (!username) return tl::unexpected(username.error());
    auto password = required_string(*body, "password");
    if (!password) return tl::unexpected(password.error());
    auto tokens = context.auth.login(*username, *password, request.remote_address);
    if (!tokens && tokens.error().code == Errc::throttled) {
      // Retry-After says when the lock really ends (up to the whole window), not "1".
      auto wait = context.auth.login_retry_after(*username, request.remote_address);
      return http::problem(tokens.error(), static_cast<int>(std::max<std::int64_t>(wait, 1)));
    }
    if (!tokens) return tl::unexpected(tokens.error());
    return ok(tokens_json(*tokens));
  });
  add_public(router, context, "POST", "/api/v1/auth/refresh", [&context](const http::Request& request) -> Result<http::Response> {
    auto body = parse_object(request, {"refresh_token"});
    if (!body) return tl::unexpected(body.error());
    auto token = required_string(*body, "refresh_token");
    if (!token) return tl::unexpected(token.error());
    auto tokens = context.auth.refresh(*token);
    if (!tokens) return tl::unexpected(tokens.error());
    return ok(tokens_json(*tokens));
  });
  add_public(router, context, "POST", "/api/v1/auth/logout", [&context](const http::Request& request) -> Result<http::Response> {
    auto body = parse_object(request, {"refresh_token"});
    if (!body) return tl::unexpected(body.error());
    auto token = required_string(*body, "refresh_token");
    if (!token) return tl::unexpected(token.error());
    if (auto s = context.auth.logout(*token); !s) return tl::unexpected(s.error());
    return no_content();
  });
  add_authenticated(router, context, "GET", "/api/v1/me", [&context](const Actor& actor, const http::Request&) -> Result<http::Response> {
    auto user = context.users.find(actor.id);
    if (!user) return tl::unexpected(user.error());
    return ok(user_json(*user));
  });
  add_authenticated(router, context, "GET", "/api/v1/users", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    auto company = actor.platform_admin ? (request.query.count("company_id") ? request.query.at("company_id") : "")
                                        : actor.company_id;
    auto users = context.users.list(company, *page);
    if (!users) return tl::unexpected(users.error());
    return ok(page_json(*users, user_json));
  });
  add_authenticated(router, context, "POST", "/api/v1/users", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto body = parse_object(request, {"username", "password", "role", "company_id"});
    if (!body) return tl::unexpected(body.error());
    auto username = required_string(*body, "username");
    if (!username) return tl::unexpected(username.error());
    auto password = required_string(*body, "password");
    if (!password) return tl::unexpected(password.error());
    auto role_text = required_string(*body, "role");
    if (!role_text) return tl::unexpected(role_text.error());
    auto role = identity::parse_role(*role_text);
    if (!role) return tl::unexpected(role.error());
    auto company = optional_string(*body, "company_id");
    if (!company) return tl::unexpected(company.error());
    auto company_id = company->value_or("");
    // Company admins manage their own company's users; only platform admins make platform admins.
    if (!actor.can_write) return fail(Errc::forbidden, "read-only access");
    if (!actor.platform_admin) {
      if (*role == identity::Role::platform_admin) return fail(Errc::forbidden, "only platform administrators grant that role");
      if (company_id.empty()) company_id = actor.company_id;
      if (company_id != actor.company_id) return fail(Errc::invalid_argument, "no such company", "company_id");
    }
    if (!company_id.empty()) {
      auto node = context.tenancy.get(actor, tenancy::NodeKind::company, company_id);
      if (!node) return fail(Errc::invalid_argument, "no such company", "company_id");
    }
    auto user = context.auth.create_user(*username, *password, *role, company_id, actor.id);
    if (!user) return tl::unexpected(user.error());
    return ok(user_json(*user), 201);
  });
}

}  // namespace carillon::api
