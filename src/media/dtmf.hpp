#pragma once
// RFC 4733 telephone events for DTMF: payload encoding, a sender that turns digits into timed
// packets, and a receiver that reports each digit once.

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace carillon::media {

struct TelephoneEvent {
  std::uint8_t event = 0;      // 0-9, 10 = '*', 11 = '#', 12-15 = 'A'-'D'
  bool end = false;
  std::uint8_t volume = 10;    // -dBm0, 0..63
  std::uint16_t duration = 0;  // in RTP clock ticks since the event started
};

std::array<std::uint8_t, 4> encode_event(const TelephoneEvent& event);
// nullopt if the payload is shorter than 4 bytes.
std::optional<TelephoneEvent> decode_event(std::span<const std::uint8_t> payload);
std::optional<std::uint8_t> dtmf_event_code(char digit);  // accepts 0-9 * # A-D (and a-d)
std::optional<char> dtmf_digit(std::uint8_t event);

// Each digit: 100 ms of event packets every 20 ms (marker on the first), the end packet three
// times, then 60 ms of pause before the next digit. Timestamps are in the codec's RTP clock.
class DtmfSender {
 public:
  explicit DtmfSender(std::uint32_t clock_rate);
  Status queue(std::string_view digits);
  bool busy() const { return !digits_.empty(); }

  struct Packet {
    std::array<std::uint8_t, 4> payload;
    bool marker;
    std::uint32_t timestamp;  // the event's start
  };
  // Called once per 20 ms tick with the RTP timestamp audio would use now; returns the packets to
  // send in this tick (usually none or one; three for the end of a digit).
  std::vector<Packet> tick(std::uint32_t now);

 private:
  static constexpr int kToneTicks = 5;
  static constexpr int kPauseTicks = 3;
  std::uint32_t ticks_per_frame_;
  std::deque<std::uint8_t> digits_;
  int position_ = 0;  // ticks into the current digit (tone, then pause)
  std::uint32_t start_ = 0;
};

class DtmfReceiver {
 public:
  // Returns the digit when `payload` starts a new event (one report per event however many
  // packets, end retransmissions included).
  std::optional<char> receive(std::uint32_t timestamp, std::span<const std::uint8_t> payload);

 private:
  std::optional<std::uint32_t> last_timestamp_;
};

}  // namespace carillon::media
