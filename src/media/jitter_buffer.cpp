#include "media/jitter_buffer.hpp"

namespace carillon::media {

JitterBuffer::JitterBuffer(std::size_t depth, std::size_t max_depth)
    : depth_(depth == 0 ? 1 : depth), max_depth_(max_depth < depth_ ? depth_ : max_depth) {}

std::int64_t JitterBuffer::extend(std::uint16_t sequence) {
  if (!highest_) return sequence;
  // The extended number closest to the highest seen (RFC 3550 A.1, wrap-around safe).
  const std::int64_t base = *highest_ & ~std::int64_t{0xffff};
  std::int64_t candidate = base | sequence;
  if (candidate - *highest_ > 0x8000) candidate -= 0x10000;
  else if (*highest_ - candidate > 0x8000) candidate += 0x10000;
  return candidate;
}

void JitterBuffer::put(std::uint16_t sequence, std::span<const std::uint8_t> payload) {
  const std::int64_t ext = extend(sequence);
  if (!highest_ || ext > *highest_) highest_ = ext;
  if (next_ && ext < *next_) {
    ++late_;
    return;
  }
  frames_.emplace(ext, std::vector<std::uint8_t>(payload.begin(), payload.end()));
  while (frames_.size() > max_depth_) {
    ++overflow_;
    frames_.erase(frames_.begin());
    if (next_ && *next_ < frames_.begin()->first) next_ = frames_.begin()->first;
  }
}

JitterBuffer::Pop JitterBuffer::pop(std::vector<std::uint8_t>& payload) {
  if (!next_) {
    if (frames_.size() < depth_) return Pop::empty;
    next_ = frames_.begin()->first;
  }
  if (frames_.empty()) {
    // Underrun: buffer up again before playing on.
    next_.reset();
    return Pop::empty;
  }
  auto it = frames_.find(*next_);
  ++*next_;
  if (it == frames_.end()) return Pop::lost;
  payload = std::move(it->second);
  frames_.erase(it);
  return Pop::frame;
}

}  // namespace carillon::media
