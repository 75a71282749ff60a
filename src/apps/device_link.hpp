#pragma once
// The platform's MQTT account, wired to DeviceService: subscribes to every device's subtree and
// to claim requests, and implements DeviceChannel by publishing on the broker.

#include <filesystem>
#include <memory>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <optional>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.hpp"
#include "devices/service.hpp"
#include "mqtt/client.hpp"
#include "pki/pki.hpp"

namespace carillon::apps {

struct DeviceLinkOptions {
  mqtt::ClientOptions platform;          // platform listener, platform certificate
  std::filesystem::path crl_file;        // rewritten on revocation
  std::filesystem::path broker_pid_file; // the broker gets SIGHUP to re-read the CRL
  // After (re)connecting, devices get this long to say they are there (retained birth messages
  // arrive at once; devices reconnecting after a broker restart back off up to 30 s) before
  // the silent ones are marked offline.
  std::chrono::seconds presence_grace{60};
};

// Messages are handled on a worker thread of the link, never on the MQTT network thread: the
// handlers write to the database and publish (QoS 1 publishes wait for their PUBACK, which only
// the network thread can deliver).
class DeviceLink final : public devices::DeviceChannel {
 public:
  DeviceLink(DeviceLinkOptions options, pki::CertificateAuthority& ca, const Clock& clock);
  ~DeviceLink() override;
  // Subscribes and routes messages to `service` (set before connecting).
  Status connect(devices::DeviceService& service);
  bool connected() const { return client_ && client_->connected(); }
  // The claim broker's bridge into the main broker is up: without it claims go nowhere.
  bool claim_bridge_up() const { return claim_bridge_up_.load(); }

  Status publish_config(const std::string& serial, const nlohmann::json& document) override;
  // All in flight at once (mqtt::Client::publish_many).
  std::vector<Status> publish_configs(const std::vector<std::pair<std::string, nlohmann::json>>& documents) override;
  Status send_command(const std::string& serial, const nlohmann::json& command) override;
  Status send_claim_response(const std::string& client_id, const nlohmann::json& response) override;
  Status cut_off(const std::string& serial, const std::vector<std::string>& revoked_serials) override;

 private:
  void work(devices::DeviceService& service);

  DeviceLinkOptions options_;
  pki::CertificateAuthority& ca_;
  const Clock& clock_;
  std::unique_ptr<mqtt::Client> client_;
  // Presence sweep due after the latest (re)connection: when, and since when devices must
  // have reported. Guarded by mutex_.
  std::optional<std::chrono::steady_clock::time_point> sweep_due_;
  std::int64_t sweep_since_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, std::string>> inbox_;  // topic, payload
  bool stopping_ = false;
  std::atomic<bool> claim_bridge_up_{false};
  std::thread worker_;
};

}  // namespace carillon::apps
