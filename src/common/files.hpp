#pragma once

#include <filesystem>
#include <string>

#include "common/result.hpp"

namespace carillon {

Result<std::string> read_file(const std::filesystem::path& path);
// Writes atomically (temp file + rename) with the given permissions, e.g. 0600 for secrets.
Status write_file(const std::filesystem::path& path, const std::string& content,
                  std::filesystem::perms perms = std::filesystem::perms(0644));

}  // namespace carillon
