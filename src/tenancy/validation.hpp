#pragma once
// Value rules shared by the tenancy service and anyone else storing names, labels or zones.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "tenancy/model.hpp"

namespace carillon::tenancy {

// 1..200 characters after trimming, no control characters. Anything else (quotes, SQL or shell
// metacharacters, non-ASCII) is stored verbatim.
Status check_name(std::string_view name, const std::string& field = "name");
// "#rrggbb" colours, 1..40 character names, at most 20 labels, no duplicate names.
Status check_labels(const std::vector<Label>& labels, const std::string& field = "labels");
// At most 50 attributes; keys 1..64 of [A-Za-z0-9_.-]; values <= 1000 characters.
Status check_attributes(const Attributes& attributes, const std::string& field = "attributes");
// An IANA zone name present in the system's tz database (tzdata), e.g. "Europe/Berlin".
Status check_time_zone(std::string_view zone, const std::filesystem::path& zoneinfo = "/usr/share/zoneinfo",
                       const std::string& field = "time_zone");
// Checks the logo's bytes (not its declared type): PNG, JPEG or SVG without scripts; <= kMaxLogoBytes.
// Returns the detected content type.
inline constexpr std::size_t kMaxLogoBytes = 512 * 1024;
Result<std::string> detect_logo_type(std::string_view bytes);

}  // namespace carillon::tenancy
