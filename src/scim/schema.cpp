#include "scim/schema.hpp"

#include <utility>

#include "scim/text.hpp"

namespace carillon::scim {

namespace {

// Fluent construction keeps the schema tables below close to RFC 7643 §8.7.1's layout.
struct Def {
  Attribute a;
  Def(std::string name, AttrType type, std::string description) {
    a.name = std::move(name);
    a.type = type;
    a.description = std::move(description);
    if (type == AttrType::reference) a.case_exact = true;
  }
  Def&& multi() && { a.multi_valued = true; return std::move(*this); }
  Def&& required() && { a.required = true; return std::move(*this); }
  Def&& exact() && { a.case_exact = true; return std::move(*this); }
  Def&& mut(Mutability m) && { a.mutability = m; return std::move(*this); }
  Def&& ret(Returned r) && { a.returned = r; return std::move(*this); }
  Def&& unique(Uniqueness u) && { a.uniqueness = u; return std::move(*this); }
  Def&& canonical(std::vector<std::string> v) && { a.canonical_values = std::move(v); return std::move(*this); }
  Def&& refs(std::vector<std::string> v) && { a.reference_types = std::move(v); return std::move(*this); }
  Def&& subs(std::vector<Attribute> v) && { a.sub_attributes = std::move(v); return std::move(*this); }
  operator Attribute() && { return std::move(a); }  // NOLINT(google-explicit-constructor)
};

Def str(std::string name, std::string description) { return Def(std::move(name), AttrType::string, std::move(description)); }

// value/display/type/primary, the shape of most multi-valued attributes (RFC 7643 §2.4).
Attribute multi_complex(std::string name, std::string description, std::vector<std::string> types,
                        AttrType value_type = AttrType::string, std::vector<std::string> reference_types = {}) {
  Def value("value", value_type, "The attribute's significant value.");
  value.a.reference_types = std::move(reference_types);
  return Def(std::move(name), AttrType::complex, std::move(description))
      .multi()
      .subs({std::move(value),
             str("display", "A human-readable name, primarily used for display purposes.").mut(Mutability::read_write),
             str("type", "A label indicating the attribute's function.").canonical(std::move(types)),
             Def("primary", AttrType::boolean, "Indicates the primary or preferred value; at most one may be true.")});
}

Schema make_user_schema() {
  Schema s;
  s.id = std::string(kUserSchema);
  s.name = "User";
  s.description = "User Account";
  s.resource_type = "User";
  s.endpoint = "/Users";
  s.attributes = {
      str("userName", "Unique identifier for the User, used to authenticate.").required().unique(Uniqueness::server),
      Def("name", AttrType::complex, "The components of the user's real name.")
          .subs({str("formatted", "The full name, formatted for display."),
                 str("familyName", "The family name of the User."),
                 str("givenName", "The given name of the User."),
                 str("middleName", "The middle name(s) of the User."),
                 str("honorificPrefix", "The honorific prefix(es) of the User."),
                 str("honorificSuffix", "The honorific suffix(es) of the User.")}),
      str("displayName", "The name of the User, suitable for display to end-users."),
      str("nickName", "The casual way to address the user."),
      Def("profileUrl", AttrType::reference, "A fully qualified URL pointing to the User's profile.").refs({"external"}),
      str("title", "The user's title, such as \"Vice President\"."),
      str("userType", "The relationship between the organization and the user."),
      str("preferredLanguage", "The User's preferred written or spoken language."),
      str("locale", "The User's default location for localizing."),
      str("timezone", "The User's time zone in IANA Time Zone database format."),
      Def("active", AttrType::boolean, "The User's administrative status."),
      str("password", "The User's cleartext password, never returned.")
          .exact()
          .mut(Mutability::write_only)
          .ret(Returned::never),
      multi_complex("emails", "Email addresses for the user.", {"work", "home", "other"}),
      multi_complex("phoneNumbers", "Phone numbers for the User.", {"work", "home", "mobile", "fax", "pager", "other"}),
      multi_complex("ims", "Instant messaging addresses for the User.",
                    {"aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"}),
      multi_complex("photos", "URLs of photos of the User.", {"photo", "thumbnail"}, AttrType::reference, {"external"}),
      Def("addresses", AttrType::complex, "A physical mailing address for this User.")
          .multi()
          .subs({str("formatted", "The full mailing address, formatted for display."),
                 str("streetAddress", "The full street address component."), str("locality", "The city or locality."),
                 str("region", "The state or region."), str("postalCode", "The zip code or postal code."),
                 str("country", "The country name component."),
                 str("type", "A label indicating the attribute's function.").canonical({"work", "home", "other"}),
                 Def("primary", AttrType::boolean, "Indicates the primary address.")}),
      Def("groups", AttrType::complex, "Groups the user belongs to, direct or through nesting.")
          .multi()
          .mut(Mutability::read_only)
          .subs({str("value", "The identifier of the User's group.").mut(Mutability::read_only),
                 Def("$ref", AttrType::reference, "The URI of the corresponding Group resource.")
                     .refs({"User", "Group"})
                     .mut(Mutability::read_only),
                 str("display", "A human-readable name of the group.").mut(Mutability::read_only),
                 str("type", "Membership: direct or indirect.").canonical({"direct", "indirect"}).mut(Mutability::read_only)}),
      multi_complex("entitlements", "Entitlements for the User.", {}),
      multi_complex("roles", "Roles for the User.", {}),
      multi_complex("x509Certificates", "DER-encoded X.509 certificates issued to the User.", {}, AttrType::binary),
  };
  return s;
}

Schema make_group_schema() {
  Schema s;
  s.id = std::string(kGroupSchema);
  s.name = "Group";
  s.description = "Group";
  s.resource_type = "Group";
  s.endpoint = "/Groups";
  s.attributes = {
      str("displayName", "A human-readable name for the Group.").required(),
      Def("members", AttrType::complex, "A list of members of the Group.")
          .multi()
          .subs({str("value", "Identifier of the member of this Group.").exact().mut(Mutability::immutable),
                 Def("$ref", AttrType::reference, "The URI of the member resource.")
                     .refs({"User", "Group"})
                     .mut(Mutability::immutable),
                 str("display", "A human-readable name of the member."),
                 str("type", "The type of member.").canonical({"User", "Group"}).mut(Mutability::immutable)}),
  };
  return s;
}

std::vector<Attribute> make_common_attributes() {
  return {
      str("schemas", "The schema URIs the resource conforms to.")
          .multi()
          .required()
          .mut(Mutability::read_only)
          .ret(Returned::always),
      str("id", "Unique identifier for the resource, assigned by the service provider.")
          .exact()
          .mut(Mutability::read_only)
          .ret(Returned::always)
          .unique(Uniqueness::server),
      str("externalId", "Identifier of the resource as defined by the provisioning client.").exact(),
      Def("meta", AttrType::complex, "Resource metadata.")
          .mut(Mutability::read_only)
          .subs({str("resourceType", "The name of the resource type.").exact().mut(Mutability::read_only),
                 Def("created", AttrType::date_time, "When the resource was added.").mut(Mutability::read_only),
                 Def("lastModified", AttrType::date_time, "When the resource was last updated.")
                     .mut(Mutability::read_only),
                 Def("location", AttrType::reference, "The URI of the resource.").refs({"uri"}).mut(Mutability::read_only),
                 str("version", "The version (ETag) of the resource.").exact().mut(Mutability::read_only)}),
  };
}

const Attribute* find_in(std::span<const Attribute> attributes, std::string_view name) {
  for (const Attribute& a : attributes)
    if (iequals(a.name, name)) return &a;
  return nullptr;
}

nlohmann::json attribute_document(const Attribute& a) {
  nlohmann::json doc = {{"name", a.name},
                        {"type", to_string(a.type)},
                        {"multiValued", a.multi_valued},
                        {"description", a.description},
                        {"required", a.required},
                        {"mutability", to_string(a.mutability)},
                        {"returned", to_string(a.returned)}};
  if (a.type != AttrType::complex && a.type != AttrType::boolean) {
    doc["caseExact"] = a.case_exact;
    doc["uniqueness"] = to_string(a.uniqueness);
  }
  if (!a.canonical_values.empty()) doc["canonicalValues"] = a.canonical_values;
  if (!a.reference_types.empty()) doc["referenceTypes"] = a.reference_types;
  if (!a.sub_attributes.empty()) {
    nlohmann::json subs = nlohmann::json::array();
    for (const Attribute& sub : a.sub_attributes) subs.push_back(attribute_document(sub));
    doc["subAttributes"] = std::move(subs);
  }
  return doc;
}

std::string trim_slash(std::string_view base_url) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  return std::string(base_url);
}

nlohmann::json list_of(nlohmann::json resources) {
  const auto n = resources.size();
  return {{"schemas", {kListResponseSchema}},
          {"totalResults", n},
          {"startIndex", 1},
          {"itemsPerPage", n},
          {"Resources", std::move(resources)}};
}

}  // namespace

const Attribute* Attribute::find(std::string_view sub_name) const { return find_in(sub_attributes, sub_name); }

const Attribute* Schema::find(std::string_view attr_name) const {
  if (const Attribute* a = find_in(attributes, attr_name)) return a;
  return find_in(common_attributes(), attr_name);
}

bool Schema::is_schema_uri(std::string_view uri) const { return iequals(uri, id); }

std::span<const Attribute> common_attributes() {
  static const std::vector<Attribute> attributes = make_common_attributes();
  return attributes;
}

const Schema& user_schema() {
  static const Schema schema = make_user_schema();
  return schema;
}

const Schema& group_schema() {
  static const Schema schema = make_group_schema();
  return schema;
}

nlohmann::json schema_document(const Schema& schema, std::string_view base_url) {
  nlohmann::json attributes = nlohmann::json::array();
  for (const Attribute& a : schema.attributes) attributes.push_back(attribute_document(a));
  return {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:Schema"}},
          {"id", schema.id},
          {"name", schema.name},
          {"description", schema.description},
          {"attributes", std::move(attributes)},
          {"meta", {{"resourceType", "Schema"}, {"location", trim_slash(base_url) + "/Schemas/" + schema.id}}}};
}

nlohmann::json schemas_list(std::string_view base_url) {
  return list_of({schema_document(user_schema(), base_url), schema_document(group_schema(), base_url)});
}

nlohmann::json resource_type_document(const Schema& schema, std::string_view base_url) {
  return {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}},
          {"id", schema.resource_type},
          {"name", schema.resource_type},
          {"endpoint", schema.endpoint},
          {"description", schema.description},
          {"schema", schema.id},
          {"schemaExtensions", nlohmann::json::array()},
          {"meta",
           {{"resourceType", "ResourceType"},
            {"location", trim_slash(base_url) + "/ResourceTypes/" + schema.resource_type}}}};
}

nlohmann::json resource_types_list(std::string_view base_url) {
  return list_of({resource_type_document(user_schema(), base_url), resource_type_document(group_schema(), base_url)});
}

nlohmann::json service_provider_config(std::string_view base_url) {
  return {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"}},
          {"documentationUri", "https://datatracker.ietf.org/doc/html/rfc7644"},
          {"patch", {{"supported", true}}},
          {"bulk", {{"supported", false}, {"maxOperations", 0}, {"maxPayloadSize", 0}}},
          {"filter", {{"supported", true}, {"maxResults", kMaxResults}}},
          {"changePassword", {{"supported", false}}},
          {"sort", {{"supported", true}}},
          {"etag", {{"supported", true}}},
          {"authenticationSchemes",
           {{{"type", "oauthbearertoken"},
             {"name", "OAuth Bearer Token"},
             {"description", "Authentication with an OAuth 2.0 bearer token (RFC 6750)."},
             {"specUri", "https://datatracker.ietf.org/doc/html/rfc6750"},
             {"primary", true}}}},
          {"meta",
           {{"resourceType", "ServiceProviderConfig"},
            {"location", trim_slash(base_url) + "/ServiceProviderConfig"}}}};
}

std::string_view to_string(AttrType type) {
  switch (type) {
    case AttrType::string: return "string";
    case AttrType::boolean: return "boolean";
    case AttrType::decimal: return "decimal";
    case AttrType::integer: return "integer";
    case AttrType::date_time: return "dateTime";
    case AttrType::binary: return "binary";
    case AttrType::reference: return "reference";
    case AttrType::complex: return "complex";
  }
  return "string";
}

std::string_view to_string(Mutability mutability) {
  switch (mutability) {
    case Mutability::read_only: return "readOnly";
    case Mutability::read_write: return "readWrite";
    case Mutability::immutable: return "immutable";
    case Mutability::write_only: return "writeOnly";
  }
  return "readWrite";
}

std::string_view to_string(Returned returned) {
  switch (returned) {
    case Returned::always: return "always";
    case Returned::never: return "never";
    case Returned::by_default: return "default";
    case Returned::request: return "request";
  }
  return "default";
}

std::string_view to_string(Uniqueness uniqueness) {
  switch (uniqueness) {
    case Uniqueness::none: return "none";
    case Uniqueness::server: return "server";
    case Uniqueness::global: return "global";
  }
  return "none";
}

}  // namespace carillon::scim
