#include "firmware/rollout.hpp"

#include <algorithm>

namespace carillon::firmware {

namespace {

constexpr std::size_t kMaxWaves = 10;

bool is_active(RolloutState state) { return state == RolloutState::running || state == RolloutState::paused; }

}  // namespace

Status check_rollout_spec(const std::vector<int>& waves, int failure_threshold_percent) {
  if (waves.empty() || waves.size() > kMaxWaves)
    return fail(Errc::invalid_argument, "a rollout has 1 to 10 waves", "waves");
  for (std::size_t i = 0; i < waves.size(); ++i) {
    if (waves[i] < 1 || waves[i] > 100)
      return fail(Errc::invalid_argument, "wave percentages must be between 1 and 100", "waves");
    if (i > 0 && waves[i] <= waves[i - 1])
      return fail(Errc::invalid_argument, "wave percentages must be strictly ascending (e.g. 1, 10, 100)", "waves");
  }
  if (waves.back() != 100) return fail(Errc::invalid_argument, "the last wave must be 100%", "waves");
  if (failure_threshold_percent < 0 || failure_threshold_percent > 100)
    return fail(Errc::invalid_argument, "the failure threshold must be between 0 and 100 percent",
                "failure_threshold_percent");
  return {};
}

std::vector<RolloutDevice> plan_devices(const std::string& rollout_id,
                                        std::vector<std::pair<std::string, std::string>> devices,
                                        const std::vector<int>& waves) {
  std::stable_sort(devices.begin(), devices.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  devices.erase(std::unique(devices.begin(), devices.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
                devices.end());

  const std::int64_t n = static_cast<std::int64_t>(devices.size());
  const std::int64_t wave_count = static_cast<std::int64_t>(waves.size());
  std::vector<RolloutDevice> planned;
  planned.reserve(devices.size());
  std::int64_t assigned = 0;
  for (std::int64_t k = 0; k < wave_count; ++k) {
    std::int64_t upto = (n * waves[static_cast<std::size_t>(k)] + 99) / 100;
    if (n >= wave_count) {
      // At least one device per wave, and enough left for every later wave to get one.
      upto = std::min(std::max(upto, assigned + 1), n - (wave_count - 1 - k));
    }
    upto = std::min(upto, n);
    for (; assigned < upto; ++assigned) {
      auto& [device_id, version] = devices[static_cast<std::size_t>(assigned)];
      RolloutDevice device;
      device.rollout_id = rollout_id;
      device.device_id = std::move(device_id);
      device.wave = static_cast<int>(k);
      device.from_version = std::move(version);
      planned.push_back(std::move(device));
    }
  }
  return planned;
}

StepResult step(Rollout& rollout, std::vector<RolloutDevice>& devices, const StepInput& input) {
  StepResult result;
  if (rollout.state != RolloutState::running) return result;

  // A device that was asked but went silent (powered off, network gone, crashed while flashing)
  // must not hold its wave forever; it counts as a failure of that wave.
  for (auto& device : devices) {
    if (is_terminal(device.state) || device.started_at == 0) continue;
    std::int64_t last_sign = std::max(device.started_at, device.updated_at);
    if (input.now - last_sign <= input.device_timeout_seconds) continue;
    device.error = "no progress for " + std::to_string(input.now - last_sign) + " s (last state " +
                   to_string(device.state) + ")";
    device.state = DeviceUpdateState::failed;
    device.updated_at = input.now;
    result.changed.push_back(device);
  }

  while (rollout.state == RolloutState::running) {
    int size = 0, finished = 0, failures = 0;
    for (const auto& device : devices) {
      if (device.wave != rollout.current_wave) continue;
      ++size;
      if (is_terminal(device.state)) ++finished;
      if (device.state == DeviceUpdateState::failed || device.state == DeviceUpdateState::rolled_back) ++failures;
    }
    if (finished < size) break;
    result.rollout_changed = true;
    rollout.updated_at = input.now;
    // Integer comparison: "above the threshold" is strict, so a share exactly at it passes.
    if (size > 0 && failures * 100 > rollout.failure_threshold_percent * size) {
      rollout.state = RolloutState::stopped;
      rollout.stop_reason = "wave " + std::to_string(rollout.current_wave + 1) + " (" +
                            std::to_string(rollout.waves[static_cast<std::size_t>(rollout.current_wave)]) + "%): " +
                            std::to_string(failures) + " of " + std::to_string(size) + " devices failed (" +
                            std::to_string(failures * 100 / size) + "%), above the threshold of " +
                            std::to_string(rollout.failure_threshold_percent) + "%";
    } else if (rollout.current_wave + 1 >= static_cast<int>(rollout.waves.size())) {
      rollout.state = RolloutState::completed;
    } else {
      ++rollout.current_wave;
    }
  }
  if (rollout.state != RolloutState::running) return result;

  for (auto& device : devices) {
    if (device.wave > rollout.current_wave || device.state != DeviceUpdateState::pending || device.started_at != 0)
      continue;
    if (input.may_start_now && !input.may_start_now(device.device_id)) continue;
    device.started_at = input.now;
    device.updated_at = input.now;
    result.start.push_back(device.device_id);
    result.changed.push_back(device);
  }
  return result;
}

Status apply_report(RolloutDevice& device, DeviceUpdateState reported, int percent, const std::string& error,
                    std::int64_t now) {
  if (is_terminal(device.state))
    return fail(Errc::conflict, "device " + device.device_id + " already finished this update (" +
                                    to_string(device.state) + "); the report of " + to_string(reported) +
                                    " comes too late");
  if (reported == DeviceUpdateState::pending)
    return fail(Errc::invalid_argument, "a device cannot report \"pending\"", "state");
  bool failure = reported == DeviceUpdateState::failed || reported == DeviceUpdateState::rolled_back;
  if (!failure && reported < device.state)
    return fail(Errc::conflict, "device " + device.device_id + " cannot go back from " + to_string(device.state) +
                                    " to " + to_string(reported));
  device.state = reported;
  device.percent = reported == DeviceUpdateState::done ? 100 : std::clamp(percent, 0, 100);
  if (failure) device.error = error.empty() ? std::string("device reported ") + to_string(reported) : error;
  if (device.started_at == 0) device.started_at = now;
  device.updated_at = now;
  return {};
}

Status pause(Rollout& rollout) {
  if (rollout.state != RolloutState::running)
    return fail(Errc::conflict, std::string("only a running rollout can be paused; this one is ") + to_string(rollout.state));
  rollout.state = RolloutState::paused;
  return {};
}

Status resume(Rollout& rollout) {
  if (rollout.state != RolloutState::paused)
    return fail(Errc::conflict, std::string("only a paused rollout can be resumed; this one is ") + to_string(rollout.state));
  rollout.state = RolloutState::running;
  return {};
}

Status cancel(Rollout& rollout) {
  if (!is_active(rollout.state))
    return fail(Errc::conflict,
                std::string("only a running or paused rollout can be cancelled; this one is ") + to_string(rollout.state));
  rollout.state = RolloutState::cancelled;
  return {};
}

}  // namespace carillon::firmware
