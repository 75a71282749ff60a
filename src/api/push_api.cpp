// Web Push: the application server key for PushManager.subscribe() and the logged-in user's
// push subscriptions (the browsers that get incoming and missed calls, see apps/push_link.hpp).

#include "api/context.hpp"
#include "notify/webpush.hpp"

namespace carillon::api {

namespace {

using nlohmann::json;

// Real endpoints are a few hundred characters; this bounds what one row may hold.
constexpr std::size_t kMaxEndpointLength = 2048;

json subscription_json(const notify::StoredSubscription& s) {
  return {{"id", s.id}, {"endpoint", s.endpoint}, {"created_at", s.created_at}};
}

Status push_configured(const ApiContext& context) {
  if (context.push.subscriptions == nullptr || context.push.ids == nullptr || context.push.clock == nullptr)
    return fail(Errc::unavailable, "web push is not configured");
  return {};
}

}  // namespace

void add_push_routes(http::Router& router, ApiContext& context) {
  add_authenticated(router, context, "GET", "/api/v1/push/vapid-public-key", [&context](const Actor&, const http::Request&) -> Result<http::Response> {
    if (auto s = push_configured(context); !s) return tl::unexpected(s.error());
    return ok(json{{"public_key", context.push.vapid_public_key}});
  });
  add_authenticated(router, context, "POST", "/api/v1/push-subscriptions", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = push_configured(context); !s) return tl::unexpected(s.error());
    auto parsed = notify::parse_subscription(request.body);
    if (!parsed) return tl::unexpected(parsed.error());
    if (parsed->endpoint.size() > kMaxEndpointLength) return fail(Errc::invalid_argument, "is too long", "endpoint");
    notify::StoredSubscription subscription;
    subscription.id = context.push.ids->next("ps");
    subscription.user_id = actor.id;
    subscription.company_id = actor.company_id;
    subscription.endpoint = parsed->endpoint;
    subscription.p256dh = parsed->keys.p256dh;
    subscription.auth = parsed->keys.auth;
    subscription.created_at = context.push.clock->now();
    auto saved = context.push.subscriptions->save(subscription);
    if (!saved) return tl::unexpected(saved.error());
    return ok(subscription_json(saved->subscription), saved->created ? 201 : 200);
  });
  add_authenticated(router, context, "DELETE", "/api/v1/push-subscriptions/{id}", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = push_configured(context); !s) return tl::unexpected(s.error());
    const std::string& id = request.params.at("id");
    auto found = context.push.subscriptions->find(id);
    // Another user's subscription is not there for this one.
    if (!found || found->user_id != actor.id) return fail(Errc::not_found, "no such push subscription", "id");
    if (auto s = context.push.subscriptions->remove(id); !s) return tl::unexpected(s.error());
    return no_content();
  });
}

}  // namespace carillon::api
