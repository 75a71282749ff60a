#include "devices/config.hpp"

#include <regex>
#include <set>

#include "devices/model.hpp"

namespace carillon::devices {

namespace {

using nlohmann::json;

Status unknown_fields(const json& object, const std::set<std::string>& known, const std::string& at) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!known.count(it.key())) return fail(Errc::invalid_argument, "unknown field", at + it.key());
  }
  return {};
}

Status integer_in(const json& object, const char* key, long lo, long hi, const std::string& at, bool required) {
  if (!object.contains(key)) {
    return required ? fail(Errc::invalid_argument, "is required", at + key) : Status{};
  }
  const auto& v = object[key];
  if (!v.is_number_integer()) return fail(Errc::invalid_argument, "must be an integer", at + key);
  auto n = v.get<long>();
  if (n < lo || n > hi)
    return fail(Errc::invalid_argument, "must be between " + std::to_string(lo) + " and " + std::to_string(hi), at + key);
  return {};
}

Status text(const json& object, const char* key, std::size_t max, const std::string& at, bool required) {
  if (!object.contains(key)) {
    return required ? fail(Errc::invalid_argument, "is required", at + key) : Status{};
  }
  const auto& v = object[key];
  if (!v.is_string()) return fail(Errc::invalid_argument, "must be a string", at + key);
  auto s = v.get<std::string>();
  if (s.empty() || s.size() > max)
    return fail(Errc::invalid_argument, "must be 1.." + std::to_string(max) + " characters", at + key);
  for (unsigned char c : s) {
    if (c < 0x20) return fail(Errc::invalid_argument, "must not contain control characters", at + key);
  }
  return {};
}

Status check_audio(const json& audio) {
  if (!audio.is_object()) return fail(Errc::invalid_argument, "must be an object", "audio");
  if (auto s = unknown_fields(audio, {"speaker_volume", "microphone_gain", "preset", "noise_suppression"}, "audio."); !s) return s;
  if (auto s = integer_in(audio, "speaker_volume", 0, 100, "audio.", false); !s) return s;
  if (auto s = integer_in(audio, "microphone_gain", 0, 100, "audio.", false); !s) return s;
  if (audio.contains("preset")) {
    static const std::set<std::string> presets = {"indoor", "outdoor", "noisy", "quiet"};
    if (!audio["preset"].is_string() || !presets.count(audio["preset"].get<std::string>()))
      return fail(Errc::invalid_argument, "must be one of indoor, outdoor, noisy, quiet", "audio.preset");
  }
  if (audio.contains("noise_suppression") && !audio["noise_suppression"].is_boolean())
    return fail(Errc::invalid_argument, "must be true or false", "audio.noise_suppression");
  return {};
}

Status check_screen(const json& screen) {
  if (!screen.is_object()) return fail(Errc::invalid_argument, "must be an object", "screen");
  if (auto s = unknown_fields(screen, {"brightness", "timeout_s"}, "screen."); !s) return s;
  if (auto s = integer_in(screen, "brightness", 0, 100, "screen.", false); !s) return s;
  return integer_in(screen, "timeout_s", 5, 3600, "screen.", false);
}

Status check_buttons(const json& buttons) {
  if (!buttons.is_array()) return fail(Errc::invalid_argument, "must be an array", "call_buttons");
  if (buttons.size() > 16) return fail(Errc::invalid_argument, "at most 16 call buttons", "call_buttons");
  static const std::regex id("^[A-Za-z0-9_-]{1,32}$");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < buttons.size(); ++i) {
    auto at = "call_buttons[" + std::to_string(i) + "].";
    const auto& b = buttons[i];
    if (!b.is_object()) return fail(Errc::invalid_argument, "must be an object", at.substr(0, at.size() - 1));
    if (auto s = unknown_fields(b, {"id", "label", "target"}, at); !s) return s;
    if (auto s = text(b, "id", 32, at, true); !s) return s;
    if (!std::regex_match(b["id"].get<std::string>(), id))
      return fail(Errc::invalid_argument, "must be 1..32 of A-Z a-z 0-9 _ -", at + "id");
    if (!ids.insert(b["id"].get<std::string>()).second) return fail(Errc::invalid_argument, "duplicate id", at + "id");
    if (auto s = text(b, "label", 64, at, true); !s) return s;
    if (auto s = text(b, "target", 128, at, false); !s) return s;
  }
  return {};
}

Status check_door_openers(const json& openers) {
  if (!openers.is_array()) return fail(Errc::invalid_argument, "must be an array", "door_openers");
  if (openers.size() > 2) return fail(Errc::invalid_argument, "a door station has at most 2 door openers", "door_openers");
  static const std::regex dtmf("^[0-9*#A-D]{1,16}$");
  std::set<long> ids;
  std::set<std::string> codes;
  for (std::size_t i = 0; i < openers.size(); ++i) {
    auto at = "door_openers[" + std::to_string(i) + "].";
    const auto& d = openers[i];
    if (!d.is_object()) return fail(Errc::invalid_argument, "must be an object", at.substr(0, at.size() - 1));
    if (auto s = unknown_fields(d, {"id", "name", "dtmf", "output", "pulse_ms"}, at); !s) return s;
    if (auto s = integer_in(d, "id", 1, 2, at, true); !s) return s;
    if (!ids.insert(d["id"].get<long>()).second) return fail(Errc::invalid_argument, "duplicate id", at + "id");
    if (auto s = text(d, "name", 64, at, true); !s) return s;
    if (auto s = text(d, "dtmf", 16, at, true); !s) return s;
    if (!std::regex_match(d["dtmf"].get<std::string>(), dtmf))
      return fail(Errc::invalid_argument, "DTMF codes are 1..16 of 0-9 * # A-D", at + "dtmf");
    if (!codes.insert(d["dtmf"].get<std::string>()).second)
      return fail(Errc::invalid_argument, "two door openers cannot share a DTMF code", at + "dtmf");
    if (auto s = integer_in(d, "output", 1, 2, at, true); !s) return s;
    if (auto s = integer_in(d, "pulse_ms", 100, 60000, at, false); !s) return s;
  }
  return {};
}

}  // namespace

bool is_valid_role(const std::string& role) {
  for (const char* r : kRoles) {
    if (role == r) return true;
  }
  return false;
}

json default_config(const std::string& name, const std::string& role) {
  return json{{"schema", kConfigSchema},
              {"version", 1},
              {"name", name},
              {"role", role},
              {"language", "en"},
              {"call_buttons", json::array()},
              {"door_openers", json::array()},
              {"audio", {{"speaker_volume", 70}, {"microphone_gain", 60}, {"preset", "indoor"}, {"noise_suppression", true}}},
              {"screen", {{"brightness", 80}, {"timeout_s", 60}}}};
}

Status validate_config(const json& config) {
  if (!config.is_object()) return fail(Errc::invalid_argument, "config must be a JSON object", "config");
  if (auto s = unknown_fields(config,
                              {"schema", "version", "name", "role", "language", "call_buttons", "door_openers", "audio", "screen",
                               "auto_answer"},
                              "");
      !s)
    return s;
  if (!config.contains("schema") || config["schema"] != kConfigSchema)
    return fail(Errc::invalid_argument, "must be 1", "schema");
  if (auto s = integer_in(config, "version", 1, std::numeric_limits<long>::max(), "", true); !s) return s;
  if (auto s = text(config, "name", 200, "", true); !s) return s;
  if (!config.contains("role") || !config["role"].is_string() || !is_valid_role(config["role"].get<std::string>()))
    return fail(Errc::invalid_argument, "must be door-station, receiving-station, call-trigger or call-receiver", "role");
  static const std::set<std::string> languages = {"en", "de", "fr", "it", "es", "nl", "pl", "pt", "ca", "hr"};
  if (!config.contains("language") || !config["language"].is_string() ||
      !languages.count(config["language"].get<std::string>()))
    return fail(Errc::invalid_argument, "must be one of en, de, fr, it, es, nl, pl, pt, ca, hr", "language");
  if (config.contains("call_buttons")) {
    if (auto s = check_buttons(config["call_buttons"]); !s) return s;
  }
  if (config.contains("door_openers")) {
    if (auto s = check_door_openers(config["door_openers"]); !s) return s;
    if (!config["door_openers"].empty() && config["role"] != "door-station")
      return fail(Errc::invalid_argument, "only door stations have door openers", "door_openers");
  }
  if (config.contains("audio")) {
    if (auto s = check_audio(config["audio"]); !s) return s;
  }
  if (config.contains("screen")) {
    if (auto s = check_screen(config["screen"]); !s) return s;
  }
  if (config.contains("auto_answer") && !config["auto_answer"].is_boolean())
    return fail(Errc::invalid_argument, "must be true or false", "auto_answer");
  return {};
}

Result<json> merge_config(const json& current, const json& patch) {
  if (!patch.is_object()) return fail(Errc::invalid_argument, "a config change must be a JSON object", "config");
  for (const char* fixed : {"schema", "version", kProvisionedSection}) {
    if (patch.contains(fixed)) return fail(Errc::invalid_argument, "is managed by the platform", fixed);
  }
  json merged = current;
  merged.merge_patch(patch);
  if (auto s = validate_config(merged); !s) return tl::unexpected(s.error());
  return merged;
}

}  // namespace carillon::devices
