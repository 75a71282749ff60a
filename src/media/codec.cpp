#include "media/codec.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <opus/opus.h>
// spandsp needs <cmath> and the C integer types before its own headers (notes/libre-media.md).
#include <spandsp.h>

#include "media/audio.hpp"

namespace carillon::media {

namespace {

constexpr CodecInfo kOpus{"opus", 48000, 2, -1, 4};
constexpr CodecInfo kG722{"G722", 8000, 1, 9, 3};
constexpr CodecInfo kPcma{"PCMA", 8000, 1, 8, 2};
constexpr CodecInfo kPcmu{"PCMU", 8000, 1, 0, 1};

Status check_frame(std::span<const std::int16_t> frame) {
  if (frame.size() != kFrameSamples) return fail(Errc::invalid_argument, "frame must be 320 samples", "frame");
  return {};
}

// Loss concealment for the waveform codecs: repeat the last good frame, fading out over three
// frames. (spandsp's plc_fillin copies overlapping memory with memcpy, which ASan rightly flags.)
class FrameRepeater {
 public:
  void remember(std::span<const std::int16_t> frame) {
    last_.assign(frame.begin(), frame.end());
    losses_ = 0;
  }
  void fill(std::span<std::int16_t> frame) {
    ++losses_;
    const double gain = losses_ > 3 ? 0.0 : 1.0 - 0.3 * losses_;
    for (std::size_t i = 0; i < frame.size(); ++i)
      frame[i] = i < last_.size() ? static_cast<std::int16_t>(last_[i] * gain) : 0;
  }

 private:
  std::vector<std::int16_t> last_;
  int losses_ = 0;
};

class OpusEncoderImpl final : public Encoder {
 public:
  explicit OpusEncoderImpl(OpusEncoder* enc) : enc_(enc) {}
  ~OpusEncoderImpl() override { opus_encoder_destroy(enc_); }
  Status encode(std::span<const std::int16_t> frame, std::vector<std::uint8_t>& payload) override {
    if (auto s = check_frame(frame); !s) return s;
    payload.resize(1275);
    const int n = opus_encode(enc_, frame.data(), static_cast<int>(frame.size()), payload.data(),
                              static_cast<opus_int32>(payload.size()));
    if (n < 0) return fail(Errc::internal, std::string("opus_encode: ") + opus_strerror(n));
    payload.resize(static_cast<std::size_t>(n));
    return {};
  }

 private:
  OpusEncoder* enc_;
};

class OpusDecoderImpl final : public Decoder {
 public:
  explicit OpusDecoderImpl(OpusDecoder* dec) : dec_(dec) {}
  ~OpusDecoderImpl() override { opus_decoder_destroy(dec_); }
  Status decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> frame) override {
    const int n = opus_decode(dec_, payload.data(), static_cast<opus_int32>(payload.size()), frame.data(),
                              static_cast<int>(frame.size()), 0);
    if (n < 0) return fail(Errc::invalid_argument, std::string("opus_decode: ") + opus_strerror(n));
    std::fill(frame.begin() + n, frame.end(), 0);
    return {};
  }
  void conceal(std::span<std::int16_t> frame) override {
    const int n = opus_decode(dec_, nullptr, 0, frame.data(), static_cast<int>(frame.size()), 0);
    std::fill(frame.begin() + std::max(n, 0), frame.end(), 0);
  }

 private:
  OpusDecoder* dec_;
};

class G722EncoderImpl final : public Encoder {
 public:
  G722EncoderImpl() : state_(g722_encode_init(nullptr, 64000, 0)) {}
  ~G722EncoderImpl() override { g722_encode_free(state_); }
  Status encode(std::span<const std::int16_t> frame, std::vector<std::uint8_t>& payload) override {
    if (auto s = check_frame(frame); !s) return s;
    payload.resize(frame.size() / 2);
    const int n = g722_encode(state_, payload.data(), frame.data(), static_cast<int>(frame.size()));
    payload.resize(static_cast<std::size_t>(std::max(n, 0)));
    return {};
  }
  bool ok() const { return state_ != nullptr; }

 private:
  g722_encode_state_t* state_;
};

class G722DecoderImpl final : public Decoder {
 public:
  G722DecoderImpl() : state_(g722_decode_init(nullptr, 64000, 0)) {}
  ~G722DecoderImpl() override { g722_decode_free(state_); }
  Status decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> frame) override {
    if (payload.size() * 2 > frame.size()) return fail(Errc::invalid_argument, "G.722 payload longer than a frame");
    const int n = g722_decode(state_, frame.data(), payload.data(), static_cast<int>(payload.size()));
    std::fill(frame.begin() + std::max(n, 0), frame.end(), 0);
    repeater_.remember(frame);
    return {};
  }
  void conceal(std::span<std::int16_t> frame) override { repeater_.fill(frame); }
  bool ok() const { return state_ != nullptr; }

 private:
  g722_decode_state_t* state_;
  FrameRepeater repeater_;
};

// G.711 runs at 8 kHz: resample around it.
class G711EncoderImpl final : public Encoder {
 public:
  explicit G711EncoderImpl(int mode) : state_(g711_init(nullptr, mode)), down_(kSampleRate, 8000) {}
  ~G711EncoderImpl() override { g711_free(state_); }
  Status encode(std::span<const std::int16_t> frame, std::vector<std::uint8_t>& payload) override {
    if (auto s = check_frame(frame); !s) return s;
    // Exactly 160 samples per frame, so the RTP clock and the payload agree from the first packet.
    down_.process(frame, pending_);
    if (pending_.size() < kNarrow) pending_.insert(pending_.begin(), kNarrow - pending_.size(), 0);
    narrow_.assign(pending_.begin(), pending_.begin() + kNarrow);
    pending_.erase(pending_.begin(), pending_.begin() + kNarrow);
    payload.resize(narrow_.size());
    const int n = g711_encode(state_, payload.data(), narrow_.data(), static_cast<int>(narrow_.size()));
    payload.resize(static_cast<std::size_t>(std::max(n, 0)));
    return {};
  }
  bool ok() const { return state_ != nullptr; }

 private:
  static constexpr std::size_t kNarrow = kFrameSamples / 2;
  g711_state_t* state_;
  Resampler down_;
  std::vector<std::int16_t> narrow_;
  std::vector<std::int16_t> pending_;
};

class G711DecoderImpl final : public Decoder {
 public:
  explicit G711DecoderImpl(int mode) : state_(g711_init(nullptr, mode)), up_(8000, kSampleRate) {}
  ~G711DecoderImpl() override { g711_free(state_); }
  Status decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> frame) override {
    narrow_.resize(payload.size());
    const int n = g711_decode(state_, narrow_.data(), payload.data(), static_cast<int>(payload.size()));
    narrow_.resize(static_cast<std::size_t>(std::max(n, 0)));
    widen(frame);
    repeater_.remember(frame);
    return {};
  }
  void conceal(std::span<std::int16_t> frame) override { repeater_.fill(frame); }
  bool ok() const { return state_ != nullptr; }

 private:
  // The resampler's output count per call varies by at most one sample; keep the remainder.
  void widen(std::span<std::int16_t> frame) {
    up_.process(narrow_, pending_);
    const std::size_t n = std::min(pending_.size(), frame.size());
    std::fill(frame.begin(), frame.end(), 0);
    std::copy_n(pending_.begin(), n, frame.begin() + static_cast<std::ptrdiff_t>(frame.size() - n));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  }

  g711_state_t* state_;
  Resampler up_;
  FrameRepeater repeater_;
  std::vector<std::int16_t> narrow_;
  std::vector<std::int16_t> pending_;
};

}  // namespace

std::string_view to_string(Codec codec) {
  switch (codec) {
    case Codec::opus: return "opus";
    case Codec::g722: return "g722";
    case Codec::pcma: return "pcma";
    case Codec::pcmu: return "pcmu";
  }
  return "?";
}

std::optional<Codec> codec_from_string(std::string_view name) {
  for (Codec c : {Codec::opus, Codec::g722, Codec::pcma, Codec::pcmu})
    if (name == to_string(c)) return c;
  return std::nullopt;
}

const CodecInfo& codec_info(Codec codec) {
  switch (codec) {
    case Codec::opus: return kOpus;
    case Codec::g722: return kG722;
    case Codec::pcma: return kPcma;
    case Codec::pcmu: return kPcmu;
  }
  return kPcmu;
}

Result<std::unique_ptr<Encoder>> make_encoder(Codec codec) {
  switch (codec) {
    case Codec::opus: {
      int err = 0;
      OpusEncoder* enc = opus_encoder_create(kSampleRate, 1, OPUS_APPLICATION_VOIP, &err);
      if (enc == nullptr || err != OPUS_OK) return fail(Errc::internal, std::string("opus_encoder_create: ") + opus_strerror(err));
      opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000));
      opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(5));
      return std::unique_ptr<Encoder>(new OpusEncoderImpl(enc));
    }
    case Codec::g722: {
      auto e = std::make_unique<G722EncoderImpl>();
      if (!e->ok()) return fail(Errc::internal, "g722_encode_init failed");
      return std::unique_ptr<Encoder>(std::move(e));
    }
    case Codec::pcma:
    case Codec::pcmu: {
      auto e = std::make_unique<G711EncoderImpl>(codec == Codec::pcma ? G711_ALAW : G711_ULAW);
      if (!e->ok()) return fail(Errc::internal, "g711_init failed");
      return std::unique_ptr<Encoder>(std::move(e));
    }
  }
  return fail(Errc::invalid_argument, "unknown codec", "codec");
}

Result<std::unique_ptr<Decoder>> make_decoder(Codec codec) {
  switch (codec) {
    case Codec::opus: {
      int err = 0;
      OpusDecoder* dec = opus_decoder_create(kSampleRate, 1, &err);
      if (dec == nullptr || err != OPUS_OK) return fail(Errc::internal, std::string("opus_decoder_create: ") + opus_strerror(err));
      return std::unique_ptr<Decoder>(new OpusDecoderImpl(dec));
    }
    case Codec::g722: {
      auto d = std::make_unique<G722DecoderImpl>();
      if (!d->ok()) return fail(Errc::internal, "g722_decode_init failed");
      return std::unique_ptr<Decoder>(std::move(d));
    }
    case Codec::pcma:
    case Codec::pcmu: {
      auto d = std::make_unique<G711DecoderImpl>(codec == Codec::pcma ? G711_ALAW : G711_ULAW);
      if (!d->ok()) return fail(Errc::internal, "g711_init failed");
      return std::unique_ptr<Decoder>(std::move(d));
    }
  }
  return fail(Errc::invalid_argument, "unknown codec", "codec");
}

}  // namespace carillon::media
