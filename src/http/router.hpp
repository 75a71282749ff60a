#pragma once
// Explicit route registration (one visible list in the app) and dispatch to plain handlers.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "http/http.hpp"

namespace carillon::http {

class Router {
 public:
  // `pattern` is a path such as "/api/v1/sites/{id}/claim-codes"; "{name}" matches exactly one
  // non-empty segment and is stored percent-decoded in Request::params["name"]. When several
  // patterns match, the one with a literal segment earliest wins ("/devices/search" beats
  // "/devices/{id}"). Registering the same method+pattern twice throws std::logic_error (a bug).
  // All routes must be added before a Server using this router starts.
  void add(const std::string& method, const std::string& pattern, Handler handler);

  struct Route {
    std::string method;
    std::string pattern;
  };
  // In registration order; used by the OpenAPI completeness test.
  const std::vector<Route>& routes() const;

  // Fills request.params and calls the handler. 404 problem when no pattern matches the path,
  // 405 problem with an Allow header when the path matches under other methods only. HEAD falls
  // back to the GET handler (the server drops the body). A handler that throws yields a 500
  // problem (logged, the exception text is not sent).
  Response dispatch(Request& request) const;

  // True when some route (any method) or WebSocket endpoint matches this decoded path.
  bool has_path(const std::string& path) const;

  // A server-side WebSocket connection as seen by application code.
  class WebSocket {
   public:
    virtual ~WebSocket() = default;
    // Queues a text message; thread-safe, never blocks. Messages sent before the handshake
    // completes are delivered after it; after close they are dropped. A peer that lets more
    // than 8 MiB pile up is disconnected.
    virtual void send(std::string text) = 0;
    // Starts a normal close handshake; thread-safe, idempotent.
    virtual void close() = 0;
  };
  // Called (on a handler thread) for an upgrade request to the endpoint's path, before the
  // upgrade. An Error is answered as a problem+json response and nothing is upgraded. On success
  // the returned callback is called exactly once when the socket has closed (on a server I/O
  // thread: it must not block). Incoming messages from the peer are read and discarded.
  using WebSocketOpen = std::function<Result<std::function<void()>>(const Request&, std::shared_ptr<WebSocket>)>;
  // `path` is matched exactly (no parameters, no query).
  void add_websocket(const std::string& path, WebSocketOpen open);
  // The endpoint for this decoded path, nullptr if none.
  const WebSocketOpen* find_websocket(const std::string& path) const;

 private:
  struct Entry {
    Route route;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, WebSocketOpen>> websockets_;
};

}  // namespace carillon::http
