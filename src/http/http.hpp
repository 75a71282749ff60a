#pragma once
// Plain request/response values exchanged between the server and the handlers. No Boost here:
// only src/http/server.cpp sees Beast/Asio (notes/build.md).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace carillon::http {

struct Request {
  std::string method;                          // "GET", "POST", ... as sent (case-sensitive, RFC 9110)
  std::string target;                          // raw request target including the query
  std::string path;                            // percent-decoded path without the query
  std::map<std::string, std::string> query;    // decoded query parameters; on repeats the last wins
  std::map<std::string, std::string> params;   // path parameters filled in by Router::dispatch
  std::map<std::string, std::string> headers;  // lower-case names; repeated fields joined with ", "
  std::string body;                            // empty for upload routes (see body_file)
  // Upload routes (ServerOptions::upload_routes) only: the body was streamed to this temporary
  // file (mode 0600, inside the route's directory) and was never held in memory. The handler may
  // take it by renaming it (same file system); whatever is still at this path after the handler
  // returns is deleted. Empty for ordinary requests.
  std::filesystem::path body_file{};
  std::uint64_t body_size = 0;  // bytes in body_file (upload routes) or in body
  std::string body_sha256{};    // lower-case hex SHA-256 of body_file's content (upload routes only)
  std::string remote_address;                  // peer IP address, "" when not from a socket
  std::string client_common_name;              // CN of the verified client certificate (mutual TLS only)

  // The value of a header (name in lower case), "" when absent.
  std::string header(const std::string& lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, sent in this order
  // When set (and status is 200) the server streams this file instead of `body`, never loading it
  // into memory: Accept-Ranges, ETag and Last-Modified are added, and a GET's single byte range
  // ("Range: bytes=a-b | a- | -n", guarded by If-Range) is answered 206 with Content-Range, or 416
  // with "Content-Range: bytes */size" when it cannot be satisfied; multiple ranges get the whole
  // file (200). A file that cannot be opened is a 404 problem. Set content_type accordingly (e.g.
  // "application/octet-stream").
  std::filesystem::path file{};
  // The entity tag for `file` without quotes (e.g. its SHA-256 hex); empty = derived from size
  // and modification time. Sent as a strong validator: it must change whenever the content does.
  std::string etag{};
};

using Handler = std::function<Response(const Request&)>;

}  // namespace carillon::http
