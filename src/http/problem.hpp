#pragma once
// The single place where carillon::Error becomes HTTP: an RFC 7807 application/problem+json
// response. Errc -> status: invalid_argument 400, unauthenticated 401 (+ WWW-Authenticate: Bearer),
// forbidden 403, not_found 404, conflict 409, too_large 413, throttled 429 (+ Retry-After),
// unavailable 503, internal 500.
//
// Body: {"type": "https://carillon.dev/problems/<errc>", "title": ..., "status": ..., "detail": message,
//        "errors": [{"field": field, "reason": message}]}   ("errors" only when field is non-empty).

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "http/http.hpp"

namespace carillon::http {

int status_for(Errc code);

// `retry_after_seconds` is only used for Errc::throttled.
Response problem(const Error& error, int retry_after_seconds = 1);

// A problem for statuses that have no Errc (405, 426, ...): type ".../<slug>".
Response problem(int status, const std::string& slug, const std::string& title, const std::string& detail);

Response json_response(int status, const nlohmann::json& body);

}  // namespace carillon::http
