// Web Push encryption (RFC 8291) and VAPID (RFC 8292) without a network: the RFC's test vector,
// the JWT checked with OpenSSL directly, and the input errors callers see.

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <string>

#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/encoding.hpp"
#include "notify/encryption.hpp"
#include "notify/p256.hpp"
#include "notify/vapid.hpp"
#include "notify/webpush.hpp"

namespace carillon::notify {
namespace {

std::string b64(std::string_view text) {
  auto decoded = base64url_decode(text);
  EXPECT_TRUE(decoded.has_value()) << text;
  return decoded.value_or("");
}

// RFC 8291 Section 5 and Appendix A, copied from the RFC.
constexpr char kPlaintext[] = "When I grow up, I want to be a watermelon";
constexpr char kAsPrivate[] = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr char kAsPublic[] = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
constexpr char kUaPrivate[] = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
constexpr char kUaPublic[] = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr char kAuth[] = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr char kSalt[] = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr char kEcdhSecret[] = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs";
constexpr char kBody[] =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl"
    "7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

// Hands out the queued bytes, then a counter; tests see exactly what the code drew.
class ScriptedRandom final : public Random {
 public:
  void push(std::string_view bytes) { queue_.insert(queue_.end(), bytes.begin(), bytes.end()); }
  void fill(unsigned char* out, std::size_t size) override {
    for (std::size_t i = 0; i < size; ++i) {
      if (queue_.empty()) {
        out[i] = ++counter_;
      } else {
        out[i] = static_cast<unsigned char>(queue_.front());
        queue_.pop_front();
      }
    }
  }
  std::size_t left() const { return queue_.size(); }

 private:
  std::deque<char> queue_;
  unsigned char counter_ = 0;
};

SubscriptionKeys rfc_keys() { return {kUaPublic, kAuth}; }
EncryptionSecrets rfc_secrets() { return {b64(kAsPrivate), b64(kSalt)}; }

TEST(WebPushEncryption, Rfc8291AppendixAExampleIsReproducedExactly) {
  auto body = encrypt_payload(kPlaintext, rfc_keys(), rfc_secrets());
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(base64url_encode(*body), kBody);
}

TEST(WebPushEncryption, Rfc8291IntermediateValues) {
  auto as = p256::key_pair_from_scalar(b64(kAsPrivate), "as");
  ASSERT_TRUE(as) << as.error().message;
  auto as_point = p256::encode_point(as->get());
  ASSERT_TRUE(as_point);
  EXPECT_EQ(base64url_encode(*as_point), kAsPublic);
  auto ua = p256::key_pair_from_scalar(b64(kUaPrivate), "ua");
  ASSERT_TRUE(ua);
  auto ua_point = p256::encode_point(ua->get());
  ASSERT_TRUE(ua_point);
  EXPECT_EQ(base64url_encode(*ua_point), kUaPublic);
  auto secret = p256::ecdh(as->get(), ua->get());
  ASSERT_TRUE(secret);
  EXPECT_EQ(base64url_encode(*secret), kEcdhSecret);
}

TEST(WebPushEncryption, RandomSecretsComeFromTheInjectedRandomAndSkipInvalidScalars) {
  ScriptedRandom random;
  random.push(std::string(32, '\xff'));  // >= n: must be redrawn
  random.push(b64(kAsPrivate));
  random.push(b64(kSalt));
  auto body = encrypt_payload(kPlaintext, rfc_keys(), random);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(base64url_encode(*body), kBody);
  EXPECT_EQ(random.left(), 0u);
}

TEST(WebPushEncryption, BrokenRandomIsAnErrorNotAHang) {
  class Zeros final : public Random {
   public:
    void fill(unsigned char* out, std::size_t size) override { std::fill(out, out + size, 0); }
  } zeros;
  auto body = encrypt_payload(kPlaintext, rfc_keys(), zeros);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().code, Errc::internal);
}

TEST(WebPushEncryption, LayoutOfTheLargestPayload) {
  ScriptedRandom random;
  random.push(b64(kAsPrivate));
  random.push(b64(kSalt));
  const std::string plaintext(kMaxPlaintextSize, 'x');
  auto body = encrypt_payload(plaintext, rfc_keys(), random);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(body->size(), 4096u);
  EXPECT_EQ(body->substr(0, 16), b64(kSalt));
  EXPECT_EQ(body->substr(16, 4), std::string("\x00\x00\x10\x00", 4));
  EXPECT_EQ(static_cast<unsigned char>((*body)[20]), 65);
  EXPECT_EQ(body->substr(21, 65), b64(kAsPublic));
}

TEST(WebPushEncryption, EmptyPayloadIsOneDelimiterByte) {
  auto body = encrypt_payload("", rfc_keys(), rfc_secrets());
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(body->size(), 86u + 1u + 16u);
}

void expect_error(const Status& status, Errc code, const std::string& field) {
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, code) << status.error().message;
  EXPECT_EQ(status.error().field, field) << status.error().message;
  EXPECT_FALSE(status.error().message.empty());
}

template <class T>
Status status_of(const Result<T>& result) {
  if (result) return {};
  return tl::unexpected(result.error());
}

TEST(WebPushEncryption, MalformedP256dhIsRejectedByName) {
  const std::string point = b64(kUaPublic);
  // wrong length
  expect_error(status_of(encrypt_payload("hi", {base64url_encode(point.substr(0, 64)), kAuth}, rfc_secrets())),
               Errc::invalid_argument, "keys.p256dh");
  // compressed-point prefix
  std::string compressed = point;
  compressed[0] = '\x02';
  expect_error(status_of(encrypt_payload("hi", {base64url_encode(compressed), kAuth}, rfc_secrets())),
               Errc::invalid_argument, "keys.p256dh");
  // right size and prefix, but not on the curve
  std::string off_curve = point;
  off_curve[64] = static_cast<char>(off_curve[64] ^ 0x01);
  auto error = encrypt_payload("hi", {base64url_encode(off_curve), kAuth}, rfc_secrets());
  expect_error(status_of(error), Errc::invalid_argument, "keys.p256dh");
  EXPECT_NE(error.error().message.find("curve"), std::string::npos) << error.error().message;
  // not base64url
  expect_error(status_of(encrypt_payload("hi", {"BCVx+r7N/eNg", kAuth}, rfc_secrets())), Errc::invalid_argument,
               "keys.p256dh");
  expect_error(validate_subscription_keys({base64url_encode(off_curve), kAuth}), Errc::invalid_argument,
               "keys.p256dh");
}

TEST(WebPushEncryption, AuthSecretOfTheWrongSizeIsRejected) {
  expect_error(status_of(encrypt_payload("hi", {kUaPublic, base64url_encode(std::string(15, 'a'))}, rfc_secrets())),
               Errc::invalid_argument, "keys.auth");
  expect_error(status_of(encrypt_payload("hi", {kUaPublic, base64url_encode(std::string(32, 'a'))}, rfc_secrets())),
               Errc::invalid_argument, "keys.auth");
  expect_error(status_of(encrypt_payload("hi", {kUaPublic, "%%%"}, rfc_secrets())), Errc::invalid_argument,
               "keys.auth");
}

TEST(WebPushEncryption, PaddedBase64IsAccepted) {
  auto body = encrypt_payload(kPlaintext, {std::string(kUaPublic) + "=", std::string(kAuth) + "=="}, rfc_secrets());
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(base64url_encode(*body), kBody);
}

TEST(WebPushEncryption, PayloadTooLargeForOneRecord) {
  auto error = encrypt_payload(std::string(kMaxPlaintextSize + 1, 'x'), rfc_keys(), rfc_secrets());
  expect_error(status_of(error), Errc::too_large, "payload");
  EXPECT_NE(error.error().message.find("3993"), std::string::npos) << error.error().message;
}

TEST(WebPushEncryption, MalformedSecretsAreRejected) {
  expect_error(status_of(encrypt_payload("hi", rfc_keys(), {b64(kAsPrivate), "short"})), Errc::invalid_argument,
               "salt");
  expect_error(status_of(encrypt_payload("hi", rfc_keys(), {std::string(32, '\0'), b64(kSalt)})),
               Errc::invalid_argument, "sender_private_key");
  expect_error(status_of(encrypt_payload("hi", rfc_keys(), {std::string(32, '\xff'), b64(kSalt)})),
               Errc::invalid_argument, "sender_private_key");
}

// --- VAPID -----------------------------------------------------------------------------------

struct Jwt {
  nlohmann::json header, claims;
  std::string signing_input, signature;
};

Jwt split_jwt(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  EXPECT_NE(second, std::string::npos);
  EXPECT_EQ(token.find('.', second + 1), std::string::npos);
  Jwt jwt;
  jwt.header = nlohmann::json::parse(b64(token.substr(0, first)));
  jwt.claims = nlohmann::json::parse(b64(token.substr(first + 1, second - first - 1)));
  jwt.signing_input = token.substr(0, second);
  jwt.signature = b64(token.substr(second + 1));
  return jwt;
}

// Verifies r||s against the uncompressed point with plain OpenSSL calls (not the module's code).
bool openssl_verify_es256(const std::string& point, const std::string& input, const std::string& raw_signature) {
  if (raw_signature.size() != 64) return false;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("prime256v1"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<char*>(point.data()), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  const bool loaded = ctx && EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!loaded) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  const auto* raw = reinterpret_cast<const unsigned char*>(raw_signature.data());
  ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int der_size = i2d_ECDSA_SIG(sig, &der);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok = der_size > 0 && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(md, der, static_cast<std::size_t>(der_size),
                                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  EVP_PKEY_free(key);
  return ok;
}

TEST(Vapid, GeneratedKeyRoundTripsThroughPem) {
  auto key = VapidKey::generate();
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->public_key().size(), 65u);
  EXPECT_EQ(key->public_key()[0], '\x04');
  auto again = VapidKey::from_pem(key->private_key_pem());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->public_key(), key->public_key());
  EXPECT_EQ(again->public_key_base64url().size(), 87u);
  auto other = VapidKey::generate();
  ASSERT_TRUE(other);
  EXPECT_NE(other->public_key(), key->public_key());
}

TEST(Vapid, RejectsKeysThatAreNotP256) {
  expect_error(status_of(VapidKey::from_pem("not a key")), Errc::invalid_argument, "vapid_private_key");
  expect_error(status_of(VapidKey::from_pem("")), Errc::invalid_argument, "vapid_private_key");
  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(ed, nullptr);
  auto pem = openssl::write_private_key(ed);
  EVP_PKEY_free(ed);
  ASSERT_TRUE(pem);
  expect_error(status_of(VapidKey::from_pem(*pem)), Errc::invalid_argument, "vapid_private_key");
}

TEST(Vapid, AuthorizationHeaderCarriesAnEs256JwtForTheEndpointOrigin) {
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  ManualClock clock(1'750'000'000);
  auto header = vapid_authorization(*key, "https://Push.Example.NET:443/wpush/v2/abc?x=1", "mailto:ops@example.com",
                                    clock, 3600);
  ASSERT_TRUE(header) << header.error().message;
  const std::string prefix = "vapid t=";
  ASSERT_EQ(header->rfind(prefix, 0), 0u) << *header;
  const auto comma = header->find(", k=");
  ASSERT_NE(comma, std::string::npos);
  const std::string token = header->substr(prefix.size(), comma - prefix.size());
  EXPECT_EQ(header->substr(comma + 4), key->public_key_base64url());

  Jwt jwt = split_jwt(token);
  EXPECT_EQ(jwt.header, (nlohmann::json{{"typ", "JWT"}, {"alg", "ES256"}}));
  EXPECT_EQ(jwt.claims["aud"], "https://push.example.net");
  EXPECT_EQ(jwt.claims["exp"], 1'750'000'000 + 3600);
  EXPECT_EQ(jwt.claims["sub"], "mailto:ops@example.com");
  EXPECT_EQ(jwt.claims.size(), 3u);
  ASSERT_EQ(jwt.signature.size(), 64u);
  EXPECT_TRUE(openssl_verify_es256(key->public_key(), jwt.signing_input, jwt.signature));

  // The check above can fail: a changed claim or another key does not verify.
  std::string tampered = jwt.signing_input;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(openssl_verify_es256(key->public_key(), tampered, jwt.signature));
  auto other = VapidKey::generate();
  ASSERT_TRUE(other);
  EXPECT_FALSE(openssl_verify_es256(other->public_key(), jwt.signing_input, jwt.signature));
}

TEST(Vapid, DefaultLifetimeIsTwelveHoursAndAtMostOneDay) {
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  ManualClock clock(1'000);
  auto token = vapid_jwt(*key, "https://fcm.googleapis.com/fcm/send/x", "https://carillon.example/contact", clock);
  ASSERT_TRUE(token);
  EXPECT_EQ(split_jwt(*token).claims["exp"], 1'000 + 12 * 3600);
  EXPECT_TRUE(vapid_jwt(*key, "https://a.example/x", "mailto:a@b", clock, kMaxVapidLifetimeSeconds));
  expect_error(status_of(vapid_jwt(*key, "https://a.example/x", "mailto:a@b", clock, kMaxVapidLifetimeSeconds + 1)),
               Errc::invalid_argument, "lifetime_seconds");
  expect_error(status_of(vapid_jwt(*key, "https://a.example/x", "mailto:a@b", clock, 0)), Errc::invalid_argument,
               "lifetime_seconds");
}

TEST(Vapid, RejectsBadSubjectsAndEndpoints) {
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  ManualClock clock(1'000);
  for (const char* subject : {"ops@example.com", "http://example.com", "mailto:", "mailto:a b@c", ""})
    expect_error(status_of(vapid_jwt(*key, "https://a.example/x", subject, clock)), Errc::invalid_argument,
                 "subject");
  for (const char* endpoint : {"http://a.example/x", "https:///x", "https://user@a.example/x", "https://a.example:99999/", "https://a.example:0/",
                               "https://a.example:/x", "https://a_b.example/x", "ftp://a.example"})
    expect_error(status_of(vapid_jwt(*key, endpoint, "mailto:a@b", clock)), Errc::invalid_argument, "endpoint");
}

TEST(Vapid, EndpointOrigin) {
  EXPECT_EQ(push_endpoint_origin("https://updates.push.services.mozilla.com/wpush/v2/gAAA").value(),
            "https://updates.push.services.mozilla.com");
  EXPECT_EQ(push_endpoint_origin("HTTPS://127.0.0.1:8443?x").value(), "https://127.0.0.1:8443");
  EXPECT_EQ(push_endpoint_origin("https://[::1]:443/p").value(), "https://[::1]");
  EXPECT_EQ(push_endpoint_origin("https://[::1]:8443/p").value(), "https://[::1]:8443");
  EXPECT_EQ(push_endpoint_origin("https://a.example:0443/p").value(), "https://a.example");
}

// --- subscriptions and the sender's input checks --------------------------------------------------

TEST(WebPushSubscription, ParsesWhatBrowsersSend) {
  const std::string json = std::string(R"({"endpoint":"https://fcm.googleapis.com/fcm/send/abc:def","expirationTime":null,)") +
                           R"("keys":{"p256dh":")" + kUaPublic + R"(","auth":")" + kAuth + R"("}})";
  auto subscription = parse_subscription(json);
  ASSERT_TRUE(subscription) << subscription.error().message;
  EXPECT_EQ(subscription->endpoint, "https://fcm.googleapis.com/fcm/send/abc:def");
  EXPECT_EQ(subscription->keys.p256dh, kUaPublic);
  EXPECT_EQ(subscription->keys.auth, kAuth);
}

TEST(WebPushSubscription, NamesTheBadField) {
  const std::string keys = std::string(R"("keys":{"p256dh":")") + kUaPublic + R"(","auth":")" + kAuth + R"("})";
  expect_error(status_of(parse_subscription("[1]")), Errc::invalid_argument, "subscription");
  expect_error(status_of(parse_subscription("{")), Errc::invalid_argument, "subscription");
  expect_error(status_of(parse_subscription("{" + keys + "}")), Errc::invalid_argument, "endpoint");
  expect_error(status_of(parse_subscription(R"({"endpoint":"http://a.example/x",)" + keys + "}")),
               Errc::invalid_argument, "endpoint");
  expect_error(status_of(parse_subscription(R"({"endpoint":"https://a.example/x y",)" + keys + "}")),
               Errc::invalid_argument, "endpoint");
  expect_error(status_of(parse_subscription(R"({"endpoint":"https://a.example/x"})")), Errc::invalid_argument,
               "keys.p256dh");
  expect_error(status_of(parse_subscription(std::string(R"({"endpoint":"https://a.example/x","keys":{"p256dh":")") +
                                            kUaPublic + R"("}})")),
               Errc::invalid_argument, "keys.auth");
  expect_error(status_of(parse_subscription(std::string(R"({"endpoint":"https://a.example/x","keys":{"p256dh":"AAAA","auth":")") +
                                            kAuth + R"("}})")),
               Errc::invalid_argument, "keys.p256dh");
}

TEST(WebPushSender, RejectsBadMessagesBeforeAnyRequest) {
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  ManualClock clock(1'000);
  ScriptedRandom random;
  WebPushSender sender(*key, {"mailto:ops@example.com", kDefaultVapidLifetimeSeconds, {}}, clock, random);
  // Port 9 on loopback: nothing listens, so reaching the network would give Errc::unavailable.
  const Subscription subscription{"https://127.0.0.1:9/push/1", rfc_keys()};
  expect_error(status_of(sender.send(subscription, {"hi", -1, Urgency::high, {}})), Errc::invalid_argument,
               "ttl_seconds");
  expect_error(status_of(sender.send(subscription, {"hi", kMaxTtlSeconds + 1, Urgency::high, {}})),
               Errc::invalid_argument, "ttl_seconds");
  expect_error(status_of(sender.send(subscription, {"hi", 60, Urgency::high, "bad topic"})), Errc::invalid_argument,
               "topic");
  expect_error(status_of(sender.send(subscription, {"hi", 60, Urgency::high, std::string(33, 'a')})),
               Errc::invalid_argument, "topic");
  expect_error(status_of(sender.send(subscription, {std::string(4000, 'x'), 60, Urgency::high, {}})), Errc::too_large,
               "payload");
  expect_error(status_of(sender.send({"http://127.0.0.1:9/push/1", rfc_keys()}, {"hi", 60, Urgency::high, {}})),
               Errc::invalid_argument, "endpoint");
  expect_error(status_of(sender.send({subscription.endpoint, {kUaPublic, "AAAA"}}, {"hi", 60, Urgency::high, {}})),
               Errc::invalid_argument, "keys.auth");
  WebPushSender no_contact(*key, {"ops@example.com", kDefaultVapidLifetimeSeconds, {}}, clock, random);
  expect_error(status_of(no_contact.send(subscription, {"hi", 60, Urgency::high, {}})), Errc::invalid_argument,
               "subject");
  // And a valid message does reach for the network.
  auto unreachable = sender.send(subscription, {"hi", 60, Urgency::high, "call-1"});
  expect_error(status_of(unreachable), Errc::unavailable, "");
}

TEST(WebPushSender, UrgencyNames) {
  EXPECT_STREQ(to_string(Urgency::very_low), "very-low");
  EXPECT_STREQ(to_string(Urgency::low), "low");
  EXPECT_STREQ(to_string(Urgency::normal), "normal");
  EXPECT_STREQ(to_string(Urgency::high), "high");
}

}  // namespace
}  // namespace carillon::notify
