#pragma once
// SCIM core schemas (RFC 7643 §4, §8.7) with the attribute characteristics that drive filtering,
// PATCH validation, projection and the discovery documents (/Schemas, /ResourceTypes,
// /ServiceProviderConfig). The schemas are immutable values built once; nothing here is HTTP.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace carillon::scim {

inline constexpr std::string_view kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr std::string_view kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
inline constexpr std::string_view kPatchOpSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
inline constexpr std::string_view kListResponseSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
inline constexpr std::string_view kSearchRequestSchema = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

// The server's page-size ceiling (advertised as filter.maxResults).
inline constexpr std::int64_t kMaxResults = 200;

enum class AttrType { string, boolean, decimal, integer, date_time, binary, reference, complex };
enum class Mutability { read_only, read_write, immutable, write_only };
enum class Returned { always, never, by_default, request };
enum class Uniqueness { none, server, global };

struct Attribute {
  std::string name;
  AttrType type = AttrType::string;
  bool multi_valued = false;
  bool required = false;
  bool case_exact = false;
  Mutability mutability = Mutability::read_write;
  Returned returned = Returned::by_default;
  Uniqueness uniqueness = Uniqueness::none;
  std::string description;
  std::vector<std::string> canonical_values;
  std::vector<std::string> reference_types;
  std::vector<Attribute> sub_attributes;

  // Sub-attribute by name, ignoring case; nullptr if none.
  const Attribute* find(std::string_view sub_name) const;
};

// A resource type's schema: its core schema attributes plus the common attributes every
// resource has (schemas, id, externalId, meta; RFC 7643 §3), which are not listed in the
// schema document.
struct Schema {
  std::string id;              // the schema URN, e.g. kUserSchema
  std::string name;            // "User"
  std::string description;
  std::string resource_type;   // "User"
  std::string endpoint;        // "/Users"
  std::vector<Attribute> attributes;

  // Top-level attribute by name, ignoring case (common attributes included); nullptr if none.
  const Attribute* find(std::string_view attr_name) const;
  // True if `uri` names this schema (case-insensitive URN comparison).
  bool is_schema_uri(std::string_view uri) const;
};

// schemas, id, externalId, meta (RFC 7643 §3.1).
std::span<const Attribute> common_attributes();

const Schema& user_schema();
const Schema& group_schema();

// RFC 7643 §7 schema representation; `base_url` is the SCIM root, e.g. "https://h/scim/v2".
nlohmann::json schema_document(const Schema& schema, std::string_view base_url);
// GET /Schemas: a ListResponse of every schema document.
nlohmann::json schemas_list(std::string_view base_url);
// RFC 7643 §6 ResourceType representation.
nlohmann::json resource_type_document(const Schema& schema, std::string_view base_url);
nlohmann::json resource_types_list(std::string_view base_url);
// RFC 7643 §5: patch, filter (maxResults 200), etag, sort supported; bulk and changePassword not;
// OAuth bearer token authentication.
nlohmann::json service_provider_config(std::string_view base_url);

std::string_view to_string(AttrType type);        // "string", "dateTime", ...
std::string_view to_string(Mutability mutability);  // "readOnly", ...
std::string_view to_string(Returned returned);      // "always", "default", ...
std::string_view to_string(Uniqueness uniqueness);  // "none", "server", "global"

}  // namespace carillon::scim
