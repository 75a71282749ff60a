#pragma once
// Pieces of request-target handling that need no sockets (unit-tested on their own).

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace carillon::http {

// %XX decoding; '+' becomes ' ' only when `plus_as_space`. nullopt for a malformed escape or a
// decoded NUL byte.
std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space = false);

// "a=1&b=x%20y&a=2" -> {a: "2", b: "x y"}; nullopt on a malformed escape.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);

struct SplitTarget {
  std::string raw_path;  // before '?', still encoded
  std::string path;      // decoded
  std::map<std::string, std::string> query;
};
// nullopt when the target is not origin-form ("/...") or has malformed escapes.
std::optional<SplitTarget> split_target(std::string_view target);

}  // namespace carillon::http
