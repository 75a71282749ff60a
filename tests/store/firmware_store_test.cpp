// The firmware service over the real SQL repositories (SQLite and PostgreSQL): the catalogue,
// policies inherited down the tree, rollouts in waves with the failure threshold, overlapping
// rollouts refused, silent devices timed out. Commands are recorded at the DeviceChannel, the
// transport boundary; tests/apps drives the same service through MQTT and emulated devices.

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "firmware/service.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/firmware_repository.hpp"
#include "store/tenancy_repository.hpp"
#include "store/postgres_databases.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::store {
namespace {

using firmware::DeviceUpdateState;
using firmware::RolloutState;
using nlohmann::json;
using testing::TempDir;


// What the service sends to devices.
class RecordingChannel final : public devices::DeviceChannel {
 public:
  Status publish_config(const std::string&, const json&) override { return {}; }
  Status send_command(const std::string& serial, const json& command) override {
    commands.emplace_back(serial, command);
    return {};
  }
  Status send_claim_response(const std::string&, const json&) override { return {}; }
  Status cut_off(const std::string&, const std::vector<std::string>&) override { return {}; }
  std::vector<std::pair<std::string, json>> commands;
};

constexpr std::int64_t kStart = 1'720'000'000;  // 2024-07-03 09:46 UTC, a Wednesday

class FirmwareStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = migrated_database(GetParam(), dir_.path(), "fw");
    ASSERT_TRUE(db_);
    tenancy_repo_ = std::make_unique<SqlTenancyRepository>(*db_);
    devices_ = std::make_unique<SqlDeviceRepository>(*db_);
    repo_ = std::make_unique<SqlFirmwareRepository>(*db_);
    tenancy_ = std::make_unique<tenancy::TenancyService>(*tenancy_repo_, ids_, clock_, events_);
    auto signer = firmware::FirmwareSigner::load_or_create(dir_.path() / "firmware-key.pem");
    ASSERT_TRUE(signer) << signer.error().message;
    signer_.emplace(std::move(*signer));
    firmware::FirmwareSettings settings;
    settings.image_dir = dir_.path() / "images";
    settings.download_base_url = "https://127.0.0.1:1/device/v1/firmware/";
    settings.device_timeout_seconds = 600;
    service_ = std::make_unique<firmware::FirmwareService>(*repo_, *devices_, *tenancy_, *signer_, channel_, events_,
                                                           ids_, clock_, zones_, settings);
    root_.id = "us_root";
    root_.platform_admin = true;
    root_.can_write = true;
    std::tie(company_, project_, site_) = tree("Acme");
  }

  std::tuple<std::string, std::string, std::string> tree(const std::string& name) {
    tenancy::NodeInput c;
    c.name = name;
    auto co = tenancy_->create(root_, tenancy::NodeKind::company, c);
    tenancy::NodeInput p;
    p.name = name + " project";
    p.parent_id = co->id;
    auto pr = tenancy_->create(root_, tenancy::NodeKind::project, p);
    tenancy::NodeInput s;
    s.name = name + " site";
    s.parent_id = pr->id;
    s.time_zone = "Europe/Berlin";
    auto si = tenancy_->create(root_, tenancy::NodeKind::site, s);
    EXPECT_TRUE(co && pr && si);
    return {co->id, pr->id, si->id};
  }

  Actor admin_of(const std::string& company) {
    Actor a;
    a.id = "us_admin";
    a.company_id = company;
    a.can_write = true;
    return a;
  }

  AuditEvent event(const std::string& target, const std::string& company) {
    AuditEvent e;
    e.id = ids_.next("au");
    e.at = clock_.now();
    e.actor = "test";
    e.action = "test";
    e.target_type = "x";
    e.target_id = target;
    e.company_id = company;
    return e;
  }

  // An online device; returns its id.
  std::string device(const std::string& company, const std::string& site, const std::string& model = "ID5 TD",
                     const std::string& revision = "AD", const std::string& version = "1.0.0") {
    devices::ClaimCode code;
    code.id = ids_.next("cc");
    code.code_hash = "hash-" + code.id;
    code.company_id = company;
    code.site_id = site;
    code.role = "door-station";
    code.created_at = clock_.now();
    code.expires_at = clock_.now() + 1000;
    EXPECT_TRUE(devices_->insert_claim_code(code, event(code.id, company)));
    devices::Device d;
    d.id = ids_.next("dv");
    d.serial = "SER-" + d.id.substr(3);
    d.company_id = company;
    d.site_id = site;
    d.name = "door " + d.id.substr(d.id.size() - 4);
    d.role = "door-station";
    d.model = model;
    d.hardware_revision = revision;
    d.firmware_version = version;
    d.created_at = d.updated_at = clock_.now();
    EXPECT_TRUE(devices_->claim(code.id, clock_.now(), d, event(d.id, company)));
    EXPECT_TRUE(devices_->set_online(d.serial, true, clock_.now()));
    return d.id;
  }

  firmware::ImageUpload upload(const std::string& version, const std::string& content = "image bytes",
                               bool critical = false) {
    static int n = 0;
    firmware::ImageUpload u;
    u.family = "MX";
    u.version = version;
    u.security_critical = critical;
    u.file = dir_.path() / ("upload-" + std::to_string(++n));
    std::ofstream(u.file, std::ios::binary) << content;
    u.size = static_cast<std::int64_t>(content.size());
    u.sha256 = firmware::sha256_file_hex(u.file).value();
    return u;
  }

  // Reports `state` for every device of the rollout that was asked and is not terminal.
  void report_all(const std::string& rollout_id, DeviceUpdateState state, const std::string& error = "") {
    auto members = repo_->rollout_devices(rollout_id).value();
    for (const auto& m : members) {
      if (m.started_at == 0 || firmware::is_terminal(m.state)) continue;
      auto d = devices_->find(m.device_id).value();
      service_->handle_progress(d.serial, {{"type", "firmware.progress"},
                                           {"rollout_id", rollout_id},
                                           {"state", firmware::to_string(state)},
                                           {"percent", 100},
                                           {"error", error}});
    }
  }

  TempDir dir_;
  ManualClock clock_{kStart};
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  EventBus events_;
  TimeZoneDb zones_;
  RecordingChannel channel_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SqlTenancyRepository> tenancy_repo_;
  std::unique_ptr<SqlDeviceRepository> devices_;
  std::unique_ptr<SqlFirmwareRepository> repo_;
  std::unique_ptr<tenancy::TenancyService> tenancy_;
  std::optional<firmware::FirmwareSigner> signer_;
  std::unique_ptr<firmware::FirmwareService> service_;
  Actor root_;
  std::string company_, project_, site_;
};

TEST_P(FirmwareStoreTest, UploadSignsStoresAndRefusesDuplicatesAndBadInput) {
  auto u = upload("1.2.0", "new firmware", true);
  auto image = service_->upload(root_, u);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_TRUE(firmware::verify_manifest(signer_->public_key_pem(), image->manifest, image->signature));
  EXPECT_EQ(image->manifest.sha256, u.sha256);
  EXPECT_TRUE(image->manifest.security_critical);
  EXPECT_FALSE(std::filesystem::exists(u.file));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "images" / image->file_name));

  auto again = upload("1.2.0");
  auto duplicate = service_->upload(root_, again);
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, Errc::conflict);
  EXPECT_EQ(duplicate.error().field, "version");
  EXPECT_FALSE(std::filesystem::exists(again.file));

  auto bad = upload("1.3.0");
  bad.family = "XX";
  auto refused = service_->upload(root_, bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "family");
  EXPECT_FALSE(std::filesystem::exists(bad.file));

  auto foreign_model = upload("1.3.0");
  foreign_model.models = {"AF 20H"};  // a BF model in an MX image
  auto mismatch = service_->upload(root_, foreign_model);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().field.rfind("models", 0), 0u) << mismatch.error().field;

  auto not_admin = service_->upload(admin_of(company_), upload("1.4.0"));
  ASSERT_FALSE(not_admin);
  EXPECT_EQ(not_admin.error().code, Errc::forbidden);
  EXPECT_EQ(repo_->list_images("", {}).value().items.size(), 1u);
}

TEST_P(FirmwareStoreTest, PoliciesAreInheritedFromTheNearestScope) {
  auto none = service_->policy(admin_of(company_), site_);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->inherited_from, "");
  EXPECT_EQ(none->policy.mode, firmware::UpdateMode::all);

  firmware::UpdatePolicy company_policy;
  company_policy.mode = firmware::UpdateMode::security_only;
  ASSERT_TRUE(service_->put_policy(admin_of(company_), company_, company_policy));
  auto inherited = service_->policy(admin_of(company_), site_);
  EXPECT_EQ(inherited->inherited_from, company_);
  EXPECT_EQ(inherited->policy.mode, firmware::UpdateMode::security_only);

  firmware::UpdatePolicy site_policy;
  site_policy.mode = firmware::UpdateMode::manual;
  site_policy.window = {0x1F, 22 * 60, 4 * 60};
  ASSERT_TRUE(service_->put_policy(admin_of(company_), site_, site_policy));
  auto own = service_->policy(admin_of(company_), site_);
  EXPECT_EQ(own->inherited_from, site_);
  EXPECT_EQ(own->policy.window.start_minute, 22 * 60);

  firmware::UpdatePolicy broken;
  broken.window = {0x1F, 1500, 60};
  auto refused = service_->put_policy(admin_of(company_), project_, broken);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "window.start");

  auto [other, other_project, other_site] = tree("Other");
  auto foreign = service_->policy(admin_of(company_), other_site);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, Errc::not_found);
}

TEST_P(FirmwareStoreTest, RolloutGoesWaveByWaveAndAsksOnlyCompatibleOutdatedDevices) {
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(device(company_, site_));
  const auto old_model = device(company_, site_, "ID5 TD", "AC");  // revision too old
  const auto current = device(company_, site_, "ID5 TD", "AD", "2.0.0");
  auto image = service_->upload(root_, upload("2.0.0")).value();

  firmware::NewRollout request;
  request.company_id = company_;
  request.image_id = image.id;
  request.waves = {10, 50, 100};
  auto rollout = service_->start_rollout(admin_of(company_), request);
  ASSERT_TRUE(rollout) << rollout.error().message;
  auto members = repo_->rollout_devices(rollout->id).value();
  ASSERT_EQ(members.size(), 10u);
  for (const auto& m : members) EXPECT_TRUE(m.device_id != old_model && m.device_id != current);

  // Wave 0 (10 %) is asked at once, with everything a device needs to verify first.
  ASSERT_EQ(channel_.commands.size(), 1u);
  const auto& command = channel_.commands[0].second;
  EXPECT_EQ(command["type"], "update-firmware");
  EXPECT_EQ(command["args"]["url"], "https://127.0.0.1:1/device/v1/firmware/" + image.id);
  auto manifest = firmware::manifest_from_json(command["args"]["manifest"]).value();
  EXPECT_TRUE(firmware::verify_manifest(signer_->public_key_pem(), manifest, command["args"]["signature"]));
  // Only members may download, and only this image.
  EXPECT_TRUE(service_->image_for_device(channel_.commands[0].first, image.id));
  EXPECT_FALSE(service_->image_for_device(devices_->find(current)->serial, image.id));

  report_all(rollout->id, DeviceUpdateState::downloading);
  report_all(rollout->id, DeviceUpdateState::done);
  EXPECT_EQ(channel_.commands.size(), 5u);  // wave 1 reaches 50 %
  report_all(rollout->id, DeviceUpdateState::done);
  EXPECT_EQ(channel_.commands.size(), 10u);
  report_all(rollout->id, DeviceUpdateState::done);
  auto done = service_->rollout(admin_of(company_), rollout->id).value();
  EXPECT_EQ(done.rollout.state, RolloutState::completed);
  for (const auto& d : done.devices) EXPECT_EQ(d.state, DeviceUpdateState::done);

  // Another company sees nothing of it.
  auto [other, other_project, other_site] = tree("Other");
  EXPECT_FALSE(service_->rollout(admin_of(other), rollout->id));
}

TEST_P(FirmwareStoreTest, FailuresAboveTheThresholdStopTheRollout) {
  for (int i = 0; i < 10; ++i) device(company_, site_);
  auto image = service_->upload(root_, upload("2.0.0")).value();
  firmware::NewRollout request;
  request.company_id = company_;
  request.image_id = image.id;
  request.waves = {20, 100};
  request.failure_threshold_percent = 40;
  auto rollout = service_->start_rollout(admin_of(company_), request).value();
  ASSERT_EQ(channel_.commands.size(), 2u);
  report_all(rollout.id, DeviceUpdateState::rolled_back, "health check failed");
  auto stopped = service_->rollout(admin_of(company_), rollout.id).value();
  EXPECT_EQ(stopped.rollout.state, RolloutState::stopped);
  EXPECT_NE(stopped.rollout.stop_reason.find("100"), std::string::npos) << stopped.rollout.stop_reason;
  EXPECT_EQ(channel_.commands.size(), 2u);  // wave 1 never asked
  // A stopped rollout frees its devices for the next one.
  auto fixed = service_->upload(root_, upload("2.0.1")).value();
  request.image_id = fixed.id;
  EXPECT_TRUE(service_->start_rollout(admin_of(company_), request));
}

TEST_P(FirmwareStoreTest, OverlapsIncompatibleDevicesAndSilentDevicesAreHandled) {
  const auto a = device(company_, site_);
  const auto b = device(company_, site_);
  const auto bf = device(company_, site_, "AFLS 10H CW", "AD");
  auto image = service_->upload(root_, upload("2.0.0")).value();

  firmware::NewRollout explicit_request;
  explicit_request.company_id = company_;
  explicit_request.image_id = image.id;
  explicit_request.waves = {100};
  explicit_request.device_ids = {a, bf};
  auto incompatible = service_->start_rollout(admin_of(company_), explicit_request);
  ASSERT_FALSE(incompatible);
  EXPECT_EQ(incompatible.error().field, "device_ids[1]");

  explicit_request.device_ids = {a};
  auto first = service_->start_rollout(admin_of(company_), explicit_request);
  ASSERT_TRUE(first) << first.error().message;
  explicit_request.device_ids = {b, a};
  auto overlap = service_->start_rollout(admin_of(company_), explicit_request);
  ASSERT_FALSE(overlap);
  EXPECT_EQ(overlap.error().code, Errc::conflict);
  EXPECT_EQ(repo_->list_rollouts(company_, {}).value().items.size(), 1u);

  // Device a was asked and went silent: after the timeout it has failed and the rollout ends.
  clock_.advance(601);
  service_->tick();
  auto view = service_->rollout(admin_of(company_), first->id).value();
  EXPECT_EQ(view.devices[0].state, DeviceUpdateState::failed);
  EXPECT_NE(view.rollout.state, RolloutState::running);

  auto bad_waves = explicit_request;
  bad_waves.device_ids = {b};
  bad_waves.waves = {50, 20};
  auto refused = service_->start_rollout(admin_of(company_), bad_waves);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "waves");
}

TEST_P(FirmwareStoreTest, DashboardStatusesFollowCatalogueAndRollouts) {
  const auto a = device(company_, site_);
  const auto b = device(company_, site_, "ID5 TD", "AD", "3.0.0");
  ASSERT_TRUE(service_->upload(root_, upload("2.0.0")));
  auto summaries = devices_->summaries({company_, "", "", std::nullopt, "", {}}, {}).value();
  auto statuses = service_->statuses(summaries).value();
  EXPECT_EQ(statuses.at(a), firmware::FirmwareStatus::update_available);
  EXPECT_EQ(statuses.at(b), firmware::FirmwareStatus::current);
}

INSTANTIATE_TEST_SUITE_P(Backends, FirmwareStoreTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& info) { return info.param == Backend::sqlite ? "SQLite" : "PostgreSQL"; });

}  // namespace
}  // namespace carillon::store
