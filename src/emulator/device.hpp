#pragma once
// `carillon device`: a firmware emulator that behaves like a real door station towards the
// platform. It claims itself with a claim code, keeps its key, certificate and config in its
// state directory, connects over mutual TLS, reports what it is, applies config documents and
// runs commands. Several emulated devices can share one process (load tests).
//
// Trust: like a factory image, the emulator ships with a trust anchor - the platform CA
// certificate (`ca_file`). It never talks to the platform without verifying it.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "emulator/control.hpp"
#include "emulator/firmware_updater.hpp"
#include "emulator/station.hpp"

namespace carillon::mqtt {
class Client;
}

namespace carillon::emulator {

struct DeviceOptions {
  std::string platform_url;            // https://host:port as printed by `carillon up`
  std::filesystem::path ca_file;       // the trust anchor (platform CA certificate)
  std::filesystem::path state_dir;     // keeps identity, key, certificate, config
  std::string claim_code;              // needed only until the device is claimed
  std::string serial;                  // "" = keep the stored one or make "EMU-<random>"
  std::string model = "ID5 TD";       // door station of the MX family
  std::string hardware_revision = "AD";
  std::string firmware_version = "1.0.0";
  int keepalive_seconds = 30;
  std::chrono::milliseconds claim_timeout{15000};
  // SIP station: what it plays and listens for, where it records (see station.hpp).
  StationOptions station;
  // Local control channel (press buttons, answer, DTMF, status) on 127.0.0.1; 0 = none.
  unsigned short control_port = 0;
  // The platform's firmware public key (PEM file), the trust anchor for update-firmware. Empty:
  // the key the claim answer carried (kept as firmware-key.pem in the state dir), if any.
  std::filesystem::path firmware_key_file;
  // How long a freshly installed image may take to reach the platform before it is rolled back.
  std::chrono::milliseconds firmware_health_timeout{30000};
};

class EmulatedDevice {
 public:
  EmulatedDevice(DeviceOptions options, Random& random);
  ~EmulatedDevice();

  // Claims (first run) or loads the stored identity, then connects on the device listener and
  // keeps the connection (reconnecting with backoff) until stop().
  Status start();
  void stop();

  const std::string& serial() const { return serial_; }
  std::int64_t applied_config_version() const { return applied_version_.load(); }
  nlohmann::json config() const;
  bool connected() const;
  // The version of the firmware image running now (what the birth message reports).
  std::string firmware_version() const;
  std::uint64_t restarts() const { return restarts_.load(); }
  // The SIP station; null until the device has its identity (after start()).
  Station* station() { return station_.get(); }
  // The bound control port (0 without a control channel).
  unsigned short control_port() const { return control_ ? control_->port() : 0; }

 private:
  Status load_or_claim();
  Status claim();
  Status connect();
  Status start_firmware();
  void on_message(mqtt::Client& link, const std::string& topic, const std::string& payload);
  void apply_config(mqtt::Client& link, const std::string& payload);
  void run_command(mqtt::Client& link, const std::string& payload);
  void reboot();
  void emit_event(const nlohmann::json& event);
  Status upload_snapshot(const std::string& sip_call_id);
  nlohmann::json control(const nlohmann::json& request);
  std::string state_message(bool online) const;
  std::filesystem::path file(const char* name) const { return options_.state_dir / name; }

  DeviceOptions options_;
  Random& random_;
  std::string serial_;
  std::string device_id_;
  std::string mqtt_host_;
  unsigned short device_port_ = 0;
  mutable std::mutex mutex_;
  nlohmann::json config_ = nlohmann::json::object();
  std::atomic<std::int64_t> applied_version_{0};
  std::atomic<std::uint64_t> restarts_{0};
  mutable std::mutex link_mutex_;
  std::unique_ptr<mqtt::Client> client_;  // guarded by link_mutex_
  std::thread restart_thread_;
  SystemClock clock_;
  std::unique_ptr<Station> station_;
  std::unique_ptr<ControlChannel> control_;
  std::unique_ptr<FirmwareUpdater> firmware_;  // after start(); its thread calls reboot()
};

}  // namespace carillon::emulator
