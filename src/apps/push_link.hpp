#pragma once
// Web Push for calls (issue 4): on a call's start the users among its ring group's members get
// an "incoming-call" push on every browser they subscribed; when the call ends unanswered they
// get a "missed-call" one. Payload (JSON, decrypted by the service worker):
//   {"type": "incoming-call" | "missed-call", "call_id", "caller", "ring_group_id",
//    "snapshot_url": "/api/v1/calls/<id>/snapshot"}
// Incoming: TTL 60 s, urgency high; missed: TTL 24 h, urgency normal. Both carry the call id
// as Topic, so a missed-call push replaces an undelivered incoming one.
//
// Event handlers only queue the call id; one worker thread looks the call up and sends, so a
// slow or unreachable push service never delays call handling. A push service answering 404 or
// 410 has dropped the subscription and its row is deleted; other failures are logged.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "calls/model.hpp"
#include "common/clock.hpp"
#include "common/events.hpp"
#include "common/random.hpp"
#include "notify/subscriptions.hpp"
#include "notify/webpush.hpp"

namespace carillon::apps {

struct PushLinkOptions {
  notify::WebPushOptions web_push;  // VAPID subject, HTTP client (trust anchors, timeout)
  std::size_t max_queued = 1000;    // call events waiting beyond this are dropped (logged)
};

class PushLink {
 public:
  // Everything passed in must outlive the link.
  PushLink(notify::VapidKey key, PushLinkOptions options, notify::SubscriptionRepository& subscriptions,
           calls::CallsRepository& calls, EventBus& events, const Clock& clock, Random& random);
  ~PushLink();  // stop()
  PushLink(const PushLink&) = delete;
  PushLink& operator=(const PushLink&) = delete;

  // base64url, for the browsers' applicationServerKey.
  const std::string& public_key() const { return public_key_; }

  // Subscribes to the bus and starts the worker.
  void start();
  // Unsubscribes and joins the worker; what was not sent yet is dropped, only the push in flight
  // is waited for (bounded by the HTTP client's timeout).
  void stop();

  // The users among the call's ring group members and legs (ids "us_..."), without duplicates.
  static std::vector<std::string> recipients(const calls::CallRecord& call, calls::CallsRepository& repository);

 private:
  struct Job {
    std::string call_id;
    bool missed = false;
  };
  void on_event(const LiveEvent& event);
  void run();
  void deliver(const Job& job);
  bool stopping();

  std::string public_key_;
  notify::WebPushSender sender_;
  PushLinkOptions options_;
  notify::SubscriptionRepository& subscriptions_;
  calls::CallsRepository& calls_;
  EventBus& events_;
  std::uint64_t subscription_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace carillon::apps
