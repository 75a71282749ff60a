#pragma once
// Drives firmware rollouts inside serve: device "firmware.progress" events (arriving on the bus
// as "device.event") go to FirmwareService::handle_progress, and running rollouts are advanced
// every `period` and whenever a device comes online (it may be its turn now).
//
// Bus handlers only queue; one worker thread does the database work, so the MQTT link's
// thread is never held up by a rollout.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/events.hpp"
#include "firmware/service.hpp"

namespace carillon::apps {

class FirmwareLink {
 public:
  // `on_image` (optional) runs on the link's thread for every newly uploaded image.
  FirmwareLink(firmware::FirmwareService& service, EventBus& events, std::chrono::milliseconds period,
               std::function<void(const firmware::Image&)> on_image = {});
  ~FirmwareLink();  // stop()
  FirmwareLink(const FirmwareLink&) = delete;
  FirmwareLink& operator=(const FirmwareLink&) = delete;

  void start();
  void stop();

 private:
  void on_event(const LiveEvent& event);
  void run();

  firmware::FirmwareService& service_;
  EventBus& events_;
  std::chrono::milliseconds period_;
  std::function<void(const firmware::Image&)> on_image_;
  std::vector<std::string> new_images_;  // image ids
  std::uint64_t subscription_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, nlohmann::json>> reports_;  // serial, event
  bool tick_due_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace carillon::apps
