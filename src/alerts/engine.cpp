#include "alerts/engine.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <cstdint>
#include <set>
#include <tuple>

#include "common/encoding.hpp"

namespace carillon::alerts {

namespace {

constexpr std::size_t kMaxDedupKey = 200;
constexpr std::size_t kMaxNameInSubject = 120;

// Names come from people: no control characters in a line of text or a subject.
std::string clean(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

// At most `limit` bytes, cut before a UTF-8 continuation byte, with "..." when cut.
std::string shorten(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

std::string device_label(const DeviceRef& d) {
  const std::string name = d.name.empty() ? d.device_id : clean(d.name);
  return d.site_name.empty() ? name : name + " (" + clean(d.site_name) + ")";
}

std::string dedup_key(AlertKind kind, const std::string& company_id, const std::string& detail) {
  std::string key = std::string(to_string(kind)) + ":" + company_id + ":" + detail;
  if (key.size() <= kMaxDedupKey) return key;
  return std::string(to_string(kind)) + ":" + company_id + ":" + sha256_hex(detail).substr(0, 32);
}

std::string plural(std::size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

std::string format_utc_minute(std::int64_t at) {
  const std::time_t t = static_cast<std::time_t>(at);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::array<char, 64> text{};  // roomy: GCC cannot bound tm's ints and warns at -O3
  std::snprintf(text.data(), text.size(), "%04d-%02d-%02d %02d:%02d UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min);
  return text.data();
}

std::string format_duration(std::int64_t seconds) {
  const std::int64_t minutes = std::max<std::int64_t>(seconds, 0) / 60;
  const std::int64_t days = minutes / 1440;
  const std::int64_t hours = minutes % 1440 / 60;
  const std::int64_t rest = minutes % 60;
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for "literal" + string&&.
  std::string text;
  const auto unit = [&text](std::int64_t n, const char* name) {
    if (!text.empty()) text += ' ';
    text += std::to_string(n);
    text += ' ';
    text += name;
    if (n != 1) text += 's';
  };
  if (days > 0) {
    unit(days, "day");
    if (hours > 0) unit(hours, "hour");
  } else if (hours > 0) {
    unit(hours, "hour");
    if (rest > 0) unit(rest, "minute");
  } else {
    unit(rest, "minute");
  }
  return text;
}

AlertEngine::AlertEngine(AlertSettingsRepository& settings, IdGenerator& ids, const Clock& clock, EngineOptions options)
    : settings_(settings), ids_(ids), clock_(clock), options_(std::move(options)) {}

void AlertEngine::device_offline(const DeviceRef& device, std::int64_t at) {
  std::lock_guard lock(mutex_);
  auto it = watches_.find(device.device_id);
  if (it == watches_.end()) {
    watches_.emplace(device.device_id, Watch{device, Phase::pending, at, 0});
    return;
  }
  Watch& w = it->second;
  w.device = device;
  if (w.phase == Phase::pending) {
    w.offline_since = std::min(w.offline_since, at);  // the same outage reported twice
  } else if (w.phase == Phase::recovering) {
    w.phase = Phase::reported;  // flapping: the recipients still believe it offline, which it is
  }
}

void AlertEngine::device_online(const DeviceRef& device, std::int64_t at) {
  std::lock_guard lock(mutex_);
  auto it = watches_.find(device.device_id);
  if (it == watches_.end()) return;
  Watch& w = it->second;
  w.device = device;
  if (w.phase == Phase::pending) {
    watches_.erase(it);  // back within the debounce time
  } else if (w.phase == Phase::reported) {
    w.phase = Phase::recovering;
    w.online_at = at;
  }
}

std::size_t AlertEngine::watched() const {
  std::lock_guard lock(mutex_);
  return watches_.size();
}

std::string AlertEngine::footer() const {
  std::string out = "\n--\nYou receive this e-mail because this address is an alert recipient of your company in " +
                    options_.product_name + ".\n";
  if (!options_.portal_url.empty()) out += "Alert settings: " + options_.portal_url + "\n";
  return out;
}

OutboxMessage AlertEngine::message(const AlertSettings& settings, AlertKind kind, std::string key, std::string subject,
                                   std::string body) const {
  OutboxMessage m;
  m.id = ids_.next("am");
  m.company_id = settings.company_id;
  m.kind = kind;
  m.dedup_key = std::move(key);
  m.recipients = settings.recipients;
  m.subject = "[" + options_.product_name + "] " + std::move(subject);
  m.body = std::move(body) + footer();
  m.created_at = clock_.now();
  m.next_attempt_at = m.created_at;
  return m;
}

std::vector<OutboxMessage> AlertEngine::tick() {
  std::lock_guard lock(mutex_);
  const std::int64_t now = clock_.now();
  const std::int64_t window = options_.group_window_seconds;
  std::set<std::string> companies;
  for (const auto& [id, w] : watches_) companies.insert(w.device.company_id);

  std::vector<OutboxMessage> out;
  for (const auto& company : companies) {
    auto settings = settings_.get(company);
    if (!settings) continue;  // keep everything; the next tick tries again
    const std::int64_t after = std::int64_t{settings->offline_after_minutes} * 60;
    const bool offline_wanted = settings->wants(AlertKind::device_offline) && !settings->recipients.empty();
    const bool online_wanted = settings->wants(AlertKind::device_online) && !settings->recipients.empty();

    // Offline: the devices past their mark; sent once the earliest mark is a window old.
    std::vector<Watch*> passed;
    std::int64_t first_mark = INT64_MAX;
    std::vector<std::string> dropped;
    for (auto& [id, w] : watches_) {
      if (w.device.company_id != company || w.phase != Phase::pending) continue;
      const std::int64_t mark = w.offline_since + after;
      if (mark > now) continue;
      if (!offline_wanted) {
        dropped.push_back(id);
        continue;
      }
      passed.push_back(&w);
      first_mark = std::min(first_mark, mark);
    }
    if (!passed.empty() && first_mark + window <= now) {
      std::sort(passed.begin(), passed.end(), [](const Watch* a, const Watch* b) {
        return std::tie(a->device.site_name, a->device.name, a->device.device_id) <
               std::tie(b->device.site_name, b->device.name, b->device.device_id);
      });
      std::string detail;
      std::string body = (passed.size() == 1 ? std::string("This device has") : std::string("These devices have")) +
                         " been offline for more than " + format_duration(after) + ":\n\n";
      for (Watch* w : passed) {
        detail += w->device.device_id + "@" + std::to_string(w->offline_since) + ",";
        body += "- " + device_label(w->device) + ": offline since " + format_utc_minute(w->offline_since) + "\n";
        w->phase = Phase::reported;
      }
      std::string subject = passed.size() == 1
                                ? "Device offline: " + shorten(device_label(passed.front()->device), kMaxNameInSubject)
                                : plural(passed.size(), "device", "devices") + " offline";
      out.push_back(message(*settings, AlertKind::device_offline, dedup_key(AlertKind::device_offline, company, detail),
                            std::move(subject), std::move(body)));
    }

    // Back online: only devices reported offline; same grouping from the first return.
    std::vector<Watch*> back;
    std::int64_t first_return = INT64_MAX;
    for (auto& [id, w] : watches_) {
      if (w.device.company_id != company || w.phase != Phase::recovering) continue;
      back.push_back(&w);
      first_return = std::min(first_return, w.online_at);
    }
    if (!back.empty() && first_return + window <= now) {
      std::sort(back.begin(), back.end(), [](const Watch* a, const Watch* b) {
        return std::tie(a->device.site_name, a->device.name, a->device.device_id) <
               std::tie(b->device.site_name, b->device.name, b->device.device_id);
      });
      if (online_wanted) {
        std::string detail;
        std::string body = (back.size() == 1 ? std::string("This device is") : std::string("These devices are")) +
                           " back online:\n\n";
        for (Watch* w : back) {
          detail += w->device.device_id + "@" + std::to_string(w->online_at) + ",";
          body += "- " + device_label(w->device) + ": back online since " + format_utc_minute(w->online_at) +
                  ", was offline for " + format_duration(w->online_at - w->offline_since) + "\n";
        }
        std::string subject = back.size() == 1
                                  ? "Device back online: " + shorten(device_label(back.front()->device), kMaxNameInSubject)
                                  : plural(back.size(), "device", "devices") + " back online";
        out.push_back(message(*settings, AlertKind::device_online, dedup_key(AlertKind::device_online, company, detail),
                              std::move(subject), std::move(body)));
      }
      for (Watch* w : back) dropped.push_back(w->device.device_id);
    }
    // A reported device of a company that stopped wanting back-online messages is let go too.
    if (!online_wanted) {
      for (auto& [id, w] : watches_) {
        if (w.device.company_id == company && w.phase == Phase::reported && !offline_wanted) dropped.push_back(id);
      }
    }
    for (const auto& id : dropped) watches_.erase(id);
  }
  return out;
}

Result<std::vector<OutboxMessage>> AlertEngine::firmware_available(const FirmwareNotice& n) {
  auto settings = settings_.get(n.company_id);
  if (!settings) return tl::unexpected(settings.error());
  std::vector<OutboxMessage> out;
  if (!settings->wants(AlertKind::firmware_available) || settings->recipients.empty()) return out;
  const std::string image = clean(n.family) + " " + clean(n.version);
  std::string subject = std::string(n.security_critical ? "Security update: firmware " : "New firmware ") + image +
                        " available for " + plural(static_cast<std::size_t>(std::max(n.device_count, 0)), "device", "devices");
  std::string body = "Firmware " + image + " is available for " +
                     plural(static_cast<std::size_t>(std::max(n.device_count, 0)), "device", "devices") +
                     " of your company.\n";
  if (n.security_critical)
    body += "\nIt is marked security-critical: devices whose update policy allows security updates install it in "
            "their next maintenance window.\n";
  if (!n.release_notes.empty()) body += "\nRelease notes:\n" + n.release_notes + "\n";
  out.push_back(message(*settings, AlertKind::firmware_available,
                        dedup_key(AlertKind::firmware_available, n.company_id, n.family + ":" + n.version),
                        shorten(subject, 300), std::move(body)));
  return out;
}

Result<std::vector<OutboxMessage>> AlertEngine::platform_version(const std::string& version, const std::string& notes) {
  auto companies = settings_.with_recipients();
  if (!companies) return tl::unexpected(companies.error());
  std::vector<OutboxMessage> out;
  for (const auto& settings : *companies) {
    if (!settings.wants(AlertKind::platform_version) || settings.recipients.empty()) continue;
    std::string body = options_.product_name + " now runs version " + clean(version) + ".\n";
    if (!notes.empty()) body += "\nWhat is new:\n" + notes + "\n";
    out.push_back(message(settings, AlertKind::platform_version,
                          dedup_key(AlertKind::platform_version, settings.company_id, version),
                          shorten(options_.product_name + " " + clean(version) + " is live", 300), std::move(body)));
  }
  return out;
}

}  // namespace carillon::alerts
