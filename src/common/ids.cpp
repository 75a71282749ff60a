#include "common/ids.hpp"

#include <fmt/format.h>

namespace carillon {

std::string IdGenerator::next(std::string_view prefix) {
  // Clock gives seconds; the random part keeps ids unique within a second. Millisecond
  // precision is not needed for ordering pages, only stability.
  auto seconds = static_cast<unsigned long long>(clock_.now());
  return fmt::format("{}_{:012x}{}", prefix, seconds, random_.hex(8));
}

bool is_valid_id(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 1 + 28) return false;
  if (id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_') return false;
  for (char c : id.substr(prefix.size() + 1)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace carillon
