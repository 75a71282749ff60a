#include "common/events.hpp"

#include <vector>

namespace carillon {

std::uint64_t EventBus::subscribe(Handler handler) {
  std::lock_guard lock(mutex_);
  auto token = next_++;
  handlers_.emplace(token, std::move(handler));
  return token;
}

void EventBus::unsubscribe(std::uint64_t token) {
  std::lock_guard lock(mutex_);
  handlers_.erase(token);
}

void EventBus::publish(const LiveEvent& event) {
  std::vector<Handler> copy;
  {
    std::lock_guard lock(mutex_);
    for (auto& [_, h] : handlers_) copy.push_back(h);
  }
  for (auto& h : copy) h(event);
}

}  // namespace carillon
