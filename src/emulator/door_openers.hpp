#pragma once
// Door-opener outputs of a door station (S6): at most two, each switched by its own DTMF code
// that the answering party sends during a call. Digits are collected per call; a code matches
// when the digits received so far end with it, so a mistyped prefix does not need a reset.
// A pause longer than the inter-digit timeout starts a new sequence.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"

namespace carillon::emulator {

struct DoorOpener {
  int id = 1;          // 1 or 2
  std::string name;
  std::string dtmf;    // 1..16 of 0-9 * # A-D
  int output = 1;      // relay output it switches
  int pulse_ms = 3000; // how long the output stays on
};

struct DoorOpened {
  int id = 0;
  std::string name;
  int output = 0;
  std::int64_t at = 0;  // Unix seconds
};

class DoorOpeners {
 public:
  explicit DoorOpeners(const Clock& clock) : clock_(clock) {}

  // From the device config's `door_openers` array (already validated by the platform).
  void configure(const nlohmann::json& door_openers);
  const std::vector<DoorOpener>& openers() const { return openers_; }

  // One received DTMF digit on `call`. Returns the opener whose code just completed, if any.
  std::optional<DoorOpened> on_digit(std::uint64_t call, char digit);
  // Forgets the digits of a finished call.
  void end_call(std::uint64_t call) { digits_.erase(call); }

  // Whether `output` is switched on right now (within pulse_ms of its last opening).
  bool output_active(int output) const;
  std::uint64_t openings() const { return openings_; }

  static constexpr std::int64_t kInterDigitTimeoutSeconds = 5;

 private:
  struct Digits {
    std::string text;
    std::int64_t last = 0;
  };
  const Clock& clock_;
  std::vector<DoorOpener> openers_;
  std::map<std::uint64_t, Digits> digits_;
  std::map<int, std::int64_t> output_until_ms_;
  std::uint64_t openings_ = 0;
};

}  // namespace carillon::emulator
