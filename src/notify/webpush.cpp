#include "notify/webpush.hpp"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace carillon::notify {

namespace {

constexpr std::size_t kMaxEndpointSize = 2048;
constexpr std::size_t kMaxExcerpt = 200;

std::string excerpt(const std::string& body) {
  std::string out = body.substr(0, kMaxExcerpt);
  std::replace_if(out.begin(), out.end(), [](unsigned char c) { return c < 0x20 || c >= 0x7f; }, ' ');
  return out;
}

bool valid_topic(std::string_view topic) {
  return !topic.empty() && topic.size() <= 32 && std::all_of(topic.begin(), topic.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
}

Status validate_endpoint(std::string_view endpoint) {
  if (endpoint.size() > kMaxEndpointSize)
    return fail(Errc::invalid_argument, "push endpoint is longer than 2048 characters", "endpoint");
  if (std::any_of(endpoint.begin(), endpoint.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; }))
    return fail(Errc::invalid_argument, "push endpoint contains spaces or non-ASCII characters", "endpoint");
  auto origin = push_endpoint_origin(endpoint);
  if (!origin) return tl::unexpected(origin.error());
  return {};
}

}  // namespace

const char* to_string(Urgency urgency) {
  switch (urgency) {
    case Urgency::very_low: return "very-low";
    case Urgency::low: return "low";
    case Urgency::normal: return "normal";
    case Urgency::high: return "high";
  }
  return "normal";
}

Result<Subscription> parse_subscription(std::string_view json) {
  const nlohmann::json document = nlohmann::json::parse(json, nullptr, false);
  if (document.is_discarded() || !document.is_object())
    return fail(Errc::invalid_argument, "push subscription must be a JSON object", "subscription");
  Subscription subscription;
  auto endpoint = document.find("endpoint");
  if (endpoint == document.end() || !endpoint->is_string())
    return fail(Errc::invalid_argument, "push subscription needs an endpoint string", "endpoint");
  subscription.endpoint = endpoint->get<std::string>();
  if (auto valid = validate_endpoint(subscription.endpoint); !valid) return tl::unexpected(valid.error());
  auto keys = document.find("keys");
  if (keys == document.end() || !keys->is_object())
    return fail(Errc::invalid_argument, "push subscription needs keys.p256dh and keys.auth", "keys.p256dh");
  auto p256dh = keys->find("p256dh");
  if (p256dh == keys->end() || !p256dh->is_string())
    return fail(Errc::invalid_argument, "push subscription needs a keys.p256dh string", "keys.p256dh");
  auto auth = keys->find("auth");
  if (auth == keys->end() || !auth->is_string())
    return fail(Errc::invalid_argument, "push subscription needs a keys.auth string", "keys.auth");
  subscription.keys = {p256dh->get<std::string>(), auth->get<std::string>()};
  if (auto valid = validate_subscription_keys(subscription.keys); !valid) return tl::unexpected(valid.error());
  return subscription;
}

WebPushSender::WebPushSender(VapidKey key, WebPushOptions options, const Clock& clock, Random& random)
    : key_(std::move(key)), options_(std::move(options)), clock_(clock), random_(random), client_(options_.http) {}

Result<PushDelivery> WebPushSender::send(const Subscription& subscription, const PushMessage& message) {
  if (auto valid = validate_endpoint(subscription.endpoint); !valid) return tl::unexpected(valid.error());
  if (message.ttl_seconds < 0 || message.ttl_seconds > kMaxTtlSeconds)
    return fail(Errc::invalid_argument, "TTL must be 0 .. 28 days in seconds", "ttl_seconds");
  if (!message.topic.empty() && !valid_topic(message.topic))
    return fail(Errc::invalid_argument, "topic must be 1..32 characters of the base64url alphabet", "topic");
  auto authorization =
      vapid_authorization(key_, subscription.endpoint, options_.subject, clock_, options_.vapid_lifetime_seconds);
  if (!authorization) return tl::unexpected(authorization.error());
  auto body = encrypt_payload(message.payload, subscription.keys, random_);
  if (!body) return tl::unexpected(body.error());

  std::vector<std::pair<std::string, std::string>> headers = {
      {"TTL", std::to_string(message.ttl_seconds)},
      {"Urgency", to_string(message.urgency)},
      {"Content-Encoding", "aes128gcm"},
      {"Content-Type", "application/octet-stream"},
      {"Authorization", *authorization},
  };
  if (!message.topic.empty()) headers.emplace_back("Topic", message.topic);
  auto response = client_.request("POST", subscription.endpoint, *body, headers);
  if (!response) return tl::unexpected(response.error());

  const int status = response->status;
  if (status >= 200 && status < 300) {
    auto location = response->headers.find("location");
    return PushDelivery{true, status, location == response->headers.end() ? std::string() : location->second};
  }
  if (status == 404 || status == 410) return PushDelivery{false, status, {}};
  std::string detail = "push service answered " + std::to_string(status) + ": " + excerpt(response->body);
  if (status == 413) return fail(Errc::too_large, std::move(detail), "payload");
  if (status == 429) return fail(Errc::throttled, std::move(detail));
  if (status == 401 || status == 403) return fail(Errc::forbidden, std::move(detail));
  if (status >= 400 && status < 500) return fail(Errc::invalid_argument, std::move(detail));
  return fail(Errc::unavailable, std::move(detail));
}

}  // namespace carillon::notify
