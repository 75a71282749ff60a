#include "alerts/dispatcher.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace carillon::alerts {

Dispatcher::Dispatcher(OutboxRepository& outbox, Mailer& mailer, const Clock& clock, DispatcherOptions options)
    : outbox_(outbox), mailer_(mailer), clock_(clock), options_(options) {}

std::int64_t Dispatcher::retry_delay(int attempts, const DispatcherOptions& options) {
  std::int64_t delay = options.first_retry_seconds;
  for (int i = 1; i < attempts && delay < options.max_retry_seconds; ++i) delay *= 2;
  return std::min(delay, options.max_retry_seconds);
}

std::size_t Dispatcher::held() const {
  std::lock_guard lock(mutex_);
  return unstored_.size() + sent_unmarked_.size();
}

Status Dispatcher::enqueue(std::vector<OutboxMessage> messages) {
  std::lock_guard lock(mutex_);
  for (auto& m : messages) unstored_.push_back(std::move(m));
  std::vector<OutboxMessage> still;
  Status status;
  for (auto& m : unstored_) {
    auto stored = outbox_.enqueue(m);
    if (stored) continue;
    if (status) status = tl::unexpected(stored.error());
    still.push_back(std::move(m));
  }
  unstored_ = std::move(still);
  return status;
}

void Dispatcher::flush_held() {
  std::vector<OutboxMessage> none;
  (void)enqueue(std::move(none));
  std::lock_guard lock(mutex_);
  for (auto it = sent_unmarked_.begin(); it != sent_unmarked_.end();) {
    auto marked = outbox_.mark_sent(it->first, it->second);
    if (marked || marked.error().code == Errc::not_found) {
      it = sent_unmarked_.erase(it);
    } else {
      ++it;
    }
  }
}

Dispatcher::Round Dispatcher::run_once() {
  flush_held();
  Round round;
  const std::int64_t now = clock_.now();
  auto due = outbox_.claim_due(now, now + options_.lease_seconds, options_.batch);
  if (!due) {
    round.error = due.error().message;
    return round;
  }
  auto logger = log::get("alerts");
  for (const auto& m : *due) {
    {
      std::lock_guard lock(mutex_);
      if (sent_unmarked_.count(m.id) > 0) continue;  // accepted before; only the mark is missing
    }
    Message mail{m.recipients, m.subject, m.body};
    auto sent = mailer_.send(mail);
    const std::int64_t at = clock_.now();
    if (sent) {
      ++round.sent;
      if (auto marked = outbox_.mark_sent(m.id, at); !marked) {
        std::lock_guard lock(mutex_);
        sent_unmarked_[m.id] = at;
      }
      logger->info("alert sent: id={} kind={} company={} recipients={}", m.id, to_string(m.kind), m.company_id,
                   m.recipients.size());
      continue;
    }
    ++round.failed;
    const int attempts = m.attempts + 1;
    const std::int64_t next = at + retry_delay(attempts, options_);
    // If this fails too, the lease runs out and the message is tried again then.
    (void)outbox_.mark_failed(m.id, next, sent.error().message);
    logger->warn("alert not sent: id={} kind={} attempt={} retry_at={} error={}", m.id, to_string(m.kind), attempts,
                 next, sent.error().message);
  }
  return round;
}

}  // namespace carillon::alerts
