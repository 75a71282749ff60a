#pragma once
// HTTPS client over libcurl: peer and host name verified, TLS 1.2+, optional client certificate.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace carillon::http {

struct ClientOptions {
  std::string ca_pem;           // the only trust anchor(s) when set; empty = system store
  std::string client_cert_pem;  // client certificate for mutual TLS (with client_key_pem)
  std::string client_key_pem;
  long timeout_ms = 10000;      // whole request, connect included
};

struct ClientResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names, of the final response
};

class Client {
 public:
  explicit Client(ClientOptions options);

  // One request; redirects are not followed. Any HTTP status is a successful Result. Network,
  // TLS and timeout failures are Errc::unavailable with curl's message; a URL curl rejects is
  // Errc::invalid_argument. Thread-safe (one curl handle per call). "Expect: 100-continue" is
  // not sent unless given in `headers`.
  Result<ClientResponse> request(const std::string& method, const std::string& url, const std::string& body = {},
                                 const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  ClientOptions options_;
};

}  // namespace carillon::http
