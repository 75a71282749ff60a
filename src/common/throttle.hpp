#pragma once
// Counts failures per key in a sliding window; a key with too many failures is throttled until
// its oldest failure leaves the window. Memory is bounded: when `max_keys` is reached the
// stalest keys are forgotten first.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "common/clock.hpp"

namespace carillon {

class FailureThrottle {
 public:
  FailureThrottle(const Clock& clock, std::int64_t window_seconds, std::size_t max_failures, std::size_t max_keys = 100000);
  // Seconds until `key` may try again; 0 when it may try now.
  std::int64_t retry_after(const std::string& key);
  void record_failure(const std::string& key);
  void reset(const std::string& key);

 private:
  void expire(std::deque<std::int64_t>& times, std::int64_t now) const;

  const Clock& clock_;
  std::int64_t window_;
  std::size_t max_failures_;
  std::size_t max_keys_;
  std::mutex mutex_;
  std::map<std::string, std::deque<std::int64_t>> failures_;
};

}  // namespace carillon
