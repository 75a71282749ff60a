// DeviceService claiming with the real SQLite repositories on a temp file and a manual clock:
// the parts of claiming that an end-to-end test cannot reach in reasonable time (expiry, the
// throttle window) or cannot provoke through the emulator (a CSR for another serial).
// Lives under tests/apps because only carillon_apps links devices and store together.

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
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
    return json{{"schema", 1}, {"code", code}, {"csr", csr}, {"serial", serial}, {"model", "MX-DS-1"}};
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

}  // namespace
}  // namespace carillon::devices
