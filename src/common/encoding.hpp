#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace carillon {

std::string to_hex(std::string_view bytes);
std::string base64url_encode(std::string_view bytes);  // no padding
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);
std::string sha256_hex(std::string_view bytes);
// Constant-time comparison for secrets.
bool equal_secret(std::string_view a, std::string_view b);

}  // namespace carillon
