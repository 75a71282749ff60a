#pragma once
// IANA time zones from the system tz database (TZif files under /usr/share/zoneinfo), without
// the process-wide TZ variable: GCC 12's libstdc++ has no std::chrono::tzdb, and localtime_r
// after setenv("TZ") is global state that several sites in several zones cannot share. A
// TimeZone is immutable after loading, so one instance may be used from any thread.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace carillon {

// A proleptic Gregorian calendar date.
struct CivilDate {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  auto operator<=>(const CivilDate&) const = default;
};

// Days since 1970-01-01 and back.
std::int64_t days_from_civil(const CivilDate& date);
CivilDate civil_from_days(std::int64_t days);
// 0 = Monday ... 6 = Sunday.
int weekday_of(std::int64_t days);

// Wall-clock time at some place: the local date, its weekday and the second of that day.
struct LocalTime {
  CivilDate date;
  std::int64_t day = 0;      // days_from_civil(date)
  int weekday = 0;           // 0 = Monday
  int second_of_day = 0;     // 0..86399
  int utc_offset = 0;        // seconds east of UTC in effect
};

class TimeZone {
 public:
  // Parses TZif (versions 1-4) content; invalid_argument when it is not one. `name` is kept
  // for messages.
  static Result<TimeZone> parse(std::string name, std::string_view tzif);
  // A fixed offset, e.g. UTC.
  static TimeZone fixed(std::string name, int utc_offset_seconds);

  const std::string& name() const { return name_; }
  // Seconds east of UTC at the instant `utc` (Unix seconds).
  int offset_at(std::int64_t utc) const;
  LocalTime to_local(std::int64_t utc) const;
  // Instants (ascending) at which the offset changes, within (from, to].
  std::vector<std::int64_t> transitions(std::int64_t from, std::int64_t to) const;
  // The UTC instants whose local wall time is `local_seconds` (seconds since 1970-01-01 on the
  // local calendar): one normally, two in a repeated hour, none in a skipped hour.
  std::vector<std::int64_t> from_local(std::int64_t local_seconds) const;

 private:
  // A POSIX TZ rule (the TZif footer) for instants after the last listed transition.
  struct PosixRule {
    struct When {
      char kind = 'M';  // 'M' month.week.weekday, 'J' julian 1..365 without Feb 29, 'D' 0..365
      int month = 0, week = 0, weekday = 0, day = 0;
      int time = 7200;  // seconds after local midnight (may be negative or > 24 h)
    };
    bool valid = false;
    int std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    int dst_offset = 0;
    When start, end;
  };
  static bool parse_posix(std::string_view text, PosixRule& rule);
  // The rule's two transitions in `year` as UTC instants: (start of DST, end of DST).
  std::pair<std::int64_t, std::int64_t> rule_transitions(int year) const;
  int rule_offset_at(std::int64_t utc) const;

  std::string name_;
  std::vector<std::int64_t> times_;   // transition instants, ascending
  std::vector<int> offsets_after_;    // offset from each transition on
  int initial_offset_ = 0;            // before the first transition
  PosixRule rule_;
};

// Loads zones by IANA name from a zoneinfo directory and keeps them; thread-safe.
class TimeZoneDb {
 public:
  explicit TimeZoneDb(std::filesystem::path zoneinfo = "/usr/share/zoneinfo");
  // invalid_argument (field "time_zone") for names that are not a zone in the directory.
  Result<std::shared_ptr<const TimeZone>> get(const std::string& name);

 private:
  std::filesystem::path root_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const TimeZone>> zones_;
};

}  // namespace carillon
