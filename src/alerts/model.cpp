#include "alerts/model.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace carillon::alerts {

const char* to_string(AlertKind kind) {
  switch (kind) {
    case AlertKind::device_offline: return "device_offline";
    case AlertKind::device_online: return "device_online";
    case AlertKind::firmware_available: return "firmware_available";
    case AlertKind::platform_version: return "platform_version";
  }
  return "device_offline";
}

Result<AlertKind> parse_alert_kind(const std::string& text, const std::string& field) {
  for (AlertKind kind : kAllAlertKinds) {
    if (text == to_string(kind)) return kind;
  }
  return fail(Errc::invalid_argument,
              "unknown alert kind (device_offline, device_online, firmware_available, platform_version)", field);
}

bool AlertSettings::wants(AlertKind kind) const {
  return std::find(enabled.begin(), enabled.end(), kind) != enabled.end();
}

namespace {

bool is_label_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-'; }

bool valid_domain(const std::string& domain) {
  if (domain.empty() || domain.size() > 253) return false;
  if (domain.front() == '[') {
    // An address literal: only IPv4 ("[127.0.0.1]"), enough for test and intranet relays.
    if (domain.back() != ']') return false;
    const std::string inner = domain.substr(1, domain.size() - 2);
    int parts = 0;
    std::size_t start = 0;
    for (;;) {
      const std::size_t dot = inner.find('.', start);
      const std::string part = inner.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) || std::stoi(part) > 255)
        return false;
      ++parts;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return parts == 4;
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = domain.find('.', start);
    const std::size_t end = dot == std::string::npos ? domain.size() : dot;
    const std::size_t length = end - start;
    if (length == 0 || length > 63) return false;
    if (domain[start] == '-' || domain[end - 1] == '-') return false;
    for (std::size_t i = start; i < end; ++i) {
      if (!is_label_char(domain[i])) return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool valid_local_part(const std::string& local) {
  if (local.empty() || local.size() > 64) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string::npos) return false;
  static const std::string kSpecials = "!#$%&'*+-/=?^_`{|}~.";
  return std::all_of(local.begin(), local.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || kSpecials.find(c) != std::string::npos;
  });
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

Status validate_address(const std::string& address, const std::string& field) {
  if (address.size() < 3 || address.size() > 254)
    return fail(Errc::invalid_argument, "an e-mail address has 3 to 254 characters", field);
  const std::size_t at = address.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == address.size())
    return fail(Errc::invalid_argument, "an e-mail address looks like name@example.com", field);
  if (!valid_local_part(address.substr(0, at)))
    return fail(Errc::invalid_argument,
                "the part before '@' may hold letters, digits and !#$%&'*+-/=?^_`{|}~. (no spaces, quotes or brackets)",
                field);
  if (!valid_domain(address.substr(at + 1)))
    return fail(Errc::invalid_argument, "the part after '@' is not a domain name", field);
  return {};
}

Status validate(const AlertSettings& settings) {
  if (settings.recipients.size() > kMaxRecipients)
    return fail(Errc::invalid_argument, "at most " + std::to_string(kMaxRecipients) + " recipients", "recipients");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < settings.recipients.size(); ++i) {
    const std::string field = "recipients/" + std::to_string(i);
    if (auto s = validate_address(settings.recipients[i], field); !s) return s;
    if (!seen.insert(lower(settings.recipients[i])).second)
      return fail(Errc::invalid_argument, "this address is listed twice", field);
  }
  if (settings.offline_after_minutes < 1 || settings.offline_after_minutes > 1440)
    return fail(Errc::invalid_argument, "between 1 and 1440 minutes", "offline_after_minutes");
  std::set<AlertKind> kinds;
  for (std::size_t i = 0; i < settings.enabled.size(); ++i) {
    if (!kinds.insert(settings.enabled[i]).second)
      return fail(Errc::invalid_argument, "this kind is listed twice", "enabled/" + std::to_string(i));
  }
  return {};
}

}  // namespace carillon::alerts
