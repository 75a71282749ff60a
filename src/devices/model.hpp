#pragma once
// Devices, their claim codes and their configuration documents.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/audit.hpp"
#include "common/page.hpp"
#include "common/result.hpp"

namespace carillon::devices {

// S6 device roles.
inline constexpr const char* kRoles[] = {"door-station", "receiving-station", "call-trigger", "call-receiver"};

struct ClaimCode {
  std::string id;
  std::string code_hash;   // sha256 hex of the normalised code; the code is shown once
  std::string company_id;
  std::string site_id;
  std::string role;        // intended device role
  nlohmann::json config = nlohmann::json::object();  // pre-installation config (may be empty)
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t used_at = 0;  // 0 = unused
  std::string device_id;     // set when used
  std::string created_by;
};

struct Device {
  std::string id;
  std::string serial;       // certificate CN; ^[A-Za-z0-9-]{1,64}$
  std::string company_id;
  std::string site_id;
  std::string name;
  std::string role;
  std::string model;
  std::string hardware_revision;
  std::string firmware_version;
  nlohmann::json capabilities = nlohmann::json::array();
  bool online = false;
  std::int64_t last_seen = 0;
  std::string cert_serial;  // hex serial of the current device certificate
  std::int64_t cert_expires_at = 0;
  bool revoked = false;
  nlohmann::json desired_config = nlohmann::json::object();  // the whole document incl. "version"
  std::int64_t desired_version = 0;
  std::int64_t applied_version = 0;
  std::string applied_error;  // last rejection reason from the device, "" if none
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

struct DeviceFilter {
  std::string company_id;  // "" = all companies (platform admins)
  std::string project_id;  // "" = any
  std::string site_id;     // "" = any
  std::optional<bool> online;
  std::string query;       // substring of name or serial, "" = any
  PageRequest page;
};

// The few columns a fleet overview needs (dashboard over thousands of devices).
struct DeviceSummary {
  std::string id;
  std::string company_id;
  std::string site_id;
  std::string role;
  std::string model;
  std::string hardware_revision;
  std::string firmware_version;
  bool online = false;
  bool gateway = false;  // reports the "gateway" capability
};

// What a device reports about itself after connecting.
struct DeviceReport {
  std::string model;
  std::string hardware_revision;
  std::string firmware_version;
  nlohmann::json capabilities = nlohmann::json::array();
};

// One device's next desired config, for DeviceRepository::set_desired_configs.
struct DesiredConfigChange {
  std::string id;
  nlohmann::json config = nlohmann::json::object();  // the whole document incl. "version"
  std::int64_t version = 0;
  AuditEvent audit;
};

class DeviceRepository {
 public:
  virtual ~DeviceRepository() = default;

  virtual Status insert_claim_code(const ClaimCode& code, const AuditEvent& audit) = 0;
  virtual Result<ClaimCode> find_claim_code_by_hash(const std::string& code_hash) = 0;
  virtual Result<Page<ClaimCode>> list_claim_codes(const std::string& site_id, const PageRequest& page) = 0;
  // In one transaction: marks the code used (only if still unused and unexpired at `now`,
  // otherwise conflict and nothing changes) and inserts the device (conflict if the serial is
  // already claimed and not revoked).
  virtual Status claim(const std::string& claim_code_id, std::int64_t now, const Device& device,
                       const AuditEvent& audit) = 0;

  virtual Result<Device> find(const std::string& id) = 0;
  virtual Result<Device> find_by_serial(const std::string& serial) = 0;
  virtual Result<Page<Device>> list(const DeviceFilter& filter) = 0;
  // Every unrevoked device matching company/project/site of `filter` (online, query and page
  // are ignored), or of the sites in `site_ids` when that is not empty.
  virtual Result<std::vector<DeviceSummary>> summaries(const DeviceFilter& filter,
                                                       const std::vector<std::string>& site_ids) = 0;

  virtual Status set_online(const std::string& serial, bool online, std::int64_t at) = 0;
  virtual Status set_report(const std::string& serial, const DeviceReport& report, std::int64_t at) = 0;
  // Stores a new desired config document (its "version" must be desired_version + 1).
  virtual Status set_desired_config(const std::string& id, const nlohmann::json& config, std::int64_t version,
                                    std::int64_t at, const AuditEvent& audit) = 0;
  // The same for many devices in ONE transaction (a bulk change costs one commit, not one per
  // device): all changes are stored, or none when one of them fails (its error is returned).
  // Changes apply in order, so one id may appear several times with consecutive versions.
  virtual Status set_desired_configs(const std::vector<DesiredConfigChange>& changes, std::int64_t at) = 0;
  // Records the version the device acknowledged (ignored if older than what is stored) or its error.
  virtual Status set_applied(const std::string& serial, std::int64_t version, const std::string& error,
                             std::int64_t at) = 0;
  virtual Status revoke(const std::string& id, std::int64_t at, const AuditEvent& audit) = 0;
  // Serials of revoked certificates (hex), for the CRL.
  virtual Result<std::vector<std::string>> revoked_cert_serials() = 0;
};

}  // namespace carillon::devices
