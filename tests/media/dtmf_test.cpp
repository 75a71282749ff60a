#include "media/dtmf.hpp"

#include <gtest/gtest.h>

#include "media/jitter_buffer.hpp"

namespace carillon::media {
namespace {

TEST(TelephoneEvent, EncodesRfc4733Layout) {
  TelephoneEvent event{11, true, 10, 800};
  const auto bytes = encode_event(event);
  EXPECT_EQ(bytes[0], 11);
  EXPECT_EQ(bytes[1], 0x80 | 10);
  EXPECT_EQ(bytes[2], 800 >> 8);
  EXPECT_EQ(bytes[3], 800 & 0xff);
  auto decoded = decode_event(bytes);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->event, 11);
  EXPECT_TRUE(decoded->end);
  EXPECT_EQ(decoded->volume, 10);
  EXPECT_EQ(decoded->duration, 800);
  EXPECT_FALSE(decode_event(std::span<const std::uint8_t>(bytes.data(), 3)));
}

TEST(TelephoneEvent, MapsDigits) {
  const std::string digits = "0123456789*#ABCD";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    EXPECT_EQ(dtmf_event_code(digits[i]), i);
    EXPECT_EQ(dtmf_digit(static_cast<std::uint8_t>(i)), digits[i]);
  }
  EXPECT_EQ(dtmf_event_code('a'), 12);
  EXPECT_FALSE(dtmf_event_code('x'));
  EXPECT_FALSE(dtmf_digit(16));
}

TEST(DtmfSender, SendsTimedEventsThatTheReceiverReportsOnce) {
  DtmfSender sender(8000);
  ASSERT_TRUE(sender.queue("1#"));
  EXPECT_FALSE(sender.queue("1x"));
  DtmfReceiver receiver;
  std::string received;
  std::uint32_t ts = 1000;
  int packets = 0, markers = 0, ends = 0;
  for (int tick = 0; tick < 20; ++tick) {
    for (const auto& packet : sender.tick(ts)) {
      ++packets;
      markers += packet.marker;
      auto event = decode_event(packet.payload);
      ASSERT_TRUE(event);
      ends += event->end;
      if (event->end) {
        EXPECT_EQ(event->duration, 5 * 160);
      }
      if (auto digit = receiver.receive(packet.timestamp, packet.payload)) received += *digit;
    }
    ts += 160;
  }
  EXPECT_EQ(received, "1#");
  EXPECT_EQ(packets, 2 * (4 + 3));
  EXPECT_EQ(markers, 2);
  EXPECT_EQ(ends, 6);
  EXPECT_FALSE(sender.busy());
}

TEST(DtmfSender, UsesTheCodecClockForDurations) {
  DtmfSender sender(48000);
  ASSERT_TRUE(sender.queue("5"));
  auto first = sender.tick(0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(decode_event(first[0].payload)->duration, 960);
}

TEST(JitterBuffer, ReordersAndReportsGaps) {
  JitterBuffer jb(3, 10);
  std::vector<std::uint8_t> out;
  EXPECT_EQ(jb.pop(out), JitterBuffer::Pop::empty);
  auto put = [&](std::uint16_t seq) { jb.put(seq, std::vector<std::uint8_t>{static_cast<std::uint8_t>(seq)}); };
  put(65534);
  put(0);  // 65535 missing, wraps around
  EXPECT_EQ(jb.pop(out), JitterBuffer::Pop::empty);  // still buffering
  put(1);
  ASSERT_EQ(jb.pop(out), JitterBuffer::Pop::frame);
  EXPECT_EQ(out[0], 254);
  EXPECT_EQ(jb.pop(out), JitterBuffer::Pop::lost);
  ASSERT_EQ(jb.pop(out), JitterBuffer::Pop::frame);
  EXPECT_EQ(out[0], 0);
  put(65535);  // too late now
  EXPECT_EQ(jb.late(), 1u);
  ASSERT_EQ(jb.pop(out), JitterBuffer::Pop::frame);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(jb.pop(out), JitterBuffer::Pop::empty);  // underrun: buffers again
}

TEST(JitterBuffer, BoundsItsDelay) {
  JitterBuffer jb(2, 5);
  for (std::uint16_t seq = 0; seq < 20; ++seq) jb.put(seq, std::vector<std::uint8_t>{static_cast<std::uint8_t>(seq)});
  EXPECT_EQ(jb.size(), 5u);
  EXPECT_EQ(jb.overflow(), 15u);
  std::vector<std::uint8_t> out;
  ASSERT_EQ(jb.pop(out), JitterBuffer::Pop::frame);
  EXPECT_EQ(out[0], 15);
}

}  // namespace
}  // namespace carillon::media
