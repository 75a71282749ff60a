#pragma once
// Firmware updates of an emulated device (issue 5): the device side of a rollout, with the same
// order of trust as a real door station.
//
//   1. the platform's signature over the manifest is checked with the firmware public key (the
//      device's trust anchor) before anything else; nothing is downloaded for a bad one;
//   2. the manifest must fit this model and hardware revision;
//   3. the image is downloaded to <dir>/download.part, continuing a partial file left by an
//      interrupted download (a restarted device, a retried command);
//   4. its size and sha256 must be the signed ones; a mismatch deletes the partial file;
//   5. it is written to the INACTIVE slot (<dir>/slot-a or slot-b: image.bin + manifest.json),
//      then boot.json names that slot as the trial slot (written atomically, last);
//   6. the device reboots; the bootloader (boot()) tries the trial slot exactly once;
//   7. healthy = the image header says it boots, carries the signed version, and the link to the
//      platform comes back within health_timeout: the trial slot becomes the active one.
//      Otherwise the previous slot boots again (another reboot) and the update is reported as
//      rolled back with the reason.
// Until step 5 has written boot.json, a power cut at any moment leaves the old image booting.
//
// An emulated image is a file whose first line is a JSON header
//   {"carillon_firmware":1,"version":"1.2.0","family":"MX","boot":"ok"}
// followed by arbitrary bytes; "boot":"fail" stands for a signed image that cannot come up.
//
// Progress goes out as "firmware.progress" events (see progress_event()).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "firmware/model.hpp"
#include "http/client.hpp"

namespace carillon::emulator {

// The "args" of an update-firmware command. The manifest stays JSON here: whether it is
// well-formed is part of what the update reports, not a reason to refuse the command.
struct FirmwareUpdateRequest {
  std::string rollout_id;
  std::string image_id;
  std::string url;
  nlohmann::json manifest;
  std::string signature;  // base64 Ed25519 over firmware::signing_payload(manifest)
};
// invalid_argument (field names the member) when rollout_id, image_id or url is missing or not
// a string, manifest is not an object or signature is not a string.
Result<FirmwareUpdateRequest> parse_firmware_update_args(const nlohmann::json& args);

// Fetches `url` into `destination`. If `destination` exists it holds the first bytes of the
// resource: the function asks only for the rest (HTTP Range) and appends. `on_progress` gets
// the bytes now in the file and the full size (0 if unknown); returning false aborts. Errors:
// unavailable for network/TLS failures, an aborted transfer or an unexpected HTTP status.
using DownloadFunction = std::function<Status(const std::string& url, const std::filesystem::path& destination,
                                              const std::function<bool(std::int64_t received, std::int64_t total)>& on_progress)>;

// The real download: http::Client::download with the device's mutual-TLS identity.
DownloadFunction https_download(http::ClientOptions options);

// The header line of an emulated image; nullopt when the file has none that parses.
struct ImageHeader {
  std::string version;
  std::string family;
  bool boots = false;  // "boot":"ok"
};
std::optional<ImageHeader> read_image_header(const std::filesystem::path& image);

struct FirmwareUpdaterOptions {
  std::filesystem::path dir;       // state-dir/firmware: slots, boot.json, download.part
  std::string model;               // as claimed, e.g. "ID5 TD"
  std::string hardware_revision;   // e.g. "AD"
  std::string factory_version;     // runs while no slot was ever committed (--firmware-version)
  std::string public_key_pem;      // the platform's firmware key; "" = every update fails
  // How long a freshly booted image may take to reach the platform before it counts as broken.
  std::chrono::milliseconds health_timeout{30000};
  // Download progress is published when it advanced by this many percent, or after this many
  // seconds (of the injected clock) with any advance.
  int progress_step_percent = 10;
  std::int64_t progress_interval_seconds = 1;
};

struct FirmwareUpdaterHooks {
  DownloadFunction download;
  // Publishes one firmware.progress event (the caller adds "schema").
  std::function<void(const nlohmann::json& event)> publish;
  // Restarts the device the way a power cycle would: drop the link, call boot(), and connect
  // again if boot() said the image comes up. Called from the updater's own thread.
  std::function<void()> reboot;
  // Whether the link to the platform is up, waiting at most `timeout` for it.
  std::function<bool(std::chrono::milliseconds timeout)> wait_link_up;
  // Called at points of the installation; returning true cuts the power there: the update stops
  // dead, with no further writes or events (what a process kill would leave). Tests only.
  std::function<bool(std::string_view point)> cut_power_for_test;
};

class FirmwareUpdater {
 public:
  FirmwareUpdater(FirmwareUpdaterOptions options, FirmwareUpdaterHooks hooks, const Clock& clock);
  ~FirmwareUpdater();  // stop()
  FirmwareUpdater(const FirmwareUpdater&) = delete;
  FirmwareUpdater& operator=(const FirmwareUpdater&) = delete;

  // The bootloader, run at every power-on and restart before the device connects: a trial slot
  // is tried once; a trial slot that was already tried and never confirmed is abandoned (the
  // previous slot boots and resume() reports the rollback). Returns whether the chosen image
  // comes up (its header says so); a device whose image does not come up stays offline.
  bool boot();
  // The version of the image boot() chose: the active slot's, or factory_version.
  std::string running_version() const;

  // After start-up (boot() then connect): finishes an update the restart interrupted - checks
  // the health of a trial image and commits or rolls back, or reports a rollback boot() did.
  // Runs on the updater's thread; does nothing when there is nothing to finish.
  void resume();

  // Starts an update on the updater's thread and returns at once. conflict when an update is
  // already running. Everything after this is reported through progress events.
  Status start(FirmwareUpdateRequest request);
  bool busy() const { return busy_.load(); }

  // Stops a running update where it is (an interrupted download is kept for resuming) and
  // joins the thread. Idempotent.
  void stop();

 private:
  struct BootState {
    std::string active;  // "a", "b" or "" (factory image)
    std::string trial;   // slot being tried, "" = none
    bool tried = false;  // boot() already started the trial once
    // The update that installed the trial slot, for the report after the reboot.
    std::string rollout_id, image_id, from_version;
  };
  struct Outcome {
    std::string state;  // a terminal firmware.progress state
    std::string error;
  };

  BootState load_boot_state() const;
  Status save_boot_state(const BootState& state) const;
  std::string slot_version(const std::string& slot) const;
  std::filesystem::path slot_dir(const std::string& slot) const { return options_.dir / ("slot-" + slot); }

  void launch(std::function<void()> work);
  void run_update(const FirmwareUpdateRequest& request);
  Status download(const FirmwareUpdateRequest& request, const firmware::Manifest& manifest, int& percent);
  Status install(const std::string& slot, const firmware::Manifest& manifest);
  // After the reboot into the trial slot: commit or roll back, then report.
  void finish_trial(const std::string& rollout_id, const std::string& image_id);
  bool wait_link_up(std::chrono::milliseconds timeout);
  bool power_cut(std::string_view point);
  void publish(const std::string& rollout_id, const std::string& image_id, const std::string& state, int percent,
               const std::string& error = {});

  FirmwareUpdaterOptions options_;
  FirmwareUpdaterHooks hooks_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::string running_slot_;                 // guarded by mutex_
  std::optional<Outcome> boot_outcome_;      // a rollback boot() did, for resume(); mutex_
  BootState abandoned_;                      // the update boot() abandoned; mutex_
  std::mutex thread_mutex_;
  std::thread worker_;                       // guarded by thread_mutex_
  std::atomic<bool> busy_{false};
  std::atomic<bool> stopping_{false};
};

// A firmware.progress event: {"type":"firmware.progress","rollout_id","image_id","state",
// "percent","error","version"} where version is the one running now.
nlohmann::json progress_event(const std::string& rollout_id, const std::string& image_id, const std::string& state,
                              int percent, const std::string& error, const std::string& version);

}  // namespace carillon::emulator
