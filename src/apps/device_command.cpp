#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "apps/commands.hpp"
#include "common/random.hpp"
#include "emulator/device.hpp"

namespace carillon::apps {

int run_device(const DeviceCommandOptions& options, const std::atomic<bool>& stop) {
  SodiumRandom random;
  if (options.count < 1 || options.count > 20000) {
    std::cerr << "carillon device: --count must be between 1 and 20000\n";
    return 2;
  }
  std::vector<std::unique_ptr<emulator::EmulatedDevice>> fleet;
  int failed = 0;
  for (int i = 0; i < options.count; ++i) {
    emulator::DeviceOptions o;
    o.platform_url = options.platform_url;
    o.ca_file = options.ca_file;
    // One state directory per device when there are several.
    o.state_dir = options.count == 1 ? options.state_dir : options.state_dir / std::to_string(i);
    if (static_cast<std::size_t>(i) < options.claim_codes.size()) o.claim_code = options.claim_codes[static_cast<std::size_t>(i)];
    o.serial = options.count == 1 ? options.serial : (options.serial.empty() ? "" : options.serial + "-" + std::to_string(i));
    o.model = options.model;
    o.hardware_revision = options.hardware_revision;
    o.firmware_version = options.firmware_version;
    o.firmware_key_file = options.firmware_key_file;
    o.firmware_health_timeout = std::chrono::seconds(options.firmware_health_seconds);
    o.keepalive_seconds = options.keepalive_seconds;
    if (options.control_port != 0) o.control_port = static_cast<unsigned short>(options.control_port + i);
    o.station.audio_file = options.audio_file;
    o.station.tone_hz = options.tone_hz;
    o.station.listen_hz = options.listen_hz;
    if (!options.record_dir.empty())
      o.station.recordings_dir = options.count == 1 ? options.record_dir : options.record_dir / std::to_string(i);
    // Devices in one process take media ports from disjoint ranges.
    o.station.rtp_port_min = 40000 + (i % 100) * 200;
    o.station.rtp_port_max = o.station.rtp_port_min + 199;
    auto device = std::make_unique<emulator::EmulatedDevice>(o, random);
    if (auto s = device->start(); !s) {
      std::cerr << "carillon device: " << o.state_dir.string() << ": " << s.error().message << "\n";
      failed++;
      continue;
    }
    std::cout << "device " << device->serial() << " running (state " << o.state_dir.string() << ")";
    if (device->control_port() != 0) std::cout << ", control 127.0.0.1:" << device->control_port();
    std::cout << std::endl;
    fleet.push_back(std::move(device));
  }
  if (fleet.empty()) return 1;
  std::cout << fleet.size() << " device(s) running" << (failed ? ", " + std::to_string(failed) + " failed" : "")
            << "; stop with Ctrl-C" << std::endl;
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& d : fleet) d->stop();
  return failed ? 1 : 0;
}

}  // namespace carillon::apps
