#pragma once
// A thread-safe MQTT 5 client over TLS (libmosquitto, network loop on its own thread).
//
// Lifetime: create ONE mqtt::Library in main() (or a test fixture) before any Client and destroy
// it after the last Client; it pairs mosquitto_lib_init/cleanup without a global flag.
//
// Callbacks (on_message, on_connection) run on the client's network thread: they must not block
// and must not call disconnect() or destroy the Client. Register them before connect().

#include <atomic>
#include <chrono>
#include <thread>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"

struct mosquitto;

namespace carillon::mqtt {

class Library {
 public:
  Library();
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
};

struct Will {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retain = true;
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  // Ignored by the broker on the devices listener (forced to the certificate CN).
  std::string client_id;
  // CA that signed the broker's server certificate; the host name / IP is verified against it.
  std::string ca_pem_file;
  // Client certificate and key; both empty for server-auth-only listeners (claim).
  std::string cert_file;
  std::string key_file;
  int keepalive_seconds = 30;
  std::optional<Will> will;
  // false: keep the session (subscriptions, queued QoS>0 messages) for session_expiry_seconds.
  bool clean_start = true;
  unsigned session_expiry_seconds = 3600;
  // How long publish() with QoS > 0 waits for the broker's acknowledgement.
  std::chrono::milliseconds ack_timeout{10000};
};

class Client {
 public:
  using MessageHandler = std::function<void(const std::string& topic, const std::string& payload, bool retained)>;
  using ConnectionHandler = std::function<void(bool connected)>;

  explicit Client(ClientOptions options);
  ~Client();  // disconnect()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void on_message(MessageHandler handler);
  void on_connection(ConnectionHandler handler);

  // Makes a first, blocking connection attempt (TCP + TLS; an unreachable host blocks for the
  // TCP connect timeout), then starts the network thread. The connection is kept up:
  // after a loss (or a failed first attempt) it is retried with growing delays (0.5 s, 1 s,
  // 2 s, ... capped at 30 s), whatever the error was. Errors: invalid_argument (bad TLS
  // files or options), conflict (already connected), internal. A broker that is down is NOT an
  // error here; see wait_connected().
  Status connect();
  // Ok once the broker accepted the session. Errors: forbidden (the broker refused it, e.g.
  // not authorized), unavailable (not connected within `timeout`; message has the last
  // network/TLS error).
  Status wait_connected(std::chrono::milliseconds timeout);
  bool connected() const;

  // QoS 0 returns once queued. QoS 1/2 waits for the broker's acknowledgement (ack_timeout):
  // forbidden when the broker answers "not authorized" (ACL), unavailable when not connected or
  // no ack came, invalid_argument for a bad topic or QoS. Called from a handler (the network
  // thread), QoS 1/2 returns once queued too: waiting there would block the ack itself.
  Status publish(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false);
  struct Message {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
  };
  // publish() for many messages: all are queued first, then their acknowledgements are awaited,
  // so the broker gets them back to back instead of one per round trip. One status per message,
  // in order, with publish()'s errors; once no acknowledgement came for ack_timeout, the
  // remaining ones are not awaited (unavailable).
  std::vector<Status> publish_many(const std::vector<Message>& messages);
  // Remembered and re-sent after every reconnect. Waits for the SUBACK (ack_timeout) when
  // connected: forbidden when the broker refused the filter. When not connected it is only
  // remembered and sent on the next connection.
  Status subscribe(const std::string& filter, int qos = 1);
  // Clean MQTT DISCONNECT (no will) and stops the network thread; calls on_connection(false)
  // on the caller's thread if it was connected. Idempotent; connect() may be called again.
  void disconnect();
  // Like disconnect(), but the DISCONNECT asks the broker to publish the will (MQTT 5 reason
  // 0x04), as when the connection is lost: for emulating a power cut.
  void disconnect_with_will();

 private:
  struct Callbacks;
  friend struct Callbacks;

  void close(int reason);
  void run_loop();
  int loop_once(int timeout_ms);
  void wake() const;
  bool running() const;
  void handle_connect(int rc);
  void handle_disconnect(int rc);
  void handle_ack(int mid, int reason);
  void handle_message(const std::string& topic, const std::string& payload, bool retained);
  Result<int> wait_ack(int mid);
  Status publish_result(const std::string& topic, const Result<int>& reason) const;
  bool on_network_thread() const { return network_thread_.load() == std::this_thread::get_id(); }
  std::atomic<std::thread::id> network_thread_{};
  void forget_ack(int mid);

  ClientOptions options_;
  mosquitto* mosq_ = nullptr;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool started_ = false;
  bool connected_ = false;
  std::optional<Error> refused_;
  std::map<std::string, int> subscriptions_;
  MessageHandler message_handler_;
  ConnectionHandler connection_handler_;
  // Acknowledgements that arrived for message ids nobody waits for yet, and ids whose
  // acknowledgement nobody will wait for (QoS 0, timed out): either side may come first.
  std::map<int, int> acks_;
  std::multiset<int> ignored_acks_;
  std::thread loop_thread_;  // run_loop(), from connect() until close()
  int wake_fd_ = -1;         // eventfd: other threads queued packets for run_loop() to send
};

// Ends the live session of a device (e.g. after its certificate was revoked): connects on the
// PLATFORM listener with client id = `serial`, which makes Mosquitto drop the device's session
// (client-id takeover, and the device's will is published), then disconnects.
// Precondition: the new CRL is in place and the broker reloaded it (SIGHUP), otherwise the
// device simply reconnects. `platform` holds the platform listener's address and the platform's
// certificate; its client_id and will are ignored. Errors: those of connect/wait_connected.
Status cut_session(const ClientOptions& platform, const std::string& serial, std::chrono::milliseconds timeout);

}  // namespace carillon::mqtt
