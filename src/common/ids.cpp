#include "common/ids.hpp"

#include <fmt/format.h>

namespace carillon {

std::string IdGenerator::next(std::string_view prefix) {
  std::int64_t seconds = clock_.now();
  unsigned sequence = 0;
  {
    std::lock_guard lock(mutex_);
    if (seconds == second_) {
      sequence = ++sequence_ & 0xffff;
    } else {
      second_ = seconds;
      sequence = sequence_ = 0;
    }
  }
  return fmt::format("{}_{:012x}{:04x}{}", prefix, static_cast<unsigned long long>(seconds), sequence, random_.hex(6));
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
