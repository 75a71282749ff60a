// Web Push checked by an independent implementation: tests/notify/oracle/oracle.js with http_ece
// (the reference RFC 8188 implementation, used by the `web-push` npm package) and node's crypto.
// The oracle (tests/support/push_oracle.hpp) is installed with `npm ci` from the committed lock
// file once per run; when npm cannot install it every test here fails (they never skip).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/encoding.hpp"
#include "common/random.hpp"
#include "notify/encryption.hpp"
#include "notify/vapid.hpp"
#include "notify/webpush.hpp"
#include "support/push_oracle.hpp"

namespace carillon::notify {
namespace {

using carillon::testing::CommandResult;
using carillon::testing::Oracle;
using carillon::testing::PushService;

std::string b64(std::string_view text) { return base64url_decode(text).value_or("<not base64url>"); }

class WebPushOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(oracle_.installed()) << "npm ci of tests/notify/oracle failed:\n" << oracle_.install_log();
  }

  // A browser's subscription keys made by node (the private key stays on the oracle's side).
  nlohmann::json subscribe() {
    CommandResult result = oracle_.call("subscribe");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return nlohmann::json::parse(result.output, nullptr, false);
  }

  Result<std::string> oracle_decrypt(const std::string& body, const nlohmann::json& ua) {
    CommandResult result = oracle_.call(
        "decrypt", {{"body", base64url_encode(body)}, {"private_key", ua["private_key"]}, {"auth", ua["auth"]}});
    if (result.exit_code != 0) return fail(Errc::invalid_argument, result.output);
    return b64(nlohmann::json::parse(result.output)["plaintext"].get<std::string>());
  }

  Oracle& oracle_ = Oracle::instance();
  SodiumRandom random_;
};

TEST_F(WebPushOracle, OracleReproducesTheRfc8291Example) {
  // The oracle itself against the RFC, so that a broken oracle cannot pass our output.
  const nlohmann::json ua = {{"private_key", "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"},
                             {"auth", "BTBZMqHH6r4Tts7J_aSIgg"}};
  const std::string body = b64(
      "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl"
      "7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
  auto plaintext = oracle_decrypt(body, ua);
  ASSERT_TRUE(plaintext) << plaintext.error().message;
  EXPECT_EQ(*plaintext, "When I grow up, I want to be a watermelon");
}

TEST_F(WebPushOracle, HttpEceDecryptsWhatWeEncrypt) {
  const nlohmann::json ua = subscribe();
  ASSERT_TRUE(ua.is_object());
  const SubscriptionKeys keys{ua["p256dh"], ua["auth"]};
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  const std::vector<std::string> payloads = {
      "",
      R"({"type":"incoming_call","call_id":"c-1","caller":"Front door","snapshot":"https://portal.example/s/1.jpg"})",
      binary,
      std::string(kMaxPlaintextSize, 's'),
  };
  for (const std::string& payload : payloads) {
    auto body = encrypt_payload(payload, keys, random_);
    ASSERT_TRUE(body) << body.error().message;
    auto plaintext = oracle_decrypt(*body, ua);
    ASSERT_TRUE(plaintext) << plaintext.error().message << " (payload of " << payload.size() << " bytes)";
    EXPECT_EQ(*plaintext, payload);
  }
}

TEST_F(WebPushOracle, HttpEceRejectsATamperedOrMisaddressedBody) {
  const nlohmann::json ua = subscribe();
  const nlohmann::json other = subscribe();
  ASSERT_TRUE(ua.is_object() && other.is_object());
  auto body = encrypt_payload("door bell", {ua["p256dh"], ua["auth"]}, random_);
  ASSERT_TRUE(body);
  std::string tampered = *body;
  tampered.back() = static_cast<char>(tampered.back() ^ 0x01);
  EXPECT_FALSE(oracle_decrypt(tampered, ua));
  EXPECT_FALSE(oracle_decrypt(*body, other));
  EXPECT_TRUE(oracle_decrypt(*body, ua));
}

TEST_F(WebPushOracle, NodeCryptoVerifiesTheVapidJwt) {
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  ManualClock clock(1'760'000'000);
  auto header = vapid_authorization(*key, "https://push.example.org/v1/sub/123", "mailto:ops@carillon.example", clock);
  ASSERT_TRUE(header) << header.error().message;

  CommandResult ok = oracle_.call(
      "verify-vapid", {{"authorization", *header}, {"audience", "https://push.example.org"}, {"now", clock.now()}});
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const nlohmann::json verified = nlohmann::json::parse(ok.output);
  EXPECT_EQ(verified["header"], (nlohmann::json{{"typ", "JWT"}, {"alg", "ES256"}}));
  EXPECT_EQ(verified["claims"]["aud"], "https://push.example.org");
  EXPECT_EQ(verified["claims"]["exp"], clock.now() + kDefaultVapidLifetimeSeconds);
  EXPECT_EQ(verified["claims"]["sub"], "mailto:ops@carillon.example");
  EXPECT_EQ(verified["k"], key->public_key_base64url());

  // The oracle does refuse: another audience, an expired token, a different key.
  EXPECT_NE(oracle_.call("verify-vapid", {{"authorization", *header},
                                          {"audience", "https://other.example.org"},
                                          {"now", clock.now()}})
                .exit_code,
            0);
  EXPECT_NE(oracle_.call("verify-vapid", {{"authorization", *header},
                                          {"audience", "https://push.example.org"},
                                          {"now", clock.now() + kDefaultVapidLifetimeSeconds}})
                .exit_code,
            0);
  auto other = VapidKey::generate();
  ASSERT_TRUE(other);
  std::string swapped = header->substr(0, header->find(", k=")) + ", k=" + other->public_key_base64url();
  EXPECT_NE(oracle_.call("verify-vapid",
                         {{"authorization", swapped}, {"audience", "https://push.example.org"}, {"now", clock.now()}})
                .exit_code,
            0);
}

TEST_F(WebPushOracle, SenderDeliversToAPushServiceThatDecryptsAndChecksVapid) {
  const nlohmann::json ua = subscribe();
  ASSERT_TRUE(ua.is_object());
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  PushService service(oracle_, ua, key->public_key_base64url());
  SystemClock clock;
  WebPushOptions options;
  options.subject = "mailto:ops@carillon.example";
  options.http.ca_pem = service.ca_pem();
  WebPushSender sender(*key, options, clock, random_);

  const std::string payload = R"({"type":"incoming_call","call_id":"c-42","snapshot":"data:image/jpeg;base64,/9j/4A"})";
  auto delivery = sender.send({service.origin() + "/push/sub-1", {ua["p256dh"], ua["auth"]}},
                              {payload, 30, Urgency::high, "call-c-42"});
  ASSERT_TRUE(delivery) << delivery.error().message;
  EXPECT_TRUE(delivery->accepted);
  EXPECT_EQ(delivery->status, 201);
  EXPECT_EQ(delivery->location.rfind("/message/", 0), 0u) << delivery->location;

  auto requests = service.requests();
  ASSERT_EQ(requests.size(), 1u);
  const nlohmann::json& request = requests[0];
  EXPECT_EQ(request["path"], "/push/sub-1");
  EXPECT_EQ(request["headers"]["ttl"], "30");
  EXPECT_EQ(request["headers"]["urgency"], "high");
  EXPECT_EQ(request["headers"]["topic"], "call-c-42");
  EXPECT_EQ(request["headers"]["content-encoding"], "aes128gcm");
  EXPECT_EQ(request["headers"]["content-type"], "application/octet-stream");
  EXPECT_EQ(b64(request["plaintext"].get<std::string>()), payload);
  EXPECT_EQ(request["vapid"]["claims"]["aud"], service.origin());
  EXPECT_EQ(request["vapid"]["claims"]["sub"], "mailto:ops@carillon.example");
  const std::int64_t exp = request["vapid"]["claims"]["exp"];
  EXPECT_NEAR(static_cast<double>(exp), static_cast<double>(clock.now() + kDefaultVapidLifetimeSeconds), 60.0);
}

TEST_F(WebPushOracle, SenderMapsThePushServiceAnswers) {
  const nlohmann::json ua = subscribe();
  ASSERT_TRUE(ua.is_object());
  auto key = VapidKey::generate();
  ASSERT_TRUE(key);
  PushService service(oracle_, ua, key->public_key_base64url());
  SystemClock clock;
  WebPushOptions options;
  options.subject = "https://carillon.example/contact";
  options.http.ca_pem = service.ca_pem();
  WebPushSender sender(*key, options, clock, random_);
  const SubscriptionKeys keys{ua["p256dh"], ua["auth"]};
  const PushMessage missed{R"({"type":"missed_call"})", 3600, Urgency::normal, {}};

  for (const auto& [path, status] : std::vector<std::pair<std::string, int>>{{"/gone/1", 410}, {"/missing/1", 404}}) {
    auto delivery = sender.send({service.origin() + path, keys}, missed);
    ASSERT_TRUE(delivery) << delivery.error().message;
    EXPECT_FALSE(delivery->accepted) << path;
    EXPECT_EQ(delivery->status, status);
  }
  auto throttled = sender.send({service.origin() + "/throttled/1", keys}, missed);
  ASSERT_FALSE(throttled);
  EXPECT_EQ(throttled.error().code, Errc::throttled);
  auto broken = sender.send({service.origin() + "/broken/1", keys}, missed);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, Errc::unavailable);
  EXPECT_NE(broken.error().message.find("503"), std::string::npos) << broken.error().message;

  // The subscription was made for another application server key: the service refuses (403).
  auto stranger = VapidKey::generate();
  ASSERT_TRUE(stranger);
  WebPushSender wrong_key(*stranger, options, clock, random_);
  auto forbidden = wrong_key.send({service.origin() + "/push/1", keys}, missed);
  ASSERT_FALSE(forbidden);
  EXPECT_EQ(forbidden.error().code, Errc::forbidden) << forbidden.error().message;

  // Keys of another browser: the service cannot decrypt and answers 400.
  const nlohmann::json other = subscribe();
  auto misaddressed = sender.send({service.origin() + "/push/1", {other["p256dh"], other["auth"]}}, missed);
  ASSERT_FALSE(misaddressed);
  EXPECT_EQ(misaddressed.error().code, Errc::invalid_argument) << misaddressed.error().message;

  // Without the test CA the service's certificate is not trusted.
  WebPushOptions untrusted = options;
  untrusted.http.ca_pem.clear();
  WebPushSender no_ca(*key, untrusted, clock, random_);
  auto tls = no_ca.send({service.origin() + "/push/1", keys}, missed);
  ASSERT_FALSE(tls);
  EXPECT_EQ(tls.error().code, Errc::unavailable);

  const auto requests = service.requests();
  ASSERT_EQ(requests.size(), 6u);  // the TLS failure never reached the service
  EXPECT_EQ(requests[0]["headers"]["urgency"], "normal");
  EXPECT_EQ(requests[0]["headers"]["ttl"], "3600");
  EXPECT_FALSE(requests[0]["headers"].contains("topic"));
  EXPECT_EQ(b64(requests[0]["plaintext"].get<std::string>()), R"({"type":"missed_call"})");
}

}  // namespace
}  // namespace carillon::notify
