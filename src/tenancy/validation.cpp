#include "tenancy/validation.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
// GCC 12 at -O1 with the sanitizers reports a false maybe-uninitialized inside libstdc++'s
// regex compiler (std::function copies in _NFA::_M_insert_subexpr_*), which -Werror turns
// into a failed CI build.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <set>

namespace carillon::tenancy {

namespace {

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

Status check_name(std::string_view name, const std::string& field) {
  auto first = name.find_first_not_of(' ');
  if (first == std::string_view::npos) return fail(Errc::invalid_argument, "must not be empty", field);
  // Characters, not bytes: a 200-character name in a non-Latin script takes 400-800 bytes.
  auto characters =
      std::count_if(name.begin(), name.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
  if (characters > 200) return fail(Errc::invalid_argument, "must be at most 200 characters", field);
  if (has_control(name)) return fail(Errc::invalid_argument, "must not contain control characters", field);
  return {};
}

Status check_labels(const std::vector<Label>& labels, const std::string& field) {
  static const std::regex color("^#[0-9a-fA-F]{6}$");
  if (labels.size() > 20) return fail(Errc::invalid_argument, "at most 20 labels", field);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto& l = labels[i];
    auto at = field + "[" + std::to_string(i) + "]";
    if (l.name.empty() || l.name.size() > 40 || has_control(l.name))
      return fail(Errc::invalid_argument, "label name must be 1..40 printable characters", at + ".name");
    if (!std::regex_match(l.color, color))
      return fail(Errc::invalid_argument, "label color must look like #1e90ff", at + ".color");
    if (!seen.insert(l.name).second) return fail(Errc::invalid_argument, "duplicate label " + l.name, at + ".name");
  }
  return {};
}

Status check_attributes(const Attributes& attributes, const std::string& field) {
  static const std::regex key("^[A-Za-z0-9_.-]{1,64}$");
  if (attributes.size() > 50) return fail(Errc::invalid_argument, "at most 50 attributes", field);
  for (const auto& [k, v] : attributes) {
    if (!std::regex_match(k, key))
      return fail(Errc::invalid_argument, "attribute keys are 1..64 of A-Z a-z 0-9 _ . -", field + "." + k);
    if (v.size() > 1000) return fail(Errc::invalid_argument, "attribute values are at most 1000 characters", field + "." + k);
  }
  return {};
}

Status check_time_zone(std::string_view zone, const std::filesystem::path& zoneinfo, const std::string& field) {
  static const std::regex shape("^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$");
  std::string z(zone);
  if (!std::regex_match(z, shape)) return fail(Errc::invalid_argument, "not an IANA time zone name", field);
  // The tz database is the authority: the name must be a TZif file in it.
  std::ifstream in(zoneinfo / z, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4) || std::string_view(magic, 4) != "TZif")
    return fail(Errc::invalid_argument, "unknown time zone " + z, field);
  return {};
}

Result<std::string> detect_logo_type(std::string_view bytes) {
  if (bytes.empty()) return fail(Errc::invalid_argument, "logo is empty", "logo");
  if (bytes.size() > kMaxLogoBytes)
    return fail(Errc::too_large, "logo is larger than " + std::to_string(kMaxLogoBytes / 1024) + " KiB", "logo");
  if (bytes.size() >= 8 && bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return std::string("image/png");
  if (bytes.size() >= 3 && bytes.substr(0, 3) == std::string_view("\xff\xd8\xff", 3)) return std::string("image/jpeg");
  // SVG is text: it must be valid UTF-8-ish XML whose root is <svg>, and it must not be able
  // to run code when a browser opens it directly.
  auto text = lower(bytes);
  if (text.find('\0') != std::string::npos) return fail(Errc::invalid_argument, "logo must be PNG, JPEG or SVG", "logo");
  auto svg = text.find("<svg");
  auto start = text.find_first_not_of(" \t\r\n\xef\xbb\xbf");
  bool prolog_ok = start != std::string::npos &&
                   (text.compare(start, 4, "<svg") == 0 || text.compare(start, 5, "<?xml") == 0 ||
                    text.compare(start, 4, "<!--") == 0 || text.compare(start, 9, "<!doctype") == 0);
  if (svg == std::string::npos || !prolog_ok || text.find("</svg>") == std::string::npos)
    return fail(Errc::invalid_argument, "logo must be PNG, JPEG or SVG", "logo");
  // Event handlers may follow "/" or a quote as well as whitespace (HTML parsers accept
  // <svg/onload=...>). The href lookahead sits right after "=" so that no backtracking over
  // optional quotes or spaces can let "#..." (a reference inside the document) count as external.
  static const std::regex active(
      "<script|javascript:|[\\s/\"']on[a-z]+\\s*=|<foreignobject|<!entity|href\\s*=(?!\\s*[\"']?\\s*#)");
  if (std::regex_search(text, active))
    return fail(Errc::invalid_argument, "SVG logos must not contain scripts, event handlers, entities or external links", "logo");
  return std::string("image/svg+xml");
}

}  // namespace carillon::tenancy
