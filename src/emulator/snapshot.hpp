#pragma once
// The door camera's picture at call start: a generated test image (colour bars and the time
// written in large digits) encoded as baseline JPEG, so a person looking at a call record can
// tell which call it belongs to.

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace carillon::emulator {

// `unix_seconds` is rendered as "YYYY-MM-DD HH:MM:SS" (UTC). 320x240, quality 80.
Result<std::string> make_snapshot_jpeg(std::int64_t unix_seconds);

}  // namespace carillon::emulator
