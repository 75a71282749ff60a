#pragma once
// The events Kamailio reports to serve over evapi (docs/sip-edge.md, "Events flow back"):
// netstring-framed JSON objects on a TCP connection to 127.0.0.1:EdgeSettings::evapi_port.
// EventStream is the client: it connects, reconnects with backoff when Kamailio restarts, and
// hands each event to a handler on its own thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.hpp"

namespace carillon::sip {

enum class EdgeEventKind {
  registered,     // "register": a contact was (re-)registered; expires == 0 means it is gone
  call_start,     // "call.start"
  leg_ringing,    // "leg.ringing": a member's phone rings
  leg_answered,   // "leg.answered"
  leg_failed,     // "leg.failed": busy, unreachable, cancelled, no answer
  call_answered,  // "call.answered": the winning member
  call_end,       // "call.end": BYE, max duration, failure, cancel
};

// The wire name ("register", "call.start", ...).
std::string_view to_string(EdgeEventKind kind);

struct EdgeEvent {
  EdgeEventKind kind = EdgeEventKind::registered;
  std::int64_t ts = 0;  // Unix time in milliseconds, taken by Kamailio
  std::string call_id;
  std::string user;     // register: the account
  std::string member;   // leg.*, call.answered: the member's SIP username
  std::string contact;  // register
  std::int64_t expires = 0;  // register: seconds, 0 = unregistered/expired
  std::string caller;   // call.start
  std::string target;   // call.start: the dialled user part
  std::string company;  // call.start
  int code = 0;         // leg.*, call.end: SIP status
  std::string reason;   // leg.*, call.end: e.g. "bye", "max_duration", "no answer", "cancelled", "expired"
  std::string user_agent;  // register
  std::string source;      // register: source IP of the registration
};

// One event object. invalid_argument for malformed JSON, an unknown "event" or wrong field types.
Result<EdgeEvent> parse_edge_event(std::string_view json);

// Incremental netstring ("<len>:<payload>,") decoder for a byte stream.
class NetstringDecoder {
 public:
  explicit NetstringDecoder(std::size_t max_payload = 1 << 20) : max_payload_(max_payload) {}
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete payload, nullopt if more bytes are needed, invalid_argument if the stream
  // is not netstrings (the connection must then be dropped: framing is lost).
  Result<std::optional<std::string>> next();

 private:
  std::string buffer_;
  std::size_t max_payload_;
};

class EventStream {
 public:
  using Handler = std::function<void(const EdgeEvent&)>;
  using ConnectedHandler = std::function<void()>;

  struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::chrono::milliseconds initial_backoff{50};
    std::chrono::milliseconds max_backoff{2000};
  };

  // `on_event` and `on_connected` run on the stream's thread; `on_connected` runs after every
  // (re)connection, before any event of that connection, so serve can push its whole state
  // again after a Kamailio restart. Malformed events are logged and skipped.
  EventStream(Options options, Handler on_event, ConnectedHandler on_connected = {});
  ~EventStream();  // stops
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  void start();
  void stop();
  bool connected() const { return connected_.load(); }
  // Blocks until connected or the timeout passes; true if connected.
  bool wait_connected(std::chrono::milliseconds timeout);

 private:
  void run();
  // Reads from a connected socket until it closes, framing breaks, or stop() is called.
  void read_loop(int fd);

  Options options_;
  Handler on_event_;
  ConnectedHandler on_connected_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace carillon::sip
