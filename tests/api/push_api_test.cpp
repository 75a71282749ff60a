// The Web Push routes through the real router, authentication and SQL repository (SQLite): the
// application server key, registering a browser's subscription for the logged-in user (with
// field-level errors for bad keys) and deleting only one's own.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/api.hpp"
#include "api/api_fixture.hpp"
#include "common/clock.hpp"
#include "common/encoding.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "devices/service.hpp"
#include "http/router.hpp"
#include "identity/auth_service.hpp"
#include "identity/tokens.hpp"
#include "notify/vapid.hpp"
#include "ops/metrics.hpp"
#include "pki/pki.hpp"
#include "store/audit_log.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/push_repository.hpp"
#include "store/tenancy_repository.hpp"
#include "store/user_repository.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::api {
namespace {

using nlohmann::json;
using testing::TempDir;

constexpr const char* kPassword = "correct horse battery staple";

struct Reply {
  int status = 0;
  json j;
  std::string field() const {
    return j.is_object() && j.contains("errors") ? j["errors"][0].value("field", "") : std::string();
  }
};

class PushApiTest : public ApiFixture {
 protected:
  PushApiTest() : ApiFixture(1'760'000'000) {}

  void SetUp() override {
    open_services();
    if (HasFatalFailure()) return;
    push_repo_ = std::make_unique<store::SqlPushRepository>(*db_);
    auto vapid = notify::VapidKey::generate();
    ASSERT_TRUE(vapid);
    vapid_public_ = vapid->public_key_base64url();
    context_->push = {push_repo_.get(), vapid_public_, &ids_, &clock_};
    add_routes(router_, *context_);

    ASSERT_TRUE(auth_->create_user("root", kPassword, identity::Role::platform_admin, "", "test"));
    auto company = send("POST", "/api/v1/companies", login("root"), {{"name", "Acme"}});
    ASSERT_EQ(company.status, 201);
    company_ = company.j["id"];
    auto alice = auth_->create_user("alice", kPassword, identity::Role::viewer, company_, "test");
    auto bob = auth_->create_user("bob", kPassword, identity::Role::company_admin, company_, "test");
    ASSERT_TRUE(alice && bob);
    alice_id_ = alice->id;
    bob_id_ = bob->id;
    alice_ = login("alice");
    bob_ = login("bob");
  }

  Reply send(const std::string& method, const std::string& path, const std::string& token, const json& body = nullptr) {
    http::Request request;
    request.method = method;
    request.target = path;
    request.path = path;
    request.remote_address = "127.0.0.1";
    if (!token.empty()) request.headers["authorization"] = "Bearer " + token;
    if (!body.is_null()) {
      request.headers["content-type"] = "application/json";
      request.body = body.dump();
    }
    auto response = router_.dispatch(request);
    Reply r{response.status, json::parse(response.body, nullptr, false)};
    if (r.j.is_discarded()) r.j = nullptr;
    return r;
  }

  std::string login(const std::string& username) {
    auto tokens = auth_->login(username, kPassword, "127.0.0.1");
    EXPECT_TRUE(tokens);
    return tokens ? tokens->access_token : "";
  }

  // What PushSubscription.toJSON() gives, with a real P-256 point and a 16-byte secret.
  json browser_subscription(const std::string& endpoint) {
    auto point = notify::VapidKey::generate();
    EXPECT_TRUE(point);
    return {{"endpoint", endpoint},
            {"expirationTime", nullptr},
            {"keys", {{"p256dh", point->public_key_base64url()}, {"auth", random_.token(16)}}}};
  }

  std::unique_ptr<store::SqlPushRepository> push_repo_;
  std::string vapid_public_, company_, alice_id_, bob_id_, alice_, bob_;
};

TEST_F(PushApiTest, ServesTheApplicationServerKeyToLoggedInUsers) {
  auto r = send("GET", "/api/v1/push/vapid-public-key", alice_);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.j["public_key"], vapid_public_);
  auto decoded = base64url_decode(r.j["public_key"].get<std::string>());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->size(), 65u);
  EXPECT_EQ(send("GET", "/api/v1/push/vapid-public-key", "").status, 401);
}

TEST_F(PushApiTest, ASubscriptionIsBoundToTheLoggedInUser) {
  const json browser = browser_subscription("https://push.example.net/wpush/v2/abc");
  auto created = send("POST", "/api/v1/push-subscriptions", alice_, browser);
  ASSERT_EQ(created.status, 201) << created.j.dump();
  const std::string id = created.j["id"];
  EXPECT_EQ(id.rfind("ps_", 0), 0u);
  EXPECT_EQ(created.j["endpoint"], browser["endpoint"]);
  EXPECT_EQ(created.j["created_at"], 1'760'000'000);

  auto stored = push_repo_->find(id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->user_id, alice_id_);
  EXPECT_EQ(stored->company_id, company_);
  EXPECT_EQ(stored->p256dh, browser["keys"]["p256dh"]);
  EXPECT_EQ(stored->auth, browser["keys"]["auth"]);

  // The browser subscribes again on every page load: the same row, not a second one.
  auto again = send("POST", "/api/v1/push-subscriptions", alice_, browser);
  ASSERT_EQ(again.status, 200) << again.j.dump();
  EXPECT_EQ(again.j["id"], id);
  EXPECT_EQ(push_repo_->for_users({alice_id_})->size(), 1u);

  EXPECT_EQ(send("DELETE", "/api/v1/push-subscriptions/" + id, alice_).status, 204);
  EXPECT_FALSE(push_repo_->find(id));
  EXPECT_EQ(send("DELETE", "/api/v1/push-subscriptions/" + id, alice_).status, 404);
  EXPECT_EQ(send("POST", "/api/v1/push-subscriptions", "", browser).status, 401);
}

TEST_F(PushApiTest, BadSubscriptionsAreRefusedWithTheField) {
  json bad_point = browser_subscription("https://push.example.net/1");
  bad_point["keys"]["p256dh"] = base64url_encode(std::string(65, '\x04'));
  json short_auth = browser_subscription("https://push.example.net/2");
  short_auth["keys"]["auth"] = base64url_encode(std::string(8, 'a'));
  json plain_http = browser_subscription("http://push.example.net/3");
  json no_keys = browser_subscription("https://push.example.net/4");
  no_keys.erase("keys");
  json long_endpoint = browser_subscription("https://push.example.net/" + std::string(3000, 'x'));
  const std::vector<std::pair<json, std::string>> cases = {
      {bad_point, "keys.p256dh"}, {short_auth, "keys.auth"}, {plain_http, "endpoint"},
      {no_keys, "keys.p256dh"},   {long_endpoint, "endpoint"}, {json::array(), "subscription"},
  };
  for (const auto& [body, field] : cases) {
    auto r = send("POST", "/api/v1/push-subscriptions", alice_, body);
    EXPECT_EQ(r.status, 400) << body.dump().substr(0, 200);
    EXPECT_EQ(r.field(), field) << r.j.dump();
  }
  EXPECT_TRUE(push_repo_->for_users({alice_id_})->empty());
}

TEST_F(PushApiTest, AnotherUsersSubscriptionIsNotFound) {
  auto bobs = send("POST", "/api/v1/push-subscriptions", bob_, browser_subscription("https://push.example.net/bob"));
  ASSERT_EQ(bobs.status, 201);
  const std::string id = bobs.j["id"];
  auto r = send("DELETE", "/api/v1/push-subscriptions/" + id, alice_);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.field(), "id");
  EXPECT_EQ(send("DELETE", "/api/v1/push-subscriptions/ps_unknown", alice_).status, 404);
  EXPECT_TRUE(push_repo_->find(id));
  EXPECT_EQ(send("DELETE", "/api/v1/push-subscriptions/" + id, bob_).status, 204);
}

TEST_F(PushApiTest, WithoutPushTheRoutesAreUnavailable) {
  context_->push = {};
  EXPECT_EQ(send("GET", "/api/v1/push/vapid-public-key", alice_).status, 503);
  EXPECT_EQ(send("POST", "/api/v1/push-subscriptions", alice_, browser_subscription("https://push.example.net/x")).status, 503);
}

}  // namespace
}  // namespace carillon::api
