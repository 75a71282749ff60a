#pragma once
// The receiving station's list of recent incoming calls (C2): newest first, at most 20.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include <nlohmann/json.hpp>

namespace carillon::emulator {

struct CallListEntry {
  std::uint64_t call = 0;  // the media call id while it lasts
  std::string from;
  std::int64_t at = 0;     // Unix seconds it rang
  bool answered = false;
  std::int64_t ended = 0;  // 0 while ongoing
};

class CallList {
 public:
  static constexpr std::size_t kCapacity = 20;

  void add(CallListEntry entry);
  void answered(std::uint64_t call);
  void ended(std::uint64_t call, std::int64_t at);
  const std::deque<CallListEntry>& entries() const { return entries_; }
  nlohmann::json to_json() const;

 private:
  CallListEntry* find(std::uint64_t call);
  std::deque<CallListEntry> entries_;
};

}  // namespace carillon::emulator
