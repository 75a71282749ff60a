#pragma once
// Alert e-mail (issue 5, "Monitoring and notifications"): what is sent, to whom, and the
// repository contracts (src/store/alert_repository.hpp has the SQL implementation). No SQL,
// HTTP or SMTP in here.
//
// Flow: events (device offline/online, firmware available, platform version) go into the
// AlertEngine (engine.hpp), which decides - debounced and grouped, per company settings - which
// messages to send and returns them as OutboxMessages; the Dispatcher (dispatcher.hpp) stores
// them in the outbox and sends what is due through a Mailer (mailer.hpp), retrying with backoff
// until the SMTP server accepts each one. A message is only ever marked sent, never dropped.

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "common/page.hpp"
#include "common/result.hpp"

namespace carillon::alerts {

enum class AlertKind { device_offline, device_online, firmware_available, platform_version };
inline constexpr AlertKind kAllAlertKinds[] = {AlertKind::device_offline, AlertKind::device_online,
                                               AlertKind::firmware_available, AlertKind::platform_version};
// "device_offline", "device_online", "firmware_available", "platform_version".
const char* to_string(AlertKind kind);
// Errc::invalid_argument naming `field` for anything else.
Result<AlertKind> parse_alert_kind(const std::string& text, const std::string& field);

// Per company. Without a stored row a company has the defaults below and no recipients, so
// nothing is sent to it.
struct AlertSettings {
  std::string company_id;
  std::vector<std::string> recipients;  // e-mail addresses (validate_address), at most kMaxRecipients
  int offline_after_minutes = 10;       // 1..1440: how long a device must stay offline to be reported
  std::vector<AlertKind> enabled = {std::begin(kAllAlertKinds), std::end(kAllAlertKinds)};
  std::int64_t updated_at = 0;

  bool wants(AlertKind kind) const;
};

inline constexpr std::size_t kMaxRecipients = 50;

// Field errors: "recipients/<i>" (bad or duplicate address), "recipients" (too many),
// "offline_after_minutes", "enabled/<i>" (duplicate kind). Addresses are compared case-
// insensitively for duplicates and stored as given.
Status validate(const AlertSettings& settings);

// A sane subset of RFC 5321: local@domain, 3..254 characters, the local part of printable ASCII
// without spaces, quotes, brackets, commas or semicolons (<= 64), the domain dot-separated
// labels of letters, digits and '-' (or a bracketed IPv4 literal). Nothing that could split a
// header or an SMTP command (no CR, LF, NUL, space, '<', '>') passes. invalid_argument naming `field`.
Status validate_address(const std::string& address, const std::string& field);

// One e-mail in the outbox. `dedup_key` is unique over the whole outbox: enqueuing a message
// whose key is there already does nothing, so an event reported twice (two nodes, a restart)
// is mailed once.
struct OutboxMessage {
  std::string id;          // "am_..."
  std::string company_id;  // whose recipients these are
  AlertKind kind = AlertKind::device_offline;
  std::string dedup_key;   // <= 200 characters
  std::vector<std::string> recipients;
  std::string subject;
  std::string body;        // plain text, UTF-8, '\n' line ends
  std::int64_t created_at = 0;
  std::int64_t next_attempt_at = 0;  // due from then on while unsent
  int attempts = 0;                  // failed attempts so far
  std::string last_error;            // of the last failed attempt ("" when none)
  std::int64_t sent_at = 0;          // 0 while unsent
};

// The e-mail outbox. Shared by every serve node: claim_due() hands a message to one caller at a time.
class OutboxRepository {
 public:
  virtual ~OutboxRepository() = default;
  // Stores `message` (unsent). True when stored, false when a message with its dedup_key exists
  // (nothing changes then).
  virtual Result<bool> enqueue(const OutboxMessage& message) = 0;
  // Up to `limit` unsent messages with next_attempt_at <= now, oldest due first, each claimed
  // for this caller by moving its next_attempt_at to `lease_until` (a message another caller
  // claimed in between is left out). A caller that dies mid-send thus leaves the message to be
  // picked up again after the lease.
  virtual Result<std::vector<OutboxMessage>> claim_due(std::int64_t now, std::int64_t lease_until, int limit) = 0;
  // Errc::not_found (field "id") when there is no such unsent message.
  virtual Status mark_sent(const std::string& id, std::int64_t at) = 0;
  // Counts a failed attempt: attempts + 1, last_error, due again at next_attempt_at.
  // Errc::not_found (field "id") when there is no such unsent message.
  virtual Status mark_failed(const std::string& id, std::int64_t next_attempt_at, const std::string& error) = 0;
  // Errc::not_found (field "id").
  virtual Result<OutboxMessage> find(const std::string& id) = 0;
  // A company's messages, sent or not, ordered by id (oldest first, cursor pagination).
  virtual Result<Page<OutboxMessage>> list(const std::string& company_id, const PageRequest& page) = 0;
};

class AlertSettingsRepository {
 public:
  virtual ~AlertSettingsRepository() = default;
  // The stored settings, or the defaults (no recipients) for a company without a row.
  virtual Result<AlertSettings> get(const std::string& company_id) = 0;
  // Replaces the company's settings and recipients (the caller validated them).
  // Errc::conflict when the company does not exist.
  virtual Status put(const AlertSettings& settings) = 0;
  // Every company that has at least one recipient, ordered by company id.
  virtual Result<std::vector<AlertSettings>> with_recipients() = 0;
};

}  // namespace carillon::alerts
