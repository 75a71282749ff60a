#include "alerts/worker.hpp"

#include "common/log.hpp"

namespace carillon::alerts {

AlertWorker::AlertWorker(AlertEngine& engine, Dispatcher& dispatcher, DescribeDevice describe, WorkerOptions options)
    : engine_(engine), dispatcher_(dispatcher), describe_(std::move(describe)), options_(options) {}

AlertWorker::~AlertWorker() { stop(); }

void AlertWorker::push(Event event) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(event));
}

void AlertWorker::device_offline(const std::string& company_id, const std::string& device_id, std::int64_t at) {
  push(DeviceEvent{false, company_id, device_id, at});
}

void AlertWorker::device_online(const std::string& company_id, const std::string& device_id, std::int64_t at) {
  push(DeviceEvent{true, company_id, device_id, at});
}

void AlertWorker::firmware_available(FirmwareNotice notice) { push(std::move(notice)); }

void AlertWorker::platform_version(std::string version, std::string notes) {
  push(PlatformEvent{std::move(version), std::move(notes)});
}

Dispatcher::Round AlertWorker::run_round() {
  std::deque<Event> events;
  {
    std::lock_guard lock(mutex_);
    events.swap(queue_);
  }
  std::deque<Event> retry;
  std::vector<OutboxMessage> messages;
  for (auto& event : events) {
    if (auto* d = std::get_if<DeviceEvent>(&event)) {
      DeviceRef ref{d->company_id, d->device_id, "", ""};
      if (describe_) {
        if (auto described = describe_(d->company_id, d->device_id)) ref = std::move(*described);
      }
      ref.company_id = d->company_id;
      ref.device_id = d->device_id;
      if (d->online) {
        engine_.device_online(ref, d->at);
      } else {
        engine_.device_offline(ref, d->at);
      }
    } else if (auto* f = std::get_if<FirmwareNotice>(&event)) {
      auto made = engine_.firmware_available(*f);
      if (!made) {
        retry.push_back(std::move(event));
        continue;
      }
      for (auto& m : *made) messages.push_back(std::move(m));
    } else if (auto* p = std::get_if<PlatformEvent>(&event)) {
      auto made = engine_.platform_version(p->version, p->notes);
      if (!made) {
        retry.push_back(std::move(event));
        continue;
      }
      for (auto& m : *made) messages.push_back(std::move(m));
    }
  }
  if (!retry.empty()) {
    std::lock_guard lock(mutex_);
    for (auto it = retry.rbegin(); it != retry.rend(); ++it) queue_.push_front(std::move(*it));
  }
  for (auto& m : engine_.tick()) messages.push_back(std::move(m));
  if (auto stored = dispatcher_.enqueue(std::move(messages)); !stored)
    log::get("alerts")->warn("alert messages held in memory, the outbox is unavailable: {}", stored.error().message);
  return dispatcher_.run_once();
}

void AlertWorker::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    run_round();
    lock.lock();
    wake_.wait_for(lock, options_.interval, [&] { return stopping_; });
  }
}

void AlertWorker::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void AlertWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace carillon::alerts
