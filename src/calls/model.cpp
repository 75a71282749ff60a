#include "calls/model.hpp"

namespace carillon::calls {

const char* to_string(TargetKind kind) {
  switch (kind) {
    case TargetKind::ring_group: return "ring_group";
    case TargetKind::device: return "device";
    case TargetKind::user: return "user";
  }
  return "device";
}

std::optional<TargetKind> parse_target_kind(std::string_view text) {
  if (text == "ring_group") return TargetKind::ring_group;
  if (text == "device") return TargetKind::device;
  if (text == "user") return TargetKind::user;
  return std::nullopt;
}

std::string_view prefix_of(TargetKind kind) {
  switch (kind) {
    case TargetKind::ring_group: return id_prefix::ring_group;
    case TargetKind::device: return "dv";
    case TargetKind::user: return "us";
  }
  return "dv";
}

const char* to_string(DialStatus status) {
  switch (status) {
    case DialStatus::in_progress: return "in_progress";
    case DialStatus::answered: return "answered";
    case DialStatus::missed: return "missed";
    case DialStatus::busy: return "busy";
    case DialStatus::rejected: return "rejected";
    case DialStatus::failed: return "failed";
    case DialStatus::timed_out: return "timed_out";
  }
  return "failed";
}

std::optional<DialStatus> parse_dial_status(std::string_view text) {
  for (auto s : {DialStatus::in_progress, DialStatus::answered, DialStatus::missed, DialStatus::busy,
                 DialStatus::rejected, DialStatus::failed, DialStatus::timed_out}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

const char* to_string(LegStatus status) {
  switch (status) {
    case LegStatus::trying: return "trying";
    case LegStatus::ringing: return "ringing";
    case LegStatus::answered: return "answered";
    case LegStatus::failed: return "failed";
    case LegStatus::cancelled: return "cancelled";
  }
  return "failed";
}

std::optional<LegStatus> parse_leg_status(std::string_view text) {
  for (auto s : {LegStatus::trying, LegStatus::ringing, LegStatus::answered, LegStatus::failed, LegStatus::cancelled}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

bool rule_applies(const ForwardingRule& rule, const TimeZone& zone, std::int64_t now) {
  const LocalTime local = zone.to_local(now);
  auto starts_on = [&rule](std::int64_t day) {
    if (!(rule.weekdays & (1u << weekday_of(day)))) return false;
    const CivilDate date = civil_from_days(day);
    if (rule.date_from && date < *rule.date_from) return false;
    if (rule.date_to && date > *rule.date_to) return false;
    return true;
  };
  if (!rule.time) return starts_on(local.day);
  const int from = rule.time->from * 60;
  const int to = rule.time->to * 60;
  const int s = local.second_of_day;
  if (from < to) return s >= from && s < to && starts_on(local.day);
  // Crossing midnight: the evening part belongs to today's occurrence, the morning part to
  // yesterday's.
  return (s >= from && starts_on(local.day)) || (s < to && starts_on(local.day - 1));
}

}  // namespace carillon::calls
