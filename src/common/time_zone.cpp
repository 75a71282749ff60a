#include "common/time_zone.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace carillon {

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

// Big-endian readers over the TZif bytes; `ok` turns false on a short read.
struct Reader {
  std::string_view data;
  std::size_t at = 0;
  bool ok = true;
  bool has(std::size_t n) {
    if (at + n > data.size()) ok = false;
    return ok;
  }
  std::int64_t be(std::size_t n) {
    if (!has(n)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(data[at + i]);
    at += n;
    // Sign-extend 4- and 8-byte values.
    if (n < 8 && (v & (std::uint64_t{1} << (n * 8 - 1)))) v |= ~std::uint64_t{0} << (n * 8);
    return static_cast<std::int64_t>(v);
  }
  void skip(std::size_t n) {
    if (has(n)) at += n;
  }
};

struct Counts {
  std::int64_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

bool read_header(Reader& r, char& version, Counts& c) {
  if (!r.has(44) || r.data.substr(r.at, 4) != "TZif") return false;
  version = r.data[r.at + 4];
  r.skip(20);
  c.isut = r.be(4);
  c.isstd = r.be(4);
  c.leap = r.be(4);
  c.time = r.be(4);
  c.type = r.be(4);
  c.chars = r.be(4);
  return r.ok && c.type > 0 && c.time >= 0 && c.leap >= 0 && c.chars >= 0 && c.isut >= 0 && c.isstd >= 0 &&
         c.time < 100000 && c.type < 256;
}

// [+-]hh[:mm[:ss]] -> seconds; false on malformed text.
bool parse_hms(std::string_view text, std::size_t& at, int& out) {
  int sign = 1;
  if (at < text.size() && (text[at] == '+' || text[at] == '-')) sign = text[at++] == '-' ? -1 : 1;
  int parts[3] = {0, 0, 0};
  for (int p = 0; p < 3; ++p) {
    if (p > 0) {
      if (at >= text.size() || text[at] != ':') break;
      ++at;
    }
    std::size_t begin = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9' && at - begin < 3) parts[p] = parts[p] * 10 + (text[at++] - '0');
    if (at == begin) return false;
  }
  out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return true;
}

bool parse_zone_name(std::string_view text, std::size_t& at) {
  if (at < text.size() && text[at] == '<') {
    auto close = text.find('>', at);
    if (close == std::string_view::npos) return false;
    at = close + 1;
    return true;
  }
  std::size_t begin = at;
  while (at < text.size() && ((text[at] >= 'A' && text[at] <= 'Z') || (text[at] >= 'a' && text[at] <= 'z'))) ++at;
  return at - begin >= 3;
}

bool parse_number(std::string_view text, std::size_t& at, int& out) {
  std::size_t begin = at;
  out = 0;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9' && at - begin < 4) out = out * 10 + (text[at++] - '0');
  return at > begin;
}

}  // namespace

std::int64_t days_from_civil(const CivilDate& d) {
  const std::int64_t y = d.year - (d.month <= 2 ? 1 : 0);
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;
  const std::int64_t mp = (d.month + 9) % 12;  // March = 0
  const std::int64_t doy = (153 * mp + 2) / 5 + d.day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {static_cast<int>(yoe + era * 400 + (month <= 2 ? 1 : 0)), month, day};
}

int weekday_of(std::int64_t days) {
  // 1970-01-01 was a Thursday (3 when Monday is 0).
  return static_cast<int>(((days % 7) + 7 + 3) % 7);
}

Result<TimeZone> TimeZone::parse(std::string name, std::string_view tzif) {
  auto bad = [&](const char* why) { return fail(Errc::invalid_argument, name + ": not a TZif file (" + why + ")", "time_zone"); };
  Reader r{tzif};
  char version = 0;
  Counts c;
  if (!read_header(r, version, c)) return bad("header");
  std::size_t time_size = 4;
  if (version >= '2') {
    // Skip the 32-bit block; the 64-bit one follows with its own header.
    r.skip(static_cast<std::size_t>(c.time * 5 + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut));
    if (!read_header(r, version, c)) return bad("second header");
    time_size = 8;
  }
  TimeZone zone;
  zone.name_ = std::move(name);
  std::vector<std::int64_t> times(static_cast<std::size_t>(c.time));
  for (auto& t : times) t = r.be(time_size);
  std::vector<int> indexes(static_cast<std::size_t>(c.time));
  for (auto& i : indexes) i = static_cast<int>(r.be(1) & 0xff);
  std::vector<int> offsets(static_cast<std::size_t>(c.type));
  for (auto& o : offsets) {
    o = static_cast<int>(r.be(4));
    r.skip(2);
  }
  r.skip(static_cast<std::size_t>(c.chars + c.leap * (time_size + 4) + c.isstd + c.isut));
  if (!r.ok) return bad("truncated");
  for (std::size_t i = 0; i < times.size(); ++i) {
    if (indexes[i] >= c.type) return bad("type index");
    if (i > 0 && times[i] <= times[i - 1]) return bad("transition order");
  }
  zone.times_ = std::move(times);
  for (int i : indexes) zone.offsets_after_.push_back(offsets[static_cast<std::size_t>(i)]);
  zone.initial_offset_ = offsets[0];
  if (version >= '2' && r.at < tzif.size() && tzif[r.at] == '\n') {
    auto end = tzif.find('\n', r.at + 1);
    if (end != std::string_view::npos && end > r.at + 1) {
      if (!parse_posix(tzif.substr(r.at + 1, end - r.at - 1), zone.rule_)) return bad("footer");
    }
  }
  return zone;
}

TimeZone TimeZone::fixed(std::string name, int utc_offset_seconds) {
  TimeZone zone;
  zone.name_ = std::move(name);
  zone.initial_offset_ = utc_offset_seconds;
  return zone;
}

bool TimeZone::parse_posix(std::string_view text, PosixRule& rule) {
  std::size_t at = 0;
  if (!parse_zone_name(text, at)) return false;
  int std_posix = 0;
  if (!parse_hms(text, at, std_posix)) return false;
  rule.std_offset = -std_posix;  // POSIX counts west of Greenwich as positive
  rule.valid = true;
  if (at == text.size()) return true;
  if (!parse_zone_name(text, at)) return false;
  rule.has_dst = true;
  rule.dst_offset = rule.std_offset + 3600;
  if (at < text.size() && text[at] != ',') {
    int dst_posix = 0;
    if (!parse_hms(text, at, dst_posix)) return false;
    rule.dst_offset = -dst_posix;
  }
  auto parse_when = [&](PosixRule::When& w) {
    if (at >= text.size() || text[at] != ',') return false;
    ++at;
    if (at < text.size() && text[at] == 'M') {
      ++at;
      w.kind = 'M';
      if (!parse_number(text, at, w.month) || at >= text.size() || text[at++] != '.') return false;
      if (!parse_number(text, at, w.week) || at >= text.size() || text[at++] != '.') return false;
      if (!parse_number(text, at, w.weekday)) return false;
      if (w.month < 1 || w.month > 12 || w.week < 1 || w.week > 5 || w.weekday > 6) return false;
    } else if (at < text.size() && text[at] == 'J') {
      ++at;
      w.kind = 'J';
      if (!parse_number(text, at, w.day) || w.day < 1 || w.day > 365) return false;
    } else {
      w.kind = 'D';
      if (!parse_number(text, at, w.day) || w.day > 365) return false;
    }
    w.time = 7200;
    if (at < text.size() && text[at] == '/') {
      ++at;
      if (!parse_hms(text, at, w.time)) return false;
    }
    return true;
  };
  if (at == text.size()) {
    // No rule given: the POSIX default (US rules since 2007).
    rule.start = {'M', 3, 2, 0, 0, 7200};
    rule.end = {'M', 11, 1, 0, 0, 7200};
    return true;
  }
  return parse_when(rule.start) && parse_when(rule.end) && at == text.size();
}

std::pair<std::int64_t, std::int64_t> TimeZone::rule_transitions(int year) const {
  auto day_of = [year](const PosixRule::When& w) -> std::int64_t {
    const std::int64_t jan1 = days_from_civil({year, 1, 1});
    if (w.kind == 'J') return jan1 + w.day - 1 + (is_leap(year) && w.day >= 60 ? 1 : 0);
    if (w.kind == 'D') return jan1 + w.day;
    const std::int64_t first = days_from_civil({year, w.month, 1});
    const int first_weekday = (weekday_of(first) + 1) % 7;  // 0 = Sunday, as POSIX counts
    int day = 1 + (w.weekday - first_weekday + 7) % 7 + (w.week - 1) * 7;
    while (day > days_in_month(year, w.month)) day -= 7;
    return first + day - 1;
  };
  const std::int64_t start = day_of(rule_.start) * 86400 + rule_.start.time - rule_.std_offset;
  const std::int64_t end = day_of(rule_.end) * 86400 + rule_.end.time - rule_.dst_offset;
  return {start, end};
}

int TimeZone::rule_offset_at(std::int64_t utc) const {
  if (!rule_.has_dst) return rule_.std_offset;
  const int year = civil_from_days(floor_div(utc, 86400)).year;
  auto [start, end] = rule_transitions(year);
  const bool dst = start < end ? (utc >= start && utc < end) : (utc < end || utc >= start);
  return dst ? rule_.dst_offset : rule_.std_offset;
}

int TimeZone::offset_at(std::int64_t utc) const {
  if (times_.empty() || utc >= times_.back()) {
    if (rule_.valid) return rule_offset_at(utc);
    return times_.empty() ? initial_offset_ : offsets_after_.back();
  }
  auto it = std::upper_bound(times_.begin(), times_.end(), utc);
  if (it == times_.begin()) return initial_offset_;
  return offsets_after_[static_cast<std::size_t>(it - times_.begin() - 1)];
}

LocalTime TimeZone::to_local(std::int64_t utc) const {
  LocalTime out;
  out.utc_offset = offset_at(utc);
  const std::int64_t local = utc + out.utc_offset;
  out.day = floor_div(local, 86400);
  out.second_of_day = static_cast<int>(local - out.day * 86400);
  out.date = civil_from_days(out.day);
  out.weekday = weekday_of(out.day);
  return out;
}

std::vector<std::int64_t> TimeZone::transitions(std::int64_t from, std::int64_t to) const {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < times_.size(); ++i) {
    const int before = i == 0 ? initial_offset_ : offsets_after_[i - 1];
    if (times_[i] > from && times_[i] <= to && before != offsets_after_[i]) out.push_back(times_[i]);
  }
  if (rule_.valid && rule_.has_dst) {
    const std::int64_t after = times_.empty() ? from : std::max(from, times_.back());
    const int first_year = civil_from_days(floor_div(after, 86400)).year - 1;
    const int last_year = civil_from_days(floor_div(to, 86400)).year + 1;
    for (int year = first_year; year <= last_year; ++year) {
      auto [start, end] = rule_transitions(year);
      for (auto t : {start, end}) {
        if (t > after && t > from && t <= to) out.push_back(t);
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::int64_t> TimeZone::from_local(std::int64_t local_seconds) const {
  std::set<std::int64_t> found;
  for (std::int64_t probe : {local_seconds - 86400, local_seconds, local_seconds + 86400}) {
    const int offset = offset_at(probe);
    const std::int64_t utc = local_seconds - offset;
    if (offset_at(utc) == offset) found.insert(utc);
  }
  return {found.begin(), found.end()};
}

TimeZoneDb::TimeZoneDb(std::filesystem::path zoneinfo) : root_(std::move(zoneinfo)) {}

Result<std::shared_ptr<const TimeZone>> TimeZoneDb::get(const std::string& name) {
  auto unknown = [&] { return fail(Errc::invalid_argument, "unknown time zone", "time_zone"); };
  // Names are looked up as paths: refuse anything that could leave the zoneinfo directory.
  if (name.empty() || name.size() > 100 || name.front() == '/') return unknown();
  for (char ch : name) {
    const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' ||
                    ch == '_' || ch == '-' || ch == '+';
    if (!ok) return unknown();
  }
  if (name.find("//") != std::string::npos || name.back() == '/') return unknown();
  {
    std::lock_guard lock(mutex_);
    if (auto it = zones_.find(name); it != zones_.end()) return it->second;
  }
  const auto path = root_ / name;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return unknown();
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) return unknown();
  auto zone = TimeZone::parse(name, bytes.str());
  if (!zone) return unknown();
  auto shared = std::make_shared<const TimeZone>(std::move(*zone));
  std::lock_guard lock(mutex_);
  return zones_.emplace(name, shared).first->second;
}

}  // namespace carillon
