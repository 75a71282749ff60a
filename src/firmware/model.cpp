#include "firmware/model.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <set>

namespace carillon::firmware {

namespace {

constexpr std::size_t kMaxVersionParts = 4;
constexpr std::size_t kMaxVersionDigits = 6;
constexpr std::size_t kMaxModelLength = 64;

// Up to four numeric parts; missing parts count as 0 so "1.2" == "1.2.0". Six digits per part
// keep every part well inside a long.
std::optional<std::array<long, kMaxVersionParts>> version_parts(const std::string& version) {
  std::array<long, kMaxVersionParts> parts{};
  std::size_t count = 0;
  std::size_t i = 0;
  while (true) {
    if (count == kMaxVersionParts) return std::nullopt;
    std::size_t digits = 0;
    long value = 0;
    while (i < version.size() && version[i] >= '0' && version[i] <= '9') {
      value = value * 10 + (version[i] - '0');
      ++i;
      if (++digits > kMaxVersionDigits) return std::nullopt;
    }
    if (digits == 0) return std::nullopt;
    parts[count++] = value;
    if (i == version.size()) return parts;
    if (version[i] != '.') return std::nullopt;
    ++i;
  }
}

bool is_lower_hex(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The payload is line based; a newline inside a field could forge another field's line.
bool has_line_break(const std::string& text) { return text.find_first_of("\r\n") != std::string::npos; }

Result<std::string> string_field(const nlohmann::json& document, const char* name) {
  auto it = document.find(name);
  if (it == document.end() || !it->is_string()) return fail(Errc::invalid_argument, std::string(name) + " must be a string", name);
  return it->get<std::string>();
}

}  // namespace

std::string signing_payload(const Manifest& manifest) {
  std::string models;
  for (const auto& model : manifest.models) {
    if (!models.empty()) models += ',';
    models += model;
  }
  return "carillon-firmware-manifest-v1\nfamily=" + manifest.family + "\nversion=" + manifest.version +
         "\nsha256=" + manifest.sha256 + "\nsize=" + std::to_string(manifest.size) +
         "\nsecurity_critical=" + (manifest.security_critical ? "true" : "false") + "\nmodels=" + models + "\n";
}

nlohmann::json to_json(const Manifest& manifest) {
  return {{"family", manifest.family},
          {"version", manifest.version},
          {"sha256", manifest.sha256},
          {"size", manifest.size},
          {"security_critical", manifest.security_critical},
          {"models", manifest.models}};
}

Result<Manifest> manifest_from_json(const nlohmann::json& document) {
  if (!document.is_object()) return fail(Errc::invalid_argument, "manifest must be a JSON object");
  Manifest manifest;

  auto family = string_field(document, "family");
  if (!family) return tl::unexpected(family.error());
  if (*family != "MX" && *family != "BF")
    return fail(Errc::invalid_argument, "unknown model family \"" + *family + "\" (expected MX or BF)", "family");
  manifest.family = *family;

  auto version = string_field(document, "version");
  if (!version) return tl::unexpected(version.error());
  if (auto ok = check_version(*version, "version"); !ok) return tl::unexpected(ok.error());
  manifest.version = *version;

  auto sha256 = string_field(document, "sha256");
  if (!sha256) return tl::unexpected(sha256.error());
  if (sha256->size() != 64 || !is_lower_hex(*sha256))
    return fail(Errc::invalid_argument, "sha256 must be 64 lower-case hex digits", "sha256");
  manifest.sha256 = *sha256;

  auto size = document.find("size");
  if (size == document.end() || !size->is_number_integer() || size->get<std::int64_t>() <= 0)
    return fail(Errc::invalid_argument, "size must be a positive integer (bytes)", "size");
  manifest.size = size->get<std::int64_t>();

  if (auto it = document.find("security_critical"); it != document.end() && !it->is_null()) {
    if (!it->is_boolean()) return fail(Errc::invalid_argument, "security_critical must be true or false", "security_critical");
    manifest.security_critical = it->get<bool>();
  }

  if (auto it = document.find("models"); it != document.end() && !it->is_null()) {
    if (!it->is_array()) return fail(Errc::invalid_argument, "models must be an array of model names", "models");
    std::set<std::string> seen;
    for (const auto& item : *it) {
      if (!item.is_string()) return fail(Errc::invalid_argument, "models must be an array of model names", "models");
      auto model = item.get<std::string>();
      // ',' joins the models in the signing payload, so it cannot be part of a name.
      if (model.empty() || model.size() > kMaxModelLength || has_line_break(model) || model.find(',') != std::string::npos)
        return fail(Errc::invalid_argument, "invalid model name \"" + model + "\"", "models");
      if (!seen.insert(model).second)
        return fail(Errc::invalid_argument, "model \"" + model + "\" is listed twice", "models");
      manifest.models.push_back(std::move(model));
    }
  }
  return manifest;
}

Status check_version(const std::string& version, const std::string& field) {
  if (!version_parts(version))
    return fail(Errc::invalid_argument,
                "version \"" + version + "\" must be 1 to 4 dot-separated numbers of at most 6 digits (e.g. 4.6.1.21)",
                field);
  return {};
}

int compare_versions(const std::string& a, const std::string& b) {
  auto pa = version_parts(a);
  auto pb = version_parts(b);
  if (!pa || !pb) return a.compare(b);  // precondition broken: still a total order
  for (std::size_t i = 0; i < kMaxVersionParts; ++i) {
    if ((*pa)[i] != (*pb)[i]) return (*pa)[i] < (*pb)[i] ? -1 : 1;
  }
  return 0;
}

const char* to_string(UpdateMode mode) {
  switch (mode) {
    case UpdateMode::all: return "all";
    case UpdateMode::security_only: return "security_only";
    case UpdateMode::manual: return "manual";
  }
  return "all";
}

Result<UpdateMode> parse_update_mode(const std::string& text, const std::string& field) {
  for (auto mode : {UpdateMode::all, UpdateMode::security_only, UpdateMode::manual}) {
    if (text == to_string(mode)) return mode;
  }
  return fail(Errc::invalid_argument, "update mode must be all, security_only or manual, not \"" + text + "\"", field);
}

const char* to_string(RolloutState state) {
  switch (state) {
    case RolloutState::running: return "running";
    case RolloutState::paused: return "paused";
    case RolloutState::cancelled: return "cancelled";
    case RolloutState::stopped: return "stopped";
    case RolloutState::completed: return "completed";
  }
  return "running";
}

Result<RolloutState> parse_rollout_state(const std::string& text) {
  for (auto state : {RolloutState::running, RolloutState::paused, RolloutState::cancelled, RolloutState::stopped,
                     RolloutState::completed}) {
    if (text == to_string(state)) return state;
  }
  return fail(Errc::invalid_argument, "unknown rollout state \"" + text + "\"", "state");
}

const char* to_string(DeviceUpdateState state) {
  switch (state) {
    case DeviceUpdateState::pending: return "pending";
    case DeviceUpdateState::downloading: return "downloading";
    case DeviceUpdateState::verifying: return "verifying";
    case DeviceUpdateState::installing: return "installing";
    case DeviceUpdateState::rebooting: return "rebooting";
    case DeviceUpdateState::done: return "done";
    case DeviceUpdateState::failed: return "failed";
    case DeviceUpdateState::rolled_back: return "rolled_back";
  }
  return "pending";
}

Result<DeviceUpdateState> parse_device_update_state(const std::string& text) {
  for (auto state : {DeviceUpdateState::pending, DeviceUpdateState::downloading, DeviceUpdateState::verifying,
                     DeviceUpdateState::installing, DeviceUpdateState::rebooting, DeviceUpdateState::done,
                     DeviceUpdateState::failed, DeviceUpdateState::rolled_back}) {
    if (text == to_string(state)) return state;
  }
  return fail(Errc::invalid_argument, "unknown update state \"" + text + "\"", "state");
}

bool is_terminal(DeviceUpdateState state) {
  return state == DeviceUpdateState::done || state == DeviceUpdateState::failed || state == DeviceUpdateState::rolled_back;
}

}  // namespace carillon::firmware
