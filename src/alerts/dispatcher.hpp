#pragma once
// Moves alert e-mails from the outbox to the SMTP server: nothing is dropped, nothing that was
// accepted is sent again.
//
// - enqueue() stores the engine's messages; those the database refuses (down) are held in
//   memory and stored by a later enqueue()/run_once().
// - run_once() claims the due messages (a lease, so two serve nodes never send the same one)
//   and sends each. A failure counts an attempt, keeps the error and makes the message due
//   again after first_retry_seconds, doubling per attempt up to max_retry_seconds - forever.
// - A message the server accepted but that could not be marked sent (database down) is
//   remembered and marked by a later round instead of being mailed again.
// Call run_once() periodically (every few seconds) from one thread.

#include <cstdint>
#include <mutex>
#include <map>
#include <string>
#include <vector>

#include "alerts/mailer.hpp"
#include "alerts/model.hpp"
#include "common/clock.hpp"

namespace carillon::alerts {

struct DispatcherOptions {
  int batch = 20;                          // messages claimed per round
  std::int64_t first_retry_seconds = 30;   // after the first failure
  std::int64_t max_retry_seconds = 900;    // the backoff's cap
  std::int64_t lease_seconds = 300;        // a claimed message's lock; must exceed the mailer's timeout
};

class Dispatcher {
 public:
  // Everything passed in must outlive the dispatcher.
  Dispatcher(OutboxRepository& outbox, Mailer& mailer, const Clock& clock, DispatcherOptions options = {});

  // Stores `messages` (a dedup key seen before is skipped). Those that could not be stored are
  // held and retried; the error is the first such failure.
  Status enqueue(std::vector<OutboxMessage> messages);

  struct Round {
    int sent = 0;
    int failed = 0;
    std::string error;  // the outbox's error when it could not be read this round
  };
  Round run_once();

  // The wait after `attempts` failed attempts (>= 1): 30 s, 60 s, 120 s, ... capped.
  static std::int64_t retry_delay(int attempts, const DispatcherOptions& options);

  // Messages waiting in memory for the database: not yet stored, or sent but not marked.
  std::size_t held() const;

 private:
  void flush_held();

  OutboxRepository& outbox_;
  Mailer& mailer_;
  const Clock& clock_;
  DispatcherOptions options_;
  mutable std::mutex mutex_;
  std::vector<OutboxMessage> unstored_;
  std::map<std::string, std::int64_t> sent_unmarked_;  // id -> when the server accepted it
};

}  // namespace carillon::alerts
