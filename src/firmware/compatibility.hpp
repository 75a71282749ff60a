#pragma once
// Which device models the platform accepts, from which hardware revision, and how they may be
// claimed (the product sheet's table "compatible devices and hardware revisions"). Checked when
// a device is claimed and before firmware is offered or rolled out to it.

#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "firmware/model.hpp"

namespace carillon::firmware {

// How a device joins the platform: as a cloud device, as an on-prem device managed in the
// cloud, or as an on-prem/mesh device.
enum class ClaimMode { cloud, managed, mesh };
const char* to_string(ClaimMode mode);
Result<ClaimMode> parse_claim_mode(const std::string& text, const std::string& field);

// One model per row. Hardware revisions are two capital letters, ordered AA < AB < ... < AZ < BA.
struct CompatibilityRow {
  std::string_view model;         // e.g. "ID5 TD"
  std::string_view family;        // "MX" or "BF"
  std::string_view min_revision;  // e.g. "AD"
  bool cloud = false;
  bool managed = false;
  bool mesh = false;
};

// Every supported model, MX first, in the product sheet's order.
std::span<const CompatibilityRow> compatibility_table();

// invalid_argument (field "model") for a model not in the table.
Result<std::string> family_of(const std::string& model);

// invalid_argument: unknown model (field "model"), malformed or too old revision (field
// "hardware_revision"), or a claim mode the model does not support (field "mode").
Status check_claimable(const std::string& model, const std::string& hardware_revision, ClaimMode mode);

// Whether `manifest` may be installed on this device: same family, the model is among
// manifest.models (when that is not empty) and the revision is supported. invalid_argument with
// field "model" or "hardware_revision" and a reason naming the model.
Status check_image_fits(const std::string& model, const std::string& hardware_revision, const Manifest& manifest);

// For uploads: every model the manifest names exists and belongs to its family (field "models").
Status check_manifest_models(const Manifest& manifest);

}  // namespace carillon::firmware
