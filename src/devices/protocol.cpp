#include "devices/protocol.hpp"

#include <regex>

namespace carillon::devices::protocol {

std::string device_topic(const std::string& serial, std::string_view leaf) {
  return std::string(kDevicesRoot) + serial + "/" + std::string(leaf);
}

std::string claim_topic(const std::string& client_id, std::string_view leaf) {
  return std::string(kClaimsRoot) + client_id + "/" + std::string(leaf);
}

std::optional<ParsedTopic> parse_topic(std::string_view topic) {
  ParsedTopic parsed;
  std::string_view rest;
  if (topic.substr(0, kDevicesRoot.size()) == kDevicesRoot) {
    rest = topic.substr(kDevicesRoot.size());
  } else if (topic.substr(0, kClaimsRoot.size()) == kClaimsRoot) {
    parsed.claim = true;
    rest = topic.substr(kClaimsRoot.size());
  } else {
    return std::nullopt;
  }
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) return std::nullopt;
  parsed.id = std::string(rest.substr(0, slash));
  parsed.leaf = std::string(rest.substr(slash + 1));
  return parsed;
}

bool is_valid_claim_client_id(std::string_view client_id) {
  static const std::regex shape("^claim-[A-Za-z0-9-]{1,40}$");
  return std::regex_match(std::string(client_id), shape);
}

}  // namespace carillon::devices::protocol
