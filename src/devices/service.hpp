#pragma once
// Claiming, device status, configuration and commands. Transport-free: the MQTT side is the
// DeviceChannel, implemented by the app wiring.

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/actor.hpp"
#include "common/audit.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "common/throttle.hpp"
#include "devices/model.hpp"
#include "pki/pki.hpp"
#include "tenancy/service.hpp"

namespace carillon::devices {

// The platform's end of the device link.
class DeviceChannel {
 public:
  virtual ~DeviceChannel() = default;
  // Retained on carillon/v1/devices/{serial}/config.
  virtual Status publish_config(const std::string& serial, const nlohmann::json& document) = 0;
  // Many (serial, document) pairs, one status each, in order. This default publishes them one
  // by one; a channel that can have several publications in flight should override it.
  virtual std::vector<Status> publish_configs(const std::vector<std::pair<std::string, nlohmann::json>>& documents) {
    std::vector<Status> out;
    out.reserve(documents.size());
    for (const auto& [serial, document] : documents) out.push_back(publish_config(serial, document));
    return out;
  }
  virtual Status send_command(const std::string& serial, const nlohmann::json& command) = 0;
  virtual Status send_claim_response(const std::string& client_id, const nlohmann::json& response) = 0;
  // Installs a CRL listing `revoked_serials` (hex) on the broker and drops the live session
  // of device `serial`, so a revoked device is out now, not at its next reconnect.
  virtual Status cut_off(const std::string& serial, const std::vector<std::string>& revoked_serials) = 0;
};

// Adds what the platform provisions to a device (its SIP account, upload URLs) to the config
// document as it is published; the stored document never holds it. Implemented by the wiring.
class ConfigProvisioning {
 public:
  virtual ~ConfigProvisioning() = default;
  // Returns `config` with a "platform" section for device `device_id`.
  virtual nlohmann::json provision(const std::string& device_id, const nlohmann::json& config) const = 0;
};

struct DeviceSettings {
  std::string portal_url;                          // for claim links
  std::int64_t claim_code_ttl = 7 * 24 * 3600;     // default lifetime of a claim code
  std::int64_t claim_code_max_ttl = 90 * 24 * 3600;
  int certificate_days = 365;
  std::int64_t claim_failure_window = 15 * 60;     // throttle window for wrong claim codes
  std::size_t claim_failures_per_client = 5;       // per claim client id
  std::size_t claim_failures_global = 60;          // across all clients: bounds guessing speed
  // Whether a model at a hardware revision may be claimed (the compatibility table, which lives
  // with the firmware module); unset = any. Refused claims leave the code unused.
  std::function<Status(const std::string& model, const std::string& hardware_revision)> check_model;
  // Sent with every claim answer: the key devices verify firmware manifests with ("" = none).
  std::string firmware_public_key_pem;
};

struct NewClaimCode {
  ClaimCode record;
  std::string code;  // "ABCD-EFGH-JKLM": shown once, only its hash is stored
  std::string link;  // QR-ready: <portal>/claim?code=...
};

struct CommandStatus {
  std::string id;
  std::string device_id;
  std::string type;           // "restart" | "rename"
  std::string state;          // "pending" | "succeeded" | "failed"
  std::string detail;
  std::int64_t created_at = 0;
  std::int64_t finished_at = 0;
  std::int64_t config_version = 0;  // rename: done when the device acknowledges this version
};

class DeviceService {
 public:
  DeviceService(DeviceRepository& repository, tenancy::TenancyService& tenancy, pki::CertificateAuthority& ca,
                DeviceChannel& channel, AuditLog& audit, EventBus& events, IdGenerator& ids, const Clock& clock,
                Random& random, DeviceSettings settings);

  // Must be called before the service handles traffic; without it configs go out as stored.
  void set_provisioning(const ConfigProvisioning* provisioning) { provisioning_ = provisioning; }

  Result<NewClaimCode> create_claim_code(const Actor& actor, const std::string& site_id, const std::string& role,
                                         const nlohmann::json& config_patch, std::optional<std::int64_t> ttl_seconds);
  Result<Page<ClaimCode>> list_claim_codes(const Actor& actor, const std::string& site_id, const PageRequest& page);

  // A request on carillon/v1/claims/{client_id}/request; answers through the channel.
  void handle_claim(const std::string& client_id, const std::string& payload);
  // The claim itself, for tests and for handle_claim: returns the response document.
  Result<nlohmann::json> claim(const std::string& client_id, const nlohmann::json& request);

  // A message from a device's own subtree (leaf = "state", "config/ack", "events", "commands/result").
  void handle_device_message(const std::string& serial, const std::string& leaf, const std::string& payload);

  // Marks offline every device still recorded online that has not reported since `since`.
  // Used after the platform (re)connects to the broker: connected devices' retained birth
  // messages arrive at once, so what stays silent was lost without a will (a broker crash).
  // Returns how many devices were marked offline.
  Result<std::size_t> expire_presence(std::int64_t since);

  Result<Device> get(const Actor& actor, const std::string& id);
  Result<Page<Device>> list(const Actor& actor, DeviceFilter filter);
  // Every device of the actor's visible company (or the one asked for), see
  // DeviceRepository::summaries.
  Result<std::vector<DeviceSummary>> summaries(const Actor& actor, DeviceFilter filter,
                                               const std::vector<std::string>& site_ids);
  // JSON merge patch on the desired config; pushes the new version to the device.
  Result<Device> change_config(const Actor& actor, const std::string& id, const nlohmann::json& patch);
  // change_config for many devices (D4 bulk edit): one result per entry of `ids`, in order, each
  // the changed device or the error change_config gives for it. Every device is checked first;
  // the ones that pass are stored in one transaction, then published. An id listed twice gets
  // two consecutive versions. If that transaction fails (e.g. a device changed concurrently),
  // the devices are changed one by one with change_config instead.
  std::vector<Result<Device>> change_config_many(const Actor& actor, const std::vector<std::string>& ids,
                                                 const nlohmann::json& patch);
  Result<CommandStatus> send_command(const Actor& actor, const std::string& id, const std::string& type,
                                     const nlohmann::json& arguments);
  Result<CommandStatus> command(const Actor& actor, const std::string& id, const std::string& command_id);
  Status revoke(const Actor& actor, const std::string& id);

  // Normalises user input of a code ("abcd efgh-jklm" -> "ABCDEFGHJKLM").
  static std::string normalise_code(std::string_view code);

 private:
  // The document as it goes to device `device_id`: stored config plus the provisioned section.
  nlohmann::json published(const std::string& device_id, const nlohmann::json& config) const;
  AuditEvent audit_event(const std::string& actor, const std::string& source, const std::string& action,
                         const std::string& target_type, const std::string& target_id, const std::string& company_id) const;
  Result<Device> visible_device(const Actor& actor, const std::string& id);
  // The checks of a config change and the next document with its audit event; stores nothing.
  Result<DesiredConfigChange> next_config(const Actor& actor, const Device& device, const nlohmann::json& patch) const;
  // After the change is stored: sends the document (a device offline now gets it on reconnect).
  void publish_change(const std::string& serial, const DesiredConfigChange& change);
  void record_command(CommandStatus status);
  void finish_rename_commands(const std::string& device_id, std::int64_t applied_version, const std::string& error);

  DeviceRepository& repository_;
  tenancy::TenancyService& tenancy_;
  pki::CertificateAuthority& ca_;
  DeviceChannel& channel_;
  AuditLog& audit_;
  EventBus& events_;
  IdGenerator& ids_;
  const Clock& clock_;
  Random& random_;
  DeviceSettings settings_;
  const ConfigProvisioning* provisioning_ = nullptr;
  FailureThrottle client_failures_;
  FailureThrottle global_failures_;

  std::mutex commands_mutex_;
  std::map<std::string, CommandStatus> commands_;  // in memory: commands are short-lived
  std::deque<std::string> command_order_;
};

}  // namespace carillon::devices
