#pragma once
// Firmware images, update policies and staged rollouts (issue 5: D1, D2, D3). Domain types and
// the repository contract; no SQL, HTTP or MQTT in here.
//
// The chain of trust: the platform's firmware key (Ed25519, pki/firmware-key.pem, never leaves
// the server) signs a Manifest, not the image bytes. The manifest names the image's sha256 and
// size, so a device verifies the signature over the manifest FIRST (before downloading or
// trusting anything), then checks the downloaded bytes against the signed digest.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/audit.hpp"
#include "common/page.hpp"
#include "common/result.hpp"

namespace carillon::firmware {

// ---- images ---------------------------------------------------------------------------------

// What is signed. family "MX" or "BF"; version dotted decimal ("04.06.01.21", "1.2.0");
// sha256 lower-case hex of the image bytes; models = the device models the image is built for
// (empty = every model of the family).
struct Manifest {
  std::string family;
  std::string version;
  std::string sha256;
  std::int64_t size = 0;
  bool security_critical = false;
  std::vector<std::string> models;
};

// The exact bytes the signature covers (canonical, versioned, newline separated).
std::string signing_payload(const Manifest& manifest);
nlohmann::json to_json(const Manifest& manifest);
// Field errors name the manifest field ("family", "version", ...).
Result<Manifest> manifest_from_json(const nlohmann::json& document);

// <0, 0, >0 like strcmp; both must be valid dotted-decimal versions (checked by parse).
Status check_version(const std::string& version, const std::string& field);
int compare_versions(const std::string& a, const std::string& b);

struct Image {
  std::string id;
  Manifest manifest;
  std::string signature;  // base64 Ed25519 signature over signing_payload(manifest)
  std::string release_notes;
  std::string file_name;  // inside the image directory (state-dir/firmware), never a path
  std::int64_t created_at = 0;
  std::string created_by;
};

// ---- update policies (D2) -------------------------------------------------------------------

enum class UpdateMode { all, security_only, manual };
const char* to_string(UpdateMode mode);
Result<UpdateMode> parse_update_mode(const std::string& text, const std::string& field);

// Local time of the site: weekdays bit 0 = Monday ... bit 6 = Sunday; minutes since local
// midnight; end < start wraps past midnight (22:00-04:00). Empty weekdays = no window at all
// (updates any time).
struct MaintenanceWindow {
  unsigned weekdays = 0;
  int start_minute = 0;
  int end_minute = 0;
};

// One policy per company, project or site; the nearest one wins (site > project > company).
struct UpdatePolicy {
  std::string scope_id;  // company, project or site id
  UpdateMode mode = UpdateMode::all;
  MaintenanceWindow window;
  std::int64_t updated_at = 0;
};

// ---- rollouts (D1/D3) -----------------------------------------------------------------------

enum class RolloutState { running, paused, cancelled, stopped, completed };
const char* to_string(RolloutState state);
Result<RolloutState> parse_rollout_state(const std::string& text);

// Per device, in the order a healthy update passes through them; done, failed and rolled_back
// are terminal. "pending" = not yet asked (its wave has not started or it waits for its window).
enum class DeviceUpdateState { pending, downloading, verifying, installing, rebooting, done, failed, rolled_back };
const char* to_string(DeviceUpdateState state);
Result<DeviceUpdateState> parse_device_update_state(const std::string& text);
bool is_terminal(DeviceUpdateState state);

struct Rollout {
  std::string id;
  std::string company_id;
  std::string image_id;
  std::vector<int> waves;             // cumulative percentages, ascending, last one 100 (1,10,100)
  int failure_threshold_percent = 20;  // a wave whose failed share exceeds this stops the rollout
  RolloutState state = RolloutState::running;
  int current_wave = 0;               // index into waves
  std::string stop_reason;            // why it stopped ("" unless stopped)
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::string created_by;
};

struct RolloutDevice {
  std::string rollout_id;
  std::string device_id;
  int wave = 0;
  DeviceUpdateState state = DeviceUpdateState::pending;
  int percent = 0;            // download progress 0..100
  std::string error;          // why it failed / rolled back
  std::string from_version;   // the version the device had when the rollout started
  std::int64_t started_at = 0;  // when it was asked (0 = not yet)
  std::int64_t updated_at = 0;
};

// ---- storage --------------------------------------------------------------------------------

class FirmwareRepository {
 public:
  virtual ~FirmwareRepository() = default;

  virtual Status insert_image(const Image& image, const AuditEvent& audit) = 0;  // conflict: same family+version
  virtual Result<Image> find_image(const std::string& id) = 0;
  virtual Result<Page<Image>> list_images(const std::string& family, const PageRequest& page) = 0;

  virtual Status put_policy(const UpdatePolicy& policy, const AuditEvent& audit) = 0;
  virtual Result<std::optional<UpdatePolicy>> find_policy(const std::string& scope_id) = 0;

  // Inserts the rollout and its devices in one transaction. Conflict (field "device_ids") when
  // one of the devices is already in another rollout that is running or paused.
  virtual Status insert_rollout(const Rollout& rollout, const std::vector<RolloutDevice>& devices,
                                const AuditEvent& audit) = 0;
  virtual Result<Rollout> find_rollout(const std::string& id) = 0;
  virtual Result<Page<Rollout>> list_rollouts(const std::string& company_id, const PageRequest& page) = 0;
  // Rollouts that are running or paused, every company (the orchestrator's work list).
  virtual Result<std::vector<Rollout>> active_rollouts() = 0;
  virtual Status update_rollout(const Rollout& rollout, const AuditEvent* audit) = 0;
  virtual Result<std::vector<RolloutDevice>> rollout_devices(const std::string& rollout_id) = 0;
  // Whether the device is in a running or paused rollout of the image (asked on every download
  // request, resumed ones included: one indexed query, not a scan of the rollouts).
  virtual Result<bool> in_active_rollout(const std::string& device_id, const std::string& image_id) = 0;
  virtual Status update_rollout_device(const RolloutDevice& device) = 0;
};

}  // namespace carillon::firmware
