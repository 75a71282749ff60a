#pragma once
// Case-insensitive helpers shared by the SCIM engine. SCIM attribute names and filter keywords
// are ASCII; attribute values compare case-insensitively by ASCII folding only (no Unicode case
// folding), which is what the RFC 7644 examples need and keeps comparisons allocation-free.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace carillon::scim {

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view text, std::string_view prefix);
bool iends_with(std::string_view text, std::string_view suffix);
bool icontains(std::string_view text, std::string_view needle);
// <0, 0, >0 like strcmp, folding ASCII case.
int icompare(std::string_view a, std::string_view b);
std::string to_lower(std::string_view text);

// The member of `object` whose key equals `name` ignoring case (nullptr if none or not an object).
const nlohmann::json* find_member(const nlohmann::json& object, std::string_view name);
nlohmann::json* find_member(nlohmann::json& object, std::string_view name);
// Removes every member whose key equals `name` ignoring case; true if any was removed.
bool erase_member(nlohmann::json& object, std::string_view name);

}  // namespace carillon::scim
