// The dispatcher's retry schedule and its promises: nothing lost, nothing sent twice. The
// mailer here only records (tests/alerts/smtp_integration_test.cpp uses a real SMTP server).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alerts/dispatcher.hpp"
#include "memory_repositories.hpp"

namespace carillon::alerts {
namespace {

constexpr std::int64_t kStart = 1'764'081'000;

class RecordingMailer final : public Mailer {
 public:
  Status send(const Message& message) override {
    ++calls;
    if (failures_left > 0) {
      --failures_left;
      return fail(Errc::unavailable, "smtp: Couldn't connect to server");
    }
    sent.push_back(message);
    return {};
  }
  int failures_left = 0;
  int calls = 0;
  std::vector<Message> sent;
};

OutboxMessage message(const std::string& id, const std::string& key, std::int64_t at) {
  OutboxMessage m;
  m.id = id;
  m.company_id = "co_acme";
  m.kind = AlertKind::device_offline;
  m.dedup_key = key;
  m.recipients = {"ops@acme.example"};
  m.subject = "[Carillon] Device offline: " + id;
  m.body = "body of " + id + "\n";
  m.created_at = at;
  m.next_attempt_at = at;
  return m;
}

class DispatcherTest : public ::testing::Test {
 protected:
  ManualClock clock_{kStart};
  testing::MemoryOutbox outbox_;
  RecordingMailer mailer_;
  Dispatcher dispatcher_{outbox_, mailer_, clock_};
};

TEST(RetryDelay, DoublesFromThirtySecondsUpToFifteenMinutes) {
  DispatcherOptions options;
  std::vector<std::int64_t> delays;
  for (int attempts = 1; attempts <= 9; ++attempts) delays.push_back(Dispatcher::retry_delay(attempts, options));
  EXPECT_EQ(delays, (std::vector<std::int64_t>{30, 60, 120, 240, 480, 900, 900, 900, 900}));
  EXPECT_EQ(Dispatcher::retry_delay(1000, options), 900);
}

TEST_F(DispatcherTest, SendsWhatIsDueOnceAndMarksIt) {
  ASSERT_TRUE(dispatcher_.enqueue({message("am_1", "k1", kStart), message("am_2", "k2", kStart + 60)}));
  ASSERT_TRUE(dispatcher_.enqueue({message("am_3", "k1", kStart)}));  // same dedup key: skipped
  ASSERT_EQ(outbox_.messages.size(), 2u);
  auto round = dispatcher_.run_once();
  EXPECT_EQ(round.sent, 1);
  ASSERT_EQ(mailer_.sent.size(), 1u);
  EXPECT_EQ(mailer_.sent[0].subject, "[Carillon] Device offline: am_1");
  EXPECT_EQ(mailer_.sent[0].to, std::vector<std::string>{"ops@acme.example"});
  EXPECT_EQ(mailer_.sent[0].body, "body of am_1\n");
  EXPECT_EQ(outbox_.find("am_1")->sent_at, kStart);
  clock_.advance(60);
  EXPECT_EQ(dispatcher_.run_once().sent, 1);
  for (int i = 0; i < 10; ++i) {
    clock_.advance(600);
    EXPECT_EQ(dispatcher_.run_once().sent, 0);
  }
  EXPECT_EQ(mailer_.calls, 2);
}

TEST_F(DispatcherTest, RetriesWithExponentialBackoffAndKeepsTheError) {
  ASSERT_TRUE(dispatcher_.enqueue({message("am_1", "k1", kStart)}));
  mailer_.failures_left = 7;
  std::vector<std::int64_t> attempts_at;
  for (std::int64_t t = kStart; t <= kStart + 3 * 3600; t += 5) {
    clock_.advance(t - clock_.now());
    const int before = mailer_.calls;
    dispatcher_.run_once();
    if (mailer_.calls > before) attempts_at.push_back(t - kStart);
    if (mailer_.calls == 3) {
      auto stored = outbox_.find("am_1");
      EXPECT_EQ(stored->attempts, 3);
      EXPECT_EQ(stored->last_error, "smtp: Couldn't connect to server");
      EXPECT_EQ(stored->sent_at, 0);
    }
  }
  // Failures at 0, 30, 90, 210, 450, 930, 1830; the 8th attempt (2730) succeeds.
  EXPECT_EQ(attempts_at, (std::vector<std::int64_t>{0, 30, 90, 210, 450, 930, 1830, 2730}));
  ASSERT_EQ(mailer_.sent.size(), 1u);
  auto stored = outbox_.find("am_1");
  EXPECT_EQ(stored->attempts, 7);
  EXPECT_EQ(stored->sent_at, kStart + 2730);
}

TEST_F(DispatcherTest, AMessageTheDatabaseCouldNotTakeIsHeldAndStoredLater) {
  outbox_.down = true;
  auto status = dispatcher_.enqueue({message("am_1", "k1", kStart)});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::unavailable);
  EXPECT_EQ(dispatcher_.held(), 1u);
  auto round = dispatcher_.run_once();
  EXPECT_FALSE(round.error.empty());
  EXPECT_EQ(mailer_.calls, 0);
  outbox_.down = false;
  clock_.advance(5);
  EXPECT_EQ(dispatcher_.run_once().sent, 1);
  EXPECT_EQ(dispatcher_.held(), 0u);
  ASSERT_EQ(mailer_.sent.size(), 1u);
}

TEST_F(DispatcherTest, ASentMessageThatCouldNotBeMarkedIsNotSentAgain) {
  DispatcherOptions options;
  options.lease_seconds = 10;  // the claim runs out long before the database is back
  Dispatcher dispatcher(outbox_, mailer_, clock_, options);
  ASSERT_TRUE(dispatcher.enqueue({message("am_1", "k1", kStart)}));
  outbox_.mark_sent_down = true;
  EXPECT_EQ(dispatcher.run_once().sent, 1);
  EXPECT_EQ(dispatcher.held(), 1u);
  for (int i = 0; i < 5; ++i) {
    clock_.advance(60);
    dispatcher.run_once();
  }
  EXPECT_EQ(mailer_.calls, 1);
  outbox_.mark_sent_down = false;
  clock_.advance(60);
  dispatcher.run_once();
  EXPECT_EQ(dispatcher.held(), 0u);
  EXPECT_EQ(outbox_.find("am_1")->sent_at, kStart);
  clock_.advance(600);
  dispatcher.run_once();
  EXPECT_EQ(mailer_.calls, 1);
}

TEST_F(DispatcherTest, ABatchIsBounded) {
  std::vector<OutboxMessage> many;
  for (int i = 0; i < 45; ++i) many.push_back(message("am_" + std::to_string(100 + i), "k" + std::to_string(i), kStart));
  ASSERT_TRUE(dispatcher_.enqueue(std::move(many)));
  EXPECT_EQ(dispatcher_.run_once().sent, 20);
  EXPECT_EQ(dispatcher_.run_once().sent, 20);
  EXPECT_EQ(dispatcher_.run_once().sent, 5);
  EXPECT_EQ(dispatcher_.run_once().sent, 0);
  EXPECT_EQ(mailer_.sent.size(), 45u);
}

}  // namespace
}  // namespace carillon::alerts
