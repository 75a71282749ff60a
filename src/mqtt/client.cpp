#include "mqtt/client.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "common/log.hpp"

namespace carillon::mqtt {

Library::Library() {
  if (mosquitto_lib_init() != MOSQ_ERR_SUCCESS) throw std::runtime_error("mosquitto_lib_init failed");
}

Library::~Library() { mosquitto_lib_cleanup(); }

struct Client::Callbacks {
  static void on_connect(mosquitto*, void* self, int rc, int, const mosquitto_property*) {
    static_cast<Client*>(self)->network_thread_ = std::this_thread::get_id();
    static_cast<Client*>(self)->handle_connect(rc);
  }
  static void on_disconnect(mosquitto*, void* self, int rc, const mosquitto_property*) {
    static_cast<Client*>(self)->network_thread_ = std::this_thread::get_id();
    static_cast<Client*>(self)->handle_disconnect(rc);
  }
  static void on_publish(mosquitto*, void* self, int mid, int reason, const mosquitto_property*) {
    static_cast<Client*>(self)->network_thread_ = std::this_thread::get_id();
    static_cast<Client*>(self)->handle_ack(mid, reason);
  }
  static void on_subscribe(mosquitto*, void* self, int mid, int count, const int* granted, const mosquitto_property*) {
    static_cast<Client*>(self)->network_thread_ = std::this_thread::get_id();
    static_cast<Client*>(self)->handle_ack(mid, count > 0 ? granted[0] : MQTT_RC_UNSPECIFIED);
  }
  static void on_message(mosquitto*, void* self, const mosquitto_message* m, const mosquitto_property*) {
    static_cast<Client*>(self)->network_thread_ = std::this_thread::get_id();
    std::string payload(static_cast<const char*>(m->payload), static_cast<std::size_t>(m->payloadlen));
    static_cast<Client*>(self)->handle_message(m->topic, payload, m->retain);
  }
};

namespace {

Error error_from(int rc, const char* what) {
  Errc code = Errc::internal;
  switch (rc) {
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
    case MOSQ_ERR_OVERSIZE_PACKET:
      code = Errc::invalid_argument;
      break;
    case MOSQ_ERR_NO_CONN:
    case MOSQ_ERR_CONN_LOST:
    case MOSQ_ERR_ERRNO:
    case MOSQ_ERR_EAI:
    case MOSQ_ERR_TLS:
      code = Errc::unavailable;
      break;
    case MOSQ_ERR_AUTH:
    case MOSQ_ERR_ACL_DENIED:
    case MOSQ_ERR_CONN_REFUSED:
      code = Errc::forbidden;
      break;
    default:
      break;
  }
  return Error{code, fmt::format("{}: {}", what, mosquitto_strerror(rc)), {}};
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {
  const char* id = options_.client_id.empty() ? nullptr : options_.client_id.c_str();
  mosq_ = mosquitto_new(id, options_.clean_start || id == nullptr, this);
  if (mosq_ == nullptr) throw std::runtime_error("mosquitto_new failed (was an mqtt::Library created?)");
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  // Small packets in both directions (PUBLISH, then PUBACK): with Nagle on, a publish that
  // waits for its acknowledgement can stall behind a delayed ACK (BENCHMARKS.md, bulk-config).
  mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
  // Other threads publish while run_loop() runs: libmosquitto must lock and wake the loop.
  mosquitto_threaded_set(mosq_, true);
  mosquitto_connect_v5_callback_set(mosq_, &Callbacks::on_connect);
  mosquitto_disconnect_v5_callback_set(mosq_, &Callbacks::on_disconnect);
  mosquitto_publish_v5_callback_set(mosq_, &Callbacks::on_publish);
  mosquitto_subscribe_v5_callback_set(mosq_, &Callbacks::on_subscribe);
  mosquitto_message_v5_callback_set(mosq_, &Callbacks::on_message);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
}

Client::~Client() {
  disconnect();
  if (loop_thread_.joinable()) loop_thread_.join();
  mosquitto_destroy(mosq_);
  ::close(wake_fd_);
}

void Client::wake() const {
  std::uint64_t one = 1;
  // A full counter already means "wake up"; nothing else can fail here.
  (void)!::write(wake_fd_, &one, sizeof one);
}

// One turn of the network loop, like mosquitto_loop() but with poll(): mosquitto_loop() uses
// select(), which cannot watch descriptors above FD_SETSIZE (1024) - a process with a few
// hundred emulated devices stalled there. The eventfd wakes the loop when another thread has
// queued a packet (libmosquitto's own wake-up pipe is private to mosquitto_loop()).
int Client::loop_once(int timeout_ms) {
  int sock = mosquitto_socket(mosq_);
  if (sock < 0) return MOSQ_ERR_NO_CONN;
  pollfd fds[2] = {{sock, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  if (mosquitto_want_write(mosq_)) fds[0].events |= POLLOUT;
  // Bytes TLS already decrypted are invisible to poll().
  auto* ssl = static_cast<SSL*>(mosquitto_ssl_get(mosq_));
  bool pending = ssl != nullptr && SSL_pending(ssl) > 0;
  int n = ::poll(fds, 2, pending ? 0 : timeout_ms);
  if (n < 0 && errno != EINTR) return MOSQ_ERR_ERRNO;
  if (fds[1].revents & POLLIN) {
    std::uint64_t count = 0;
    (void)!::read(wake_fd_, &count, sizeof count);
  }
  if (pending || (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
    int rc = mosquitto_loop_read(mosq_, 1);
    if (rc != MOSQ_ERR_SUCCESS) return rc;
  }
  if (mosquitto_want_write(mosq_)) {
    int rc = mosquitto_loop_write(mosq_, 1);
    if (rc != MOSQ_ERR_SUCCESS) return rc;
  }
  return mosquitto_loop_misc(mosq_);
}

void Client::on_message(MessageHandler handler) {
  std::lock_guard lock(mutex_);
  message_handler_ = std::move(handler);
}

void Client::on_connection(ConnectionHandler handler) {
  std::lock_guard lock(mutex_);
  connection_handler_ = std::move(handler);
}

Status Client::connect() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return fail(Errc::conflict, "mqtt client already started");
  }
  if (options_.port == 0) return fail(Errc::invalid_argument, "port is required", "port");
  if (options_.ca_pem_file.empty()) return fail(Errc::invalid_argument, "ca_pem_file is required", "ca_pem_file");
  if (options_.cert_file.empty() != options_.key_file.empty()) {
    return fail(Errc::invalid_argument, "cert_file and key_file go together", "cert_file");
  }
  int rc = mosquitto_tls_set(mosq_, options_.ca_pem_file.c_str(), nullptr,
                             options_.cert_file.empty() ? nullptr : options_.cert_file.c_str(),
                             options_.key_file.empty() ? nullptr : options_.key_file.c_str(), nullptr);
  if (rc != MOSQ_ERR_SUCCESS) return tl::unexpected(error_from(rc, "mqtt tls files"));
  rc = mosquitto_tls_opts_set(mosq_, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", nullptr);
  if (rc != MOSQ_ERR_SUCCESS) return tl::unexpected(error_from(rc, "mqtt tls options"));
  if (options_.will) {
    const Will& w = *options_.will;
    rc = mosquitto_will_set_v5(mosq_, w.topic.c_str(), static_cast<int>(w.payload.size()), w.payload.data(), w.qos,
                               w.retain, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) return tl::unexpected(error_from(rc, "mqtt will"));
  }

  mosquitto_property* props = nullptr;
  if (!options_.clean_start) {
    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, options_.session_expiry_seconds);
  }
  {
    std::lock_guard lock(mutex_);
    started_ = true;
    refused_.reset();
  }
  // A blocking first attempt, so that a reachable broker is usually connected on return;
  // failures are retried by run_loop().
  rc = mosquitto_connect_bind_v5(mosq_, options_.host.c_str(), options_.port, options_.keepalive_seconds, nullptr,
                                 props);
  mosquitto_property_free_all(&props);
  if (rc == MOSQ_ERR_INVAL || rc == MOSQ_ERR_NOMEM) return tl::unexpected(error_from(rc, "mqtt connect"));
  if (rc != MOSQ_ERR_SUCCESS) {
    log::get("mqtt")->info("first connect failed port={} error={}; retrying", options_.port, mosquitto_strerror(rc));
  }
  if (loop_thread_.joinable()) loop_thread_.join();  // a previous connect()/disconnect() round
  loop_thread_ = std::thread([this] { run_loop(); });
  return {};
}

bool Client::running() const {
  std::lock_guard lock(mutex_);
  return started_;
}

// Our own network loop rather than mosquitto_loop_start(): libmosquitto's thread ends for good
// on errors it deems fatal - a TLS read error when the broker is killed mid-session is one - and
// the client would never reconnect. Here every failure leads to a reconnect, until close().
void Client::run_loop() {
  auto delay = std::chrono::milliseconds(500);
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  for (;;) {
    int rc = loop_once(200);
    if (!running()) {
      // Stopping: keep looping only to flush the queued DISCONNECT, and not for long.
      if (rc != MOSQ_ERR_SUCCESS) return;
      auto now = std::chrono::steady_clock::now();
      if (stop_deadline == std::chrono::steady_clock::time_point::max()) stop_deadline = now + std::chrono::seconds(2);
      if (now >= stop_deadline) return;
      continue;
    }
    if (rc == MOSQ_ERR_SUCCESS) {
      if (connected()) delay = std::chrono::milliseconds(500);
      continue;
    }
    {
      std::unique_lock lock(mutex_);
      if (changed_.wait_for(lock, delay, [this] { return !started_; })) return;
    }
    delay = std::min(delay * 2, std::chrono::milliseconds(30000));
    rc = mosquitto_reconnect(mosq_);
    if (rc != MOSQ_ERR_SUCCESS)
      log::get("mqtt")->debug("reconnect failed port={} error={}", options_.port, mosquitto_strerror(rc));
  }
}

Status Client::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return connected_ || refused_.has_value(); });
  if (connected_) return {};
  if (refused_) return tl::unexpected(*refused_);
  return fail(Errc::unavailable, fmt::format("not connected to {}:{} within {} ms", options_.host, options_.port,
                                              timeout.count()));
}

bool Client::connected() const {
  std::lock_guard lock(mutex_);
  return connected_;
}

Status Client::publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  if (qos < 0 || qos > 2) return fail(Errc::invalid_argument, "qos must be 0, 1 or 2", "qos");
  if (!connected()) return fail(Errc::unavailable, "mqtt client not connected");
  int mid = 0;
  int rc = mosquitto_publish_v5(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos,
                                retain, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) return tl::unexpected(error_from(rc, "mqtt publish"));
  wake();
  // On the network thread (inside a callback) nobody could deliver the PUBACK we would wait
  // for: the message is queued and libmosquitto retries it, but the result is not known here.
  if (qos == 0 || on_network_thread()) {
    forget_ack(mid);
    return {};
  }
  return publish_result(topic, wait_ack(mid));
}

Status Client::publish_result(const std::string& topic, const Result<int>& reason) const {
  if (!reason) return tl::unexpected(reason.error());
  if (*reason == MQTT_RC_NOT_AUTHORIZED) return fail(Errc::forbidden, "not authorized to publish to " + topic, "topic");
  if (*reason >= 0x80) {
    return fail(Errc::internal, fmt::format("publish to {} rejected: {}", topic, mosquitto_reason_string(*reason)));
  }
  return {};
}

std::vector<Status> Client::publish_many(const std::vector<Message>& messages) {
  std::vector<Status> out(messages.size());
  std::vector<std::optional<int>> awaited(messages.size());  // message id whose ack decides
  const bool may_wait = !on_network_thread();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (m.qos < 0 || m.qos > 2) {
      out[i] = fail(Errc::invalid_argument, "qos must be 0, 1 or 2", "qos");
      continue;
    }
    if (!connected()) {
      out[i] = fail(Errc::unavailable, "mqtt client not connected");
      continue;
    }
    int mid = 0;
    int rc = mosquitto_publish_v5(mosq_, &mid, m.topic.c_str(), static_cast<int>(m.payload.size()), m.payload.data(),
                                  m.qos, m.retain, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      out[i] = tl::unexpected(error_from(rc, "mqtt publish"));
      continue;
    }
    if (m.qos == 0 || !may_wait) forget_ack(mid);
    else awaited[i] = mid;
  }
  wake();
  bool timed_out = false;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (!awaited[i]) continue;
    if (timed_out) {
      forget_ack(*awaited[i]);
      out[i] = fail(Errc::unavailable, "no acknowledgement from the broker for an earlier message; not awaited");
      continue;
    }
    auto reason = wait_ack(*awaited[i]);
    timed_out = !reason;
    out[i] = publish_result(messages[i].topic, reason);
  }
  return out;
}

Status Client::subscribe(const std::string& filter, int qos) {
  if (qos < 0 || qos > 2) return fail(Errc::invalid_argument, "qos must be 0, 1 or 2", "qos");
  if (mosquitto_sub_topic_check(filter.c_str()) != MOSQ_ERR_SUCCESS) {
    return fail(Errc::invalid_argument, "invalid topic filter " + filter, "filter");
  }
  {
    std::lock_guard lock(mutex_);
    subscriptions_[filter] = qos;
    if (!connected_) return {};
  }
  int mid = 0;
  int rc = mosquitto_subscribe_v5(mosq_, &mid, filter.c_str(), qos, 0, nullptr);
  // Not connected any more: the filter is sent again on the next connection.
  if (rc == MOSQ_ERR_NO_CONN) return {};
  if (rc != MOSQ_ERR_SUCCESS) return tl::unexpected(error_from(rc, "mqtt subscribe"));
  wake();
  auto granted = wait_ack(mid);
  if (!granted) return tl::unexpected(granted.error());
  if (*granted >= 0x80) {
    return fail(*granted == MQTT_RC_NOT_AUTHORIZED ? Errc::forbidden : Errc::internal,
                fmt::format("subscribe to {} refused: {}", filter, mosquitto_reason_string(*granted)), "filter");
  }
  return {};
}

void Client::disconnect() { close(MQTT_RC_NORMAL_DISCONNECTION); }

void Client::disconnect_with_will() { close(MQTT_RC_DISCONNECT_WITH_WILL_MSG); }

void Client::close(int reason) {
  {
    std::lock_guard lock(mutex_);
    if (!started_) return;
    started_ = false;
  }
  changed_.notify_all();  // ends a reconnect wait of the loop
  mosquitto_disconnect_v5(mosq_, reason, nullptr);
  wake();
  if (loop_thread_.joinable() && loop_thread_.get_id() != std::this_thread::get_id()) loop_thread_.join();
  ConnectionHandler handler;
  {
    std::lock_guard lock(mutex_);
    if (connected_) handler = connection_handler_;
    connected_ = false;
  }
  changed_.notify_all();
  if (handler) handler(false);
}

Result<int> Client::wait_ack(int mid) {
  std::unique_lock lock(mutex_);
  bool got = changed_.wait_for(lock, options_.ack_timeout, [&] { return acks_.count(mid) > 0; });
  if (!got) {
    ignored_acks_.insert(mid);
    return fail(Errc::unavailable, fmt::format("no acknowledgement from the broker within {} ms",
                                                options_.ack_timeout.count()));
  }
  int reason = acks_[mid];
  acks_.erase(mid);
  return reason;
}

void Client::forget_ack(int mid) {
  std::lock_guard lock(mutex_);
  if (acks_.erase(mid) == 0) ignored_acks_.insert(mid);
}

void Client::handle_ack(int mid, int reason) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = ignored_acks_.find(mid); it != ignored_acks_.end()) {
      ignored_acks_.erase(it);
      return;
    }
    acks_[mid] = reason;
  }
  changed_.notify_all();
}

void Client::handle_connect(int rc) {
  ConnectionHandler handler;
  {
    std::lock_guard lock(mutex_);
    if (rc != 0) {
      // The broker refused this session (CONNACK reason); libmosquitto keeps retrying.
      refused_ = Error{rc == MQTT_RC_NOT_AUTHORIZED || rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD ? Errc::forbidden
                                                                                              : Errc::unavailable,
                       fmt::format("broker refused the connection: {}", mosquitto_reason_string(rc)), {}};
    } else {
      connected_ = true;
      refused_.reset();
      for (const auto& [filter, qos] : subscriptions_) {
        int mid = 0;
        // This runs on the network thread, so the SUBACK cannot be handled before the id is ignored.
        if (mosquitto_subscribe_v5(mosq_, &mid, filter.c_str(), qos, 0, nullptr) == MOSQ_ERR_SUCCESS) {
          ignored_acks_.insert(mid);
        }
      }
      handler = connection_handler_;
    }
  }
  changed_.notify_all();
  if (handler) handler(true);
}

void Client::handle_disconnect(int rc) {
  ConnectionHandler handler;
  {
    std::lock_guard lock(mutex_);
    if (connected_) handler = connection_handler_;
    connected_ = false;
  }
  changed_.notify_all();
  if (rc != 0) log::get("mqtt")->info("connection lost port={} reason={}", options_.port, rc);
  if (handler) handler(false);
}

void Client::handle_message(const std::string& topic, const std::string& payload, bool retained) {
  MessageHandler handler;
  {
    std::lock_guard lock(mutex_);
    handler = message_handler_;
  }
  if (handler) handler(topic, payload, retained);
}

Status cut_session(const ClientOptions& platform, const std::string& serial, std::chrono::milliseconds timeout) {
  if (serial.empty()) return fail(Errc::invalid_argument, "serial is required", "serial");
  ClientOptions options = platform;
  options.client_id = serial;
  options.will.reset();
  options.clean_start = true;
  Client taker(std::move(options));
  if (auto s = taker.connect(); !s) return s;
  if (auto s = taker.wait_connected(timeout); !s) return s;
  taker.disconnect();
  return {};
}

}  // namespace carillon::mqtt
