#include "http/router.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <set>
#include <stdexcept>

#include "common/log.hpp"
#include "http/problem.hpp"
#include "http/uri.hpp"

namespace carillon::http {

namespace {

// "/a/b/" -> {"a", "b", ""}: a trailing slash is a distinct (empty) segment and matches nothing.
std::vector<std::string> split_segments(const std::string& path) {
  std::vector<std::string> out;
  if (path.empty() || path.front() != '/') return out;
  std::size_t start = 1;
  while (true) {
    auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Segments of the request path, each decoded on its own so that "%2F" inside an id cannot
// create a segment boundary.
std::optional<std::vector<std::string>> request_segments(const Request& request) {
  if (request.target.empty()) return split_segments(request.path);
  auto question = request.target.find('?');
  auto raw = split_segments(request.target.substr(0, question));
  if (raw.empty()) return std::nullopt;
  for (auto& segment : raw) {
    auto decoded = percent_decode(segment);
    if (!decoded) return std::nullopt;
    segment = std::move(*decoded);
  }
  return raw;
}

bool match(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
           std::map<std::string, std::string>* params) {
  if (pattern.size() != segments.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (is_param(pattern[i])) {
      if (segments[i].empty()) return false;
    } else if (pattern[i] != segments[i]) {
      return false;
    }
  }
  if (params) {
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      if (is_param(pattern[i])) (*params)[pattern[i].substr(1, pattern[i].size() - 2)] = segments[i];
    }
  }
  return true;
}

// Lexicographic: a literal segment beats a parameter at the first position where they differ.
bool more_specific(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    bool a_literal = !is_param(a[i]);
    bool b_literal = !is_param(b[i]);
    if (a_literal != b_literal) return a_literal;
  }
  return false;
}

}  // namespace

void Router::add(const std::string& method, const std::string& pattern, Handler handler) {
  auto segments = split_segments(pattern);
  if (segments.empty()) throw std::logic_error("route pattern must start with '/': " + pattern);
  for (const auto& segment : segments) {
    if (!is_param(segment) && (segment.find('{') != std::string::npos || segment.find('}') != std::string::npos)) {
      throw std::logic_error("route pattern has a malformed parameter: " + pattern);
    }
  }
  for (const auto& entry : entries_) {
    if (entry.route.method == method && entry.route.pattern == pattern) {
      throw std::logic_error("route registered twice: " + method + " " + pattern);
    }
  }
  routes_.push_back(Route{method, pattern});
  entries_.push_back(Entry{Route{method, pattern}, std::move(segments), std::move(handler)});
}

const std::vector<Router::Route>& Router::routes() const { return routes_; }

Response Router::dispatch(Request& request) const {
  auto segments = request_segments(request);
  if (!segments) return problem(Error{Errc::invalid_argument, "malformed request path", ""});

  auto find = [&](const std::string& method) -> const Entry* {
    const Entry* best = nullptr;
    for (const auto& entry : entries_) {
      if (entry.route.method != method || !match(entry.segments, *segments, nullptr)) continue;
      if (!best || more_specific(entry.segments, best->segments)) best = &entry;
    }
    return best;
  };

  const Entry* entry = find(request.method);
  if (!entry && request.method == "HEAD") entry = find("GET");
  if (!entry) {
    std::set<std::string> allowed;
    for (const auto& candidate : entries_) {
      if (match(candidate.segments, *segments, nullptr)) allowed.insert(candidate.route.method);
    }
    if (allowed.empty()) return problem(Error{Errc::not_found, "no such resource: " + request.path, ""});
    if (allowed.count("GET")) allowed.insert("HEAD");
    std::string allow;
    for (const auto& method : allowed) allow += (allow.empty() ? "" : ", ") + method;
    Response response = problem(405, "method-not-allowed", "Method not allowed",
                                "method " + request.method + " is not allowed here");
    response.headers.emplace_back("Allow", allow);
    return response;
  }

  request.params.clear();
  match(entry->segments, *segments, &request.params);
  try {
    return entry->handler(request);
  } catch (const std::exception& e) {
    log::get("http")->error("handler threw method={} pattern={} what={}", request.method, entry->route.pattern,
                            e.what());
  } catch (...) {
    log::get("http")->error("handler threw method={} pattern={} what=<non-std exception>", request.method,
                            entry->route.pattern);
  }
  return problem(Error{Errc::internal, "internal error", ""});
}

bool Router::has_path(const std::string& path) const {
  auto segments = split_segments(path);
  for (const auto& entry : entries_) {
    if (match(entry.segments, segments, nullptr)) return true;
  }
  return find_websocket(path) != nullptr;
}

void Router::add_websocket(const std::string& path, WebSocketOpen open) {
  if (path.empty() || path.front() != '/') throw std::logic_error("websocket path must start with '/': " + path);
  if (find_websocket(path)) throw std::logic_error("websocket registered twice: " + path);
  websockets_.emplace_back(path, std::move(open));
}

const Router::WebSocketOpen* Router::find_websocket(const std::string& path) const {
  for (const auto& [candidate, open] : websockets_) {
    if (candidate == path) return &open;
  }
  return nullptr;
}

}  // namespace carillon::http
