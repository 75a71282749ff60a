#pragma once
// Sending one Web Push message (RFC 8030 Section 5) to a browser's push subscription: the payload
// encrypted per RFC 8291, the request authenticated with VAPID (RFC 8292), POSTed over HTTPS.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "http/client.hpp"
#include "notify/encryption.hpp"
#include "notify/vapid.hpp"

namespace carillon::notify {

// What the browser hands over from PushSubscription.toJSON().
struct Subscription {
  std::string endpoint;  // https URL of the push service resource
  SubscriptionKeys keys;
};

// Parses {"endpoint": "...", "expirationTime": ..., "keys": {"p256dh": "...", "auth": "..."}}
// and validates it (fields "endpoint", "keys.p256dh", "keys.auth"; Errc::invalid_argument, field
// "subscription", when the text is not a JSON object). Unknown members are ignored.
Result<Subscription> parse_subscription(std::string_view json);

// RFC 8030 Section 5.3.
enum class Urgency { very_low, low, normal, high };
const char* to_string(Urgency urgency);

inline constexpr std::int64_t kMaxTtlSeconds = 28 * 24 * 3600;

struct PushMessage {
  std::string payload;                  // at most kMaxPlaintextSize bytes, usually JSON for the service worker
  std::int64_t ttl_seconds = 60;        // how long the push service keeps it for an offline browser (0..kMaxTtlSeconds)
  Urgency urgency = Urgency::normal;
  // Optional: a newer message with the same topic replaces an undelivered older one (e.g. the
  // "missed call" replacing "incoming call"). 1..32 characters of the base64url alphabet.
  std::string topic;
};

struct WebPushOptions {
  std::string subject;  // VAPID "sub": "mailto:ops@example.com" or an https: URL
  std::int64_t vapid_lifetime_seconds = kDefaultVapidLifetimeSeconds;
  http::ClientOptions http;  // tests set http.ca_pem to their push service's CA
};

struct PushDelivery {
  // false: the push service answered 404 or 410, the subscription is expired or unsubscribed and
  // the caller should delete it.
  bool accepted = false;
  int status = 0;
  std::string location;  // the push message resource (Location header) when accepted, may be empty
};

class WebPushSender {
 public:
  // `clock` and `random` must outlive the sender (the key is shared, see VapidKey). Thread-safe
  // when `random` is.
  WebPushSender(VapidKey key, WebPushOptions options, const Clock& clock, Random& random);

  // One POST to subscription.endpoint with TTL, Urgency, [Topic,] Content-Encoding: aes128gcm,
  // Content-Type: application/octet-stream and Authorization: vapid.
  // Success: 2xx (accepted) or 404/410 (gone). Errors: bad input as in encrypt_payload,
  // vapid_jwt (fields "endpoint", "subject") and field "ttl_seconds" / "topic"; the push service
  // answering 413 -> Errc::too_large, 429 -> Errc::throttled, 401/403 -> Errc::forbidden (the
  // subscription was made for another VAPID key), other 4xx -> Errc::invalid_argument, 5xx or an
  // unreachable service -> Errc::unavailable. Error messages carry the status and a bounded
  // excerpt of the service's answer.
  Result<PushDelivery> send(const Subscription& subscription, const PushMessage& message);

 private:
  VapidKey key_;
  WebPushOptions options_;
  const Clock& clock_;
  Random& random_;
  http::Client client_;
};

}  // namespace carillon::notify
