#pragma once

#include "devices/model.hpp"
#include "store/database.hpp"

namespace carillon::store {

// Devices are addressed by serial only while live: the by-serial methods act on the device
// with that serial that is not revoked (not_found if none).
class SqlDeviceRepository final : public devices::DeviceRepository {
 public:
  explicit SqlDeviceRepository(Database& db) : db_(db) {}

  // not_found when the site does not exist or belongs to another company; conflict on a
  // duplicate id or code hash.
  Status insert_claim_code(const devices::ClaimCode& code, const AuditEvent& audit) override;
  Result<devices::ClaimCode> find_claim_code_by_hash(const std::string& code_hash) override;
  Result<Page<devices::ClaimCode>> list_claim_codes(const std::string& site_id, const PageRequest& page) override;
  // not_found when the claim code does not exist. The device's company/site are stored as
  // given (the caller copies them from the code).
  Status claim(const std::string& claim_code_id, std::int64_t now, const devices::Device& device,
               const AuditEvent& audit) override;

  Result<devices::Device> find(const std::string& id) override;
  // The live device with this serial, or else the most recently created revoked one.
  Result<devices::Device> find_by_serial(const std::string& serial) override;
  // `query` matches name or serial case-insensitively for ASCII letters.
  Result<Page<devices::Device>> list(const devices::DeviceFilter& filter) override;
  Result<std::vector<devices::DeviceSummary>> summaries(const devices::DeviceFilter& filter,
                                                       const std::vector<std::string>& site_ids) override;

  // Also sets last_seen = at.
  Status set_online(const std::string& serial, bool online, std::int64_t at) override;
  Status set_report(const std::string& serial, const devices::DeviceReport& report, std::int64_t at) override;
  // conflict when `version` is not desired_version + 1; invalid_argument when the document
  // carries a "version" different from `version`; not_found for an unknown id.
  Status set_desired_config(const std::string& id, const nlohmann::json& config, std::int64_t version,
                            std::int64_t at, const AuditEvent& audit) override;
  // One transaction for all; the errors of set_desired_config, for the first change that fails
  // (nothing is stored then).
  Status set_desired_configs(const std::vector<devices::DesiredConfigChange>& changes, std::int64_t at) override;
  // With an empty error the acknowledged version is recorded (and the error cleared) unless
  // older than the stored one; with an error only the error is recorded, and only if
  // `version` is not older than the applied one.
  Status set_applied(const std::string& serial, std::int64_t version, const std::string& error,
                     std::int64_t at) override;
  // Marks revoked and offline; conflict when already revoked.
  Status revoke(const std::string& id, std::int64_t at, const AuditEvent& audit) override;
  Result<std::vector<std::string>> revoked_cert_serials() override;

 private:
  Database& db_;
};

}  // namespace carillon::store
