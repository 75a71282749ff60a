#include "api/json_input.hpp"

#include <charconv>
#include <set>

namespace carillon::api {

using nlohmann::json;

Result<json> parse_object(const http::Request& request, std::initializer_list<const char*> known) {
  auto type = request.header("content-type");
  auto media = type.substr(0, type.find(';'));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  if (!type.empty() && media != "application/json")
    return fail(Errc::invalid_argument, "request body must be application/json", "body");
  auto body = json::parse(request.body, nullptr, false);
  if (body.is_discarded()) return fail(Errc::invalid_argument, "request body is not valid JSON", "body");
  if (!body.is_object()) return fail(Errc::invalid_argument, "request body must be a JSON object", "body");
  std::set<std::string> allowed(known.begin(), known.end());
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (!allowed.count(it.key())) return fail(Errc::invalid_argument, "unknown field", it.key());
  }
  return body;
}

Result<std::optional<std::string>> optional_string(const json& body, const char* key) {
  if (!body.contains(key)) return std::optional<std::string>();
  if (!body[key].is_string()) return fail(Errc::invalid_argument, "must be a string", key);
  return std::optional<std::string>(body[key].get<std::string>());
}

Result<std::string> required_string(const json& body, const char* key) {
  auto value = optional_string(body, key);
  if (!value) return tl::unexpected(value.error());
  if (!*value) return fail(Errc::invalid_argument, "is required", key);
  return **value;
}

Result<std::optional<std::int64_t>> optional_integer(const json& body, const char* key) {
  if (!body.contains(key)) return std::optional<std::int64_t>();
  if (!body[key].is_number_integer()) return fail(Errc::invalid_argument, "must be an integer", key);
  return std::optional<std::int64_t>(body[key].get<std::int64_t>());
}

Result<std::optional<std::map<std::string, std::string>>> optional_string_map(const json& body, const char* key) {
  using Map = std::map<std::string, std::string>;
  if (!body.contains(key)) return std::optional<Map>();
  if (!body[key].is_object()) return fail(Errc::invalid_argument, "must be an object of strings", key);
  Map out;
  for (auto it = body[key].begin(); it != body[key].end(); ++it) {
    if (!it.value().is_string()) return fail(Errc::invalid_argument, "must be a string", std::string(key) + "." + it.key());
    out[it.key()] = it.value().get<std::string>();
  }
  return std::optional<Map>(std::move(out));
}

Result<PageRequest> page_request(const http::Request& request) {
  PageRequest page;
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    int limit = 0;
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), limit);
    if (ec != std::errc() || end != it->second.data() + it->second.size() || limit < 1 || limit > 500)
      return fail(Errc::invalid_argument, "must be an integer from 1 to 500", "limit");
    page.limit = limit;
  }
  if (auto it = request.query.find("after"); it != request.query.end()) {
    if (it->second.size() > 64) return fail(Errc::invalid_argument, "is not a cursor from this API", "after");
    page.after = it->second;
  }
  return page;
}

}  // namespace carillon::api
