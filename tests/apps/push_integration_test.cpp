// Issue 4 end to end: the real `carillon up` sends Web Push for calls. A user registers a
// browser subscription (keys made by node, endpoint on a local push service that checks VAPID
// and decrypts with http_ece, tests/support/push_oracle.hpp) and is the only member of a ring
// group. The user has no SIP registration, so a door station's call to the group rings nobody
// and ends unanswered: the push service gets "incoming-call" and then "missed-call"; a second
// subscription whose push service answers 410 is deleted after the first push.
//
// serve's push client trusts the platform CA besides the system store, so the push service here
// runs on a certificate issued by the platform's own CA (state_dir/pki/ca.pem + ca.key).

#include <gtest/gtest.h>

#include "apps/platform_helpers.hpp"
#include "common/clock.hpp"
#include "common/encoding.hpp"
#include "common/files.hpp"
#include "notify/vapid.hpp"
#include "pki/pki.hpp"
#include "support/push_oracle.hpp"
#include "support/temp_dir.hpp"

namespace carillon::apps {
namespace {

using testing::Oracle;
using testing::PushService;
using testing::TempDir;

std::string plaintext_of(const json& request) {
  if (!request.contains("plaintext")) return "";
  return base64url_decode(request["plaintext"].get<std::string>()).value_or("");
}

TEST(Push, AnUnansweredDoorCallPushesIncomingThenMissedToTheGroupsUser) {
  Oracle& oracle = Oracle::instance();
  ASSERT_TRUE(oracle.installed()) << "npm ci of tests/notify/oracle failed:\n" << oracle.install_log();
  Platform p;
  SystemClock clock;
  SodiumRandom random;
  TempDir dir;
  auto token = p.admin_token();
  auto tenant = make_tenant(p, token, "Push AG");
  auto user = p.call("POST", "/api/v1/users", token,
                     json{{"username", "concierge"}, {"password", "a long enough password"}, {"role", "viewer"},
                          {"company_id", tenant.company}});
  ASSERT_EQ(user.status, 201) << user.raw;
  const std::string user_id = user.body["id"];
  auto user_token = p.login("concierge", "a long enough password");

  auto key = p.call("GET", "/api/v1/push/vapid-public-key", user_token);
  ASSERT_EQ(key.status, 200) << key.raw;
  const std::string vapid_k = key.body["public_key"];
  // Made once by `carillon up`, from the key it keeps in the state directory.
  auto pem = read_file(p.state_dir() / "pki" / "vapid.key");
  ASSERT_TRUE(pem);
  auto vapid = notify::VapidKey::from_pem(*pem);
  ASSERT_TRUE(vapid);
  EXPECT_EQ(vapid->public_key_base64url(), vapid_k);

  auto ca_cert = read_file(p.ca_file());
  auto ca_key = read_file(p.state_dir() / "pki" / "ca.key");
  ASSERT_TRUE(ca_cert && ca_key);
  auto ca = pki::CertificateAuthority::load(*ca_cert, *ca_key, clock, random);
  ASSERT_TRUE(ca) << ca.error().message;
  auto browser = oracle.call("subscribe");
  ASSERT_EQ(browser.exit_code, 0) << browser.output;
  const json ua = json::parse(browser.output);
  PushService service(oracle, ua, vapid_k, *ca);

  const json subscription{{"endpoint", service.origin() + "/push/concierge"},
                          {"expirationTime", nullptr},
                          {"keys", {{"p256dh", ua["p256dh"]}, {"auth", ua["auth"]}}}};
  auto registered = p.call("POST", "/api/v1/push-subscriptions", user_token, subscription);
  ASSERT_EQ(registered.status, 201) << registered.raw;
  // A second browser whose push service has dropped the subscription (it answers 410): serve
  // deletes it on the first push and sends it nothing more.
  json dropped = subscription;
  dropped["endpoint"] = service.origin() + "/gone/old-browser";
  auto gone = p.call("POST", "/api/v1/push-subscriptions", user_token, dropped);
  ASSERT_EQ(gone.status, 201) << gone.raw;
  const std::string gone_id = gone.body["id"];

  auto group = p.call("POST", "/api/v1/ring-groups", token,
                      json{{"name", "Concierge"},
                           {"site_id", tenant.site},
                           {"members", json::array({{{"kind", "user"}, {"id", user_id}}})},
                           {"ring_seconds", 5}});
  ASSERT_EQ(group.status, 201) << group.raw;
  const std::string group_id = group.body["id"];

  json door_config{{"call_buttons", json::array({{{"id", "b1"}, {"label", "Concierge"}, {"target", group_id}}})}};
  auto code = make_claim_code(p, token, tenant.site, door_config, "door-station");
  emulator::StationOptions audio;
  audio.rtp_port_min = 45200;
  audio.rtp_port_max = 45399;
  auto door = start_device(p, dir.path() / "door", code, random, "", audio);
  json found;
  ASSERT_TRUE(eventually([&] {
    found = device_by_serial(p, token, door->serial());
    return found.is_object() && found["online"] == true && found["config"]["state"] == "applied" &&
           found["sip"]["registered"] == true;
  }, 20s, 100ms)) << found.dump();
  const std::string door_id = found["id"];

  ASSERT_TRUE(door->station()->press("b1"));
  std::vector<json> requests;
  ASSERT_TRUE(eventually([&] {
    requests = service.requests();
    return requests.size() >= 3;
  }, 30s, 100ms)) << json(requests).dump() << "\nlog: " << read_file(p.log_file()).value_or("");

  json record;
  ASSERT_TRUE(eventually([&] {
    auto r = p.call("GET", "/api/v1/calls?ring_group_id=" + group_id, token);
    if (r.status != 200 || r.body["items"].empty()) return false;
    record = r.body["items"][0];
    return !record["ended_at"].is_null();
  }, 10s, 100ms)) << record.dump();
  EXPECT_NE(record["status"], "answered");
  const std::string call_id = record["id"];

  // Incoming to both browsers (in subscription order), then missed to the one still subscribed.
  std::this_thread::sleep_for(500ms);
  requests = service.requests();
  ASSERT_EQ(requests.size(), 3u) << json(requests).dump();
  EXPECT_EQ(requests[0]["path"], "/push/concierge");
  EXPECT_EQ(requests[1]["path"], "/gone/old-browser");
  EXPECT_EQ(requests[1]["status"], 410);
  EXPECT_EQ(requests[2]["path"], "/push/concierge");
  for (const auto& r : {requests[0], requests[2]}) EXPECT_EQ(r["status"], 201) << r.dump();
  for (const auto& r : requests) {
    EXPECT_EQ(r["headers"]["topic"], call_id);
    EXPECT_EQ(r["vapid"]["claims"]["aud"], service.origin());
    EXPECT_EQ(r["vapid"]["claims"]["sub"].get<std::string>().rfind("mailto:admin@", 0), 0u) << r["vapid"].dump();
  }
  EXPECT_EQ(plaintext_of(requests[1]), plaintext_of(requests[0]));
  EXPECT_EQ(p.call("DELETE", "/api/v1/push-subscriptions/" + gone_id, user_token).status, 404);
  const json incoming = json::parse(plaintext_of(requests[0]), nullptr, false);
  const json missed = json::parse(plaintext_of(requests[2]), nullptr, false);
  const json caller = record["caller"]["name"].get<std::string>().empty() ? record["caller"]["id"] : record["caller"]["name"];
  EXPECT_EQ(incoming, (json{{"type", "incoming-call"},
                            {"call_id", call_id},
                            {"caller", caller},
                            {"ring_group_id", group_id},
                            {"snapshot_url", "/api/v1/calls/" + call_id + "/snapshot"}}));
  EXPECT_EQ(requests[0]["headers"]["ttl"], "60");
  EXPECT_EQ(requests[0]["headers"]["urgency"], "high");
  EXPECT_EQ(missed, (json{{"type", "missed-call"},
                          {"call_id", call_id},
                          {"caller", caller},
                          {"ring_group_id", group_id},
                          {"snapshot_url", "/api/v1/calls/" + call_id + "/snapshot"}}));
  EXPECT_EQ(requests[2]["headers"]["urgency"], "normal");
  EXPECT_EQ(requests[2]["headers"]["ttl"], "86400");
  EXPECT_EQ(record["caller"]["id"], door_id);
}

}  // namespace
}  // namespace carillon::apps
