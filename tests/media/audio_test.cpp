#include "media/audio.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <thread>

#include "support/temp_dir.hpp"

namespace carillon::media {
namespace {

// Writes a 16-bit PCM WAV file by hand (independent of WavFileSink).
void write_wav(const std::filesystem::path& path, int rate, int channels, double hz, double seconds) {
  const auto frames = static_cast<std::uint32_t>(rate * seconds);
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  const std::uint32_t data = frames * 2 * channels;
  out.write("RIFF", 4);
  u32(36 + data);
  out.write("WAVEfmt ", 8);
  u32(16);
  u16(1);
  u16(static_cast<std::uint16_t>(channels));
  u32(static_cast<std::uint32_t>(rate));
  u32(static_cast<std::uint32_t>(rate * 2 * channels));
  u16(static_cast<std::uint16_t>(2 * channels));
  u16(16);
  out.write("data", 4);
  u32(data);
  for (std::uint32_t i = 0; i < frames; ++i) {
    const auto v = static_cast<std::int16_t>(8000 * std::sin(2 * std::numbers::pi * hz * i / rate));
    for (int c = 0; c < channels; ++c) u16(static_cast<std::uint16_t>(v));
  }
}

std::vector<std::int16_t> read_all(AudioSource& source, std::size_t frames) {
  std::vector<std::int16_t> all;
  std::vector<std::int16_t> frame(kFrameSamples);
  for (std::size_t i = 0; i < frames; ++i) {
    source.read(frame);
    all.insert(all.end(), frame.begin(), frame.end());
  }
  return all;
}

TEST(ToneSource, ProducesItsFrequencyOnly) {
  ToneSource tone(440);
  auto samples = read_all(tone, 10);
  EXPECT_GT(ToneDetector::ratio(samples, 440), 0.95);
  EXPECT_LT(ToneDetector::ratio(samples, 1000), 0.01);
}

TEST(ToneDetector, CountsToneFramesAndIgnoresSilence) {
  ToneDetector detector(1000);
  ToneSource tone(1000);
  SilenceSource silence;
  std::vector<std::int16_t> frame(kFrameSamples);
  for (int i = 0; i < 10; ++i) {
    tone.read(frame);
    detector.write(frame);
    silence.read(frame);
    detector.write(frame);
  }
  EXPECT_EQ(detector.frames(), 20u);
  EXPECT_EQ(detector.tone_frames(), 10u);
  ToneDetector other(440);
  for (int i = 0; i < 10; ++i) {
    tone.read(frame);
    other.write(frame);
  }
  EXPECT_EQ(other.tone_frames(), 0u);
}

TEST(Resampler, KeepsAToneAcrossRates) {
  for (auto [in, out] : {std::pair{8000, 16000}, {48000, 16000}, {16000, 8000}, {44100, 16000}, {16000, 48000}}) {
    Resampler resampler(in, out);
    std::vector<std::int16_t> input(static_cast<std::size_t>(in / 2));  // 0.5 s
    for (std::size_t i = 0; i < input.size(); ++i)
      input[i] = static_cast<std::int16_t>(8000 * std::sin(2 * std::numbers::pi * 700 * static_cast<double>(i) / in));
    std::vector<std::int16_t> output;
    // Feed in uneven chunks: the state must carry over.
    std::size_t pos = 0;
    for (std::size_t chunk : {7u, 100u, 333u, 1000u}) {
      const std::size_t n = std::min(chunk, input.size() - pos);
      resampler.process(std::span(input).subspan(pos, n), output);
      pos += n;
    }
    resampler.process(std::span(input).subspan(pos), output);
    const double expected = static_cast<double>(input.size()) * out / in;
    EXPECT_NEAR(static_cast<double>(output.size()), expected, 40) << in << "->" << out;
    std::span<const std::int16_t> middle(output.data() + output.size() / 4, output.size() / 2);
    EXPECT_GT(ToneDetector::ratio(middle, 700, out), 0.95) << in << "->" << out;
  }
}

TEST(Resampler, RemovesFrequenciesAboveTheNewNyquist) {
  Resampler resampler(16000, 8000);
  std::vector<std::int16_t> input(16000);
  for (std::size_t i = 0; i < input.size(); ++i)
    input[i] = static_cast<std::int16_t>(8000 * std::sin(2 * std::numbers::pi * 6000 * static_cast<double>(i) / 16000));
  std::vector<std::int16_t> output;
  resampler.process(input, output);
  double energy = 0;
  for (std::size_t i = 200; i < output.size(); ++i) energy += static_cast<double>(output[i]) * output[i];
  const double rms = std::sqrt(energy / static_cast<double>(output.size() - 200));
  EXPECT_LT(rms, 200);  // a 6 kHz tone (5657 rms) would alias to 2 kHz without filtering
}

TEST(WavFileSource, ReadsAndResamplesMonoAndStereo) {
  testing::TempDir dir;
  for (auto [rate, channels] : {std::pair{8000, 1}, {16000, 1}, {48000, 2}, {48000, 1}, {16000, 2}}) {
    const auto path = dir.path() / ("t" + std::to_string(rate) + "_" + std::to_string(channels) + ".wav");
    write_wav(path, rate, channels, 1000, 1.0);
    auto source = WavFileSource::open(path, false);
    ASSERT_TRUE(source) << source.error().message;
    EXPECT_EQ((*source)->file_rate(), rate);
    auto samples = read_all(**source, 50);  // 1 s
    std::span<const std::int16_t> middle(samples.data() + 4000, 8000);
    EXPECT_GT(ToneDetector::ratio(middle, 1000), 0.95) << rate << "/" << channels;
    EXPECT_TRUE((*source)->finished());
  }
}

TEST(WavFileSource, LoopsOrPlaysSilenceAtTheEnd) {
  testing::TempDir dir;
  write_wav(dir.path() / "short.wav", 16000, 1, 440, 0.1);
  auto once = WavFileSource::open(dir.path() / "short.wav", false);
  auto loop = WavFileSource::open(dir.path() / "short.wav", true);
  ASSERT_TRUE(once && loop);
  auto a = read_all(**once, 20);
  auto b = read_all(**loop, 20);
  std::span<const std::int16_t> late_a(a.data() + 3200, 1600), late_b(b.data() + 3200, 1600);
  EXPECT_TRUE(std::all_of(late_a.begin(), late_a.end(), [](std::int16_t s) { return s == 0; }));
  EXPECT_GT(ToneDetector::ratio(late_b, 440), 0.9);
}

TEST(WavFileSource, RejectsMissingAndInvalidFiles) {
  testing::TempDir dir;
  EXPECT_EQ(WavFileSource::open(dir.path() / "none.wav", false).error().code, Errc::not_found);
  std::ofstream(dir.path() / "bad.wav") << "not a wav file at all";
  EXPECT_EQ(WavFileSource::open(dir.path() / "bad.wav", false).error().code, Errc::invalid_argument);
}

TEST(WavFileSink, WritesAFileThatReadsBack) {
  testing::TempDir dir;
  const auto path = dir.path() / "out.wav";
  {
    auto sink = WavFileSink::open(path);
    ASSERT_TRUE(sink);
    ToneSource tone(1000);
    std::vector<std::int16_t> frame(kFrameSamples);
    for (int i = 0; i < 25; ++i) {
      tone.read(frame);
      (*sink)->write(frame);
    }
    EXPECT_EQ((*sink)->samples_written(), 25 * kFrameSamples);
  }
  EXPECT_EQ(std::filesystem::file_size(path), 44 + 25 * kFrameSamples * 2);
  auto source = WavFileSource::open(path, false);
  ASSERT_TRUE(source);
  auto samples = read_all(**source, 25);
  EXPECT_GT(ToneDetector::ratio(samples, 1000), 0.95);
}

TEST(PcmQueue, PassesFramesBetweenThreadsInOrder) {
  PcmQueue queue(100);
  std::thread producer([&] {
    std::vector<std::int16_t> frame(kFrameSamples);
    for (int i = 0; i < 50; ++i) {
      std::fill(frame.begin(), frame.end(), static_cast<std::int16_t>(i));
      queue.push(frame);
    }
  });
  std::vector<std::int16_t> frame(kFrameSamples);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(queue.pop(frame, std::chrono::milliseconds(2000)));
    EXPECT_EQ(frame[0], i);
    EXPECT_EQ(frame[kFrameSamples - 1], i);
  }
  producer.join();
  EXPECT_FALSE(queue.pop(frame, std::chrono::milliseconds(10)));
}

TEST(PcmQueue, DropsOldestWhenFullAndReadsSilenceWhenEmpty) {
  PcmQueue queue(2);
  std::vector<std::int16_t> frame(kFrameSamples);
  for (std::int16_t i = 1; i <= 3; ++i) {
    std::fill(frame.begin(), frame.end(), i);
    queue.write(frame);
  }
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_EQ(queue.dropped(), 1u);
  queue.read(frame);
  EXPECT_EQ(frame[0], 2);
  queue.read(frame);
  EXPECT_EQ(frame[0], 3);
  queue.read(frame);
  EXPECT_EQ(frame[0], 0);
}

}  // namespace
}  // namespace carillon::media
