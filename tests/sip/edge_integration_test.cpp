// The SIP edge end to end: Kamailio with the rendered production config, rtpengine, SIPp callers
// and registrations, a UDP user agent for the members, state pushed with KamailioRpc and events
// read with EventStream (docs/sip-edge.md).

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "sip/credentials.hpp"
#include "sip/event_stream.hpp"
#include "sip/kamailio_rpc.hpp"
#include "sip/sip_uas.hpp"
#include "support/kamailio_server.hpp"
#include "support/rtpengine_server.hpp"
#include "support/sipp.hpp"
#include "support/temp_dir.hpp"

namespace carillon::sip {
namespace {

using namespace std::chrono_literals;
using carillon::testing::KamailioServer;
using carillon::testing::RtpengineServer;
using carillon::testing::Sipp;
using carillon::testing::TempDir;
using testing::SipUas;

class EventLog {
 public:
  void add(const EdgeEvent& e) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(e);
    }
    cv_.notify_all();
  }
  // The first event (in arrival order) matching `pred`, waiting up to `timeout`.
  std::optional<EdgeEvent> wait_for(const std::function<bool(const EdgeEvent&)>& pred,
                                    std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    std::optional<EdgeEvent> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (pred(e)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::vector<EdgeEvent> all() {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<EdgeEvent> events_;
};

std::string auth_field(const std::string& user, const std::string& password) {
  return "[authentication username=" + user + " password=" + password + "]";
}

class EdgeTest : public ::testing::Test {
 protected:
  void start(const std::function<void(EdgeSettings&)>& customize = {}) {
    kamailio_ = std::make_unique<KamailioServer>(dir_, [&](EdgeSettings& s) {
      s.failed_auth_limit = 3;
      if (customize) customize(s);
      // rtpengine first: Kamailio pings it once at start-up.
      rtpengine_ = std::make_unique<RtpengineServer>(dir_, s);
    });
    const auto& s = kamailio_->settings();
    rpc_ = std::make_unique<KamailioRpc>("127.0.0.1", s.jsonrpc_port);
    EventStream::Options options;
    options.port = s.evapi_port;
    events_ = std::make_unique<EventStream>(options, [this](const EdgeEvent& e) { log_.add(e); });
    events_->start();
    ASSERT_TRUE(events_->wait_connected(5s));
    target_ = "127.0.0.1:" + std::to_string(s.device_udp_port);
  }

  void TearDown() override {
    if (HasFailure() && kamailio_) {
      std::string log = kamailio_->log();
      if (log.size() > 20000) log = log.substr(log.size() - 20000);
      std::cerr << "---- kamailio log (tail) ----\n" << log << "\n";
    }
    if (events_) events_->stop();
  }

  void add_account(const std::string& user, const std::string& password, const std::string& company) {
    ASSERT_TRUE(rpc_->set("auth", user, ha1(user, "carillon.local", password)));
    ASSERT_TRUE(rpc_->set("tenant", user, company));
  }

  // Registers every user (password = "pw-" + user) with its contact at the test UAS.
  void register_members(const std::vector<std::string>& users) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& u : users) {
      add_account(u, "pw-" + u, "c1");
      rows.push_back({u, auth_field(u, "pw-" + u), uas_.contact_host_port()});
    }
    auto inf = sipp_.write_injection("members.csv", rows);
    auto run = sipp_.run(target_, "register.xml",
                         {"-inf", inf.string(), "-m", std::to_string(users.size()), "-r", "200", "-l", "64"});
    ASSERT_EQ(run.exit_code, 0) << run.output;
  }

  std::string loop_uri() const { return "sip:127.0.0.1:" + std::to_string(kamailio_->settings().loop_port); }

  nlohmann::json route_to(const std::string& user, int fr_inv_timer_ms = 0) const {
    nlohmann::json r{{"uri", "sip:" + user + "@carillon.local"}, {"dst_uri", loop_uri()}};
    if (fr_inv_timer_ms > 0) r["fr_inv_timer"] = fr_inv_timer_ms;
    return r;
  }

  carillon::testing::SippRun call(const std::string& scenario, const std::string& caller, const std::string& password,
                                  const std::string& dialled, const std::vector<std::string>& extra = {}) {
    auto inf = sipp_.write_injection("call-" + caller + ".csv", {{caller, auth_field(caller, password), dialled}});
    std::vector<std::string> args{"-inf", inf.string(), "-m", "1", "-mp", std::to_string(media_port_)};
    args.insert(args.end(), extra.begin(), extra.end());
    return sipp_.run(target_, scenario, args, 30s);
  }

  TempDir dir_;
  std::unique_ptr<RtpengineServer> rtpengine_;
  std::unique_ptr<KamailioServer> kamailio_;
  std::unique_ptr<KamailioRpc> rpc_;
  std::unique_ptr<EventStream> events_;
  EventLog log_;
  SipUas uas_;
  Sipp sipp_{dir_.path() / "sipp"};
  std::string target_;
  unsigned short media_port_ = carillon::testing::free_port();
};

TEST_F(EdgeTest, RegisterWithDigestReportsEventsAndThrottlesFailures) {
  start();
  add_account("alice", "secret", "c1");
  auto inf = sipp_.write_injection("alice.csv", {{"alice", auth_field("alice", "secret"), "127.0.0.1:5999"}});
  auto ok = sipp_.run(target_, "register.xml", {"-inf", inf.string(), "-m", "1"});
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  auto reg = log_.wait_for([](const EdgeEvent& e) { return e.kind == EdgeEventKind::registered; });
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->user, "alice");
  EXPECT_EQ(reg->contact, "sip:alice@127.0.0.1:5999");
  EXPECT_EQ(reg->expires, 300);
  EXPECT_EQ(reg->source, "127.0.0.1");
  EXPECT_GT(reg->ts, 1'600'000'000'000);

  // Unknown user and wrong password are refused; each counts against the account from this
  // address and against the address.
  auto unknown = sipp_.write_injection("nobody.csv", {{"nobody", auth_field("nobody", "x"), "127.0.0.1:5999"}});
  auto r1 = sipp_.run(target_, "register_rejected.xml", {"-inf", unknown.string(), "-m", "1"});
  EXPECT_EQ(r1.exit_code, 0) << r1.output;
  auto wrong = sipp_.write_injection("wrong.csv", {{"alice", auth_field("alice", "guess"), "127.0.0.1:5999"}});
  for (int i = 0; i < 3; ++i) {
    auto r = sipp_.run(target_, "register_rejected.xml", {"-inf", wrong.string(), "-m", "1"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  // alice's limit (3) from this address is reached: even her right password gets 403 without a
  // challenge...
  auto blocked = sipp_.run(target_, "register_blocked.xml", {"-inf", inf.string(), "-m", "1"});
  EXPECT_EQ(blocked.exit_code, 0) << blocked.output;
  EXPECT_EQ(log_.all().size(), 1u);
  // ...while another account behind the same address (a site's NAT) still registers.
  add_account("bob", "hunter2", "c1");
  auto bob = sipp_.write_injection("bob.csv", {{"bob", auth_field("bob", "hunter2"), "127.0.0.1:5998"}});
  auto bob_ok = sipp_.run(target_, "register.xml", {"-inf", bob.string(), "-m", "1"});
  EXPECT_EQ(bob_ok.exit_code, 0) << bob_ok.output;
  EXPECT_TRUE(log_.wait_for([](const EdgeEvent& e) { return e.kind == EdgeEventKind::registered && e.user == "bob"; }));

  // Ten times the limit from one address (here: 4 so far + 26 guessed names) shuts the address
  // out, bob included.
  std::vector<std::vector<std::string>> names;
  for (int i = 0; i < 26; ++i) {
    auto name = "guess" + std::to_string(i);
    names.push_back({name, auth_field(name, "x"), "127.0.0.1:5999"});
  }
  auto spray = sipp_.write_injection("spray.csv", names);
  auto guesses = sipp_.run(target_, "register_rejected.xml", {"-inf", spray.string(), "-m", "26"});
  EXPECT_EQ(guesses.exit_code, 0) << guesses.output;
  auto bob_blocked = sipp_.run(target_, "register_blocked.xml", {"-inf", bob.string(), "-m", "1"});
  EXPECT_EQ(bob_blocked.exit_code, 0) << bob_blocked.output;
}

TEST_F(EdgeTest, TlsListenerPresentsThePlatformCertificate) {
  start();
  const auto& pki = kamailio_->pki();
  const auto out = dir_.path() / "s_client.log";
  carillon::testing::ChildProcess client(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(kamailio_->settings().tls_port), "-CAfile",
       pki.ca_cert.string(), "-cert", pki.client_cert.string(), "-key", pki.client_key.string(), "-verify_return_error",
       "-verify_ip", "127.0.0.1"},
      out);
  EXPECT_EQ(client.wait(10s), 0) << carillon::testing::read_text(out);
  EXPECT_NE(carillon::testing::read_text(out).find("Verify return code: 0 (ok)"), std::string::npos);
}

TEST_F(EdgeTest, CallRoutedByDocumentReportsLegAndCallEvents) {
  start();
  add_account("alice", "secret", "c1");
  add_account("mallory", "secret2", "c2");
  register_members({"m1"});
  uas_.set_behavior("m1", SipUas::Behavior::answer, 200ms);
  nlohmann::json doc{{"version", "1.0"}, {"routing", "serial"}, {"routes", {route_to("m1")}}};
  ASSERT_TRUE(rpc_->set("routes", "c1:door", doc.dump()));

  auto run = call("call.xml", "alice", "secret", "door", {"-d", "300"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(uas_.invites("m1"), 1);

  auto start_ev = log_.wait_for([](const EdgeEvent& e) { return e.kind == EdgeEventKind::call_start; });
  ASSERT_TRUE(start_ev);
  EXPECT_EQ(start_ev->caller, "alice");
  EXPECT_EQ(start_ev->target, "door");
  EXPECT_EQ(start_ev->company, "c1");
  const std::string call_id = start_ev->call_id;
  auto same_call = [&](EdgeEventKind kind) {
    return log_.wait_for([&](const EdgeEvent& e) { return e.kind == kind && e.call_id == call_id; });
  };
  auto ringing = same_call(EdgeEventKind::leg_ringing);
  ASSERT_TRUE(ringing);
  EXPECT_EQ(ringing->member, "m1");
  auto leg_answered = same_call(EdgeEventKind::leg_answered);
  ASSERT_TRUE(leg_answered);
  EXPECT_EQ(leg_answered->member, "m1");
  auto answered = same_call(EdgeEventKind::call_answered);
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->member, "m1");
  auto end = same_call(EdgeEventKind::call_end);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->reason, "bye");
  EXPECT_LE(start_ev->ts, end->ts);
  EXPECT_EQ(uas_.byes("m1"), 1);

  // The same dialled name from another company's account finds nothing.
  auto other = call("call_not_found.xml", "mallory", "secret2", "door");
  EXPECT_EQ(other.exit_code, 0) << other.output;
  EXPECT_EQ(uas_.invites("m1"), 1);
}

TEST_F(EdgeTest, ThirtyTwoMembersAllRingFirstAnswerWinsOthersCancelled) {
  start();
  add_account("alice", "secret", "c1");
  std::vector<std::string> members;
  for (int i = 0; i < 32; ++i) members.push_back("g" + std::to_string(i));
  register_members(members);
  uas_.set_behavior("g17", SipUas::Behavior::answer, 1000ms);
  // Stage 1 forks to 4 loop URIs, each of which forks to 8 members.
  nlohmann::json stage1{{"version", "1.0"}, {"routing", "parallel"}, {"routes", nlohmann::json::array()}};
  for (int k = 0; k < 4; ++k) {
    stage1["routes"].push_back(route_to("rg.7." + std::to_string(k)));
    nlohmann::json stage2{{"version", "1.0"}, {"routing", "parallel"}, {"routes", nlohmann::json::array()}};
    for (int i = 0; i < 8; ++i) stage2["routes"].push_back(route_to(members[static_cast<std::size_t>(k * 8 + i)]));
    ASSERT_TRUE(rpc_->set("routes", "c1:rg.7." + std::to_string(k), stage2.dump()));
  }
  ASSERT_TRUE(rpc_->set("routes", "c1:lobby", stage1.dump()));

  auto run = call("call.xml", "alice", "secret", "lobby", {"-d", "100"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const auto& m : members) EXPECT_EQ(uas_.invites(m), 1) << m;
  auto answered = log_.wait_for([](const EdgeEvent& e) { return e.kind == EdgeEventKind::call_answered; });
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->member, "g17");
  std::this_thread::sleep_for(300ms);
  for (const auto& m : members) EXPECT_EQ(uas_.cancels(m), m == "g17" ? 0 : 1) << m;
  EXPECT_EQ(uas_.byes("g17"), 1);
  int ringing = 0;
  for (const auto& e : log_.all()) ringing += e.kind == EdgeEventKind::leg_ringing;
  EXPECT_EQ(ringing, 32);
}

TEST_F(EdgeTest, SerialFallbackOnBusyAndNoAnswer) {
  start();
  add_account("alice", "secret", "c1");
  register_members({"busy", "sleepy", "awake"});
  uas_.set_behavior("busy", SipUas::Behavior::busy);
  uas_.set_behavior("awake", SipUas::Behavior::answer, 100ms);
  nlohmann::json doc{{"version", "1.0"},
                     {"routing", "serial"},
                     {"routes", {route_to("busy"), route_to("sleepy", 1000), route_to("awake")}}};
  ASSERT_TRUE(rpc_->set("routes", "c1:chain", doc.dump()));
  const auto started = std::chrono::steady_clock::now();
  auto run = call("call.xml", "alice", "secret", "chain", {"-d", "100"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_GE(std::chrono::steady_clock::now() - started, 1000ms);  // waited out sleepy's fr_inv_timer
  EXPECT_EQ(uas_.invites("busy"), 1);
  EXPECT_EQ(uas_.invites("sleepy"), 1);
  EXPECT_EQ(uas_.cancels("sleepy"), 1);
  EXPECT_EQ(uas_.invites("awake"), 1);
  auto failed_busy = log_.wait_for(
      [](const EdgeEvent& e) { return e.kind == EdgeEventKind::leg_failed && e.member == "busy"; });
  ASSERT_TRUE(failed_busy);
  EXPECT_EQ(failed_busy->code, 486);
  auto answered = log_.wait_for([](const EdgeEvent& e) { return e.kind == EdgeEventKind::call_answered; });
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->member, "awake");
}

TEST_F(EdgeTest, MaximumCallDurationSendsByeToBothSides) {
  start();
  add_account("alice", "secret", "c1");
  register_members({"m1"});
  uas_.set_behavior("m1", SipUas::Behavior::answer, 50ms);
  ASSERT_TRUE(rpc_->set_int("settings", "max_call_seconds", 2));
  nlohmann::json doc{{"version", "1.0"}, {"routing", "serial"}, {"routes", {route_to("m1")}}};
  ASSERT_TRUE(rpc_->set("routes", "c1:door", doc.dump()));
  const auto started = std::chrono::steady_clock::now();
  auto run = call("call_until_bye.xml", "alice", "secret", "door");
  ASSERT_EQ(run.exit_code, 0) << run.output;  // the caller received BYE
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 1900ms);
  EXPECT_LT(took, 6s);
  auto end = log_.wait_for([](const EdgeEvent& e) { return e.kind == EdgeEventKind::call_end; });
  ASSERT_TRUE(end);
  EXPECT_EQ(end->reason, "max_duration");
  for (int i = 0; i < 50 && uas_.byes("m1") == 0; ++i) std::this_thread::sleep_for(20ms);
  // At least one: see route[DLG_TIMEOUT] (a second BYE may follow, answered with 481).
  EXPECT_GE(uas_.byes("m1"), 1);
  std::this_thread::sleep_for(300ms);
  int ends = 0;
  for (const auto& e : log_.all()) ends += e.kind == EdgeEventKind::call_end;
  EXPECT_EQ(ends, 1);
}

TEST_F(EdgeTest, MediaPlainRtpRefusedSrtpAnchoredWithTranscodingCodecs) {
  start();
  add_account("alice", "secret", "c1");
  register_members({"m1"});
  uas_.set_behavior("m1", SipUas::Behavior::answer, 50ms);
  nlohmann::json doc{{"version", "1.0"}, {"routing", "serial"}, {"routes", {route_to("m1")}}};
  ASSERT_TRUE(rpc_->set("routes", "c1:door", doc.dump()));

  auto plain = call("call_plain_rtp.xml", "alice", "secret", "door");
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(uas_.invites("m1"), 0);

  auto secure = call("call.xml", "alice", "secret", "door", {"-d", "100"});
  ASSERT_EQ(secure.exit_code, 0) << secure.output;
  const std::string offer = uas_.last_offer("m1");
  // rtpengine's address and port, SRTP, the caller's Opus plus the transcoding codecs.
  std::smatch port;
  ASSERT_TRUE(std::regex_search(offer, port, std::regex("m=audio ([0-9]+) RTP/SAVP "))) << offer;
  const int media_port = std::stoi(port[1]);
  EXPECT_GE(media_port, kamailio_->settings().rtp_port_min) << offer;
  EXPECT_LE(media_port, kamailio_->settings().rtp_port_max) << offer;
  EXPECT_NE(media_port, media_port_);
  EXPECT_NE(offer.find("c=IN IP4 127.0.0.1"), std::string::npos) << offer;
  EXPECT_NE(offer.find("a=crypto:"), std::string::npos) << offer;
  EXPECT_NE(offer.find("opus/48000"), std::string::npos) << offer;
  EXPECT_NE(offer.find("PCMA/8000"), std::string::npos) << offer;
  EXPECT_NE(offer.find("G722/8000"), std::string::npos) << offer;
}

TEST_F(EdgeTest, PlainRtpAllowedWhenConfigured) {
  start([](EdgeSettings& s) { s.allow_plain_rtp = true; });
  add_account("alice", "secret", "c1");
  register_members({"m1"});
  uas_.set_behavior("m1", SipUas::Behavior::answer, 50ms);
  nlohmann::json doc{{"version", "1.0"}, {"routing", "serial"}, {"routes", {route_to("m1")}}};
  ASSERT_TRUE(rpc_->set("routes", "c1:door", doc.dump()));
  auto run = call("call_plain_rtp_allowed.xml", "alice", "secret", "door", {"-d", "100"});
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(uas_.invites("m1"), 1);
}

TEST_F(EdgeTest, RpcIsUnavailableWhileKamailioIsDownAndEventsReconnect) {
  std::atomic<int> connections{0};
  start();
  EventStream::Options options;
  options.port = kamailio_->settings().evapi_port;
  EventStream second(options, [](const EdgeEvent&) {}, [&] { ++connections; });
  second.start();
  ASSERT_TRUE(second.wait_connected(5s));
  kamailio_->stop();
  auto down = rpc_->set("auth", "x", "y");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, Errc::unavailable);
  kamailio_->start();
  for (int i = 0; i < 200 && connections.load() < 2; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GE(connections.load(), 2);
  EXPECT_TRUE(rpc_->set("auth", "x", "y"));
  auto missing = rpc_->remove("auth", "never-set");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

}  // namespace
}  // namespace carillon::sip
