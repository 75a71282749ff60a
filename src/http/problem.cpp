#include "http/problem.hpp"

#include <string>

namespace carillon::http {

namespace {

const char* title_for(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return "Invalid argument";
    case Errc::unauthenticated: return "Unauthenticated";
    case Errc::forbidden: return "Forbidden";
    case Errc::not_found: return "Not found";
    case Errc::conflict: return "Conflict";
    case Errc::too_large: return "Payload too large";
    case Errc::throttled: return "Too many requests";
    case Errc::unavailable: return "Service unavailable";
    case Errc::internal: return "Internal error";
  }
  return "Internal error";
}

constexpr const char* kTypeBase = "https://carillon.dev/problems/";

}  // namespace

int status_for(Errc code) {
  switch (code) {
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

Response problem(const Error& error, int retry_after_seconds) {
  const int status = status_for(error.code);
  nlohmann::json body = {
      {"type", std::string(kTypeBase) + to_string(error.code)},
      {"title", title_for(error.code)},
      {"status", status},
      {"detail", error.message},
  };
  if (!error.field.empty()) {
    body["errors"] = nlohmann::json::array({{{"field", error.field}, {"reason", error.message}}});
  }
  Response response = json_response(status, body);
  response.content_type = "application/problem+json";
  if (error.code == Errc::unauthenticated) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (error.code == Errc::throttled) {
    response.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds < 0 ? 0 : retry_after_seconds));
  }
  return response;
}

Response problem(int status, const std::string& slug, const std::string& title, const std::string& detail) {
  Response response = json_response(status, {
                                                {"type", std::string(kTypeBase) + slug},
                                                {"title", title},
                                                {"status", status},
                                                {"detail", detail},
                                            });
  response.content_type = "application/problem+json";
  return response;
}

Response json_response(int status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  response.content_type = "application/json";
  // Replace invalid UTF-8 instead of throwing: error messages may echo client input.
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

std::string Request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

}  // namespace carillon::http
