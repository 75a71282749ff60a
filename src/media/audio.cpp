#include "media/audio.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numbers>
#include <numeric>
#include <string>

namespace carillon::media {

void SilenceSource::read(std::span<std::int16_t> frame) { std::fill(frame.begin(), frame.end(), 0); }

ToneSource::ToneSource(double hz, double amplitude)
    : step_(2.0 * std::numbers::pi * hz / kSampleRate), amplitude_(amplitude) {}

void ToneSource::read(std::span<std::int16_t> frame) {
  for (auto& sample : frame) {
    sample = static_cast<std::int16_t>(std::lround(amplitude_ * std::sin(phase_)));
    phase_ += step_;
    if (phase_ > 2.0 * std::numbers::pi) phase_ -= 2.0 * std::numbers::pi;
  }
}

// ---- Resampler ----

namespace {

double sinc(double x) {
  if (std::abs(x) < 1e-9) return 1.0;
  return std::sin(std::numbers::pi * x) / (std::numbers::pi * x);
}

// Blackman window over [-1, 1].
double blackman(double x) {
  if (std::abs(x) >= 1.0) return 0.0;
  const double t = (x + 1.0) / 2.0;
  return 0.42 - 0.5 * std::cos(2.0 * std::numbers::pi * t) + 0.08 * std::cos(4.0 * std::numbers::pi * t);
}

std::int16_t clamp16(double v) {
  return static_cast<std::int16_t>(std::clamp(std::lround(v), -32768L, 32767L));
}

}  // namespace

Resampler::Resampler(int in_rate, int out_rate) : in_rate_(in_rate), out_rate_(out_rate) {
  const int g = std::gcd(in_rate, out_rate);
  step_ = in_rate / g;
  phases_ = out_rate / g;
  // Cut off at the lower Nyquist frequency (a little below, for the transition band).
  const double cutoff = std::min(1.0, static_cast<double>(out_rate) / in_rate) * 0.92;
  constexpr int kZeroCrossings = 10;
  half_ = static_cast<int>(std::ceil(kZeroCrossings / cutoff));
  table_.resize(static_cast<std::size_t>(phases_) * 2 * half_);
  for (std::int64_t p = 0; p < phases_; ++p) {
    float* row = &table_[static_cast<std::size_t>(p) * 2 * half_];
    double sum = 0.0;
    for (int j = 0; j < 2 * half_; ++j) {
      const double t = (j - half_ + 1) - static_cast<double>(p) / phases_;
      const double h = cutoff * sinc(cutoff * t) * blackman(t / half_);
      row[j] = static_cast<float>(h);
      sum += h;
    }
    // Unity gain at DC for every phase.
    for (int j = 0; j < 2 * half_; ++j) row[j] = static_cast<float>(row[j] / sum);
  }
  // Leading zeros so that the first outputs have their left-hand taps.
  history_.assign(static_cast<std::size_t>(half_ - 1), 0.0f);
}

void Resampler::process(std::span<const std::int16_t> in, std::vector<std::int16_t>& out) {
  history_.insert(history_.end(), in.begin(), in.end());
  const std::int64_t available = static_cast<std::int64_t>(history_.size());
  for (;;) {
    const std::int64_t index = next_ / phases_;  // first tap at history_[index]
    const std::int64_t phase = next_ % phases_;
    if (index + 2 * half_ > available) break;
    const float* row = &table_[static_cast<std::size_t>(phase) * 2 * half_];
    const float* x = &history_[static_cast<std::size_t>(index)];
    double acc = 0.0;
    for (int j = 0; j < 2 * half_; ++j) acc += static_cast<double>(row[j]) * x[j];
    out.push_back(clamp16(acc));
    next_ += step_;
  }
  // Drop the samples no future output needs.
  const std::int64_t consumed = std::min<std::int64_t>(next_ / phases_, available);
  history_.erase(history_.begin(), history_.begin() + consumed);
  next_ -= consumed * phases_;
}

// ---- WAV ----

namespace {

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint16_t le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}
void put32(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put16(unsigned char* p, std::uint16_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}

}  // namespace

Result<std::shared_ptr<WavFileSource>> WavFileSource::open(const std::filesystem::path& path, bool loop) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::not_found, "cannot open WAV file " + path.string(), "path");
  std::vector<unsigned char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 12 || std::memcmp(data.data(), "RIFF", 4) != 0 || std::memcmp(data.data() + 8, "WAVE", 4) != 0)
    return fail(Errc::invalid_argument, "not a RIFF/WAVE file: " + path.string(), "path");
  int channels = 0, rate = 0, bits = 0, format = 0;
  const unsigned char* pcm = nullptr;
  std::size_t pcm_bytes = 0;
  std::size_t pos = 12;
  while (pos + 8 <= data.size()) {
    const unsigned char* chunk = data.data() + pos;
    const std::size_t size = le32(chunk + 4);
    const std::size_t body = pos + 8;
    const std::size_t avail = std::min(size, data.size() - body);
    if (std::memcmp(chunk, "fmt ", 4) == 0 && avail >= 16) {
      format = le16(chunk + 8);
      channels = le16(chunk + 10);
      rate = static_cast<int>(le32(chunk + 12));
      bits = le16(chunk + 22);
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      pcm = chunk + 8;
      pcm_bytes = avail;
    }
    pos = body + size + (size & 1);
  }
  // 0xFFFE is WAVE_FORMAT_EXTENSIBLE, which tools use for plain PCM too.
  if ((format != 1 && format != 0xFFFE) || bits != 16 || (channels != 1 && channels != 2) || rate < 4000 ||
      rate > 192000)
    return fail(Errc::invalid_argument, "unsupported WAV format (need 16-bit PCM, mono or stereo): " + path.string(),
                "path");
  if (pcm == nullptr) return fail(Errc::invalid_argument, "WAV file has no data chunk: " + path.string(), "path");
  const std::size_t frames = pcm_bytes / (2 * static_cast<std::size_t>(channels));
  std::vector<std::int16_t> mono(frames);
  for (std::size_t i = 0; i < frames; ++i) {
    const unsigned char* s = pcm + i * 2 * channels;
    int v = static_cast<std::int16_t>(le16(s));
    if (channels == 2) v = (v + static_cast<std::int16_t>(le16(s + 2))) / 2;
    mono[i] = static_cast<std::int16_t>(v);
  }
  std::vector<std::int16_t> samples;
  if (rate == kSampleRate) {
    samples = std::move(mono);
  } else {
    Resampler resampler(rate, kSampleRate);
    samples.reserve(frames * kSampleRate / rate + 64);
    resampler.process(mono, samples);
    // Flush the resampler's delay line so that the end of the file is not cut.
    std::vector<std::int16_t> tail(256, 0);
    resampler.process(tail, samples);
    samples.resize(std::min(samples.size(), static_cast<std::size_t>(frames * static_cast<std::uint64_t>(kSampleRate) / rate)));
  }
  return std::shared_ptr<WavFileSource>(new WavFileSource(std::move(samples), rate, loop));
}

WavFileSource::WavFileSource(std::vector<std::int16_t> samples, int file_rate, bool loop)
    : samples_(std::move(samples)), file_rate_(file_rate), loop_(loop) {}

void WavFileSource::read(std::span<std::int16_t> frame) {
  for (auto& sample : frame) {
    if (position_ >= samples_.size()) {
      if (loop_ && !samples_.empty()) {
        position_ = 0;
      } else {
        sample = 0;
        continue;
      }
    }
    sample = samples_[position_++];
  }
}

bool WavFileSource::finished() const { return !loop_ && position_ >= samples_.size(); }

Result<std::shared_ptr<WavFileSink>> WavFileSink::open(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return fail(Errc::invalid_argument, "cannot create WAV file " + path.string(), "path");
  auto sink = std::shared_ptr<WavFileSink>(new WavFileSink(file));
  if (auto status = sink->flush(); !status) return tl::unexpected(status.error());
  return sink;
}

WavFileSink::WavFileSink(std::FILE* file) : file_(file) {}

WavFileSink::~WavFileSink() {
  (void)flush();
  std::fclose(file_);
}

void WavFileSink::write(std::span<const std::int16_t> frame) {
  std::lock_guard lock(mutex_);
  std::vector<unsigned char> bytes(frame.size() * 2);
  for (std::size_t i = 0; i < frame.size(); ++i) put16(&bytes[2 * i], static_cast<std::uint16_t>(frame[i]));
  std::fseek(file_, 0, SEEK_END);
  samples_ += std::fwrite(bytes.data(), 1, bytes.size(), file_) / 2;
}

Status WavFileSink::flush() {
  std::lock_guard lock(mutex_);
  unsigned char header[44];
  std::memcpy(header, "RIFF", 4);
  const auto data_bytes = static_cast<std::uint32_t>(samples_ * 2);
  put32(header + 4, 36 + data_bytes);
  std::memcpy(header + 8, "WAVEfmt ", 8);
  put32(header + 16, 16);
  put16(header + 20, 1);
  put16(header + 22, 1);
  put32(header + 24, kSampleRate);
  put32(header + 28, kSampleRate * 2);
  put16(header + 32, 2);
  put16(header + 34, 16);
  std::memcpy(header + 36, "data", 4);
  put32(header + 40, data_bytes);
  std::fseek(file_, 0, SEEK_SET);
  if (std::fwrite(header, 1, sizeof header, file_) != sizeof header || std::fflush(file_) != 0)
    return fail(Errc::internal, "cannot write WAV header");
  std::fseek(file_, 0, SEEK_END);
  return {};
}

std::size_t WavFileSink::samples_written() const {
  std::lock_guard lock(mutex_);
  return samples_;
}

// ---- PcmQueue ----

PcmQueue::PcmQueue(std::size_t capacity_frames) : capacity_(std::max<std::size_t>(1, capacity_frames)) {}

void PcmQueue::push(std::span<const std::int16_t> frame) {
  {
    std::lock_guard lock(mutex_);
    if (frames_.size() >= capacity_) {
      frames_.pop_front();
      ++dropped_;
    }
    frames_.emplace_back(frame.begin(), frame.end());
  }
  ready_.notify_one();
}

bool PcmQueue::pop(std::span<std::int16_t> frame, std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_for(lock, wait, [&] { return !frames_.empty(); })) return false;
  const auto& front = frames_.front();
  const std::size_t n = std::min(front.size(), frame.size());
  std::copy_n(front.begin(), n, frame.begin());
  std::fill(frame.begin() + static_cast<std::ptrdiff_t>(n), frame.end(), 0);
  frames_.pop_front();
  return true;
}

std::size_t PcmQueue::size() const {
  std::lock_guard lock(mutex_);
  return frames_.size();
}

std::size_t PcmQueue::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void PcmQueue::read(std::span<std::int16_t> frame) {
  if (!pop(frame)) std::fill(frame.begin(), frame.end(), 0);
}

// ---- ToneDetector ----

ToneDetector::ToneDetector(double hz, double min_rms) : hz_(hz), min_rms_(min_rms) {}

double ToneDetector::ratio(std::span<const std::int16_t> samples, double hz, int rate) {
  if (samples.empty()) return 0.0;
  // Generalised Goertzel at the exact frequency (not rounded to a DFT bin).
  const double w = 2.0 * std::numbers::pi * hz / rate;
  const double coeff = 2.0 * std::cos(w);
  double s1 = 0.0, s2 = 0.0, energy = 0.0;
  for (const std::int16_t x : samples) {
    const double s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += static_cast<double>(x) * x;
  }
  if (energy <= 0.0) return 0.0;
  const double power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return power / (energy * static_cast<double>(samples.size()) / 2.0);
}

void ToneDetector::write(std::span<const std::int16_t> frame) {
  double energy = 0.0;
  for (const std::int16_t x : frame) energy += static_cast<double>(x) * x;
  const double rms = frame.empty() ? 0.0 : std::sqrt(energy / static_cast<double>(frame.size()));
  const double r = ratio(frame, hz_);
  std::lock_guard lock(mutex_);
  ++frames_;
  if (rms >= min_rms_) {
    ++loud_frames_;
    ratio_sum_ += r;
    if (r >= 0.5) ++tone_frames_;
  }
}

std::size_t ToneDetector::tone_frames() const {
  std::lock_guard lock(mutex_);
  return tone_frames_;
}

std::size_t ToneDetector::frames() const {
  std::lock_guard lock(mutex_);
  return frames_;
}

double ToneDetector::mean_ratio() const {
  std::lock_guard lock(mutex_);
  return loud_frames_ == 0 ? 0.0 : ratio_sum_ / static_cast<double>(loud_frames_);
}

}  // namespace carillon::media
