#pragma once
// The alert machinery on a thread of its own, for `carillon serve`: events are queued from any
// thread without blocking (EventBus handlers must not block), and every `interval` the worker
// feeds them to the engine, stores the messages the engine makes in the outbox and sends what
// is due. Device names are looked up on the worker's thread, not the publisher's.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "alerts/dispatcher.hpp"
#include "alerts/engine.hpp"

namespace carillon::alerts {

// The device's name and site name for the e-mail text; nullopt when it cannot be found (the
// device id is shown then).
using DescribeDevice = std::function<std::optional<DeviceRef>(const std::string& company_id, const std::string& device_id)>;

struct WorkerOptions {
  std::chrono::milliseconds interval{5000};  // between rounds; bounds how late a due alert goes out
};

class AlertWorker {
 public:
  // Everything passed in must outlive the worker.
  AlertWorker(AlertEngine& engine, Dispatcher& dispatcher, DescribeDevice describe, WorkerOptions options = {});
  ~AlertWorker();  // stop()
  AlertWorker(const AlertWorker&) = delete;
  AlertWorker& operator=(const AlertWorker&) = delete;

  // Queue an event; any thread, never blocks on I/O.
  void device_offline(const std::string& company_id, const std::string& device_id, std::int64_t at);
  void device_online(const std::string& company_id, const std::string& device_id, std::int64_t at);
  void firmware_available(FirmwareNotice notice);
  void platform_version(std::string version, std::string notes = {});

  void start();
  // Joins the thread after the round in progress. Queued events and messages that are not in
  // the outbox yet are lost with the process (the outbox itself keeps everything stored).
  void stop();

  // One round on the caller's thread: the queued events, engine.tick(), dispatcher.run_once().
  // A firmware or platform notice whose company settings cannot be read stays queued.
  Dispatcher::Round run_round();

 private:
  struct DeviceEvent {
    bool online = false;
    std::string company_id;
    std::string device_id;
    std::int64_t at = 0;
  };
  struct PlatformEvent {
    std::string version;
    std::string notes;
  };
  using Event = std::variant<DeviceEvent, FirmwareNotice, PlatformEvent>;

  void push(Event event);
  void run();

  AlertEngine& engine_;
  Dispatcher& dispatcher_;
  DescribeDevice describe_;
  WorkerOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Event> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace carillon::alerts
