#include "media/dtmf.hpp"

#include <cctype>
#include <string>

namespace carillon::media {

std::array<std::uint8_t, 4> encode_event(const TelephoneEvent& event) {
  return {event.event, static_cast<std::uint8_t>((event.end ? 0x80 : 0x00) | (event.volume & 0x3f)),
          static_cast<std::uint8_t>(event.duration >> 8), static_cast<std::uint8_t>(event.duration & 0xff)};
}

std::optional<TelephoneEvent> decode_event(std::span<const std::uint8_t> payload) {
  if (payload.size() < 4) return std::nullopt;
  TelephoneEvent event;
  event.event = payload[0];
  event.end = (payload[1] & 0x80) != 0;
  event.volume = payload[1] & 0x3f;
  event.duration = static_cast<std::uint16_t>(payload[2] << 8 | payload[3]);
  return event;
}

std::optional<std::uint8_t> dtmf_event_code(char digit) {
  if (digit >= '0' && digit <= '9') return static_cast<std::uint8_t>(digit - '0');
  if (digit == '*') return 10;
  if (digit == '#') return 11;
  const char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(digit)));
  if (upper >= 'A' && upper <= 'D') return static_cast<std::uint8_t>(12 + (upper - 'A'));
  return std::nullopt;
}

std::optional<char> dtmf_digit(std::uint8_t event) {
  if (event <= 9) return static_cast<char>('0' + event);
  if (event == 10) return '*';
  if (event == 11) return '#';
  if (event <= 15) return static_cast<char>('A' + (event - 12));
  return std::nullopt;
}

DtmfSender::DtmfSender(std::uint32_t clock_rate) : ticks_per_frame_(clock_rate / 50) {}

Status DtmfSender::queue(std::string_view digits) {
  std::vector<std::uint8_t> codes;
  for (char digit : digits) {
    auto code = dtmf_event_code(digit);
    if (!code) return fail(Errc::invalid_argument, std::string("not a DTMF digit: ") + digit, "digits");
    codes.push_back(*code);
  }
  digits_.insert(digits_.end(), codes.begin(), codes.end());
  return {};
}

std::vector<DtmfSender::Packet> DtmfSender::tick(std::uint32_t now) {
  std::vector<Packet> packets;
  if (digits_.empty()) return packets;
  if (position_ == 0) start_ = now;
  if (position_ < kToneTicks) {
    TelephoneEvent event;
    event.event = digits_.front();
    event.end = position_ == kToneTicks - 1;
    event.duration = static_cast<std::uint16_t>((position_ + 1) * ticks_per_frame_);
    const auto payload = encode_event(event);
    const int copies = event.end ? 3 : 1;
    for (int i = 0; i < copies; ++i) packets.push_back(Packet{payload, position_ == 0, start_});
  }
  if (++position_ >= kToneTicks + kPauseTicks) {
    position_ = 0;
    digits_.pop_front();
  }
  return packets;
}

std::optional<char> DtmfReceiver::receive(std::uint32_t timestamp, std::span<const std::uint8_t> payload) {
  auto event = decode_event(payload);
  if (!event) return std::nullopt;
  if (last_timestamp_ && *last_timestamp_ == timestamp) return std::nullopt;
  last_timestamp_ = timestamp;
  return dtmf_digit(event->event);
}

}  // namespace carillon::media
