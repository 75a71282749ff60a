#pragma once
// HTTPS client over libcurl: peer and host name verified, TLS 1.2+, optional client certificate.

#include <cstdint>
#include <filesystem>
#include <functional>
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
  long timeout_ms = 10000;      // whole request, connect included (download/upload_file: connect only)
  // download/upload_file have no overall deadline (hundreds of MB); they fail when less than
  // 1 KiB/s flows for this long.
  long stall_timeout_ms = 30000;
};

struct DownloadProgress {
  std::uint64_t received;  // bytes now in the destination file (resumed bytes included)
  std::uint64_t total;     // size of the whole resource, 0 when the server did not say
};

struct ClientResponse {
  int status = 0;
  std::string body;  // download: empty for 200/206, else the error body (at most 64 KiB)
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

  // Sends the file at `path` as the body, read from disk as it goes (never held in memory), with
  // Content-Length and "Content-Type: application/octet-stream" unless `headers` has one. Expect:
  // 100-continue is used, so a server refusing the upload answers before the body is sent.
  // Errors as request(); a file that cannot be read is Errc::not_found.
  Result<ClientResponse> upload_file(const std::string& method, const std::string& url, const std::filesystem::path& path,
                                     const std::vector<std::pair<std::string, std::string>>& headers = {});

  // GETs `url` into `destination`, streamed to disk, resuming a previous attempt:
  // - destination exists with k > 0 bytes: sends "Range: bytes=k-", plus "If-Range: <etag>" when
  //   the side file destination + ".etag" (written by an earlier attempt) holds one;
  // - 206 (starting at k) appends; 200 truncates and writes the whole resource; a 416 whose
  //   "Content-Range: bytes */size" equals k means the file is already complete and is reported as
  //   status 200; a 416 for a local file longer than the resource restarts the download once;
  // - the response's ETag is kept in the side file while the download is incomplete; the side file
  //   is removed once destination holds the whole resource.
  // Status 200 or 206 means destination now holds the whole resource (verify its hash yourself).
  // Other statuses leave destination untouched and put the error body in `body`.
  // on_progress is called after each piece written; returning false aborts with Errc::unavailable
  // ("download cancelled"), keeping the partial file for a later resume. Network failures and
  // stalls (see stall_timeout_ms) are Errc::unavailable and keep the partial file as well; a
  // destination that cannot be written is Errc::internal.
  Result<ClientResponse> download(const std::string& url, const std::filesystem::path& destination,
                                  std::function<bool(const DownloadProgress&)> on_progress = {},
                                  const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  ClientOptions options_;
};

}  // namespace carillon::http
