#include "emulator/call_list.hpp"

namespace carillon::emulator {

void CallList::add(CallListEntry entry) {
  entries_.push_front(std::move(entry));
  while (entries_.size() > kCapacity) entries_.pop_back();
}

CallListEntry* CallList::find(std::uint64_t call) {
  for (auto& e : entries_) {
    if (e.call == call && e.ended == 0) return &e;
  }
  return nullptr;
}

void CallList::answered(std::uint64_t call) {
  if (auto* e = find(call)) e->answered = true;
}

void CallList::ended(std::uint64_t call, std::int64_t at) {
  if (auto* e = find(call)) e->ended = at;
}

nlohmann::json CallList::to_json() const {
  auto list = nlohmann::json::array();
  for (const auto& e : entries_) {
    list.push_back({{"from", e.from}, {"at", e.at}, {"answered", e.answered}, {"ended", e.ended}});
  }
  return list;
}

}  // namespace carillon::emulator
