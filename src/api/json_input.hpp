#pragma once
// Strict reading of request bodies: a JSON object, only known fields, right types. Every
// error names the field.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/page.hpp"
#include "common/result.hpp"
#include "http/http.hpp"

namespace carillon::api {

// Parses the body as a JSON object whose keys are all in `known`.
Result<nlohmann::json> parse_object(const http::Request& request, std::initializer_list<const char*> known);

Result<std::optional<std::string>> optional_string(const nlohmann::json& body, const char* key);
Result<std::string> required_string(const nlohmann::json& body, const char* key);
Result<std::optional<std::int64_t>> optional_integer(const nlohmann::json& body, const char* key);
Result<std::optional<std::map<std::string, std::string>>> optional_string_map(const nlohmann::json& body, const char* key);

// ?limit=&after= with limit 1..500 (default 50).
Result<PageRequest> page_request(const http::Request& request);
template <class T, class F>
nlohmann::json page_json(const Page<T>& page, F&& to_json) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& item : page.items) items.push_back(to_json(item));
  nlohmann::json out{{"items", items}};
  out["next"] = page.next.empty() ? nlohmann::json(nullptr) : nlohmann::json(page.next);
  return out;
}

}  // namespace carillon::api
