#pragma once
// Staged rollouts (D1/D3): the pure decisions. The serve process loads a rollout and its
// devices, calls step() periodically and apply_report() for each device report, and stores
// what changed; nothing here talks to a database or a device.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "firmware/model.hpp"

namespace carillon::firmware {

// invalid_argument: waves must be 1..10 strictly ascending percentages in 1..100 ending at 100
// (field "waves"); the threshold must be 0..100 (field "failure_threshold_percent").
Status check_rollout_spec(const std::vector<int>& waves, int failure_threshold_percent);

// Assigns devices (id, current version) to waves in device id order (duplicates dropped): wave k
// holds the devices up to ceil(n * waves[k] / 100) cumulatively, and when n >= waves.size()
// every wave gets at least one device. The devices are pending with from_version set.
// Precondition: check_rollout_spec(waves, ...) passed.
std::vector<RolloutDevice> plan_devices(const std::string& rollout_id,
                                        std::vector<std::pair<std::string, std::string>> devices,
                                        const std::vector<int>& waves);

struct StepInput {
  std::int64_t now = 0;
  // A device asked to update that has not reported for this long is failed: it vanished.
  std::int64_t device_timeout_seconds = 3600;
  // Whether a device may be asked now (online and inside its site's maintenance window).
  std::function<bool(const std::string& device_id)> may_start_now;
};

struct StepResult {
  std::vector<std::string> start;       // ask these devices to update now
  std::vector<RolloutDevice> changed;   // devices to store (timed out, or just asked)
  bool rollout_changed = false;         // wave advanced, stopped or completed: store the rollout
};

// One orchestration pass over a running rollout (other states: nothing happens):
// 1. devices asked but silent for longer than the timeout become failed ("no progress for N s");
// 2. when every device of the current wave is terminal, the wave's failure share
//    (failed + rolled_back) / wave size is compared with the threshold: above it the rollout
//    stops (stop_reason names the wave and the share), otherwise the next wave begins, or the
//    rollout completes after the last one; empty waves pass at once;
// 3. pending devices of the current and earlier waves that were never asked and may start now
//    are returned in `start` and get started_at = now (they stay pending until they report).
StepResult step(Rollout& rollout, std::vector<RolloutDevice>& devices, const StepInput& input);

// A device's progress report. Only forward moves along pending -> downloading -> verifying ->
// installing -> rebooting -> done (repeating the current state updates the percentage), or to
// failed/rolled_back from any non-terminal state. conflict for a report after a terminal state
// (late or duplicate) or a step backwards; invalid_argument (field "state") for "pending".
// percent is clamped to 0..100 (done sets 100).
Status apply_report(RolloutDevice& device, DeviceUpdateState reported, int percent, const std::string& error,
                    std::int64_t now);

// running -> paused; paused -> running; running or paused -> cancelled. Anything else is a
// conflict naming the current state. The caller sets updated_at.
Status pause(Rollout& rollout);
Status resume(Rollout& rollout);
Status cancel(Rollout& rollout);

}  // namespace carillon::firmware
