#pragma once
// SCIM PATCH (RFC 7644 §3.5.2) applied to a resource held as JSON.
//
// Request: {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//           "Operations":[{"op":"add"|"remove"|"replace", "path":PATH?, "value":...}, ...]}
// PATH = attrPath / valuePath [subAttr], e.g. `name.familyName`, `emails[type eq "work"].value`,
// `members[value eq "2819c223"]`, optionally prefixed with the schema URN.
//
// All operations apply or none does: the result is a new document, the input is untouched.
// Attribute names match ignoring case and are written with the schema's spelling. Semantics
// beyond the RFC text, chosen to match what identity providers send:
// - add/replace with a valuePath that targets a complex value merges the given sub-attributes
//   into each matching value (the RFC's rule for complex attributes);
// - add with a valuePath that matches nothing creates the value when the filter is only `eq`
//   tests joined by `and` (Entra ID's `emails[type eq "work"].value`); otherwise noTarget;
// - remove with a valuePath that matches nothing changes nothing;
// - add of a complex value whose "value" (and "type", if given) is already there updates that
//   value with the given sub-attributes instead of adding a second one (members by id);
// - remove of a multi-valued attribute with a "value" removes only the values equal to the
//   given ones (members given as [{"value": id}]);
// - boolean attributes also accept the strings "true"/"false" (Entra ID sends "False");
// - a null value, an empty array or an empty complex value leaves the attribute unassigned.
// Errors (Errc::invalid_argument; field = scimType, see scim/error.hpp):
//   invalidSyntax - not a PatchOp message, unknown op, missing value, too many operations;
//   noTarget      - remove without path; replace or add whose valuePath selects nothing;
//   invalidPath   - malformed path or unknown attribute (in a path or a value's keys);
//   invalidFilter - malformed or ill-typed filter inside a path;
//   invalidValue  - value of the wrong type, or a required attribute removed;
//   mutability    - a readOnly attribute changed, or an immutable one that had a value.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "scim/filter.hpp"
#include "scim/schema.hpp"

namespace carillon::scim {

inline constexpr std::size_t kMaxPatchOperations = 1000;

struct PatchPath {
  AttrPath attr;                 // the attribute (uri/attr, or attr.sub when there is no filter)
  std::optional<Filter> filter;  // the valuePath filter, if any
  std::string sub;               // the sub-attribute after `]`, if any
};

// Errors: invalidPath, or invalidFilter for the part in brackets.
Result<PatchPath> parse_patch_path(std::string_view text);

Result<nlohmann::json> apply_patch(const nlohmann::json& resource, const nlohmann::json& patch_request,
                                   const Schema& schema);

}  // namespace carillon::scim
