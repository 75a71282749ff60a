#pragma once
// A small fixed-delay jitter buffer for one RTP stream: reorders by sequence number, reports
// gaps as lost (for concealment) and keeps its delay bounded.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace carillon::media {

class JitterBuffer {
 public:
  // Playout starts once `depth` frames are buffered (20 ms each); beyond `max_depth` the oldest
  // frames are dropped to bound the delay.
  explicit JitterBuffer(std::size_t depth = 3, std::size_t max_depth = 12);

  void put(std::uint16_t sequence, std::span<const std::uint8_t> payload);

  enum class Pop { frame, lost, empty };
  // One call per 20 ms. frame: `payload` holds the next frame. lost: the next frame is missing
  // but later ones are here (conceal it). empty: nothing to play (buffering or underrun).
  Pop pop(std::vector<std::uint8_t>& payload);

  std::size_t size() const { return frames_.size(); }
  std::uint64_t late() const { return late_; }
  std::uint64_t overflow() const { return overflow_; }

 private:
  std::int64_t extend(std::uint16_t sequence);

  std::size_t depth_;
  std::size_t max_depth_;
  std::map<std::int64_t, std::vector<std::uint8_t>> frames_;
  std::optional<std::int64_t> highest_;  // highest extended sequence number seen
  std::optional<std::int64_t> next_;     // next to play, while playing
  std::uint64_t late_ = 0;
  std::uint64_t overflow_ = 0;
};

}  // namespace carillon::media
