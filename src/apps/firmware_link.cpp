#include "apps/firmware_link.hpp"

#include "common/log.hpp"

namespace carillon::apps {

namespace {
// Reports beyond this wait are dropped (logged): a device's next report or the timeout repairs it.
constexpr std::size_t kMaxQueued = 10000;
}  // namespace

FirmwareLink::FirmwareLink(firmware::FirmwareService& service, EventBus& events, std::chrono::milliseconds period,
                           std::function<void(const firmware::Image&)> on_image)
    : service_(service), events_(events), period_(period), on_image_(std::move(on_image)) {}

FirmwareLink::~FirmwareLink() { stop(); }

void FirmwareLink::start() {
  subscription_ = events_.subscribe([this](const LiveEvent& event) { on_event(event); });
  worker_ = std::thread([this] { run(); });
}

void FirmwareLink::stop() {
  if (subscription_ != 0) {
    events_.unsubscribe(subscription_);
    subscription_ = 0;
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void FirmwareLink::on_event(const LiveEvent& event) {
  if (event.type == "firmware.available") {
    if (!on_image_) return;
    std::lock_guard lock(mutex_);
    new_images_.push_back(event.data.value("id", std::string()));
  } else if (event.type == "device.online") {
    std::lock_guard lock(mutex_);
    tick_due_ = true;
  } else if (event.type == "device.event" && event.data.contains("event") && event.data["event"].is_object() &&
             event.data["event"].value("type", std::string()) == "firmware.progress") {
    std::lock_guard lock(mutex_);
    if (reports_.size() >= kMaxQueued) {
      log::get("firmware")->warn("progress queue full; dropped a report of {}", event.data.value("serial", ""));
      return;
    }
    reports_.emplace_back(event.data.value("serial", std::string()), event.data["event"]);
  } else {
    return;
  }
  wake_.notify_one();
}

void FirmwareLink::run() {
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    std::deque<std::pair<std::string, nlohmann::json>> reports;
    std::vector<std::string> images;
    bool tick = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_tick,
                       [this] { return stopping_ || !reports_.empty() || tick_due_ || !new_images_.empty(); });
      if (stopping_) return;
      reports.swap(reports_);
      images.swap(new_images_);
      tick = tick_due_ || std::chrono::steady_clock::now() >= next_tick;
      tick_due_ = false;
    }
    for (const auto& [serial, event] : reports) service_.handle_progress(serial, event);
    for (const auto& id : images) {
      Actor system;
      system.id = "system";
      system.platform_admin = true;
      if (auto image = service_.image(system, id)) on_image_(*image);
    }
    if (tick) {
      service_.tick();
      next_tick = std::chrono::steady_clock::now() + period_;
    }
  }
}

}  // namespace carillon::apps
