#pragma once
// The platform's MQTT account, wired to DeviceService: subscribes to every device's subtree and
// to claim requests, and implements DeviceChannel by publishing on the broker.

#include <filesystem>
#include <memory>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "devices/service.hpp"
#include "mqtt/client.hpp"
#include "pki/pki.hpp"

namespace carillon::apps {

struct DeviceLinkOptions {
  mqtt::ClientOptions platform;          // platform listener, platform certificate
  std::filesystem::path crl_file;        // rewritten on revocation
  std::filesystem::path broker_pid_file; // the broker gets SIGHUP to re-read the CRL
};

// Messages are handled on a worker thread of the link, never on the MQTT network thread: the
// handlers write to the database and publish (QoS 1 publishes wait for their PUBACK, which only
// the network thread can deliver).
class DeviceLink final : public devices::DeviceChannel {
 public:
  DeviceLink(DeviceLinkOptions options, pki::CertificateAuthority& ca);
  ~DeviceLink() override;
  // Subscribes and routes messages to `service` (set before connecting).
  Status connect(devices::DeviceService& service);
  bool connected() const { return client_ && client_->connected(); }

  Status publish_config(const std::string& serial, const nlohmann::json& document) override;
  Status send_command(const std::string& serial, const nlohmann::json& command) override;
  Status send_claim_response(const std::string& client_id, const nlohmann::json& response) override;
  Status cut_off(const std::string& serial, const std::vector<std::string>& revoked_serials) override;

 private:
  void work(devices::DeviceService& service);

  DeviceLinkOptions options_;
  pki::CertificateAuthority& ca_;
  std::unique_ptr<mqtt::Client> client_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, std::string>> inbox_;  // topic, payload
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace carillon::apps
