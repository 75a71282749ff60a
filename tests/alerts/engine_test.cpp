// The alert engine: debounce, grouping, back online, firmware and platform notices.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alerts/engine.hpp"
#include "common/random.hpp"
#include "memory_repositories.hpp"

namespace carillon::alerts {
namespace {

constexpr std::int64_t kStart = 1'764'081'000;  // 2025-11-25 14:30:00 UTC

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() {
    AlertSettings acme;
    acme.company_id = "co_acme";
    acme.recipients = {"ops@acme.example", "boss@acme.example"};
    settings_.settings["co_acme"] = acme;
    AlertSettings other;
    other.company_id = "co_other";
    other.recipients = {"it@other.example"};
    other.offline_after_minutes = 5;
    settings_.settings["co_other"] = other;
  }

  DeviceRef device(const std::string& id, const std::string& name, const std::string& company = "co_acme") {
    return {company, id, name, "Main street"};
  }

  // Advances the clock to `at` and ticks.
  std::vector<OutboxMessage> tick_at(std::int64_t at) {
    clock_.advance(at - clock_.now());
    return engine_.tick();
  }

  testing::MemorySettings settings_;
  ManualClock clock_{kStart};
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  AlertEngine engine_{settings_, ids_, clock_};
};

TEST_F(EngineTest, BackOnlineWithinTheDebounceTimeSendsNothing) {
  engine_.device_offline(device("dv_1", "Front door"), kStart);
  EXPECT_TRUE(tick_at(kStart + 9 * 60).empty());
  engine_.device_online(device("dv_1", "Front door"), kStart + 9 * 60 + 30);
  EXPECT_EQ(engine_.watched(), 0u);
  for (int minute = 10; minute < 30; ++minute) EXPECT_TRUE(tick_at(kStart + minute * 60).empty());
}

TEST_F(EngineTest, OfflineLongerThanTheLimitIsReportedOnceWithDeterministicText) {
  engine_.device_offline(device("dv_1", "Front door"), kStart);
  EXPECT_TRUE(tick_at(kStart + 10 * 60).empty());       // the mark; the grouping window starts
  EXPECT_TRUE(tick_at(kStart + 10 * 60 + 59).empty());
  auto messages = tick_at(kStart + 11 * 60);
  ASSERT_EQ(messages.size(), 1u);
  const OutboxMessage& m = messages[0];
  EXPECT_EQ(m.company_id, "co_acme");
  EXPECT_EQ(m.kind, AlertKind::device_offline);
  EXPECT_EQ(m.recipients, (std::vector<std::string>{"ops@acme.example", "boss@acme.example"}));
  EXPECT_EQ(m.subject, "[Carillon] Device offline: Front door (Main street)");
  EXPECT_EQ(m.body,
            "This device has been offline for more than 10 minutes:\n\n"
            "- Front door (Main street): offline since 2025-11-25 14:30 UTC\n"
            "\n--\nYou receive this e-mail because this address is an alert recipient of your company in Carillon.\n");
  EXPECT_EQ(m.dedup_key.rfind("device_offline:co_acme:", 0), 0u);
  EXPECT_EQ(m.id.rfind("am_", 0), 0u);
  EXPECT_EQ(m.created_at, kStart + 11 * 60);
  EXPECT_EQ(m.next_attempt_at, m.created_at);
  EXPECT_EQ(m.attempts, 0);
  EXPECT_EQ(m.sent_at, 0);
  // Reported once; the same outage reported again changes nothing.
  engine_.device_offline(device("dv_1", "Front door"), kStart + 12 * 60);
  for (int minute = 12; minute < 60; ++minute) EXPECT_TRUE(tick_at(kStart + minute * 60).empty());
}

TEST_F(EngineTest, DevicesPassingTheMarkWithinOneWindowGoIntoOneMessage) {
  engine_.device_offline(device("dv_b", "Back door"), kStart);
  engine_.device_offline(device("dv_a", "Garage"), kStart + 30);
  engine_.device_offline(device("dv_c", "Lobby"), kStart + 59);
  engine_.device_offline(device("dv_d", "Roof"), kStart + 90);  // its mark is past the first window
  engine_.device_offline(device("dv_x", "Gate", "co_other"), kStart + 5 * 60 - 300);  // other company, 5 min
  std::vector<OutboxMessage> all;
  for (std::int64_t t = kStart; t <= kStart + 15 * 60; t += 15) {
    for (auto& m : tick_at(t)) all.push_back(std::move(m));
  }
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].company_id, "co_other");
  EXPECT_EQ(all[0].subject, "[Carillon] Device offline: Gate (Main street)");
  EXPECT_EQ(all[0].recipients, std::vector<std::string>{"it@other.example"});
  EXPECT_EQ(all[1].company_id, "co_acme");
  EXPECT_EQ(all[1].subject, "[Carillon] 3 devices offline");
  EXPECT_EQ(all[1].created_at, kStart + 11 * 60);
  EXPECT_EQ(all[1].body,
            "These devices have been offline for more than 10 minutes:\n\n"
            "- Back door (Main street): offline since 2025-11-25 14:30 UTC\n"
            "- Garage (Main street): offline since 2025-11-25 14:30 UTC\n"
            "- Lobby (Main street): offline since 2025-11-25 14:30 UTC\n"
            "\n--\nYou receive this e-mail because this address is an alert recipient of your company in Carillon.\n");
  EXPECT_EQ(all[2].subject, "[Carillon] Device offline: Roof (Main street)");
  EXPECT_EQ(all[2].created_at, kStart + 90 + 11 * 60);
  EXPECT_NE(all[1].dedup_key, all[2].dedup_key);
}

TEST_F(EngineTest, BackOnlineOnlyForReportedDevicesAndGrouped) {
  engine_.device_offline(device("dv_1", "Front door"), kStart);
  engine_.device_offline(device("dv_2", "Side door"), kStart);
  ASSERT_EQ(tick_at(kStart + 11 * 60).size(), 1u);
  engine_.device_offline(device("dv_3", "Lobby"), kStart + 11 * 60);  // not reported yet
  engine_.device_online(device("dv_3", "Lobby"), kStart + 12 * 60);
  engine_.device_online(device("dv_1", "Front door"), kStart + 42 * 60);
  engine_.device_online(device("dv_2", "Side door"), kStart + 42 * 60 + 20);
  EXPECT_TRUE(tick_at(kStart + 42 * 60 + 59).empty());
  auto messages = tick_at(kStart + 43 * 60);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].kind, AlertKind::device_online);
  EXPECT_EQ(messages[0].subject, "[Carillon] 2 devices back online");
  EXPECT_EQ(messages[0].body,
            "These devices are back online:\n\n"
            "- Front door (Main street): back online since 2025-11-25 15:12 UTC, was offline for 42 minutes\n"
            "- Side door (Main street): back online since 2025-11-25 15:12 UTC, was offline for 42 minutes\n"
            "\n--\nYou receive this e-mail because this address is an alert recipient of your company in Carillon.\n");
  EXPECT_EQ(engine_.watched(), 0u);
  for (int minute = 44; minute < 80; ++minute) EXPECT_TRUE(tick_at(kStart + minute * 60).empty());
}

TEST_F(EngineTest, AFlappingDeviceIsNotReportedTwice) {
  engine_.device_offline(device("dv_1", "Front door"), kStart);
  ASSERT_EQ(tick_at(kStart + 11 * 60).size(), 1u);
  engine_.device_online(device("dv_1", "Front door"), kStart + 20 * 60);
  engine_.device_offline(device("dv_1", "Front door"), kStart + 20 * 60 + 10);  // within the window
  for (int minute = 21; minute < 60; ++minute) EXPECT_TRUE(tick_at(kStart + minute * 60).empty());
  engine_.device_online(device("dv_1", "Front door"), kStart + 60 * 60);
  auto messages = tick_at(kStart + 61 * 60);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].subject, "[Carillon] Device back online: Front door (Main street)");
  EXPECT_NE(messages[0].body.find("was offline for 1 hour\n"), std::string::npos) << messages[0].body;
}

TEST_F(EngineTest, NothingForCompaniesWithoutRecipientsOrWithTheKindDisabled) {
  settings_.settings["co_other"].enabled = {AlertKind::device_online};  // offline disabled
  engine_.device_offline(device("dv_1", "Front door", "co_none"), kStart);
  engine_.device_offline(device("dv_2", "Gate", "co_other"), kStart);
  for (int minute = 0; minute < 20; ++minute) EXPECT_TRUE(tick_at(kStart + minute * 60).empty());
  EXPECT_EQ(engine_.watched(), 0u);  // let go after their mark
  engine_.device_online(device("dv_2", "Gate", "co_other"), kStart + 21 * 60);
  EXPECT_TRUE(tick_at(kStart + 30 * 60).empty());

  // Offline wanted, back online not: the offline message only.
  settings_.settings["co_acme"].enabled = {AlertKind::device_offline};
  engine_.device_offline(device("dv_3", "Lobby"), kStart + 30 * 60);
  ASSERT_EQ(tick_at(kStart + 41 * 60).size(), 1u);
  engine_.device_online(device("dv_3", "Lobby"), kStart + 50 * 60);
  EXPECT_TRUE(tick_at(kStart + 55 * 60).empty());
  EXPECT_EQ(engine_.watched(), 0u);
}

TEST_F(EngineTest, SettingsThatCannotBeReadKeepTheState) {
  engine_.device_offline(device("dv_1", "Front door"), kStart);
  settings_.down = true;
  for (int minute = 0; minute < 15; ++minute) EXPECT_TRUE(tick_at(kStart + minute * 60).empty());
  settings_.down = false;
  auto messages = tick_at(kStart + 15 * 60);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].subject, "[Carillon] Device offline: Front door (Main street)");
}

TEST_F(EngineTest, NamesCannotBreakTheSubject) {
  DeviceRef d = device("dv_1", "Evil\r\nBcc: victim@example.net");
  d.site_name = "";
  engine_.device_offline(d, kStart);
  auto messages = tick_at(kStart + 11 * 60);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].subject, "[Carillon] Device offline: Evil  Bcc: victim@example.net");
  engine_.device_offline(device("dv_2", std::string(300, 'n')), kStart + 11 * 60);
  messages = tick_at(kStart + 22 * 60);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_LT(messages[0].subject.size(), 200u);
}

TEST_F(EngineTest, FirmwareAvailable) {
  FirmwareNotice notice{"co_acme", "MX", "04.06.01.21", true, 12, "Fixes the door relay timing."};
  auto messages = engine_.firmware_available(notice);
  ASSERT_TRUE(messages);
  ASSERT_EQ(messages->size(), 1u);
  const OutboxMessage& m = (*messages)[0];
  EXPECT_EQ(m.kind, AlertKind::firmware_available);
  EXPECT_EQ(m.subject, "[Carillon] Security update: firmware MX 04.06.01.21 available for 12 devices");
  EXPECT_EQ(m.dedup_key, "firmware_available:co_acme:MX:04.06.01.21");
  EXPECT_EQ(m.body,
            "Firmware MX 04.06.01.21 is available for 12 devices of your company.\n\n"
            "It is marked security-critical: devices whose update policy allows security updates install it in "
            "their next maintenance window.\n\nRelease notes:\nFixes the door relay timing.\n"
            "\n--\nYou receive this e-mail because this address is an alert recipient of your company in Carillon.\n");
  notice.security_critical = false;
  notice.device_count = 1;
  notice.release_notes.clear();
  messages = engine_.firmware_available(notice);
  ASSERT_TRUE(messages);
  EXPECT_EQ((*messages)[0].subject, "[Carillon] New firmware MX 04.06.01.21 available for 1 device");

  settings_.settings["co_acme"].enabled = {AlertKind::device_offline};
  EXPECT_TRUE(engine_.firmware_available(notice)->empty());
  EXPECT_TRUE(engine_.firmware_available({"co_none", "MX", "1.0", false, 3, ""})->empty());
  settings_.down = true;
  EXPECT_EQ(engine_.firmware_available(notice).error().code, Errc::unavailable);
}

TEST_F(EngineTest, PlatformVersionGoesToEveryCompanyThatWantsIt) {
  settings_.settings["co_other"].enabled = {AlertKind::device_offline};
  AlertEngine engine(settings_, ids_, clock_, EngineOptions{60, "Carillon", "https://carillon.example/portal"});
  auto messages = engine.platform_version("0.2.0", "Alert e-mails.");
  ASSERT_TRUE(messages);
  ASSERT_EQ(messages->size(), 1u);
  const OutboxMessage& m = (*messages)[0];
  EXPECT_EQ(m.company_id, "co_acme");
  EXPECT_EQ(m.kind, AlertKind::platform_version);
  EXPECT_EQ(m.subject, "[Carillon] Carillon 0.2.0 is live");
  EXPECT_EQ(m.dedup_key, "platform_version:co_acme:0.2.0");
  EXPECT_EQ(m.body,
            "Carillon now runs version 0.2.0.\n\nWhat is new:\nAlert e-mails.\n"
            "\n--\nYou receive this e-mail because this address is an alert recipient of your company in Carillon.\n"
            "Alert settings: https://carillon.example/portal\n");
}

TEST(Formatting, DurationsAndTimes) {
  EXPECT_EQ(format_duration(59), "0 minutes");
  EXPECT_EQ(format_duration(60), "1 minute");
  EXPECT_EQ(format_duration(600), "10 minutes");
  EXPECT_EQ(format_duration(3600), "1 hour");
  EXPECT_EQ(format_duration(3 * 3600 + 5 * 60), "3 hours 5 minutes");
  EXPECT_EQ(format_duration(2 * 86400 + 3600 + 60), "2 days 1 hour");
  EXPECT_EQ(format_utc_minute(kStart + 59), "2025-11-25 14:30 UTC");
}

}  // namespace
}  // namespace carillon::alerts
