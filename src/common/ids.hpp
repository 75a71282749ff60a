#pragma once
// Object ids: "<prefix>_<12 hex seconds><4 hex sequence><12 hex random>", e.g. "co_00006b06...".
// Ids from one generator sort by creation time, also within a second (the sequence counts up
// within a second, for up to 65,536 ids); cursor pagination and audit order rely on it.

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/random.hpp"

namespace carillon {

namespace id_prefix {
inline constexpr std::string_view company = "co";
inline constexpr std::string_view project = "pr";
inline constexpr std::string_view site = "si";
inline constexpr std::string_view device = "dv";
inline constexpr std::string_view claim_code = "cc";
inline constexpr std::string_view user = "us";
inline constexpr std::string_view audit = "au";
inline constexpr std::string_view config = "cf";
inline constexpr std::string_view command = "cm";
}  // namespace id_prefix

class IdGenerator {
 public:
  IdGenerator(const Clock& clock, Random& random) : clock_(clock), random_(random) {}
  std::string next(std::string_view prefix);

 private:
  const Clock& clock_;
  Random& random_;
  std::mutex mutex_;
  std::int64_t second_ = -1;
  unsigned sequence_ = 0;
};

// True when `id` has the shape of an id with this prefix (no database lookup).
bool is_valid_id(std::string_view id, std::string_view prefix);

}  // namespace carillon
