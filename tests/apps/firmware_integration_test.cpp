// Issue 5 end to end through the real `carillon up`: an administrator uploads firmware (streamed,
// signed by the platform), starts a staged rollout to emulated devices, the devices download
// over mutual TLS with Range, verify the signed manifest, install to their inactive slot, reboot
// and report the new version. A signed image that cannot boot is rolled back on the first wave
// and the failure threshold stops the rollout before the rest of the fleet is touched.

#include <gtest/gtest.h>

#include "apps/platform_helpers.hpp"
#include "support/temp_dir.hpp"

namespace carillon::apps {
namespace {

using testing::TempDir;

// An image the emulator can "boot": a JSON header line, then padding (a real image's bulk).
std::string emulator_image(const std::string& version, const std::string& boot, std::size_t size) {
  json header{{"carillon_firmware", 1}, {"version", version}, {"family", "MX"}, {"boot", boot}};
  std::string image = header.dump() + "\n";
  image.reserve(size);
  for (std::size_t i = 0; image.size() < size; ++i) image.push_back(static_cast<char>('a' + i % 26));
  return image;
}

Platform::Reply upload(const Platform& p, const std::string& token, const std::string& query, const std::string& image) {
  return p.call("POST", "/api/v1/firmware-images?" + query, token, image, "application/octet-stream");
}

json rollout(const Platform& p, const std::string& token, const std::string& id) {
  auto r = p.call("GET", "/api/v1/rollouts/" + id, token);
  if (r.status != 200) throw std::runtime_error("rollout: " + r.raw);
  return r.body;
}

TEST(Firmware, StagedRolloutUpdatesDevicesAndABadImageIsStoppedAndRolledBack) {
  Platform p;
  SodiumRandom random;
  TempDir dir;
  auto token = p.admin_token();
  auto tenant = make_tenant(p, token, "Firmware AG");

  std::vector<std::unique_ptr<emulator::EmulatedDevice>> fleet;
  std::vector<std::string> serials;
  for (int i = 0; i < 4; ++i) {
    const std::string serial = "FW-DOOR-" + std::to_string(i);
    fleet.push_back(start_device(p, dir.path() / serial, make_claim_code(p, token, tenant.site), random, serial));
    serials.push_back(serial);
  }
  ASSERT_TRUE(eventually([&] {
    for (const auto& s : serials) {
      auto d = device_by_serial(p, token, s);
      if (d.is_null() || !d["online"].get<bool>()) return false;
    }
    return true;
  }, 20s));

  // Bad uploads are refused with the field and leave the catalogue as it was.
  auto wrong_family = upload(p, token, "family=ZX&version=2.0.0", emulator_image("2.0.0", "ok", 4096));
  EXPECT_EQ(wrong_family.status, 400) << wrong_family.raw;
  EXPECT_EQ(first_error_field(wrong_family), "family");
  auto wrong_model = upload(p, token, "family=MX&version=2.0.0&models=AF%2020H", emulator_image("2.0.0", "ok", 4096));
  EXPECT_EQ(wrong_model.status, 400) << wrong_model.raw;
  auto damaged = upload(p, token, "family=MX&version=2.0.0&sha256=" + std::string(64, '0'), emulator_image("2.0.0", "ok", 4096));
  EXPECT_EQ(damaged.status, 400) << damaged.raw;
  EXPECT_EQ(first_error_field(damaged), "sha256");
  EXPECT_EQ(p.call("GET", "/api/v1/firmware-images", token).body["items"].size(), 0u);

  auto good = upload(p, token, "family=MX&version=2.0.0&models=ID5%20TD&release_notes=Faster%20doors",
                     emulator_image("2.0.0", "ok", 3 * 1024 * 1024));
  ASSERT_EQ(good.status, 201) << good.raw;
  EXPECT_EQ(good.body["manifest"]["size"], 3 * 1024 * 1024);
  EXPECT_FALSE(good.body["signature"].get<std::string>().empty());
  auto dashboard = p.call("GET", "/api/v1/dashboard?company_id=" + tenant.company, token);
  ASSERT_EQ(dashboard.status, 200) << dashboard.raw;
  EXPECT_EQ(dashboard.body["devices"]["online"], 4);
  EXPECT_EQ(dashboard.body["firmware"]["update_available"], 4);

  auto started = p.call("POST", "/api/v1/rollouts", token,
                        json{{"company_id", tenant.company},
                             {"image_id", good.body["id"]},
                             {"waves", {25, 100}},
                             {"failure_threshold_percent", 20}});
  ASSERT_EQ(started.status, 201) << started.raw;
  const std::string good_rollout = started.body["id"];
  EXPECT_EQ(started.body["devices"].size(), 4u);
  // A second rollout over the same devices is refused while this one runs.
  auto overlapping = p.call("POST", "/api/v1/rollouts", token,
                            json{{"company_id", tenant.company}, {"image_id", good.body["id"]}, {"waves", {100}}});
  EXPECT_EQ(overlapping.status, 409) << overlapping.raw;

  ASSERT_TRUE(eventually([&] { return rollout(p, token, good_rollout)["state"] == "completed"; }, 90s))
      << rollout(p, token, good_rollout).dump(2);
  auto finished = rollout(p, token, good_rollout);
  EXPECT_EQ(finished["counts"]["done"], 4) << finished.dump(2);
  ASSERT_TRUE(eventually([&] {
    for (const auto& s : serials) {
      if (device_by_serial(p, token, s)["firmware_version"] != "2.0.0") return false;
    }
    return true;
  }, 20s));

  // A signed image that does not come up: the first wave rolls back and the rollout stops.
  auto broken = upload(p, token, "family=MX&version=2.1.0", emulator_image("2.1.0", "fail", 512 * 1024));
  ASSERT_EQ(broken.status, 201) << broken.raw;
  auto bad_start = p.call("POST", "/api/v1/rollouts", token,
                          json{{"company_id", tenant.company},
                               {"image_id", broken.body["id"]},
                               {"waves", {25, 100}},
                               {"failure_threshold_percent", 20}});
  ASSERT_EQ(bad_start.status, 201) << bad_start.raw;
  const std::string bad_rollout = bad_start.body["id"];
  ASSERT_TRUE(eventually([&] { return rollout(p, token, bad_rollout)["state"] == "stopped"; }, 90s))
      << rollout(p, token, bad_rollout).dump(2);
  auto stopped = rollout(p, token, bad_rollout);
  EXPECT_EQ(stopped["counts"]["rolled_back"], 1) << stopped.dump(2);
  EXPECT_EQ(stopped["counts"]["pending"], 3) << stopped.dump(2);
  EXPECT_FALSE(stopped["stop_reason"].get<std::string>().empty());
  // Every device still runs the good version (the rolled back one included).
  ASSERT_TRUE(eventually([&] {
    for (const auto& s : serials) {
      if (device_by_serial(p, token, s)["firmware_version"] != "2.0.0") return false;
    }
    return true;
  }, 30s));
}

}  // namespace
}  // namespace carillon::apps
