#include "scim/error.hpp"

#include <array>
#include <utility>

namespace carillon::scim {

namespace {

constexpr std::array<std::pair<ScimType, std::string_view>, 10> kNames{{
    {ScimType::invalid_filter, "invalidFilter"},
    {ScimType::too_many, "tooMany"},
    {ScimType::uniqueness, "uniqueness"},
    {ScimType::mutability, "mutability"},
    {ScimType::invalid_syntax, "invalidSyntax"},
    {ScimType::invalid_path, "invalidPath"},
    {ScimType::no_target, "noTarget"},
    {ScimType::invalid_value, "invalidValue"},
    {ScimType::invalid_vers, "invalidVers"},
    {ScimType::sensitive, "sensitive"},
}};

}  // namespace

std::string_view to_string(ScimType type) {
  for (const auto& [t, name] : kNames)
    if (t == type) return name;
  return "invalidValue";
}

tl::unexpected<Error> scim_fail(ScimType type, std::string message) {
  const Errc code = type == ScimType::uniqueness ? Errc::conflict : Errc::invalid_argument;
  return fail(code, std::move(message), std::string(to_string(type)));
}

std::optional<ScimType> scim_type(const Error& error) {
  for (const auto& [t, name] : kNames)
    if (error.field == name) return t;
  return std::nullopt;
}

int http_status(const Error& error) {
  if (auto type = scim_type(error)) {
    if (*type == ScimType::uniqueness) return 409;
    if (*type == ScimType::sensitive) return 403;
    return 400;
  }
  switch (error.code) {
    case Errc::invalid_argument: return 400;
    case Errc::unauthenticated: return 401;
    case Errc::forbidden: return 403;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::too_large: return 413;
    case Errc::throttled: return 429;
    case Errc::unavailable: return 503;
    case Errc::internal: return 500;
  }
  return 500;
}

nlohmann::json error_document(const Error& error) {
  nlohmann::json doc = {{"schemas", {"urn:ietf:params:scim:api:messages:2.0:Error"}},
                        {"status", std::to_string(http_status(error))},
                        {"detail", error.message}};
  if (auto type = scim_type(error)) doc["scimType"] = std::string(to_string(*type));
  return doc;
}

}  // namespace carillon::scim
