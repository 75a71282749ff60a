#pragma once
// HTTPS server (Boost.Beast behind a pimpl): TLS 1.2+ only, keep-alive, body limits, static web
// assets with SPA fallback, WebSocket endpoints. Handlers run synchronously on a small pool.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "http/http.hpp"
#include "http/router.hpp"

namespace carillon::http {

// A request whose body is streamed to a temporary file instead of memory (firmware images of
// hundreds of MB). Matching requests are read chunk by chunk into a fresh file named
// ".upload-XXXXXX" (random, mode 0600) in `directory` while SHA-256 is computed; then the route's
// ordinary handler runs with Request::body_file/body_size/body_sha256 set and an empty body.
// The handler runs only once the body is complete, so authentication there happens after the
// upload. More than max_bytes (announced or chunked) is a 413 problem; the temporary file is
// removed on 413, on a client disconnect or error mid-upload, and after the handler returns.
struct UploadRoute {
  std::string path_prefix;  // decoded path prefix, e.g. "/api/v1/firmware/"
  std::string method = "POST";
  std::filesystem::path directory;  // must exist; same file system as the handler's destination
  std::uint64_t max_bytes = 0;
};

struct ServerOptions {
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal to listen on
  unsigned short port = 0;             // 0 = ephemeral; Server::port() tells the bound one
  // PEM certificate (leaf), its private key and the intermediates sent after it. Required:
  // there is no plain HTTP at all. TLS 1.2 is the minimum.
  std::string cert_pem, key_pem, ca_chain_pem;
  // If set, clients MUST present a certificate issued by one of these CAs (mutual TLS; the
  // device-facing listener). Request::client_common_name then carries the certificate's CN.
  // Revocation is the handler's business (it knows which devices are revoked).
  std::string client_ca_pem;
  // Larger bodies get a 413 problem, whether announced by Content-Length or sent chunked.
  std::size_t body_limit = 1 << 20;
  // Requests whose target starts with one of these prefixes may carry up to body_limit_large
  // bytes instead (e.g. logo or firmware uploads). 0 = no exception.
  std::size_t body_limit_large = 0;
  std::vector<std::string> large_body_prefixes;
  // Checked before the body limits above; the first route matching method and path wins.
  std::vector<UploadRoute> upload_routes;
  int threads = 2;  // handler threads (handlers block them); I/O runs on one more thread
  // If set: GET/HEAD of paths outside /api/ that no route claims are served from this directory,
  // with index.html for unknown extension-less paths (SPA routes). Never outside the directory.
  std::string static_dir;
  // Called once per answered request (also 400/413/static) with the final status and the time
  // from the end of reading to the response being ready. Runs on a server thread: keep it quick.
  std::function<void(const Request&, int status, double seconds)> on_request;
};

class Server {
 public:
  // `router` must outlive the server and not change after start().
  Server(ServerOptions options, const Router& router);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS material, binds and starts serving. invalid_argument for bad PEMs or address,
  // unavailable when the port cannot be bound.
  Status start();
  // The bound port, 0 before start().
  unsigned short port() const;
  // Stops accepting, closes open connections and WebSockets (their close callbacks run) and
  // joins all threads. Idempotent. Must not be called from a handler or a server callback.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace carillon::http
