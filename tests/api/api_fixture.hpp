#pragma once
// The services the API routes stand on, over a real SQLite file in a temp dir, wired the way
// `carillon serve` wires them. A test adds the optional services it exercises to `context_`
// (calls, push, ...) and then registers the routes on `router_`.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/api.hpp"
#include "common/clock.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "devices/service.hpp"
#include "http/router.hpp"
#include "identity/auth_service.hpp"
#include "identity/tokens.hpp"
#include "ops/metrics.hpp"
#include "pki/pki.hpp"
#include "store/audit_log.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/tenancy_repository.hpp"
#include "store/user_repository.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::api {

// For API tests whose routes must never reach a device: any use fails the test.
class RefusingChannel final : public devices::DeviceChannel {
 public:
  Status publish_config(const std::string&, const nlohmann::json&) override { return refuse(); }
  Status send_command(const std::string&, const nlohmann::json&) override { return refuse(); }
  Status send_claim_response(const std::string&, const nlohmann::json&) override { return refuse(); }
  Status cut_off(const std::string&, const std::vector<std::string>&) override { return refuse(); }

 private:
  static Status refuse() {
    ADD_FAILURE() << "the API under test reached the device channel";
    return fail(Errc::unavailable, "no device link in this test");
  }
};

class ApiFixture : public ::testing::Test {
 protected:
  explicit ApiFixture(std::int64_t start) : clock_{start} {}

  // Opens the database and the core services and makes `context_` (no routes yet).
  void open_services() {
    auto db = store::Database::open("sqlite:" + (dir_.path() / "api.db").string());
    ASSERT_TRUE(db);
    db_ = std::move(*db);
    ASSERT_TRUE(db_->migrate());
    tenancy_repo_ = std::make_unique<store::SqlTenancyRepository>(*db_);
    users_ = std::make_unique<store::SqlUserRepository>(*db_);
    device_repo_ = std::make_unique<store::SqlDeviceRepository>(*db_);
    audit_ = std::make_unique<store::SqlAuditLog>(*db_);
    auto key = identity::TokenSigner::generate_key_pem();
    ASSERT_TRUE(key);
    signer_ = std::make_unique<identity::TokenSigner>(*key, "https://carillon.test", "carillon", clock_, random_);
    auth_ = std::make_unique<identity::AuthService>(*users_, *audit_, *signer_, clock_, random_, ids_);
    tenancy_ = std::make_unique<tenancy::TenancyService>(*tenancy_repo_, ids_, clock_, events_);
    auto ca = pki::CertificateAuthority::create("Carillon Test CA", clock_, random_);
    ASSERT_TRUE(ca);
    ca_ = std::make_unique<pki::CertificateAuthority>(std::move(*ca));
    devices_ = std::make_unique<devices::DeviceService>(*device_repo_, *tenancy_, *ca_, channel_, *audit_, events_, ids_,
                                                        clock_, random_, devices::DeviceSettings{});
    context_ = std::make_unique<ApiContext>(
        ApiContext{*auth_, *users_, *tenancy_, *devices_, *audit_, events_, metrics_, "", {"127.0.0.1", 1, 2}, {}});
  }

  testing::TempDir dir_;
  ManualClock clock_;
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  EventBus events_;
  ops::Metrics metrics_;
  RefusingChannel channel_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::SqlTenancyRepository> tenancy_repo_;
  std::unique_ptr<store::SqlUserRepository> users_;
  std::unique_ptr<store::SqlDeviceRepository> device_repo_;
  std::unique_ptr<store::SqlAuditLog> audit_;
  std::unique_ptr<identity::TokenSigner> signer_;
  std::unique_ptr<identity::AuthService> auth_;
  std::unique_ptr<tenancy::TenancyService> tenancy_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<devices::DeviceService> devices_;
  std::unique_ptr<ApiContext> context_;
  http::Router router_;
};

}  // namespace carillon::api
