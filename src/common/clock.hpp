#pragma once
// Time is injected so that expiry, retention and throttling are testable.

#include <chrono>
#include <cstdint>
#include <mutex>

namespace carillon {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch (UTC).
  virtual std::int64_t now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start) : now_(start) {}
  std::int64_t now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void advance(std::int64_t seconds) {
    std::lock_guard lock(mutex_);
    now_ += seconds;
  }

 private:
  mutable std::mutex mutex_;
  std::int64_t now_;
};

}  // namespace carillon
