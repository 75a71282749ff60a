#pragma once
// Which alert e-mails to send and when: pure logic on events and the company settings, with the
// clock injected. Deterministic English text. Safe to call from several threads.
//
// Device offline/online (debounced and grouped):
// - A device reported offline at `at` passes its mark at at + offline_after_minutes. Back online
//   before that: nothing is sent.
// - A company's devices whose marks fall within one grouping window (options.group_window_seconds,
//   counted from the earliest mark) go into ONE "devices offline" message, made by the first
//   tick() at or after the end of that window.
// - "Back online" is only sent for devices an offline message was sent for, grouped the same way
//   (a window from the first device's return). A device going offline again before that message
//   left is not reported twice: it simply stays reported as offline.
// - A company that has no recipients or has disabled the kind gets nothing, and its devices are
//   not watched past their mark.
// This state is in memory (one engine per deployment feeds the shared outbox; dedup keys keep a
// second engine fed with the same events from producing a second message).

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "alerts/model.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"

namespace carillon::alerts {

struct DeviceRef {
  std::string company_id;
  std::string device_id;
  std::string name;       // as shown to people; control characters are replaced by spaces
  std::string site_name;  // "" when unknown
};

struct FirmwareNotice {
  std::string company_id;
  std::string family;   // "MX"
  std::string version;  // "04.06.01.21"
  bool security_critical = false;
  int device_count = 0;       // the company's devices the image is for
  std::string release_notes;  // "" when none
};

struct EngineOptions {
  std::int64_t group_window_seconds = 60;
  std::string product_name = "Carillon";  // subject prefix "[Carillon]" and in the text
  std::string portal_url;                 // linked in the footer when set
};

class AlertEngine {
 public:
  // Everything passed in must outlive the engine.
  AlertEngine(AlertSettingsRepository& settings, IdGenerator& ids, const Clock& clock, EngineOptions options = {});

  void device_offline(const DeviceRef& device, std::int64_t at);
  void device_online(const DeviceRef& device, std::int64_t at);

  // The grouped device messages now due. A company whose settings cannot be read (database
  // down) keeps its state and is looked at again on the next tick.
  std::vector<OutboxMessage> tick();

  // One message for the company (when it wants this kind and has recipients); its dedup key is
  // per company, family and version, so the same image is announced once.
  Result<std::vector<OutboxMessage>> firmware_available(const FirmwareNotice& notice);
  // One message per company with recipients that wants this kind; dedup key per company and
  // version, so calling this on every start announces a version once.
  Result<std::vector<OutboxMessage>> platform_version(const std::string& version, const std::string& notes = {});

  // Devices being watched (offline, reported offline, or back online and not yet reported).
  std::size_t watched() const;

 private:
  enum class Phase { pending, reported, recovering };
  struct Watch {
    DeviceRef device;
    Phase phase = Phase::pending;
    std::int64_t offline_since = 0;
    std::int64_t online_at = 0;
  };

  OutboxMessage message(const AlertSettings& settings, AlertKind kind, std::string dedup_key, std::string subject,
                        std::string body) const;
  std::string footer() const;

  AlertSettingsRepository& settings_;
  IdGenerator& ids_;
  const Clock& clock_;
  EngineOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, Watch> watches_;  // by device id
};

// "2026-11-25 14:28 UTC"
std::string format_utc_minute(std::int64_t at);
// "42 minutes", "1 minute", "3 hours 5 minutes", "2 days 1 hour"
std::string format_duration(std::int64_t seconds);

}  // namespace carillon::alerts
