#include "emulator/door_openers.hpp"

namespace carillon::emulator {

void DoorOpeners::configure(const nlohmann::json& door_openers) {
  openers_.clear();
  if (!door_openers.is_array()) return;
  for (const auto& d : door_openers) {
    DoorOpener o;
    o.id = d.value("id", 1);
    o.name = d.value("name", "");
    o.dtmf = d.value("dtmf", "");
    o.output = d.value("output", 1);
    o.pulse_ms = d.value("pulse_ms", 3000);
    if (!o.dtmf.empty()) openers_.push_back(std::move(o));
  }
}

std::optional<DoorOpened> DoorOpeners::on_digit(std::uint64_t call, char digit) {
  auto now = clock_.now();
  auto& d = digits_[call];
  if (!d.text.empty() && now - d.last > kInterDigitTimeoutSeconds) d.text.clear();
  d.last = now;
  d.text.push_back(digit);
  // The longest code is 16 digits; older digits can never complete one.
  if (d.text.size() > 16) d.text.erase(0, d.text.size() - 16);
  for (const auto& o : openers_) {
    if (d.text.size() >= o.dtmf.size() && d.text.compare(d.text.size() - o.dtmf.size(), o.dtmf.size(), o.dtmf) == 0) {
      d.text.clear();
      output_until_ms_[o.output] = now * 1000 + o.pulse_ms;
      ++openings_;
      return DoorOpened{o.id, o.name, o.output, now};
    }
  }
  return std::nullopt;
}

bool DoorOpeners::output_active(int output) const {
  auto it = output_until_ms_.find(output);
  return it != output_until_ms_.end() && clock_.now() * 1000 < it->second;
}

}  // namespace carillon::emulator
