// DeviceService claiming with the real SQLite repositories on a temp file and a manual clock:
// the parts of claiming that an end-to-end test cannot reach in reasonable time (expiry, the
// throttle window) or cannot provoke through the emulator (a CSR for another serial).
// Lives under tests/apps because only carillon_apps links devices and store together.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/events.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "devices/service.hpp"
#include "pki/pki.hpp"
#include "store/audit_log.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/tenancy_repository.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::devices {
namespace {

using nlohmann::json;

constexpr const char* kClaimRefused = "claim code is unknown, used or expired";

// Records what the service sends to devices.
class RecordingChannel final : public DeviceChannel {
 public:
  Status publish_config(const std::string& serial, const json& document) override {
    std::lock_guard lock(mutex_);
    configs.emplace_back(serial, document);
    return {};
  }
  Status send_command(const std::string&, const json&) override { return {}; }
  Status send_claim_response(const std::string& client_id, const json& response) override {
    std::lock_guard lock(mutex_);
    claim_responses.emplace_back(client_id, response);
    return {};
  }
  Status cut_off(const std::string&, const std::vector<std::string>&) override { return {}; }

  std::vector<std::pair<std::string, json>> configs;
  std::vector<std::pair<std::string, json>> claim_responses;

 private:
  std::mutex mutex_;
};

// The real repository, except that just before a bulk write another writer changes a device:
// what a concurrent change_config does between the checks and the write.
class InterferingRepository final : public DeviceRepository {
 public:
  explicit InterferingRepository(DeviceRepository& inner) : inner_(inner) {}
  std::function<void()> before_bulk_write;

  Status insert_claim_code(const ClaimCode& code, const AuditEvent& audit) override {
    return inner_.insert_claim_code(code, audit);
  }
  Result<ClaimCode> find_claim_code_by_hash(const std::string& code_hash) override {
    return inner_.find_claim_code_by_hash(code_hash);
  }
  Result<Page<ClaimCode>> list_claim_codes(const std::string& site_id, const PageRequest& page) override {
    return inner_.list_claim_codes(site_id, page);
  }
  Status claim(const std::string& claim_code_id, std::int64_t now, const Device& device, const AuditEvent& audit) override {
    return inner_.claim(claim_code_id, now, device, audit);
  }
  Result<Device> find(const std::string& id) override { return inner_.find(id); }
  Result<Device> find_by_serial(const std::string& serial) override { return inner_.find_by_serial(serial); }
  Result<Page<Device>> list(const DeviceFilter& filter) override { return inner_.list(filter); }
  Result<std::vector<devices::DeviceSummary>> summaries(const DeviceFilter& filter,
                                                       const std::vector<std::string>& site_ids) override {
    return inner_.summaries(filter, site_ids);
  }
  Status set_online(const std::string& serial, bool online, std::int64_t at) override {
    return inner_.set_online(serial, online, at);
  }
  Status set_report(const std::string& serial, const DeviceReport& report, std::int64_t at) override {
    return inner_.set_report(serial, report, at);
  }
  Status set_desired_config(const std::string& id, const json& config, std::int64_t version, std::int64_t at,
                            const AuditEvent& audit) override {
    return inner_.set_desired_config(id, config, version, at, audit);
  }
  Status set_desired_configs(const std::vector<DesiredConfigChange>& changes, std::int64_t at) override {
    if (before_bulk_write) std::exchange(before_bulk_write, nullptr)();
    return inner_.set_desired_configs(changes, at);
  }
  Status set_applied(const std::string& serial, std::int64_t version, const std::string& error, std::int64_t at) override {
    return inner_.set_applied(serial, version, error, at);
  }
  Status revoke(const std::string& id, std::int64_t at, const AuditEvent& audit) override {
    return inner_.revoke(id, at, audit);
  }
  Result<std::vector<std::string>> revoked_cert_serials() override { return inner_.revoked_cert_serials(); }

 private:
  DeviceRepository& inner_;
};

class DeviceServiceClaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = store::Database::open("sqlite:" + (dir_.path() / "carillon.db").string()).value();
    ASSERT_TRUE(db_->migrate());
    tenancy_repo_ = std::make_unique<store::SqlTenancyRepository>(*db_);
    device_repo_ = std::make_unique<store::SqlDeviceRepository>(*db_);
    audit_ = std::make_unique<store::SqlAuditLog>(*db_);
    tenancy_ = std::make_unique<tenancy::TenancyService>(*tenancy_repo_, ids_, clock_, events_);
    ca_ = std::make_unique<pki::CertificateAuthority>(pki::CertificateAuthority::create("Test CA", clock_, random_).value());
    DeviceSettings settings;
    settings.portal_url = "https://portal.test";
    service_ = std::make_unique<DeviceService>(*device_repo_, *tenancy_, *ca_, channel_, *audit_, events_, ids_, clock_,
                                               random_, settings);
    admin_.id = "us_admin";
    admin_.platform_admin = true;
    admin_.can_write = true;
    tenancy::NodeInput company;
    company.name = "Claim GmbH";
    auto c = tenancy_->create(admin_, tenancy::NodeKind::company, company);
    ASSERT_TRUE(c) << c.error().message;
    tenancy::NodeInput project;
    project.name = "Claim project";
    project.parent_id = c->id;
    auto p = tenancy_->create(admin_, tenancy::NodeKind::project, project);
    ASSERT_TRUE(p) << p.error().message;
    tenancy::NodeInput site;
    site.name = "Claim site";
    site.parent_id = p->id;
    site.time_zone = "Europe/Berlin";
    auto s = tenancy_->create(admin_, tenancy::NodeKind::site, site);
    ASSERT_TRUE(s) << s.error().message;
    site_id_ = s->id;
  }

  std::string new_code(std::int64_t ttl = 3600) {
    auto code = service_->create_claim_code(admin_, site_id_, "door-station", json::object(), ttl);
    EXPECT_TRUE(code) << code.error().message;
    return code ? code->code : std::string();
  }

  json request(const std::string& code, const std::string& serial, const std::string& csr_name = "") {
    auto key = pki::generate_private_key_pem().value();
    auto csr = pki::make_csr_pem(key, csr_name.empty() ? serial : csr_name).value();
    return json{{"schema", 1}, {"code", code}, {"csr", csr}, {"serial", serial}, {"model", "ID5 TD"}, {"hardware_revision", "AD"}};
  }

  testing::TempDir dir_;
  ManualClock clock_{1'700'000'000};
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  EventBus events_;
  RecordingChannel channel_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::SqlTenancyRepository> tenancy_repo_;
  std::unique_ptr<store::SqlDeviceRepository> device_repo_;
  std::unique_ptr<store::SqlAuditLog> audit_;
  std::unique_ptr<tenancy::TenancyService> tenancy_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<DeviceService> service_;
  Actor admin_;
  std::string site_id_;
};

TEST_F(DeviceServiceClaimTest, ExpiredUsedAndUnknownCodesGiveTheSameAnswer) {
  auto expiring = new_code(60);
  auto fresh = new_code(60);
  clock_.advance(59);
  auto in_time = service_->claim("claim-a", request(fresh, "EMU-INTIME"));
  ASSERT_TRUE(in_time) << in_time.error().message;
  EXPECT_EQ((*in_time)["ok"], true);

  clock_.advance(1);  // exactly at expires_at: expired
  auto expired = service_->claim("claim-b", request(expiring, "EMU-LATE"));
  ASSERT_FALSE(expired);
  auto used = service_->claim("claim-c", request(fresh, "EMU-AGAIN"));
  ASSERT_FALSE(used);
  auto unknown = service_->claim("claim-d", request("ABCD-EFGH-JKLM", "EMU-GUESS"));
  ASSERT_FALSE(unknown);
  for (const auto* e : {&expired.error(), &used.error(), &unknown.error()}) {
    EXPECT_EQ(e->code, Errc::forbidden);
    EXPECT_EQ(e->message, kClaimRefused);
    EXPECT_EQ(e->field, "code");
  }
  EXPECT_FALSE(device_repo_->find_by_serial("EMU-LATE"));
}

TEST_F(DeviceServiceClaimTest, SixthAttemptAfterFiveWrongGuessesIsThrottledUntilTheWindowPasses) {
  auto code = new_code();
  for (int i = 0; i < 5; ++i) {
    auto r = service_->claim("claim-guesser", request("WRONG-CODE-" + std::to_string(i), "EMU-GUESS"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::forbidden) << "guess " << i;
  }
  auto throttled = service_->claim("claim-guesser", request(code, "EMU-GUESS"));
  ASSERT_FALSE(throttled);
  EXPECT_EQ(throttled.error().code, Errc::throttled);
  // The throttled attempt did not spend the code; once the failures leave the window it works.
  clock_.advance(DeviceSettings{}.claim_failure_window);
  auto later = service_->claim("claim-guesser", request(code, "EMU-GUESS"));
  ASSERT_TRUE(later) << later.error().message;
  EXPECT_EQ((*later)["ok"], true);
}

TEST_F(DeviceServiceClaimTest, CsrForAnotherSerialIsRejectedAndDoesNotSpendTheCode) {
  auto code = new_code();
  auto mismatch = service_->claim("claim-x", request(code, "EMU-ONE", "EMU-OTHER"));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, Errc::invalid_argument);
  EXPECT_EQ(mismatch.error().field, "csr");
  EXPECT_FALSE(device_repo_->find_by_serial("EMU-ONE"));

  auto ok = service_->claim("claim-x", request(code, "EMU-ONE"));
  ASSERT_TRUE(ok) << ok.error().message;
  auto device = device_repo_->find_by_serial("EMU-ONE");
  ASSERT_TRUE(device);
  auto cert = pki::inspect_certificate((*ok)["certificate"].get<std::string>());
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->serial_hex, device->cert_serial);
}

// Regression: a rename (a config change of "name") left the device's name column unchanged.
TEST_F(DeviceServiceClaimTest, RenameThroughConfigRenamesTheStoredDevice) {
  auto claimed = service_->claim("claim-r", request(new_code(), "EMU-RENAME"));
  ASSERT_TRUE(claimed) << claimed.error().message;
  auto id = (*claimed)["device_id"].get<std::string>();
  auto changed = service_->change_config(admin_, id, json{{"name", "Back gate"}});
  ASSERT_TRUE(changed) << changed.error().message;
  auto stored = service_->get(admin_, id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->name, "Back gate");
  EXPECT_EQ(stored->desired_version, 2);
  EXPECT_EQ(stored->desired_config["name"], "Back gate");
  ASSERT_FALSE(channel_.configs.empty());
  EXPECT_EQ(channel_.configs.back().second["version"], 2);
}

// Stands in for the SIP wiring: what it adds must reach the device but never the database.
class TestProvisioning final : public ConfigProvisioning {
 public:
  json provision(const std::string& device_id, const json& config) const override {
    json out = config;
    out["platform"] = {{"sip", {{"username", device_id}, {"password", "derived-" + device_id}}}};
    return out;
  }
};

TEST_F(DeviceServiceClaimTest, ProvisionedSectionIsPublishedButNeverStoredOrPatchable) {
  TestProvisioning provisioning;
  service_->set_provisioning(&provisioning);
  auto claimed = service_->claim("claim-p", request(new_code(), "EMU-PROV"));
  ASSERT_TRUE(claimed) << claimed.error().message;
  auto id = (*claimed)["device_id"].get<std::string>();
  EXPECT_EQ((*claimed)["config"]["platform"]["sip"]["username"], id);
  ASSERT_TRUE(service_->change_config(admin_, id, json{{"name", "Side door"}}));
  EXPECT_EQ(channel_.configs.back().second["platform"]["sip"]["password"], "derived-" + id);
  auto stored = service_->get(admin_, id);
  ASSERT_TRUE(stored);
  EXPECT_FALSE(stored->desired_config.contains("platform"));
  auto patched = service_->change_config(admin_, id, json{{"platform", {{"sip", {{"password", "x"}}}}}});
  ASSERT_FALSE(patched);
  EXPECT_EQ(patched.error().field, "config.platform");
  EXPECT_EQ(service_->get(admin_, id)->desired_version, 2);
}

TEST_F(DeviceServiceClaimTest, HandleClaimAnswersThroughTheChannel) {
  service_->handle_claim("claim-h", request("ABCD-EFGH-JKLM", "EMU-H").dump());
  service_->handle_claim("claim-h", "not json");
  ASSERT_EQ(channel_.claim_responses.size(), 2u);
  EXPECT_EQ(channel_.claim_responses[0].first, "claim-h");
  EXPECT_EQ(channel_.claim_responses[0].second["ok"], false);
  EXPECT_EQ(channel_.claim_responses[0].second["error"]["message"], kClaimRefused);
  EXPECT_EQ(channel_.claim_responses[0].second["error"]["code"], "forbidden");
  EXPECT_EQ(channel_.claim_responses[1].second["ok"], false);
  EXPECT_TRUE(channel_.configs.empty());
}

TEST_F(DeviceServiceClaimTest, PresenceExpiryMarksOnlySilentDevicesOffline) {
  auto quiet = service_->claim("claim-q", request(new_code(), "EMU-QUIET"));
  auto loud = service_->claim("claim-l", request(new_code(), "EMU-LOUD"));
  ASSERT_TRUE(quiet && loud);
  json birth{{"schema", 1}, {"online", true}, {"config_version", 1}};
  service_->handle_device_message("EMU-QUIET", "state", birth.dump());
  service_->handle_device_message("EMU-LOUD", "state", birth.dump());
  // The platform reconnects to the broker; only one device says it is still there.
  clock_.advance(120);
  auto reconnected_at = clock_.now();
  service_->handle_device_message("EMU-LOUD", "state", birth.dump());
  clock_.advance(60);
  auto expired = service_->expire_presence(reconnected_at);
  ASSERT_TRUE(expired) << expired.error().message;
  EXPECT_EQ(*expired, 1u);
  EXPECT_FALSE(service_->get(admin_, (*quiet)["device_id"].get<std::string>())->online);
  EXPECT_TRUE(service_->get(admin_, (*loud)["device_id"].get<std::string>())->online);
  EXPECT_EQ(*service_->expire_presence(reconnected_at), 0u);
}

TEST_F(DeviceServiceClaimTest, ChangeConfigManyChecksEveryDeviceAndStoresThePassingOnes) {
  std::vector<std::string> ids;
  for (const char* serial : {"EMU-BULK-A", "EMU-BULK-B", "EMU-BULK-C"}) {
    auto claimed = service_->claim(std::string("claim-") + serial, request(new_code(), serial));
    ASSERT_TRUE(claimed) << claimed.error().message;
    ids.push_back((*claimed)["device_id"].get<std::string>());
  }
  ASSERT_TRUE(service_->revoke(admin_, ids[2]));
  channel_.configs.clear();
  const json patch{{"audio", {{"speaker_volume", 7}}}};
  const std::string unknown = "dv_00000000000000000000000000";
  // A: ok, unknown: not found, B: ok, C: revoked, A again: its next version.
  auto results = service_->change_config_many(admin_, {ids[0], unknown, ids[1], ids[2], ids[0]}, patch);
  ASSERT_EQ(results.size(), 5u);
  ASSERT_TRUE(results[0]) << results[0].error().message;
  EXPECT_EQ(results[0]->desired_version, 2);
  EXPECT_EQ(results[0]->desired_config["audio"]["speaker_volume"], 7);
  ASSERT_FALSE(results[1]);
  auto single_unknown = service_->change_config(admin_, unknown, patch);
  EXPECT_EQ(results[1].error().code, single_unknown.error().code);
  EXPECT_EQ(results[1].error().message, single_unknown.error().message);
  ASSERT_TRUE(results[2]);
  EXPECT_EQ(results[2]->desired_version, 2);
  ASSERT_FALSE(results[3]);
  EXPECT_EQ(results[3].error().code, Errc::conflict);
  EXPECT_EQ(results[3].error().message, service_->change_config(admin_, ids[2], patch).error().message);
  ASSERT_TRUE(results[4]);
  EXPECT_EQ(results[4]->desired_version, 3);

  EXPECT_EQ(service_->get(admin_, ids[0])->desired_version, 3);
  EXPECT_EQ(service_->get(admin_, ids[1])->desired_version, 2);
  EXPECT_EQ(service_->get(admin_, ids[1])->desired_config["audio"]["speaker_volume"], 7);
  EXPECT_EQ(service_->get(admin_, ids[2])->desired_version, 1);
  ASSERT_EQ(channel_.configs.size(), 3u);  // published after storing, in request order
  EXPECT_EQ(channel_.configs[0].first, "EMU-BULK-A");
  EXPECT_EQ(channel_.configs[0].second["version"], 2);
  EXPECT_EQ(channel_.configs[1].first, "EMU-BULK-B");
  EXPECT_EQ(channel_.configs[2].first, "EMU-BULK-A");
  EXPECT_EQ(channel_.configs[2].second["version"], 3);

  // An invalid patch fails on every device with change_config's error; nothing is stored or sent.
  channel_.configs.clear();
  const json bad{{"audio", {{"speaker_volume", "loud"}}}};
  auto rejected = service_->change_config_many(admin_, {ids[0], ids[1]}, bad);
  auto single_bad = service_->change_config(admin_, ids[0], bad);
  ASSERT_FALSE(single_bad);
  for (const auto& r : rejected) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, single_bad.error().code);
    EXPECT_EQ(r.error().field, single_bad.error().field);
  }
  EXPECT_EQ(service_->get(admin_, ids[0])->desired_version, 3);
  EXPECT_TRUE(channel_.configs.empty());

  // Read-only access changes nothing either.
  Actor reader = admin_;
  reader.can_write = false;
  for (const auto& r : service_->change_config_many(reader, {ids[0], ids[1]}, patch)) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::forbidden);
  }
  EXPECT_EQ(service_->get(admin_, ids[1])->desired_version, 2);
}

TEST_F(DeviceServiceClaimTest, ChangeConfigManyFallsBackToOneByOneWhenADeviceChangedMeanwhile) {
  std::vector<std::string> ids;
  for (const char* serial : {"EMU-RACE-A", "EMU-RACE-B"}) {
    auto claimed = service_->claim(std::string("claim-") + serial, request(new_code(), serial));
    ASSERT_TRUE(claimed) << claimed.error().message;
    ids.push_back((*claimed)["device_id"].get<std::string>());
  }
  InterferingRepository repository(*device_repo_);
  DeviceSettings settings;
  DeviceService service(repository, *tenancy_, *ca_, channel_, *audit_, events_, ids_, clock_, random_, settings);
  // Between the checks (B at version 1) and the bulk write, someone renames B: version 2.
  repository.before_bulk_write = [&] { ASSERT_TRUE(service_->change_config(admin_, ids[1], json{{"name", "Renamed"}})); };
  channel_.configs.clear();
  auto results = service.change_config_many(admin_, ids, json{{"audio", {{"speaker_volume", 3}}}});
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0]) << results[0].error().message;
  ASSERT_TRUE(results[1]) << results[1].error().message;
  EXPECT_EQ(results[0]->desired_version, 2);
  EXPECT_EQ(results[1]->desired_version, 3);  // on top of the concurrent rename, not over it
  auto b = service.get(admin_, ids[1]);
  EXPECT_EQ(b->name, "Renamed");
  EXPECT_EQ(b->desired_config["audio"]["speaker_volume"], 3);
  ASSERT_EQ(channel_.configs.size(), 3u);  // the rename, then A and B one by one
  EXPECT_EQ(channel_.configs[2].second["version"], 3);
}

}  // namespace
}  // namespace carillon::devices
