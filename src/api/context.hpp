#pragma once
// Helpers shared by the handler files.

#include <string>

#include "api/api.hpp"
#include "api/json_input.hpp"
#include "http/problem.hpp"

namespace carillon::api {

// Verifies "Authorization: Bearer <jwt>" (or ?access_token= for WebSockets, which cannot
// send headers from browsers) and turns the claims into an Actor.
Result<Actor> authenticate(ApiContext& context, const http::Request& request, bool allow_query_token = false);

// Registers a handler wrapped with authentication (when `authenticated`), error mapping and metrics.
using ActorHandler = std::function<Result<http::Response>(const Actor&, const http::Request&)>;
void add_authenticated(http::Router& router, ApiContext& context, const std::string& method,
                       const std::string& pattern, ActorHandler handler);
void add_public(http::Router& router, ApiContext& context, const std::string& method, const std::string& pattern,
                std::function<Result<http::Response>(const http::Request&)> handler);

inline http::Response ok(const nlohmann::json& body, int status = 200) { return http::json_response(status, body); }
inline http::Response no_content() { return http::Response{204, "", "", {}}; }

void add_system_routes(http::Router& router, ApiContext& context);
void add_auth_routes(http::Router& router, ApiContext& context);
void add_tenancy_routes(http::Router& router, ApiContext& context);
void add_device_routes(http::Router& router, ApiContext& context);
void add_calls_routes(http::Router& router, ApiContext& context);
void add_sip_routes(http::Router& router, ApiContext& context);
void add_push_routes(http::Router& router, ApiContext& context);
void add_firmware_routes(http::Router& router, ApiContext& context);
void add_dashboard_routes(http::Router& router, ApiContext& context);
void add_alert_routes(http::Router& router, ApiContext& context);

}  // namespace carillon::api
