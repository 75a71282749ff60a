#pragma once
// The device configuration document (S6 subset): what the platform wants a device to be.
// Versioned; the device applies it and acknowledges the version.
//
// {
//   "schema": 1, "version": 3,
//   "name": "Main entrance", "role": "door-station", "language": "en",
//   "call_buttons": [{"id": "b1", "label": "Reception", "target": "reception"}],      // <= 16
//   "door_openers": [{"id": 1, "name": "Main door", "dtmf": "*1", "output": 1, "pulse_ms": 3000}], // <= 2
//   "audio":  {"speaker_volume": 70, "microphone_gain": 60, "preset": "outdoor", "noise_suppression": true},
//   "screen": {"brightness": 80, "timeout_s": 60},
//   "auto_answer": false                                          // receiving stations
// }
//
// What goes over MQTT also carries a "platform" section that is never stored and cannot be
// patched: the device's SIP account ({"sip": {"registrar", "domain", "username", "password"}})
// and where it uploads snapshots ("snapshot_url"). See ConfigProvisioning in service.hpp.

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace carillon::devices {

inline constexpr int kConfigSchema = 1;
inline constexpr const char* kProvisionedSection = "platform";

// The document a freshly claimed device starts with.
nlohmann::json default_config(const std::string& name, const std::string& role);

// Checks a complete document: every field known and of the right type and range. Errors name
// the field as a JSON path, e.g. "door_openers[2]" or "audio.speaker_volume".
Status validate_config(const nlohmann::json& config);

// Applies a partial change (RFC 7396 JSON merge patch) to a document and validates the result.
// "schema", "version" and "platform" cannot be patched.
Result<nlohmann::json> merge_config(const nlohmann::json& current, const nlohmann::json& patch);

bool is_valid_role(const std::string& role);

}  // namespace carillon::devices
