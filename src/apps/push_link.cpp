#include "apps/push_link.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/ids.hpp"
#include "common/log.hpp"

namespace carillon::apps {

namespace {

constexpr std::int64_t kIncomingTtlSeconds = 60;
constexpr std::int64_t kMissedTtlSeconds = 24 * 3600;

bool is_user(const std::string& id) { return is_valid_id(id, carillon::id_prefix::user); }

}  // namespace

PushLink::PushLink(notify::VapidKey key, PushLinkOptions options, notify::SubscriptionRepository& subscriptions,
                   calls::CallsRepository& calls, EventBus& events, const Clock& clock, Random& random)
    : public_key_(key.public_key_base64url()),
      sender_(std::move(key), options.web_push, clock, random),
      options_(std::move(options)),
      subscriptions_(subscriptions),
      calls_(calls),
      events_(events) {}

PushLink::~PushLink() { stop(); }

void PushLink::start() {
  if (worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  worker_ = std::thread([this] { run(); });
  subscription_ = events_.subscribe([this](const LiveEvent& event) { on_event(event); });
}

void PushLink::stop() {
  if (subscription_ != 0) {
    events_.unsubscribe(subscription_);
    subscription_ = 0;
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void PushLink::on_event(const LiveEvent& event) {
  if (event.type != "call.updated" || !event.data.is_object()) return;
  const std::string kind = event.data.value("event", "");
  if (kind != "call.start" && kind != "call.end") return;
  Job job{event.data.value("id", ""), kind == "call.end"};
  if (job.call_id.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (queue_.size() >= options_.max_queued) {
      log::get("push")->warn("push queue full, no {} push for call {}", job.missed ? "missed-call" : "incoming-call",
                             job.call_id);
      return;
    }
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

bool PushLink::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void PushLink::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    deliver(job);
  }
}

std::vector<std::string> PushLink::recipients(const calls::CallRecord& call, calls::CallsRepository& repository) {
  std::vector<std::string> users;
  auto add = [&users](const std::string& id) {
    if (is_user(id) && std::find(users.begin(), users.end(), id) == users.end()) users.push_back(id);
  };
  if (!call.ring_group_id.empty()) {
    // A group deleted since the call started leaves the legs to go by.
    if (auto group = repository.find_ring_group(call.ring_group_id)) {
      for (const auto& member : group->members) {
        if (member.kind == calls::TargetKind::user) add(member.id);
      }
    }
  }
  // Forwarding may have rung users outside the group.
  for (const auto& leg : call.legs) add(leg.member);
  return users;
}

void PushLink::deliver(const Job& job) {
  auto logger = log::get("push");
  auto call = calls_.find_call(job.call_id);
  if (!call) {
    logger->warn("no push for call {}: {}", job.call_id, call.error().message);
    return;
  }
  if (job.missed && (call->status == calls::DialStatus::answered || call->status == calls::DialStatus::in_progress))
    return;
  auto users = recipients(*call, calls_);
  if (users.empty()) return;
  auto subscriptions = subscriptions_.for_users(users);
  if (!subscriptions) {
    logger->warn("no push for call {}: {}", job.call_id, subscriptions.error().message);
    return;
  }
  nlohmann::json payload{{"type", job.missed ? "missed-call" : "incoming-call"},
                         {"call_id", call->id},
                         {"caller", call->caller_name.empty() ? call->caller_id : call->caller_name},
                         {"ring_group_id", call->ring_group_id.empty() ? nlohmann::json(nullptr)
                                                                       : nlohmann::json(call->ring_group_id)},
                         {"snapshot_url", "/api/v1/calls/" + call->id + "/snapshot"}};
  notify::PushMessage message;
  message.payload = payload.dump();
  message.ttl_seconds = job.missed ? kMissedTtlSeconds : kIncomingTtlSeconds;
  message.urgency = job.missed ? notify::Urgency::normal : notify::Urgency::high;
  // Call ids are 31 characters of the base64url alphabet; a longer one just goes without a topic.
  if (call->id.size() <= 32) message.topic = call->id;
  for (const auto& s : *subscriptions) {
    if (stopping()) return;
    // A subscription is only ever pushed calls of the company its user belongs to.
    if (s.company_id != call->company_id) continue;
    auto delivery = sender_.send({s.endpoint, {s.p256dh, s.auth}}, message);
    if (!delivery) {
      logger->warn("push to subscription {} of {} for call {} failed: {}", s.id, s.user_id, call->id,
                   delivery.error().message);
      continue;
    }
    if (!delivery->accepted) {
      logger->info("push service answered {} for subscription {} of {}: deleting it", delivery->status, s.id, s.user_id);
      if (auto removed = subscriptions_.remove(s.id); !removed && removed.error().code != Errc::not_found)
        logger->warn("cannot delete push subscription {}: {}", s.id, removed.error().message);
    }
  }
}

}  // namespace carillon::apps
