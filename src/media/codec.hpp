#pragma once
// Audio codecs for calls: Opus (libopus), G.722 and G.711 A/u-law (spandsp). Encoders take and
// decoders produce 20 ms frames of 16 kHz mono PCM whatever the codec's own rate.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace carillon::media {

enum class Codec { opus, g722, pcma, pcmu };

std::string_view to_string(Codec codec);
std::optional<Codec> codec_from_string(std::string_view name);  // "opus", "g722", "pcma", "pcmu"

struct CodecInfo {
  const char* sdp_name;      // rtpmap encoding name
  std::uint32_t rtp_clock;   // rtpmap clock rate (G.722: 8000 although it samples at 16 kHz)
  std::uint8_t channels;     // rtpmap channels (Opus: always 2, RFC 7587)
  int static_pt;             // static payload type, or -1 for dynamic
  int rank;                  // higher = preferred when answering (more bandwidth)
};
const CodecInfo& codec_info(Codec codec);
// RTP timestamp ticks per 20 ms frame.
inline std::uint32_t rtp_ticks_per_frame(Codec codec) { return codec_info(codec).rtp_clock / 50; }

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Encodes one 20 ms frame (kFrameSamples samples); replaces `payload`.
  virtual Status encode(std::span<const std::int16_t> frame, std::vector<std::uint8_t>& payload) = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes one RTP payload into exactly one 20 ms frame.
  virtual Status decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> frame) = 0;
  // Fills a frame for a lost packet (packet loss concealment).
  virtual void conceal(std::span<std::int16_t> frame) = 0;
};

Result<std::unique_ptr<Encoder>> make_encoder(Codec codec);
Result<std::unique_ptr<Decoder>> make_decoder(Codec codec);

}  // namespace carillon::media
