// PushLink on its own against SQLite and the oracle's push service (tests/support/push_oracle.hpp):
// who gets pushed, that an answered call sends no "missed-call", that subscriptions of another
// company are left out, and that an unreachable push service never holds up the event bus.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "apps/push_link.hpp"
#include "common/encoding.hpp"
#include "common/ids.hpp"
#include "store/calls_repository.hpp"
#include "store/database.hpp"
#include "store/push_repository.hpp"
#include "store/tenancy_repository.hpp"
#include "store/user_repository.hpp"
#include "support/push_oracle.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::apps {
namespace {

using nlohmann::json;
using testing::Oracle;
using testing::PushService;
using testing::TempDir;
using namespace std::chrono_literals;

class PushLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(oracle_.installed()) << oracle_.install_log();
    auto db = store::Database::open("sqlite:" + (dir_.path() / "push.db").string());
    ASSERT_TRUE(db);
    db_ = std::move(*db);
    ASSERT_TRUE(db_->migrate());
    tenancy_repo_ = std::make_unique<store::SqlTenancyRepository>(*db_);
    users_ = std::make_unique<store::SqlUserRepository>(*db_);
    calls_ = std::make_unique<store::SqlCallsRepository>(*db_);
    subscriptions_ = std::make_unique<store::SqlPushRepository>(*db_);
    tenancy_ = std::make_unique<tenancy::TenancyService>(*tenancy_repo_, ids_, clock_, events_);
    auto key = notify::VapidKey::generate();
    ASSERT_TRUE(key);
    key_ = std::make_unique<notify::VapidKey>(*key);
    auto browser = oracle_.call("subscribe");
    ASSERT_EQ(browser.exit_code, 0) << browser.output;
    ua_ = json::parse(browser.output);
    service_ = std::make_unique<PushService>(oracle_, ua_, key_->public_key_base64url());
    root_.id = "us_root";
    root_.platform_admin = true;
    root_.can_write = true;
    std::tie(company_, site_) = company("Acme");
  }

  std::pair<std::string, std::string> company(const std::string& name) {
    tenancy::NodeInput c;
    c.name = name;
    auto co = tenancy_->create(root_, tenancy::NodeKind::company, c);
    EXPECT_TRUE(co);
    tenancy::NodeInput p;
    p.name = name + " project";
    p.parent_id = co->id;
    auto pr = tenancy_->create(root_, tenancy::NodeKind::project, p);
    EXPECT_TRUE(pr);
    tenancy::NodeInput s;
    s.name = name + " site";
    s.parent_id = pr->id;
    s.time_zone = "Europe/Berlin";
    auto si = tenancy_->create(root_, tenancy::NodeKind::site, s);
    EXPECT_TRUE(si);
    return {co->id, si->id};
  }

  AuditEvent audit(const std::string& action) {
    AuditEvent e;
    e.id = ids_.next(id_prefix::audit);
    e.at = clock_.now();
    e.actor = "test";
    e.action = action;
    return e;
  }

  std::string user(const std::string& name, const std::string& company_id) {
    identity::User u;
    u.id = ids_.next(id_prefix::user);
    u.username = name;
    u.password_hash = "$argon2id$x";
    u.company_id = company_id;
    EXPECT_TRUE(users_->insert(u, audit("user.create")));
    return u.id;
  }

  // A subscription of `user_id` on the oracle's service (at `path`).
  void subscribe(const std::string& user_id, const std::string& company_id, const std::string& path,
                 const std::string& origin = "") {
    notify::StoredSubscription s{ids_.next("ps"), user_id, company_id,
                                 (origin.empty() ? service_->origin() : origin) + path, ua_["p256dh"], ua_["auth"],
                                 clock_.now()};
    ASSERT_TRUE(subscriptions_->save(s));
  }

  std::string group(const std::vector<calls::Member>& members) {
    calls::RingGroup g;
    g.id = ids_.next(calls::id_prefix::ring_group);
    g.company_id = company_;
    g.site_id = site_;
    g.name = "Reception";
    g.members = members;
    auto inserted = calls_->insert_ring_group(g, audit("ring_group.create"));
    EXPECT_TRUE(inserted) << inserted.error().message;
    return g.id;
  }

  calls::CallRecord call(const std::string& group_id, calls::DialStatus status, std::vector<std::string> legs = {}) {
    calls::CallRecord c;
    c.id = ids_.next(calls::id_prefix::call);
    c.sip_call_id = "sip-" + c.id;
    c.company_id = company_;
    c.site_id = site_;
    c.ring_group_id = group_id;
    c.target = group_id;
    c.caller_kind = "device";
    c.caller_id = "dv_door";
    c.caller_name = "Front door";
    c.status = status;
    c.started_at = clock_.now() * 1000;
    for (auto& member : legs) c.legs.push_back({member, calls::LegStatus::failed, 0, 0, 0, 404, "Not Registered"});
    EXPECT_TRUE(calls_->save_call(c));
    return c;
  }

  std::unique_ptr<PushLink> link(const std::string& extra_ca = "") {
    PushLinkOptions options;
    options.web_push.subject = "mailto:ops@carillon.example";
    options.web_push.http.ca_pem = service_->ca_pem() + extra_ca;
    options.web_push.http.timeout_ms = 2000;
    auto l = std::make_unique<PushLink>(*key_, options, *subscriptions_, *calls_, events_, clock_, random_);
    l->start();
    return l;
  }

  void publish(const calls::CallRecord& c, const std::string& event) {
    events_.publish({"call.updated", c.company_id, {{"id", c.id}, {"sip_call_id", c.sip_call_id}, {"event", event}}});
  }

  std::vector<json> wait_for_requests(std::size_t count) {
    std::vector<json> requests;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((requests = service_->requests()).size() < count && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
    std::this_thread::sleep_for(300ms);  // anything more that would arrive
    return service_->requests();
  }

  static json payload(const json& request) {
    return json::parse(base64url_decode(request.value("plaintext", "")).value_or(""), nullptr, false);
  }

  Oracle& oracle_ = Oracle::instance();
  TempDir dir_;
  SystemClock clock_;
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  EventBus events_;
  Actor root_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::SqlTenancyRepository> tenancy_repo_;
  std::unique_ptr<store::SqlUserRepository> users_;
  std::unique_ptr<store::SqlCallsRepository> calls_;
  std::unique_ptr<store::SqlPushRepository> subscriptions_;
  std::unique_ptr<tenancy::TenancyService> tenancy_;
  std::unique_ptr<notify::VapidKey> key_;
  json ua_;
  std::unique_ptr<PushService> service_;
  std::string company_, site_;
};

TEST_F(PushLinkTest, RecipientsAreTheGroupsUsersAndUsersRungByLegs) {
  const std::string alice = user("alice", company_);
  const std::string bob = user("bob", company_);
  const std::string carol = user("carol", company_);
  const std::string group_id = group({{calls::TargetKind::user, carol}, {calls::TargetKind::user, alice}});
  // Forwarding rang a device and bob (twice) besides the group's members.
  auto c = call(group_id, calls::DialStatus::missed, {"dv_00006b06e18600111dc0720a5fa1", alice, bob, bob});
  EXPECT_EQ(PushLink::recipients(c, *calls_), (std::vector<std::string>{carol, alice, bob}));
  c.ring_group_id = "rg_gone";
  EXPECT_EQ(PushLink::recipients(c, *calls_), (std::vector<std::string>{alice, bob}));
  c.legs.clear();
  EXPECT_TRUE(PushLink::recipients(c, *calls_).empty());
}

TEST_F(PushLinkTest, AnAnsweredCallGetsNoMissedPushAndOtherCompaniesNothing) {
  const std::string alice = user("alice", company_);
  subscribe(alice, company_, "/push/alice");
  // A stale row of another company (the user moved): never pushed this company's calls.
  subscribe(alice, "co_other", "/push/elsewhere");
  const std::string group_id = group({{calls::TargetKind::user, alice}});
  auto l = link();
  auto answered = call(group_id, calls::DialStatus::answered);
  publish(answered, "call.start");
  publish(answered, "leg.ringing");
  publish(answered, "call.end");
  auto requests = wait_for_requests(1);
  ASSERT_EQ(requests.size(), 1u) << json(requests).dump();
  EXPECT_EQ(requests[0]["path"], "/push/alice");
  EXPECT_EQ(payload(requests[0])["type"], "incoming-call");
  EXPECT_EQ(payload(requests[0])["caller"], "Front door");
  EXPECT_EQ(requests[0]["vapid"]["claims"]["sub"], "mailto:ops@carillon.example");

  auto missed = call(group_id, calls::DialStatus::timed_out);
  publish(missed, "call.end");
  requests = wait_for_requests(2);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(payload(requests[1])["type"], "missed-call");
  EXPECT_EQ(payload(requests[1])["call_id"], missed.id);
}

// A TCP port that completes connections (the kernel's backlog) but never answers: a push
// service that hangs.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("cannot listen");
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  std::string origin() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(PushLinkTest, AHangingPushServiceNeverHoldsUpTheEventBus) {
  const std::string alice = user("alice", company_);
  const std::string group_id = group({{calls::TargetKind::user, alice}});
  SilentListener hanging;
  subscribe(alice, company_, "/push/hangs", hanging.origin());
  subscribe(alice, company_, "/push/alice");
  auto l = link();  // pushes time out after 2 s
  auto c = call(group_id, calls::DialStatus::missed);
  const auto start = std::chrono::steady_clock::now();
  publish(c, "call.start");
  publish(c, "call.end");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms);
  // The reachable browser still gets its push, behind the hanging one.
  auto requests = wait_for_requests(1);
  ASSERT_GE(requests.size(), 1u);
  EXPECT_EQ(requests[0]["path"], "/push/alice");
  // A failure is not a "gone": the hanging subscription stays.
  auto stored = subscriptions_->for_users({alice});
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->size(), 2u);
  const auto stopping = std::chrono::steady_clock::now();
  l->stop();  // drops what is queued, waits at most for the push in flight (2 s timeout)
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 3s);
}

}  // namespace
}  // namespace carillon::apps
