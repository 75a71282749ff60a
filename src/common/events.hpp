#pragma once
// Live events for the WebSocket stream: an in-process bus, fed by the domain services.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace carillon {

struct LiveEvent {
  std::string type;        // "device.online", "device.offline", "device.config_applied", "device.claimed", ...
  std::string company_id;  // who may see it; subscribers filter on it
  nlohmann::json data;
};

class EventBus {
 public:
  using Handler = std::function<void(const LiveEvent&)>;
  // Handlers run on the publisher's thread and must not block.
  std::uint64_t subscribe(Handler handler);
  void unsubscribe(std::uint64_t token);
  void publish(const LiveEvent& event);

 private:
  std::mutex mutex_;
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, Handler> handlers_;
};

}  // namespace carillon
