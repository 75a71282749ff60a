#pragma once
// Plain request/response values exchanged between the server and the handlers. No Boost here:
// only src/http/server.cpp sees Beast/Asio (notes/build.md).

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
  std::string body;
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
};

using Handler = std::function<Response(const Request&)>;

}  // namespace carillon::http
