#pragma once
// The firmware catalogue, update policies and rollouts as the API and the device link use them.
// Transport-free: commands go out through devices::DeviceChannel, progress comes in through
// handle_progress(), and tick() drives running rollouts (serve calls it every few seconds).

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/actor.hpp"
#include "common/clock.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "common/time_zone.hpp"
#include "devices/model.hpp"
#include "devices/service.hpp"
#include "firmware/model.hpp"
#include "firmware/signing.hpp"
#include "tenancy/service.hpp"

namespace carillon::firmware {

struct FirmwareSettings {
  std::filesystem::path image_dir;  // images are stored as <image id>.bin
  std::string download_base_url;    // the device listener: "https://host:8444/device/v1/firmware/"
  // A device that was asked (or reported) and then says nothing for this long counts as failed:
  // it vanished mid-update.
  std::int64_t device_timeout_seconds = 15 * 60;
};

// An uploaded image, already on disk (streamed there by the HTTP layer) with its digest.
struct ImageUpload {
  std::string family;
  std::string version;
  bool security_critical = false;
  std::vector<std::string> models;
  std::string release_notes;
  std::filesystem::path file;
  std::int64_t size = 0;
  std::string sha256;
};

struct NewRollout {
  std::string company_id;
  std::string image_id;
  std::string site_id;                  // "" = every site of the company
  std::vector<std::string> device_ids;  // explicit devices (ignore update mode, keep windows); empty = select
  std::vector<int> waves{1, 10, 100};
  int failure_threshold_percent = 20;
};

struct EffectivePolicy {
  UpdatePolicy policy;
  std::string inherited_from;  // the scope whose policy applies; "" = the default (all, any time)
};

struct RolloutView {
  Rollout rollout;
  Image image;
  std::vector<RolloutDevice> devices;
  std::map<std::string, std::string> device_names;  // device id -> name
};

enum class FirmwareStatus { current, update_available, updating, failed };
const char* to_string(FirmwareStatus status);

class FirmwareService {
 public:
  FirmwareService(FirmwareRepository& repository, devices::DeviceRepository& devices, tenancy::TenancyService& tenancy,
                  const FirmwareSigner& signer, devices::DeviceChannel& channel, EventBus& events, IdGenerator& ids,
                  const Clock& clock, TimeZoneDb& zones, FirmwareSettings settings);

  // Platform administrators only. Moves upload.file into the image directory on success and
  // removes it on any failure.
  Result<Image> upload(const Actor& actor, const ImageUpload& upload);
  Result<Image> image(const Actor& actor, const std::string& id);
  Result<Page<Image>> images(const Actor& actor, const std::string& family, const PageRequest& page);
  // The image file a device may download: only while it is part of a running or paused rollout
  // of that image (not_found otherwise, like an unknown image).
  Result<std::filesystem::path> image_for_device(const std::string& serial, const std::string& image_id);

  Result<EffectivePolicy> policy(const Actor& actor, const std::string& scope_id);
  Result<UpdatePolicy> put_policy(const Actor& actor, const std::string& scope_id, const UpdatePolicy& policy);

  Result<Rollout> start_rollout(const Actor& actor, const NewRollout& request);
  Result<RolloutView> rollout(const Actor& actor, const std::string& id);
  Result<Page<Rollout>> rollouts(const Actor& actor, const std::string& company_id, const PageRequest& page);
  Result<Rollout> pause(const Actor& actor, const std::string& id);
  Result<Rollout> resume(const Actor& actor, const std::string& id);
  Result<Rollout> cancel(const Actor& actor, const std::string& id);

  // A "firmware.progress" event from device `serial` (the emulator's protocol: rollout_id,
  // state, percent, error, version).
  void handle_progress(const std::string& serial, const nlohmann::json& event);
  // Advances every running rollout: times out silent devices, stops or advances waves, asks
  // the devices whose turn (and maintenance window) it is.
  void tick();

  // For the dashboard: each device's firmware status. Devices in an active rollout are
  // updating (or failed once their update failed); others have an update available when a newer
  // image fits them and their policy offers it.
  Result<std::map<std::string, FirmwareStatus>> statuses(const std::vector<devices::DeviceSummary>& devices);

 private:
  Result<tenancy::Node> visible_scope(const Actor& actor, const std::string& scope_id);
  Result<EffectivePolicy> policy_for_site(const std::string& site_id);
  Result<Rollout> change_state(const Actor& actor, const std::string& id, const char* action,
                               Status (*transition)(Rollout&));
  bool may_start(const devices::Device& device);
  void ask_device(const Rollout& rollout, const Image& image, const devices::Device& device);
  void publish_device(const Rollout& rollout, const RolloutDevice& device);
  void publish_rollout(const Rollout& rollout);
  AuditEvent audit_event(const Actor& actor, const std::string& action, const std::string& target_type,
                         const std::string& target_id, const std::string& company_id) const;

  FirmwareRepository& repository_;
  devices::DeviceRepository& devices_;
  tenancy::TenancyService& tenancy_;
  const FirmwareSigner& signer_;
  devices::DeviceChannel& channel_;
  EventBus& events_;
  IdGenerator& ids_;
  const Clock& clock_;
  TimeZoneDb& zones_;
  FirmwareSettings settings_;
  // Rollout state changes (API, device reports, tick) are read-modify-write: one at a time.
  std::mutex mutex_;
};

}  // namespace carillon::firmware
