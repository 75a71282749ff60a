#include "common/throttle.hpp"

#include <algorithm>

namespace carillon {

FailureThrottle::FailureThrottle(const Clock& clock, std::int64_t window_seconds, std::size_t max_failures,
                                 std::size_t max_keys)
    : clock_(clock), window_(window_seconds), max_failures_(max_failures), max_keys_(max_keys) {}

void FailureThrottle::expire(std::deque<std::int64_t>& times, std::int64_t now) const {
  while (!times.empty() && times.front() <= now - window_) times.pop_front();
}

std::int64_t FailureThrottle::retry_after(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return 0;
  auto now = clock_.now();
  expire(it->second, now);
  if (it->second.size() < max_failures_) return 0;
  return std::max<std::int64_t>(1, it->second.front() + window_ - now);
}

void FailureThrottle::record_failure(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now();
  if (failures_.size() >= max_keys_ && !failures_.count(key)) {
    // Forget the key whose newest failure is oldest.
    auto stalest = std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
      return (a.second.empty() ? 0 : a.second.back()) < (b.second.empty() ? 0 : b.second.back());
    });
    failures_.erase(stalest);
  }
  auto& times = failures_[key];
  expire(times, now);
  times.push_back(now);
  // Only the last max_failures_ matter for the decision.
  while (times.size() > max_failures_) times.pop_front();
}

void FailureThrottle::reset(const std::string& key) {
  std::lock_guard lock(mutex_);
  failures_.erase(key);
}

}  // namespace carillon
