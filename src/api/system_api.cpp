// Health, readiness, metrics, the OpenAPI document, device bootstrap and the live event stream.

#include "api/context.hpp"

namespace carillon::api {

void add_system_routes(http::Router& router, ApiContext& context) {
  add_public(router, context, "GET", "/healthz", [](const http::Request&) -> Result<http::Response> {
    return ok({{"status", "ok"}});
  });
  add_public(router, context, "GET", "/readyz", [&context](const http::Request&) -> Result<http::Response> {
    nlohmann::json checks = nlohmann::json::object();
    bool ready = true;
    for (const auto& [name, check] : context.readiness_checks) {
      auto problem = check();
      checks[name] = problem.empty() ? "ok" : problem;
      ready = ready && problem.empty();
    }
    return ok({{"status", ready ? "ready" : "not ready"}, {"checks", checks}}, ready ? 200 : 503);
  });
  add_public(router, context, "GET", "/metrics", [&context](const http::Request&) -> Result<http::Response> {
    return http::Response{200, "text/plain; version=0.0.4", context.metrics.render(), {}};
  });
  add_public(router, context, "GET", "/api/v1/openapi.yaml", [&context](const http::Request&) -> Result<http::Response> {
    return http::Response{200, "application/yaml", context.openapi_yaml, {}};
  });
  add_public(router, context, "GET", "/api/v1/device-bootstrap", [&context](const http::Request&) -> Result<http::Response> {
    const auto& b = context.bootstrap;
    return ok({{"schema", 1},
               {"mqtt", {{"host", b.mqtt_host}, {"claim_port", b.claim_port}, {"device_port", b.device_port}}}});
  });

  // Live events: each subscriber only gets events of companies it may see.
  router.add_websocket("/api/v1/events", [&context](const http::Request& request,
                                                    std::shared_ptr<http::Router::WebSocket> socket)
                                             -> Result<std::function<void()>> {
    auto actor = authenticate(context, request, true);
    if (!actor) return tl::unexpected(actor.error());
    auto token = context.events.subscribe([socket, who = *actor](const LiveEvent& event) {
      if (!who.can_see(event.company_id)) return;
      socket->send(nlohmann::json{{"type", event.type}, {"company_id", event.company_id}, {"data", event.data}}.dump());
    });
    socket->send(nlohmann::json{{"type", "hello"}, {"data", {{"user_id", actor->id}}}}.dump());
    return std::function<void()>([&context, token] { context.events.unsubscribe(token); });
  });
}

}  // namespace carillon::api
