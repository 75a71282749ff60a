// Blind transfer (REFER, RFC 3515) between three UserAgents over SIP/TLS with SRTP: the
// transferor asks the transferee to call a third agent; the transferee follows, reports the
// progress as NOTIFY message/sipfrag and ends the transferred call once the new one is answered.

#include <gtest/gtest.h>

#include <thread>

#include "media/ua_fixture.hpp"

namespace carillon::media {
namespace {

using namespace std::chrono_literals;
using test::Peer;
using test::TestPki;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 8s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A UserAgent with its transfer handlers: follows REFER (when `follow`) and records what it saw.
class Agent {
 public:
  Agent(const TestPki& pki, bool follow) {
    UaSettings settings;
    settings.tls = pki.tls();
    settings.codecs = {Codec::opus, Codec::pcma};
    Handlers handlers;
    handlers.on_incoming = [this](const CallInfo& info) {
      std::lock_guard lock(mutex_);
      incoming_.push_back(info.id);
      states_[info.id] = info;
    };
    handlers.on_call_state = [this](const CallInfo& info) {
      std::lock_guard lock(mutex_);
      states_[info.id] = info;
    };
    if (follow) {
      handlers.on_transfer = [this](CallId from, const CallInfo& next) {
        // The new call carries a tone from its start, as a door station's would.
        (void)ua_->set_source(next.id, std::make_shared<ToneSource>(440));
        std::lock_guard lock(mutex_);
        transfers_.emplace_back(from, next.id);
        states_[next.id] = next;
      };
    }
    handlers.on_transfer_progress = [this](CallId, int code) {
      std::lock_guard lock(mutex_);
      progress_.push_back(code);
    };
    auto ua = UserAgent::start(std::move(settings), std::move(handlers));
    if (!ua) throw std::runtime_error(ua.error().message);
    ua_ = std::move(*ua);
  }

  UserAgent& ua() { return *ua_; }
  std::string uri() const { return "sip:agent@127.0.0.1:" + std::to_string(ua_->sip_port()) + ";transport=tls"; }
  CallState state(CallId id) {
    std::lock_guard lock(mutex_);
    auto it = states_.find(id);
    return it == states_.end() ? CallState::calling : it->second.state;
  }
  CallInfo info(CallId id) {
    std::lock_guard lock(mutex_);
    return states_[id];
  }
  std::vector<CallId> incoming() {
    std::lock_guard lock(mutex_);
    return incoming_;
  }
  std::vector<std::pair<CallId, CallId>> transfers() {
    std::lock_guard lock(mutex_);
    return transfers_;
  }
  std::vector<int> progress() {
    std::lock_guard lock(mutex_);
    return progress_;
  }

 private:
  std::mutex mutex_;
  std::vector<CallId> incoming_;
  std::map<CallId, CallInfo> states_;
  std::vector<std::pair<CallId, CallId>> transfers_;
  std::vector<int> progress_;
  std::unique_ptr<UserAgent> ua_;  // last: stopped before the members its handlers use
};

class TransferTest : public ::testing::Test {
 protected:
  // `door` calls `operator_`, which answers; returns (door's call, operator's call).
  std::pair<CallId, CallId> connect(Agent& door, Agent& op) {
    auto out = door.ua().call(op.uri());
    EXPECT_TRUE(out) << out.error().message;
    EXPECT_TRUE(eventually([&] { return !op.incoming().empty(); }));
    const CallId in = op.incoming().back();
    EXPECT_TRUE(op.ua().answer(in));
    EXPECT_TRUE(eventually([&] { return door.state(*out) == CallState::established; }));
    return {*out, in};
  }

  TestPki pki_;
};

TEST_F(TransferTest, TransfereeCallsTheTargetReportsProgressAndEndsTheOldCall) {
  Agent door(pki_, true);
  Agent op(pki_, false);
  Peer target(pki_, {Codec::opus}, false);
  auto [door_call, op_call] = connect(door, op);

  ASSERT_TRUE(op.ua().transfer(op_call, target.uri()));
  ASSERT_TRUE(target.wait_incoming(1)) << "the door station never called the target";
  const CallId at_target = target.incoming().front();
  // Ringing at the target: the operator hears 100 Trying and 180 Ringing, the old call stays.
  ASSERT_TRUE(eventually([&] {
    auto p = op.progress();
    return std::find(p.begin(), p.end(), 180) != p.end();
  }));
  EXPECT_EQ(op.progress().front(), 100);
  EXPECT_EQ(door.state(door_call), CallState::established);
  ASSERT_EQ(door.transfers().size(), 1u);
  EXPECT_EQ(door.transfers()[0].first, door_call);
  const CallId next = door.transfers()[0].second;
  EXPECT_EQ(door.info(next).transferred_from, door_call);
  EXPECT_FALSE(door.info(next).incoming);

  auto heard = std::make_shared<ToneDetector>(440);
  ASSERT_TRUE(target.ua().set_sink(at_target, heard));
  ASSERT_TRUE(target.ua().answer(at_target));
  // Answered: the final report is 200 and the door station hangs up the transferred call.
  ASSERT_TRUE(eventually([&] { return !op.progress().empty() && op.progress().back() == 200; }));
  ASSERT_TRUE(eventually([&] { return op.state(op_call) == CallState::closed; }));
  EXPECT_EQ(door.state(door_call), CallState::closed);
  EXPECT_EQ(door.info(door_call).close_reason, "transferred");
  EXPECT_EQ(door.state(next), CallState::established);
  // The new call carries the door's audio to the target, encrypted.
  ASSERT_TRUE(eventually([&] { return heard->tone_frames() >= 25; })) << "ratio " << heard->mean_ratio();
  EXPECT_TRUE(door.info(next).srtp);
  EXPECT_EQ(door.ua().calls().size(), 1u);
}

TEST_F(TransferTest, FailedTransferIsReportedAndTheCallStays) {
  Agent door(pki_, true);
  Agent op(pki_, false);
  Peer target(pki_, {Codec::opus}, false);
  auto [door_call, op_call] = connect(door, op);

  ASSERT_TRUE(op.ua().transfer(op_call, target.uri()));
  ASSERT_TRUE(target.wait_incoming(1));
  ASSERT_TRUE(target.ua().reject(target.incoming().front(), 486));
  ASSERT_TRUE(eventually([&] { return !op.progress().empty() && op.progress().back() == 486; }));
  // Both ends keep the original call; a second attempt is possible.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(door.state(door_call), CallState::established);
  EXPECT_EQ(op.state(op_call), CallState::established);
  EXPECT_TRUE(op.ua().transfer(op_call, target.uri()));
  ASSERT_TRUE(target.wait_incoming(2));
}

TEST_F(TransferTest, AgentWithoutTransferHandlerDeclines) {
  Agent door(pki_, false);
  Agent op(pki_, false);
  Peer target(pki_, {Codec::opus}, true);
  auto [door_call, op_call] = connect(door, op);

  ASSERT_TRUE(op.ua().transfer(op_call, target.uri()));
  ASSERT_TRUE(eventually([&] { return !op.progress().empty(); }));
  EXPECT_EQ(op.progress().back(), 603);
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(target.incoming().empty());
  EXPECT_EQ(door.state(door_call), CallState::established);
}

TEST_F(TransferTest, TransferArgumentsAreChecked) {
  Agent door(pki_, true);
  Agent op(pki_, false);
  auto [door_call, op_call] = connect(door, op);
  EXPECT_EQ(op.ua().transfer(op_call, "tel:123").error().code, Errc::invalid_argument);
  EXPECT_EQ(op.ua().transfer(op_call, "sip:a@b>\r\nX: y").error().code, Errc::invalid_argument);
  EXPECT_EQ(op.ua().transfer(999, "sip:a@127.0.0.1").error().code, Errc::not_found);
  (void)door_call;
}

}  // namespace
}  // namespace carillon::media
