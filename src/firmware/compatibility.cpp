#include "firmware/compatibility.hpp"

#include <algorithm>
#include <array>

namespace carillon::firmware {

namespace {

// Product sheet rows, one per model; "ID8 TD(-B)" there is "ID8 TD" and "ID8 TD-B" here.
constexpr std::array kTable = {
    // MX: every row may be claimed in all three ways.
    CompatibilityRow{"ID5 TD", "MX", "AD", true, true, true},
    CompatibilityRow{"ID5 TD CM", "MX", "AD", true, true, true},
    CompatibilityRow{"ID5 TD-B", "MX", "AJ", true, true, true},
    CompatibilityRow{"ID5 TD CM-B", "MX", "AL", true, true, true},
    CompatibilityRow{"ID8 TD", "MX", "AA", true, true, true},
    CompatibilityRow{"ID8 TD-B", "MX", "AA", true, true, true},
    CompatibilityRow{"ID8 TD CM", "MX", "AA", true, true, true},
    CompatibilityRow{"ID8 TD CM-B", "MX", "AA", true, true, true},
    CompatibilityRow{"IM1", "MX", "AA", true, true, true},
    CompatibilityRow{"IM3", "MX", "AA", true, true, true},
    CompatibilityRow{"IM6", "MX", "AA", true, true, true},
    CompatibilityRow{"OD1", "MX", "AA", true, true, true},
    CompatibilityRow{"OD1-B", "MX", "AA", true, true, true},
    CompatibilityRow{"OD1 CM", "MX", "AA", true, true, true},
    CompatibilityRow{"OD1 V", "MX", "AA", true, true, true},
    CompatibilityRow{"OD1 V CM", "MX", "AA", true, true, true},
    CompatibilityRow{"OD5 TD CM", "MX", "AA", true, true, true},
    CompatibilityRow{"OD10 TD CM", "MX", "AA", true, true, true},
    CompatibilityRow{"OD1 CM-B", "MX", "AB", true, true, true},
    CompatibilityRow{"OD5 TD CM-B", "MX", "AF", true, true, true},
    CompatibilityRow{"OD10 TD CM-B", "MX", "AF", true, true, true},
    CompatibilityRow{"WS 301V CM", "MX", "AC", true, true, true},
    CompatibilityRow{"WS 303V CM", "MX", "AC", true, true, true},
    CompatibilityRow{"WS 311V CM", "MX", "AC", true, true, true},
    CompatibilityRow{"WS 311V CM DA", "MX", "AC", true, true, true},
    // BF: never a cloud device; some only on-prem/mesh.
    CompatibilityRow{"AF 20H", "BF", "AA", false, false, true},
    CompatibilityRow{"AF 50H", "BF", "AA", false, false, true},
    CompatibilityRow{"AF 125H", "BF", "AA", false, false, true},
    CompatibilityRow{"AF 250H", "BF", "AA", false, false, true},
    CompatibilityRow{"AF 500H", "BF", "AA", false, false, true},
    CompatibilityRow{"AFLS 10H CW", "BF", "AD", false, true, true},
    CompatibilityRow{"AFLS 10H PW", "BF", "AD", false, true, true},
    CompatibilityRow{"AFLS 10H HG", "BF", "AE", false, true, true},
    CompatibilityRow{"AFLS 10H SC W", "BF", "AA", false, true, true},
    CompatibilityRow{"EF 962H", "BF", "AC", false, true, true},
    CompatibilityRow{"EF 962HM", "BF", "AC", false, true, true},
    CompatibilityRow{"ES 962H", "BF", "AC", false, true, true},
    CompatibilityRow{"ES 962HM", "BF", "AC", false, true, true},
    CompatibilityRow{"ET 908H", "BF", "AC", false, true, true},
    CompatibilityRow{"ET 908H-1", "BF", "AC", false, true, true},
    CompatibilityRow{"ET 908HMI", "BF", "AC", false, true, true},
    CompatibilityRow{"ET 908HMI-1", "BF", "AC", false, true, true},
    CompatibilityRow{"ET 962H", "BF", "AD", false, true, true},
    CompatibilityRow{"ET 970H", "BF", "AD", false, true, true},
    CompatibilityRow{"ET 962HR", "BF", "AC", false, true, true},
    CompatibilityRow{"ET 970HR", "BF", "AC", false, true, true},
    CompatibilityRow{"SIP-WS 201P", "BF", "AC", false, true, true},
    CompatibilityRow{"SIP-WS 203P", "BF", "AC", false, true, true},
    CompatibilityRow{"SIP-WS 201V", "BF", "AC", false, true, true},
    CompatibilityRow{"SIP-WS 203V", "BF", "AC", false, true, true},
    CompatibilityRow{"SIP-WS 201V CA", "BF", "AG", false, false, true},
    CompatibilityRow{"SIP-WS 211V", "BF", "AC", false, false, true},
    CompatibilityRow{"SIP-WS 212V", "BF", "AC", false, false, true},
    CompatibilityRow{"SIP-WS 211V DA", "BF", "AE", false, false, true},
    CompatibilityRow{"SIP-WS 800F", "BF", "AD", false, false, true},
    CompatibilityRow{"SIP-WS 800P", "BF", "AD", false, false, true},
    CompatibilityRow{"SIP-WS 800F MD", "BF", "AC", false, false, true},
    CompatibilityRow{"SIP-WS 800V", "BF", "AE", false, false, true},
};

Result<const CompatibilityRow*> find_row(const std::string& model) {
  auto it = std::find_if(kTable.begin(), kTable.end(), [&](const CompatibilityRow& row) { return row.model == model; });
  if (it == kTable.end()) return fail(Errc::invalid_argument, "unknown device model \"" + model + "\"", "model");
  return &*it;
}

// Two capital letters compare correctly as strings (AZ < BA).
Status check_revision(const CompatibilityRow& row, const std::string& revision) {
  bool well_formed = revision.size() == 2 && std::all_of(revision.begin(), revision.end(), [](char c) {
                       return c >= 'A' && c <= 'Z';
                     });
  if (!well_formed)
    return fail(Errc::invalid_argument,
                "hardware revision \"" + revision + "\" must be two capital letters (e.g. AD)", "hardware_revision");
  if (revision < row.min_revision)
    return fail(Errc::invalid_argument,
                "model " + std::string(row.model) + " needs hardware revision " + std::string(row.min_revision) +
                    " or later, device has " + revision,
                "hardware_revision");
  return {};
}

}  // namespace

const char* to_string(ClaimMode mode) {
  switch (mode) {
    case ClaimMode::cloud: return "cloud";
    case ClaimMode::managed: return "managed";
    case ClaimMode::mesh: return "mesh";
  }
  return "cloud";
}

Result<ClaimMode> parse_claim_mode(const std::string& text, const std::string& field) {
  for (auto mode : {ClaimMode::cloud, ClaimMode::managed, ClaimMode::mesh}) {
    if (text == to_string(mode)) return mode;
  }
  return fail(Errc::invalid_argument, "claim mode must be cloud, managed or mesh, not \"" + text + "\"", field);
}

std::span<const CompatibilityRow> compatibility_table() { return kTable; }

Result<std::string> family_of(const std::string& model) {
  auto row = find_row(model);
  if (!row) return tl::unexpected(row.error());
  return std::string((*row)->family);
}

Status check_claimable(const std::string& model, const std::string& hardware_revision, ClaimMode mode) {
  auto row = find_row(model);
  if (!row) return tl::unexpected(row.error());
  if (auto ok = check_revision(**row, hardware_revision); !ok) return ok;
  bool allowed = mode == ClaimMode::cloud ? (*row)->cloud : mode == ClaimMode::managed ? (*row)->managed : (*row)->mesh;
  if (!allowed) {
    const char* how = mode == ClaimMode::cloud     ? "a cloud device"
                      : mode == ClaimMode::managed ? "a cloud-managed on-prem device"
                                                   : "an on-prem/mesh device";
    return fail(Errc::invalid_argument, "model " + model + " cannot be claimed as " + how, "mode");
  }
  return {};
}

Status check_image_fits(const std::string& model, const std::string& hardware_revision, const Manifest& manifest) {
  auto row = find_row(model);
  if (!row) return tl::unexpected(row.error());
  if ((*row)->family != manifest.family)
    return fail(Errc::invalid_argument,
                "image " + manifest.version + " is for the " + manifest.family + " family, model " + model + " is " +
                    std::string((*row)->family),
                "model");
  if (!manifest.models.empty() &&
      std::find(manifest.models.begin(), manifest.models.end(), model) == manifest.models.end())
    return fail(Errc::invalid_argument, "image " + manifest.version + " is not built for model " + model, "model");
  return check_revision(**row, hardware_revision);
}

Status check_manifest_models(const Manifest& manifest) {
  for (const auto& model : manifest.models) {
    auto row = find_row(model);
    if (!row) return fail(Errc::invalid_argument, "unknown device model \"" + model + "\"", "models");
    if ((*row)->family != manifest.family)
      return fail(Errc::invalid_argument,
                  "model " + model + " is " + std::string((*row)->family) + ", not " + manifest.family, "models");
  }
  return {};
}

}  // namespace carillon::firmware
