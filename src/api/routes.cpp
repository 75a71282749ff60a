#include <chrono>

#include "api/context.hpp"
#include "common/log.hpp"
#include "identity/model.hpp"

namespace carillon::api {

Result<Actor> authenticate(ApiContext& context, const http::Request& request, bool allow_query_token) {
  std::string token;
  auto header = request.header("authorization");
  if (header.rfind("Bearer ", 0) == 0) {
    token = header.substr(7);
  } else if (allow_query_token && request.query.count("access_token")) {
    token = request.query.at("access_token");
  }
  if (token.empty()) return fail(Errc::unauthenticated, "missing bearer token");
  auto claims = context.auth.authenticate(token);
  if (!claims) return tl::unexpected(claims.error());
  Actor actor;
  actor.id = claims->user_id;
  actor.platform_admin = claims->role == identity::Role::platform_admin;
  actor.company_id = claims->company_id;
  actor.can_write = claims->role != identity::Role::viewer;
  actor.source = request.remote_address;
  return actor;
}

namespace {

http::Response finish(ApiContext& context, const std::string& method, const std::string& pattern,
                      std::chrono::steady_clock::time_point start, Result<http::Response> result) {
  http::Response response = result ? std::move(*result) : http::problem(result.error());
  if (!result && result.error().code == Errc::internal)
    log::get("api")->error("{} {} failed: {}", method, pattern, result.error().message);
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  context.metrics.observe_request(method, pattern, response.status, seconds);
  return response;
}

}  // namespace

void add_authenticated(http::Router& router, ApiContext& context, const std::string& method, const std::string& pattern,
                       ActorHandler handler) {
  router.add(method, pattern, [&context, method, pattern, handler](const http::Request& request) {
    auto start = std::chrono::steady_clock::now();
    auto actor = authenticate(context, request);
    Result<http::Response> result = actor ? handler(*actor, request) : tl::unexpected(actor.error());
    return finish(context, method, pattern, start, std::move(result));
  });
}

void add_public(http::Router& router, ApiContext& context, const std::string& method, const std::string& pattern,
                std::function<Result<http::Response>(const http::Request&)> handler) {
  router.add(method, pattern, [&context, method, pattern, handler](const http::Request& request) {
    auto start = std::chrono::steady_clock::now();
    return finish(context, method, pattern, start, handler(request));
  });
}

void add_routes(http::Router& router, ApiContext& context) {
  add_system_routes(router, context);
  add_auth_routes(router, context);
  add_tenancy_routes(router, context);
  add_device_routes(router, context);
  add_calls_routes(router, context);
  add_sip_routes(router, context);
  add_push_routes(router, context);
  add_firmware_routes(router, context);
  add_dashboard_routes(router, context);
  add_alert_routes(router, context);
}

}  // namespace carillon::api
