#pragma once
// MQTT device protocol v1 (ARCHITECTURE.md "Contracts"): topic names and message shapes, shared
// by the platform and the device emulator. Payloads are JSON objects with "schema": 1.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace carillon::devices::protocol {

inline constexpr int kSchema = 1;
inline constexpr std::string_view kDevicesRoot = "carillon/v1/devices/";
inline constexpr std::string_view kClaimsRoot = "carillon/v1/claims/";

// carillon/v1/devices/{serial}/{leaf}, leaf one of: config, config/ack, state, events,
// commands, commands/result.
std::string device_topic(const std::string& serial, std::string_view leaf);
// carillon/v1/claims/{client_id}/{request|response}
std::string claim_topic(const std::string& client_id, std::string_view leaf);

// Splits a topic under kDevicesRoot or kClaimsRoot; nullopt for anything else.
struct ParsedTopic {
  bool claim = false;
  std::string id;    // serial or claim client id
  std::string leaf;  // rest after the id
};
std::optional<ParsedTopic> parse_topic(std::string_view topic);

// Subscriptions of the platform account: only what devices send. A wildcard over the whole
// subtree would also bring back every config and command the platform publishes itself.
inline constexpr const char* kPlatformDeviceFilters[] = {
    "carillon/v1/devices/+/state", "carillon/v1/devices/+/config/ack", "carillon/v1/devices/+/events",
    "carillon/v1/devices/+/commands/result"};
inline constexpr const char* kPlatformClaimFilter = "carillon/v1/claims/+/request";

// Claim client ids are "claim-" + 1..40 of [A-Za-z0-9-]: the claim listener's ACL is keyed on them.
bool is_valid_claim_client_id(std::string_view client_id);

}  // namespace carillon::devices::protocol
