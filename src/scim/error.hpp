#pragma once
// SCIM error kinds (RFC 7644 §3.12). A SCIM failure is a carillon::Error whose `field` holds the
// scimType keyword ("invalidFilter", "noTarget", ...), so it crosses module boundaries as a plain
// Result and the API layer can still render the SCIM error document.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace carillon::scim {

enum class ScimType {
  invalid_filter,  // malformed filter, or an attribute/operator combination that is not allowed
  too_many,
  uniqueness,
  mutability,      // change to a readOnly attribute, or to an immutable one that has a value
  invalid_syntax,  // request body is not a well-formed SCIM message
  invalid_path,    // malformed PATCH path or unknown attribute
  no_target,       // PATCH path selects nothing where a target is required
  invalid_value,   // value of the wrong type, required value missing, bad query parameter
  invalid_vers,
  sensitive,
};

// The RFC keyword, e.g. "invalidFilter".
std::string_view to_string(ScimType type);

// Errc::invalid_argument (Errc::conflict for uniqueness) with field = the scimType keyword.
tl::unexpected<Error> scim_fail(ScimType type, std::string message);

// The scimType carried by `error`, if it is a SCIM error.
std::optional<ScimType> scim_type(const Error& error);

// HTTP status for a SCIM response: 400 for the scimTypes, otherwise from Errc.
int http_status(const Error& error);

// {"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":..,"detail":..}
nlohmann::json error_document(const Error& error);

}  // namespace carillon::scim
