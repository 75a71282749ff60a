#pragma once
// SCIM filters (RFC 7644 §3.4.2.2): parsing the full grammar into an AST and evaluating it
// against a resource with the RFC's rules (case-insensitive attribute names, caseExact per
// attribute, any-value matching on multi-valued attributes, dateTime ordering, `pr`).
//
// Grammar (RFC 7644 Figure 1; keywords and operators are case-insensitive as in all ABNF):
//   FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//   valuePath = attrPath "[" valFilter "]"            ; valFilter: no nested valuePath
//   attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//   logExp    = FILTER SP ("and" / "or") SP FILTER    ; not > and > or
//   compValue = false / null / true / number / string ; JSON literals, JSON string escapes
//   attrPath  = [URI ":"] ATTRNAME *1subAttr
// Whitespace may be repeated; it is required where the ABNF has SP. Anything else is rejected
// with Errc::invalid_argument, scimType "invalidFilter" and the byte offset in the message.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "scim/schema.hpp"

namespace carillon::scim {

struct AttrPath {
  std::string uri;   // schema URN prefix, empty if none
  std::string attr;  // attribute name as written
  std::string sub;   // sub-attribute, empty if none

  bool operator==(const AttrPath&) const = default;
};

enum class CompareOp { eq, ne, co, sw, ew, gt, ge, lt, le };

struct Filter {
  enum class Kind {
    compare,     // path op value
    present,     // path pr
    logical_and, // children (two or more)
    logical_or,  // children (two or more)
    logical_not, // children[0]
    value_path,  // path[children[0]]: children[0] is evaluated against each value of `path`
  };
  Kind kind = Kind::present;
  CompareOp op = CompareOp::eq;
  AttrPath path;
  nlohmann::json value;  // compare: string, number, boolean or null
  std::vector<Filter> children;
};

struct FilterLimits {
  std::size_t max_length = 4096;  // bytes of filter text
  std::size_t max_depth = 32;     // nesting of parentheses, `not` and brackets
  std::size_t max_nodes = 512;    // AST nodes
};

Result<Filter> parse_filter(std::string_view text, const FilterLimits& limits = {});

// Parses a comma-free attribute path such as `name.givenName` or
// `urn:ietf:params:scim:schemas:core:2.0:User:userName` (errors: invalidPath).
Result<AttrPath> parse_attr_path(std::string_view text);

// A canonical rendering that parses back to the same AST.
std::string to_string(const Filter& filter);
std::string to_string(const AttrPath& path);
std::string_view to_string(CompareOp op);

// The schema attribute a path names (nullptr if none): `uri` must be the schema's own URN when
// given; with `sub`, the sub-attribute of a complex attribute.
const Attribute* resolve(const AttrPath& path, const Schema& schema);

// Checks a parsed filter against a schema: every attribute must exist, ordering operators are
// refused on boolean, binary and complex attributes, and compValue must suit the attribute's
// type. Errors: invalidFilter.
Status validate(const Filter& filter, const Schema& schema);

// Evaluates `filter` against `resource` (a JSON object). Attributes unknown to `schema` have no
// value. Call validate() first to reject filters that could never be meaningful; matches()
// itself never fails (an ill-typed comparison is simply false). Semantics:
// - attribute names match ignoring case; string values honour the attribute's caseExact;
// - a multi-valued attribute matches if any of its values matches; a complex multi-valued
//   attribute compared without a sub-attribute compares its "value" sub-attribute;
// - `ne` is the negation of `eq` (so an absent attribute is `ne` anything);
// - `eq null` matches an absent value, `ne null` a present one;
// - dateTime values compare as instants ("...Z" and "+00:00", fractional seconds);
// - `pr` is false for null, "", [] and objects with no present sub-attribute.
bool matches(const Filter& filter, const nlohmann::json& resource, const Schema& schema);

// The part inside a valuePath's brackets, for one value of the complex attribute `parent`
// (paths in `filter` name sub-attributes of `parent`). Used by PATCH paths.
bool matches_value(const Filter& filter, const nlohmann::json& value, const Schema& schema, const Attribute& parent);
Status validate_value_filter(const Filter& filter, const Schema& schema, const Attribute& parent);

// xsd:dateTime to (seconds since the epoch, nanoseconds); nullopt if malformed.
struct Instant {
  std::int64_t seconds = 0;
  std::int32_t nanos = 0;
  auto operator<=>(const Instant&) const = default;
};
std::optional<Instant> parse_date_time(std::string_view text);

// True if `value` has a value in the RFC 7643 §2.5 sense (see `pr` above).
bool is_present(const nlohmann::json& value);

}  // namespace carillon::scim
