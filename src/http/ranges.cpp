#include "http/ranges.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <string_view>

namespace carillon::http {

namespace {

std::string trim(const std::string& text) {
  auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

// A non-empty run of digits that fits in 64 bits.
bool parse_number(const std::string& text, std::uint64_t& out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

bool validator_matches(const std::string& if_range, const std::string& etag, const std::string& last_modified) {
  // Weak tags never match (If-Range requires strong comparison).
  if (if_range.rfind("W/", 0) == 0) return false;
  if (!if_range.empty() && if_range.front() == '"') return if_range == etag;
  return !last_modified.empty() && if_range == last_modified;
}

}  // namespace

RangeDecision decide_range(const std::string& range_in, const std::string& if_range_in, const std::string& etag,
                           const std::string& last_modified, std::uint64_t size) {
  RangeDecision whole;
  std::string range = trim(range_in);
  if (range.empty()) return whole;
  std::string if_range = trim(if_range_in);
  if (!if_range.empty() && !validator_matches(if_range, etag, last_modified)) return whole;

  constexpr std::string_view kUnit = "bytes=";
  if (range.size() < kUnit.size()) return whole;
  for (std::size_t i = 0; i < kUnit.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(range[i])) != kUnit[i]) return whole;
  }
  std::string spec = trim(range.substr(kUnit.size()));
  // Serving several ranges would need multipart/byteranges; the whole file is a valid answer.
  if (spec.find(',') != std::string::npos) return whole;
  auto dash = spec.find('-');
  if (dash == std::string::npos) return whole;
  std::string first_text = trim(spec.substr(0, dash));
  std::string last_text = trim(spec.substr(dash + 1));

  RangeDecision unsatisfiable{RangeDecision::Kind::unsatisfiable, 0, 0};
  if (first_text.empty()) {
    std::uint64_t suffix = 0;
    if (!parse_number(last_text, suffix)) return whole;
    if (suffix == 0 || size == 0) return unsatisfiable;
    std::uint64_t length = std::min(suffix, size);
    return {RangeDecision::Kind::partial, size - length, length};
  }
  std::uint64_t first = 0;
  if (!parse_number(first_text, first)) return whole;
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    std::uint64_t requested = 0;
    if (!parse_number(last_text, requested) || requested < first) return whole;
    last = std::min(last, requested);
  }
  if (first >= size) return unsatisfiable;
  return {RangeDecision::Kind::partial, first, last - first + 1};
}

std::string http_date(std::chrono::system_clock::time_point time) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  // Built by hand rather than with strftime so the process locale cannot change the names.
  char text[40];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[utc.tm_wday], utc.tm_mday,
                kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return text;
}

std::string file_etag(std::uint64_t size, std::int64_t mtime_ns) {
  char text[48];
  std::snprintf(text, sizeof text, "\"%llx-%llx\"", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(mtime_ns));
  return text;
}

std::string quote_etag(const std::string& value) {
  if (value.size() >= 2 && value.back() == '"' && (value.front() == '"' || value.rfind("W/\"", 0) == 0)) return value;
  return "\"" + value + "\"";
}

}  // namespace carillon::http
