#pragma once
// PCM sources and sinks exchanged with calls. Everywhere in the public API PCM is 16 kHz, mono,
// signed 16-bit, in 20 ms frames of kFrameSamples samples.
//
// A call reads its source and writes its sink on the media thread every 20 ms: implementations
// must be quick and must not block (PcmQueue is the thread-safe bridge to other threads).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/result.hpp"

namespace carillon::media {

inline constexpr int kSampleRate = 16000;
inline constexpr std::size_t kFrameSamples = 320;  // 20 ms at 16 kHz

class AudioSource {
 public:
  virtual ~AudioSource() = default;
  // Fills exactly frame.size() samples (kFrameSamples when called by a call).
  virtual void read(std::span<std::int16_t> frame) = 0;
};

class AudioSink {
 public:
  virtual ~AudioSink() = default;
  virtual void write(std::span<const std::int16_t> frame) = 0;
};

class SilenceSource final : public AudioSource {
 public:
  void read(std::span<std::int16_t> frame) override;
};

// A continuous sine; the phase carries over between frames.
class ToneSource final : public AudioSource {
 public:
  ToneSource(double hz, double amplitude = 8000.0);
  void read(std::span<std::int16_t> frame) override;

 private:
  double step_;
  double amplitude_;
  double phase_ = 0.0;
};

// Converts between sample rates with a windowed-sinc interpolator (streaming: state carries over
// between calls, output is delayed by a few input samples).
class Resampler {
 public:
  Resampler(int in_rate, int out_rate);
  // Appends the output for `in` to `out`.
  void process(std::span<const std::int16_t> in, std::vector<std::int16_t>& out);
  int in_rate() const { return in_rate_; }
  int out_rate() const { return out_rate_; }

 private:
  int in_rate_;
  int out_rate_;
  std::int64_t step_;    // input advance per output sample, in 1/phases_ input samples
  std::int64_t phases_;
  int half_;             // taps on each side of the interpolation point
  std::vector<float> table_;  // phases_ rows of 2 * half_ taps
  std::vector<float> history_;
  std::int64_t next_ = 0;     // position of the next output, in 1/phases_ input samples
};

// A WAV file (PCM 16-bit, mono or stereo, any rate) read as 16 kHz mono. At the end it loops or
// plays silence.
class WavFileSource final : public AudioSource {
 public:
  static Result<std::shared_ptr<WavFileSource>> open(const std::filesystem::path& path, bool loop);
  void read(std::span<std::int16_t> frame) override;
  // True once a non-looping file has been played completely.
  bool finished() const;
  int file_rate() const { return file_rate_; }

 private:
  WavFileSource(std::vector<std::int16_t> samples, int file_rate, bool loop);
  std::vector<std::int16_t> samples_;  // already at 16 kHz mono
  int file_rate_;
  bool loop_;
  std::size_t position_ = 0;
};

// Writes a 16 kHz mono 16-bit WAV file; the header is completed on flush() and destruction.
class WavFileSink final : public AudioSink {
 public:
  static Result<std::shared_ptr<WavFileSink>> open(const std::filesystem::path& path);
  ~WavFileSink() override;
  WavFileSink(const WavFileSink&) = delete;
  WavFileSink& operator=(const WavFileSink&) = delete;
  void write(std::span<const std::int16_t> frame) override;
  Status flush();
  std::size_t samples_written() const;

 private:
  explicit WavFileSink(std::FILE* file);
  mutable std::mutex mutex_;
  std::FILE* file_;
  std::size_t samples_ = 0;
};

// A bounded, thread-safe queue of frames. As a sink (call -> application) the call pushes and the
// application pops; as a source (application -> call) the application pushes and the call pops,
// getting silence when the queue is empty. When full, the oldest frame is dropped.
class PcmQueue final : public AudioSource, public AudioSink {
 public:
  explicit PcmQueue(std::size_t capacity_frames = 50);
  void push(std::span<const std::int16_t> frame);
  // Pops one frame into `frame` (zero-padded if the pushed frame was shorter); false if none
  // arrived within `wait`.
  bool pop(std::span<std::int16_t> frame, std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  std::size_t size() const;
  std::size_t dropped() const;

  void read(std::span<std::int16_t> frame) override;
  void write(std::span<const std::int16_t> frame) override { push(frame); }

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::vector<std::int16_t>> frames_;
  std::size_t dropped_ = 0;
};

// Goertzel detector: measures, frame by frame, how much of the signal's energy sits at one
// frequency. Used to prove that a tone crossed a call. Thread-safe.
class ToneDetector final : public AudioSink {
 public:
  explicit ToneDetector(double hz, double min_rms = 300.0);
  void write(std::span<const std::int16_t> frame) override;
  // Frames whose rms >= min_rms and whose energy is mostly (>= 50 %) at the frequency.
  std::size_t tone_frames() const;
  std::size_t frames() const;
  // Mean share of energy at the frequency over the frames that had signal (0..~1).
  double mean_ratio() const;

  // The share of the energy of `samples` at `hz` (16 kHz rate): ~1 for a pure tone at hz.
  static double ratio(std::span<const std::int16_t> samples, double hz, int rate = kSampleRate);

 private:
  double hz_;
  double min_rms_;
  mutable std::mutex mutex_;
  std::size_t frames_ = 0;
  std::size_t tone_frames_ = 0;
  std::size_t loud_frames_ = 0;
  double ratio_sum_ = 0.0;
};

}  // namespace carillon::media
