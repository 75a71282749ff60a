#include "firmware/policy.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace carillon::firmware {

namespace {

constexpr int kMinutesPerDay = 24 * 60;
constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::array<std::string_view, 7> kWeekdays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

bool has_day(const MaintenanceWindow& window, int weekday) { return (window.weekdays >> weekday) & 1U; }

std::string format_minute(int minute) {
  const int hours = minute / 60, minutes = minute % 60;
  return {char('0' + hours / 10), char('0' + hours % 10), ':', char('0' + minutes / 10), char('0' + minutes % 10)};
}

Result<int> parse_minute(const nlohmann::json& value, const std::string& field) {
  auto bad = [&] { return fail(Errc::invalid_argument, field + " must be a time \"HH:MM\" (00:00 to 23:59)", field); };
  if (!value.is_string()) return bad();
  const auto& text = value.get_ref<const std::string&>();
  auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
  if (text.size() != 5 || !digit(0) || !digit(1) || text[2] != ':' || !digit(3) || !digit(4)) return bad();
  int hours = (text[0] - '0') * 10 + (text[1] - '0');
  int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (hours > 23 || minutes > 59) return bad();
  return hours * 60 + minutes;
}

}  // namespace

UpdatePolicy effective_policy(const std::optional<UpdatePolicy>& company, const std::optional<UpdatePolicy>& project,
                              const std::optional<UpdatePolicy>& site) {
  if (site) return *site;
  if (project) return *project;
  if (company) return *company;
  return UpdatePolicy{};
}

bool offers(const UpdatePolicy& policy, const Manifest& manifest) {
  switch (policy.mode) {
    case UpdateMode::all: return true;
    case UpdateMode::security_only: return manifest.security_critical;
    case UpdateMode::manual: return false;
  }
  return false;
}

Status check_window(const MaintenanceWindow& window) {
  if (window.weekdays >= 128) return fail(Errc::invalid_argument, "weekdays must be a subset of mon..sun", "window.weekdays");
  if (window.start_minute < 0 || window.start_minute >= kMinutesPerDay)
    return fail(Errc::invalid_argument, "window start must be between 00:00 and 23:59", "window.start");
  if (window.end_minute < 0 || window.end_minute >= kMinutesPerDay)
    return fail(Errc::invalid_argument, "window end must be between 00:00 and 23:59", "window.end");
  if (window.weekdays != 0 && window.start_minute == window.end_minute)
    return fail(Errc::invalid_argument, "window start and end are equal: the window would be empty", "window.end");
  return {};
}

bool in_window(const MaintenanceWindow& window, const TimeZone& zone, std::int64_t unix_seconds) {
  if (window.weekdays == 0) return true;
  LocalTime local = zone.to_local(unix_seconds);
  int minute = local.second_of_day / 60;
  if (window.start_minute < window.end_minute)
    return has_day(window, local.weekday) && minute >= window.start_minute && minute < window.end_minute;
  int yesterday = (local.weekday + 6) % 7;
  return (has_day(window, local.weekday) && minute >= window.start_minute) ||
         (has_day(window, yesterday) && minute < window.end_minute);
}

std::int64_t next_window_start(const MaintenanceWindow& window, const TimeZone& zone, std::int64_t now) {
  if (in_window(window, zone, now)) return now;
  // Candidates are the local start times of the coming days; a window opens at most a week
  // (plus a skipped DST hour on its only day) ahead, so two weeks always hold the answer.
  const std::int64_t today = zone.to_local(now).day;
  std::optional<std::int64_t> best;
  for (std::int64_t day = today - 1; day <= today + 15 && !best; ++day) {
    if (!has_day(window, weekday_of(day))) continue;
    const std::int64_t local = day * kSecondsPerDay + window.start_minute * 60;
    std::vector<std::int64_t> instants = zone.from_local(local);
    if (instants.empty()) {
      // Skipped by a DST jump: the wall clock passes the start at the transition itself.
      const std::int64_t earliest = local - 26 * 3600, latest = local + 26 * 3600;
      auto wall = [&](std::int64_t t) {
        LocalTime at = zone.to_local(t);
        return at.day * kSecondsPerDay + at.second_of_day;
      };
      for (std::int64_t t : zone.transitions(earliest, latest)) {
        if (wall(t - 1) < local && wall(t) > local) instants.push_back(t);
      }
    }
    for (std::int64_t t : instants) {
      if (t >= now && in_window(window, zone, t) && (!best || t < *best)) best = t;
    }
  }
  return best.value_or(now);
}

nlohmann::json to_json(const UpdatePolicy& policy) {
  nlohmann::json window = nullptr;
  if (policy.window.weekdays != 0) {
    nlohmann::json days = nlohmann::json::array();
    for (int day = 0; day < 7; ++day) {
      if (has_day(policy.window, day)) days.push_back(kWeekdays[static_cast<std::size_t>(day)]);
    }
    window = {{"weekdays", days},
              {"start", format_minute(policy.window.start_minute)},
              {"end", format_minute(policy.window.end_minute)}};
  }
  return {{"scope_id", policy.scope_id},
          {"mode", to_string(policy.mode)},
          {"window", window},
          {"updated_at", policy.updated_at}};
}

Result<UpdatePolicy> policy_from_json(const nlohmann::json& document) {
  if (!document.is_object()) return fail(Errc::invalid_argument, "update policy must be a JSON object");
  UpdatePolicy policy;
  auto mode = document.find("mode");
  if (mode == document.end() || !mode->is_string())
    return fail(Errc::invalid_argument, "mode must be all, security_only or manual", "mode");
  auto parsed_mode = parse_update_mode(mode->get<std::string>(), "mode");
  if (!parsed_mode) return tl::unexpected(parsed_mode.error());
  policy.mode = *parsed_mode;

  auto window = document.find("window");
  if (window == document.end() || window->is_null()) return policy;
  if (!window->is_object()) return fail(Errc::invalid_argument, "window must be an object or null", "window");

  auto weekdays = window->find("weekdays");
  if (weekdays == window->end() || !weekdays->is_array())
    return fail(Errc::invalid_argument, "weekdays must be an array of mon, tue, wed, thu, fri, sat, sun",
                "window.weekdays");
  for (const auto& day : *weekdays) {
    auto it = day.is_string() ? std::find(kWeekdays.begin(), kWeekdays.end(), day.get_ref<const std::string&>())
                              : kWeekdays.end();
    if (it == kWeekdays.end())
      return fail(Errc::invalid_argument, "weekdays must be an array of mon, tue, wed, thu, fri, sat, sun",
                  "window.weekdays");
    policy.window.weekdays |= 1U << (it - kWeekdays.begin());
  }
  auto start = parse_minute(window->value("start", nlohmann::json()), "window.start");
  if (!start) return tl::unexpected(start.error());
  auto end = parse_minute(window->value("end", nlohmann::json()), "window.end");
  if (!end) return tl::unexpected(end.error());
  policy.window.start_minute = *start;
  policy.window.end_minute = *end;
  if (auto ok = check_window(policy.window); !ok) return tl::unexpected(ok.error());
  return policy;
}

}  // namespace carillon::firmware
