#include "media/codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "media/audio.hpp"

namespace carillon::media {
namespace {

// Encodes 1 s of a tone, decodes it, and measures the tone in the second half (after the codec
// and resampler delays have settled).
double round_trip_ratio(Codec codec, double hz, std::size_t* payload_bytes = nullptr) {
  auto enc = make_encoder(codec);
  auto dec = make_decoder(codec);
  EXPECT_TRUE(enc && dec);
  ToneSource tone(hz, 8000);
  std::vector<std::int16_t> frame(kFrameSamples), out(kFrameSamples), tail;
  std::vector<std::uint8_t> payload;
  for (int i = 0; i < 50; ++i) {
    tone.read(frame);
    EXPECT_TRUE((*enc)->encode(frame, payload));
    if (payload_bytes) *payload_bytes = payload.size();
    EXPECT_TRUE((*dec)->decode(payload, out));
    if (i >= 25) tail.insert(tail.end(), out.begin(), out.end());
  }
  return ToneDetector::ratio(tail, hz);
}

TEST(Codec, EachCodecCarriesAToneThroughEncodeAndDecode) {
  for (Codec codec : {Codec::opus, Codec::g722, Codec::pcma, Codec::pcmu}) {
    for (double hz : {440.0, 1000.0}) {
      const double ratio = round_trip_ratio(codec, hz);
      EXPECT_GT(ratio, 0.8) << to_string(codec) << " " << hz;
    }
  }
}

TEST(Codec, DecodedToneIsNotAnotherFrequency) {
  auto enc = make_encoder(Codec::g722);
  auto dec = make_decoder(Codec::g722);
  ASSERT_TRUE(enc && dec);
  ToneSource tone(440, 8000);
  std::vector<std::int16_t> frame(kFrameSamples), out(kFrameSamples);
  std::vector<std::uint8_t> payload;
  for (int i = 0; i < 10; ++i) {
    tone.read(frame);
    ASSERT_TRUE((*enc)->encode(frame, payload));
    ASSERT_TRUE((*dec)->decode(payload, out));
  }
  EXPECT_LT(ToneDetector::ratio(out, 1000), 0.05);
  EXPECT_GT(ToneDetector::ratio(out, 440), 0.8);
}

TEST(Codec, PayloadSizesMatchTheirBitrates) {
  std::size_t bytes = 0;
  round_trip_ratio(Codec::g722, 440, &bytes);
  EXPECT_EQ(bytes, 160u);  // 64 kbit/s * 20 ms
  round_trip_ratio(Codec::pcma, 440, &bytes);
  EXPECT_EQ(bytes, 160u);  // 8 kHz * 20 ms, one byte each
  round_trip_ratio(Codec::pcmu, 440, &bytes);
  EXPECT_EQ(bytes, 160u);
  round_trip_ratio(Codec::opus, 440, &bytes);
  EXPECT_GT(bytes, 10u);
  EXPECT_LT(bytes, 160u);
}

TEST(Codec, ConcealmentProducesAFrame) {
  for (Codec codec : {Codec::opus, Codec::g722, Codec::pcma}) {
    auto enc = make_encoder(codec);
    auto dec = make_decoder(codec);
    ASSERT_TRUE(enc && dec);
    ToneSource tone(440, 8000);
    std::vector<std::int16_t> frame(kFrameSamples), out(kFrameSamples);
    std::vector<std::uint8_t> payload;
    for (int i = 0; i < 10; ++i) {
      tone.read(frame);
      ASSERT_TRUE((*enc)->encode(frame, payload));
      ASSERT_TRUE((*dec)->decode(payload, out));
    }
    std::fill(out.begin(), out.end(), 0);
    (*dec)->conceal(out);
    // The concealed frame continues the tone rather than going silent...
    EXPECT_GT(ToneDetector::ratio(out, 440), 0.5) << to_string(codec);
    // ...but a long gap fades out instead of buzzing.
    for (int i = 0; i < 5; ++i) (*dec)->conceal(out);
    if (codec != Codec::opus) {
      EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::int16_t s) { return s == 0; }));
    }
  }
}

TEST(Codec, RejectsWrongFrameSize) {
  auto enc = make_encoder(Codec::opus);
  ASSERT_TRUE(enc);
  std::vector<std::int16_t> frame(100);
  std::vector<std::uint8_t> payload;
  EXPECT_FALSE((*enc)->encode(frame, payload));
}

TEST(Codec, NamesAndClocks) {
  EXPECT_EQ(codec_info(Codec::g722).rtp_clock, 8000u);  // RFC 3551: 8000 although 16 kHz audio
  EXPECT_EQ(codec_info(Codec::opus).rtp_clock, 48000u);
  EXPECT_EQ(rtp_ticks_per_frame(Codec::opus), 960u);
  EXPECT_EQ(rtp_ticks_per_frame(Codec::pcmu), 160u);
  EXPECT_EQ(codec_from_string("g722"), Codec::g722);
  EXPECT_FALSE(codec_from_string("gsm"));
}

}  // namespace
}  // namespace carillon::media
