// The worker round: queued device events with names looked up, notices that wait for the
// settings, and the messages through the dispatcher to a recording mailer.

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alerts/worker.hpp"
#include "common/random.hpp"
#include "memory_repositories.hpp"

namespace carillon::alerts {
namespace {

constexpr std::int64_t kStart = 1'764'081'000;

class ListMailer final : public Mailer {
 public:
  Status send(const Message& message) override {
    std::lock_guard lock(mutex);
    sent.push_back(message);
    return {};
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return sent.size();
  }
  std::mutex mutex;
  std::vector<Message> sent;
};

class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest() {
    AlertSettings acme;
    acme.company_id = "co_acme";
    acme.recipients = {"ops@acme.example"};
    settings_.settings["co_acme"] = acme;
  }

  std::optional<DeviceRef> describe(const std::string& company_id, const std::string& device_id) {
    if (device_id == "dv_1") return DeviceRef{company_id, device_id, "Front door", "Main street"};
    return std::nullopt;
  }

  testing::MemorySettings settings_;
  testing::MemoryOutbox outbox_;
  ListMailer mailer_;
  ManualClock clock_{kStart};
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  AlertEngine engine_{settings_, ids_, clock_};
  Dispatcher dispatcher_{outbox_, mailer_, clock_};
  AlertWorker worker_{engine_, dispatcher_,
                      [this](const std::string& c, const std::string& d) { return describe(c, d); }};
};

TEST_F(WorkerTest, ARoundFeedsTheEngineAndSendsWhatIsDue) {
  worker_.device_offline("co_acme", "dv_1", kStart);
  worker_.device_offline("co_acme", "dv_unknown", kStart);
  worker_.device_offline("co_acme", "dv_2", kStart);
  worker_.device_online("co_acme", "dv_2", kStart + 60);  // debounced
  worker_.run_round();
  EXPECT_TRUE(mailer_.sent.empty());
  clock_.advance(11 * 60);
  auto round = worker_.run_round();
  EXPECT_EQ(round.sent, 1);
  ASSERT_EQ(mailer_.sent.size(), 1u);
  EXPECT_EQ(mailer_.sent[0].subject, "[Carillon] 2 devices offline");
  EXPECT_NE(mailer_.sent[0].body.find("- Front door (Main street): offline since"), std::string::npos);
  EXPECT_NE(mailer_.sent[0].body.find("- dv_unknown: offline since"), std::string::npos) << mailer_.sent[0].body;
  EXPECT_EQ(mailer_.sent[0].body.find("dv_2"), std::string::npos);
}

TEST_F(WorkerTest, NoticesWaitWhileTheSettingsCannotBeRead) {
  settings_.down = true;
  worker_.firmware_available({"co_acme", "MX", "04.06.01.21", false, 3, ""});
  worker_.platform_version("0.2.0");
  worker_.run_round();
  worker_.run_round();
  EXPECT_TRUE(mailer_.sent.empty());
  settings_.down = false;
  worker_.platform_version("0.2.0");  // announced again (a restart): mailed once
  worker_.run_round();
  ASSERT_EQ(mailer_.sent.size(), 2u);
  EXPECT_EQ(mailer_.sent[0].subject, "[Carillon] New firmware MX 04.06.01.21 available for 3 devices");
  EXPECT_EQ(mailer_.sent[1].subject, "[Carillon] Carillon 0.2.0 is live");
  worker_.run_round();
  EXPECT_EQ(mailer_.sent.size(), 2u);
}

TEST_F(WorkerTest, TheThreadRunsRoundsUntilStopped) {
  AlertWorker worker(engine_, dispatcher_, nullptr, WorkerOptions{std::chrono::milliseconds(10)});
  worker.start();
  worker.platform_version("0.3.0");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (mailer_.count() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  worker.stop();
  EXPECT_EQ(mailer_.count(), 1u);
  worker.stop();  // twice is fine
}

}  // namespace
}  // namespace carillon::alerts
