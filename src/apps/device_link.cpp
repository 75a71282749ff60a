#include "apps/device_link.hpp"

#include <signal.h>

#include <cstdlib>
#include <thread>

#include "common/files.hpp"
#include "common/log.hpp"
#include "devices/protocol.hpp"
#include "mqtt/broker_config.hpp"

namespace carillon::apps {

namespace protocol = devices::protocol;

DeviceLink::DeviceLink(DeviceLinkOptions options, pki::CertificateAuthority& ca, const Clock& clock)
    : options_(std::move(options)), ca_(ca), clock_(clock) {}

DeviceLink::~DeviceLink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  if (client_) client_->disconnect();
}

void DeviceLink::work(devices::DeviceService& service) {
  for (;;) {
    std::pair<std::string, std::string> message;
    std::optional<std::int64_t> sweep;
    {
      std::unique_lock lock(mutex_);
      auto ready = [this] {
        return stopping_ || !inbox_.empty() || (sweep_due_ && std::chrono::steady_clock::now() >= *sweep_due_);
      };
      if (sweep_due_) wake_.wait_until(lock, *sweep_due_, ready);
      else wake_.wait(lock, ready);
      if (stopping_) return;
      if (sweep_due_ && std::chrono::steady_clock::now() >= *sweep_due_) {
        sweep = sweep_since_;
        sweep_due_.reset();
      } else if (!inbox_.empty()) {
        message = std::move(inbox_.front());
        inbox_.pop_front();
      } else {
        continue;
      }
    }
    if (sweep) {
      if (auto expired = service.expire_presence(*sweep); !expired)
        log::get("devices")->warn("presence sweep failed: {}", expired.error().message);
      continue;
    }
    auto parsed = protocol::parse_topic(message.first);
    if (!parsed) continue;
    if (parsed->claim) {
      if (parsed->leaf == "request") service.handle_claim(parsed->id, message.second);
      continue;
    }
    service.handle_device_message(parsed->id, parsed->leaf, message.second);
  }
}

Status DeviceLink::connect(devices::DeviceService& service) {
  client_ = std::make_unique<mqtt::Client>(options_.platform);
  const std::string bridge_state = std::string("$SYS/broker/connection/") + mqtt::kClaimBridgeIdentity + "/state";
  client_->on_message([this, bridge_state](const std::string& topic, const std::string& payload, bool) {
    if (topic == bridge_state) {
      claim_bridge_up_ = payload == "1";
      return;
    }
    {
      std::lock_guard lock(mutex_);
      inbox_.emplace_back(topic, payload);
    }
    wake_.notify_one();
  });
  client_->on_connection([this](bool up) {
    if (!up) return;
    {
      std::lock_guard lock(mutex_);
      sweep_since_ = clock_.now();
      sweep_due_ = std::chrono::steady_clock::now() + options_.presence_grace;
    }
    wake_.notify_one();
  });
  worker_ = std::thread([this, &service] { work(service); });
  for (const char* filter : protocol::kPlatformDeviceFilters) {
    if (auto s = client_->subscribe(filter); !s) return s;
  }
  if (auto s = client_->subscribe(protocol::kPlatformClaimFilter); !s) return s;
  if (auto s = client_->subscribe(bridge_state); !s) return s;
  return client_->connect();
}

Status DeviceLink::publish_config(const std::string& serial, const nlohmann::json& document) {
  if (!client_) return fail(Errc::unavailable, "broker link not started");
  return client_->publish(protocol::device_topic(serial, "config"), document.dump(), 1, true);
}

std::vector<Status> DeviceLink::publish_configs(const std::vector<std::pair<std::string, nlohmann::json>>& documents) {
  if (!client_) return std::vector<Status>(documents.size(), fail(Errc::unavailable, "broker link not started"));
  std::vector<mqtt::Client::Message> messages;
  messages.reserve(documents.size());
  for (const auto& [serial, document] : documents)
    messages.push_back({protocol::device_topic(serial, "config"), document.dump(), 1, true});
  return client_->publish_many(messages);
}

Status DeviceLink::send_command(const std::string& serial, const nlohmann::json& command) {
  if (!client_) return fail(Errc::unavailable, "broker link not started");
  return client_->publish(protocol::device_topic(serial, "commands"), command.dump(), 1, false);
}

Status DeviceLink::send_claim_response(const std::string& client_id, const nlohmann::json& response) {
  if (!client_) return fail(Errc::unavailable, "broker link not started");
  return client_->publish(protocol::claim_topic(client_id, "response"), response.dump(), 1, false);
}

Status DeviceLink::cut_off(const std::string& serial, const std::vector<std::string>& revoked_serials) {
  auto crl = ca_.crl_pem(revoked_serials, 30);
  if (!crl) return tl::unexpected(crl.error());
  if (auto s = write_file(options_.crl_file, *crl); !s) return s;
  // New connections of the revoked certificate fail once the broker re-read the CRL...
  auto pid_text = read_file(options_.broker_pid_file);
  if (!pid_text) return fail(Errc::unavailable, "broker pid file unreadable: " + pid_text.error().message);
  int pid = std::atoi(pid_text->c_str());
  if (pid <= 0 || ::kill(pid, SIGHUP) != 0) return fail(Errc::unavailable, "cannot signal the broker to reload its CRL");
  // Mosquitto handles the signal in its next loop turn; the device reconnects no sooner than
  // its backoff allows (>= 0.5 s), so a short pause closes the window.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // ...and the session that is open now is ended by taking over its client id.
  if (auto s = mqtt::cut_session(options_.platform, serial, std::chrono::milliseconds(5000)); !s) return s;
  // Forget the retained config: a revoked device must not get anything from us any more.
  (void)client_->publish(protocol::device_topic(serial, "config"), "", 1, true);
  log::get("devices")->info("revoked serial={}: CRL reloaded, session cut", serial);
  return {};
}

}  // namespace carillon::apps
