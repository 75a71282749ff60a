// The only translation unit that includes Boost.Beast/Asio (notes/build.md: each such unit costs
// ~30 s and ~1 GB in the sanitizer build). Everything network-facing lives here.
//
// Threads: one I/O thread runs the io_context (TLS, parsing, writing); handlers, static files and
// WebSocket open() calls run on a separate pool of `threads` threads so a slow handler never stalls
// other connections' I/O. Each connection has its own strand.
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.hpp"
#include "http/problem.hpp"
#include "http/server.hpp"
#include "http/static_files.hpp"
#include "http/uri.hpp"

namespace carillon::http {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kShutdownTimeout = std::chrono::seconds(1);
constexpr auto kDrainTimeout = std::chrono::seconds(2);
constexpr auto kDrainIdle = std::chrono::milliseconds(300);
constexpr std::size_t kDrainMax = 64u << 20;
constexpr std::uint32_t kHeaderLimit = 32 * 1024;
constexpr std::size_t kWebSocketBacklogLimit = 8u << 20;
constexpr std::size_t kWebSocketMessageLimit = 64 * 1024;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// Header text from handlers may echo client input; CR/LF/NUL would allow response splitting.
bool safe_header_text(const std::string& text) { return text.find_first_of(std::string("\r\n\0", 3)) == std::string::npos; }

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
         ec != bhttp::error::body_limit && ec != bhttp::error::header_limit;
}

}  // namespace

// Shared between the server and its connections; outlives every connection (declared first in
// Impl). Connections register so that stop() can close them.
struct Tracked {
  virtual ~Tracked() = default;
  virtual void shut_down() = 0;
};

struct Core {
  ServerOptions options;
  const Router& router;
  std::shared_ptr<spdlog::logger> log = log::get("http");

  std::mutex mutex;
  std::condition_variable drained;
  std::map<std::uint64_t, std::weak_ptr<Tracked>> sessions;
  std::uint64_t next_id = 1;
  bool stopping = false;

  Core(ServerOptions o, const Router& r) : options(std::move(o)), router(r) {}

  // Returns 0 when the server is stopping (the caller then closes the connection).
  std::uint64_t enroll(const std::shared_ptr<Tracked>& session) {
    std::lock_guard lock(mutex);
    if (stopping) return 0;
    std::uint64_t id = next_id++;
    sessions.emplace(id, session);
    return id;
  }
  void leave(std::uint64_t id) {
    if (id == 0) return;
    std::lock_guard lock(mutex);
    sessions.erase(id);
    if (sessions.empty()) drained.notify_all();
  }

  std::size_t limit_for(const std::string& target) const {
    if (options.body_limit_large > 0) {
      for (const auto& prefix : options.large_body_prefixes) {
        if (starts_with(target, prefix)) return std::max(options.body_limit, options.body_limit_large);
      }
    }
    return options.body_limit;
  }

  void report(const Request& request, int status, Clock::time_point started) {
    if (!options.on_request) return;
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    try {
      options.on_request(request, status, seconds);
    } catch (const std::exception& e) {
      log->error("on_request hook threw what={}", e.what());
    }
  }
};

// Posting into the io_context after the server has torn it down would be undefined; WebSocket
// handles held by application code check this flag under its lock first.
struct Liveness {
  std::mutex mutex;
  bool alive = true;
};

namespace {

Request to_request(const bhttp::request<bhttp::string_body>& message, const std::string& remote,
                   std::optional<SplitTarget> split) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  if (split) {
    request.path = std::move(split->path);
    request.query = std::move(split->query);
  }
  for (const auto& field : message) {
    std::string name = lower(std::string(field.name_string()));
    std::string value(field.value());
    auto [it, inserted] = request.headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }
  request.body = message.body();
  request.remote_address = remote;
  return request;
}

// The CN of the peer certificate, only if the handshake verified one ("" otherwise).
std::string verified_client_common_name(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (peer == nullptr) return {};
  std::string cn;
  X509_NAME* subject = X509_get_subject_name(peer);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    cn.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)), static_cast<std::size_t>(ASN1_STRING_length(data)));
  }
  X509_free(peer);
  return cn;
}

class WebSocketSession;

// What application code holds: forwards to the session while the server is alive.
class WebSocketHandle final : public Router::WebSocket {
 public:
  WebSocketHandle(std::weak_ptr<WebSocketSession> session, std::shared_ptr<Liveness> liveness)
      : session_(std::move(session)), liveness_(std::move(liveness)) {}
  void send(std::string text) override;
  void close() override;

 private:
  std::weak_ptr<WebSocketSession> session_;
  std::shared_ptr<Liveness> liveness_;
};

class WebSocketSession final : public Tracked, public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(Core& core, net::thread_pool& pool, std::shared_ptr<Liveness> liveness, TlsStream&& stream,
                   bhttp::request<bhttp::string_body> upgrade, Request request, Clock::time_point started)
      : core_(core),
        pool_(pool),
        liveness_(std::move(liveness)),
        ws_(std::move(stream)),
        upgrade_(std::move(upgrade)),
        request_(std::move(request)),
        started_(started) {}

  ~WebSocketSession() override {
    core_.leave(id_);
    finish();
  }

  void start(const Router::WebSocketOpen& open) {
    id_ = core_.enroll(shared_from_this());
    if (id_ == 0) return;  // stopping: dropping the last reference closes the socket
    auto handle = std::make_shared<WebSocketHandle>(weak_from_this(), liveness_);
    net::post(pool_, [self = shared_from_this(), &open, handle] {
      Result<std::function<void()>> opened = fail(Errc::internal, "internal error");
      try {
        opened = open(self->request_, handle);
      } catch (const std::exception& e) {
        self->core_.log->error("websocket open threw path={} what={}", self->request_.path, e.what());
      }
      net::post(self->ws_.get_executor(), [self, opened = std::move(opened)]() mutable { self->on_open(std::move(opened)); });
    });
  }

  // Any thread (through the handle).
  void post_send(std::string text) {
    net::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
      if (self->closed_ || self->close_requested_) return;
      self->backlog_ += text.size();
      if (self->backlog_ > kWebSocketBacklogLimit) {
        self->core_.log->warn("websocket backlog over limit, closing path={} remote={}", self->request_.path,
                              self->request_.remote_address);
        self->closed_ = true;
        beast::get_lowest_layer(self->ws_).close();
        return;
      }
      self->queue_.push_back(std::move(text));
      self->write_next();
    });
  }

  void post_close() {
    net::post(ws_.get_executor(), [self = shared_from_this()] { self->begin_close(); });
  }

  void shut_down() override { post_close(); }

 private:
  void on_open(Result<std::function<void()>> opened) {
    if (!opened) {
      auto response = std::make_shared<bhttp::response<bhttp::string_body>>();
      Response problem_response = problem(opened.error());
      response->result(static_cast<unsigned>(problem_response.status));
      response->version(upgrade_.version());
      response->set(bhttp::field::content_type, problem_response.content_type);
      for (const auto& [name, value] : problem_response.headers) response->insert(name, value);
      response->body() = std::move(problem_response.body);
      response->keep_alive(false);
      response->prepare_payload();
      core_.report(request_, problem_response.status, started_);
      closed_ = true;
      beast::get_lowest_layer(ws_).expires_after(kWriteTimeout);
      bhttp::async_write(ws_.next_layer(), *response,
                         [self = shared_from_this(), response](beast::error_code, std::size_t) {
                           beast::get_lowest_layer(self->ws_).expires_after(kShutdownTimeout);
                           self->ws_.next_layer().async_shutdown([self](beast::error_code) {
                             beast::get_lowest_layer(self->ws_).close();
                           });
                         });
      return;
    }
    on_close_ = std::move(*opened);
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(5);
    timeouts.idle_timeout = std::chrono::seconds(60);
    timeouts.keep_alive_pings = true;  // the peer's pong keeps an idle but healthy socket open
    ws_.set_option(timeouts);
    ws_.read_message_max(kWebSocketMessageLimit);
    ws_.text(true);
    ws_.async_accept(upgrade_, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void on_accept(beast::error_code ec) {
    core_.report(request_, ec ? 400 : 101, started_);
    if (ec) {
      core_.log->info("websocket handshake failed path={} error={}", request_.path, ec.message());
      closed_ = true;
      finish();
      return;
    }
    accepted_ = true;
    if (close_requested_) {
      close_requested_ = false;
      begin_close();
      return;
    }
    read_next();
    write_next();
  }

  void read_next() {
    ws_.async_read(read_buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->closed_ = true;
        self->finish();
        return;
      }
      self->read_buffer_.consume(self->read_buffer_.size());
      self->read_next();
    });
  }

  void write_next() {
    if (!accepted_ || writing_ || closing_ || closed_ || queue_.empty()) return;
    writing_ = true;
    ws_.async_write(net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      self->backlog_ -= std::min(self->backlog_, self->queue_.front().size());
      self->queue_.pop_front();
      if (ec) {
        self->closed_ = true;
        beast::get_lowest_layer(self->ws_).close();
        return;
      }
      if (self->close_requested_ && self->queue_.empty()) {
        self->close_requested_ = false;
        self->begin_close();
        return;
      }
      self->write_next();
    });
  }

  void begin_close() {
    if (closed_ || closing_) return;
    if (!accepted_ || writing_) {
      close_requested_ = true;
      return;
    }
    closing_ = true;
    ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {
      // The read loop ends with `closed` once the peer answers (or the handshake timeout fires).
    });
  }

  void finish() {
    if (on_close_) {
      auto callback = std::move(on_close_);
      on_close_ = nullptr;
      try {
        callback();
      } catch (const std::exception& e) {
        core_.log->error("websocket close callback threw what={}", e.what());
      }
    }
  }

  Core& core_;
  net::thread_pool& pool_;
  std::shared_ptr<Liveness> liveness_;
  websocket::stream<TlsStream> ws_;
  bhttp::request<bhttp::string_body> upgrade_;
  Request request_;
  Clock::time_point started_;
  std::uint64_t id_ = 0;
  std::function<void()> on_close_;
  beast::flat_buffer read_buffer_;
  std::deque<std::string> queue_;
  std::size_t backlog_ = 0;
  bool accepted_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool close_requested_ = false;
  bool closed_ = false;
};

void WebSocketHandle::send(std::string text) {
  std::lock_guard lock(liveness_->mutex);
  if (!liveness_->alive) return;
  if (auto session = session_.lock()) session->post_send(std::move(text));
}

void WebSocketHandle::close() {
  std::lock_guard lock(liveness_->mutex);
  if (!liveness_->alive) return;
  if (auto session = session_.lock()) session->post_close();
}

class HttpSession final : public Tracked, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(Core& core, net::thread_pool& pool, std::shared_ptr<Liveness> liveness, tcp::socket&& socket,
              ssl::context& tls)
      : core_(core), pool_(pool), liveness_(std::move(liveness)), stream_(std::move(socket), tls) {
    beast::error_code ec;
    auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string();
  }

  ~HttpSession() override { core_.leave(id_); }

  void start() {
    id_ = core_.enroll(shared_from_this());
    if (id_ == 0) return;
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(kHandshakeTimeout);
      self->stream_.async_handshake(ssl::stream_base::server,
                                    [self](beast::error_code ec) { self->on_handshake(ec); });
    });
  }

  void shut_down() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      // An idle keep-alive connection is closed now; one whose handler runs is closed after its
      // response is written (see on_write).
      if (!self->busy_) beast::get_lowest_layer(self->stream_).close();
    });
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) {
      // Plain HTTP, old TLS versions and scanners end here; nothing is sent back.
      core_.log->debug("tls handshake failed remote={} error={}", remote_, ec.message());
      beast::get_lowest_layer(stream_).close();
      return;
    }
    client_cn_ = verified_client_common_name(stream_.native_handle());
    read_header();
  }

  void read_header() {
    if (stopping_) {
      close();
      return;
    }
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // The real limit depends on the target; it is known only after the header (on_header).
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    bhttp::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_header(ec);
    });
  }

  void on_header(beast::error_code ec) {
    started_ = Clock::now();
    if (ec) {
      read_failed(ec);
      return;
    }
    busy_ = true;
    auto& message = parser_->get();
    version_ = message.version();
    std::size_t limit = core_.limit_for(std::string(message.target()));
    if (auto length = parser_->content_length(); length && *length > limit) {
      answer_too_large(limit);
      return;
    }
    parser_->body_limit(limit);

    if (websocket::is_upgrade(message)) {
      auto split = split_target(std::string(message.target()));
      if (split) {
        if (const auto* open = core_.router.find_websocket(split->path)) {
          upgrade(*open, std::move(split));
          return;
        }
      }
    }
    if (lower(std::string(message[bhttp::field::expect])) == "100-continue") {
      auto interim = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, message.version());
      beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
      bhttp::async_write(stream_, *interim, [self = shared_from_this(), interim](beast::error_code ec, std::size_t) {
        if (ec) {
          self->close_socket();
          return;
        }
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_body(ec);
    });
  }

  void read_failed(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      answer_too_large(core_.limit_for(std::string(parser_->get().target())));
    } else if (ec == bhttp::error::header_limit) {
      busy_ = true;
      respond(problem(Error{Errc::too_large, "request header too large", ""}), false, Request{});
    } else if (is_parse_error(ec)) {
      busy_ = true;
      respond(problem(Error{Errc::invalid_argument, "malformed HTTP request: " + ec.message(), ""}), false,
              Request{});
    } else if (ec == bhttp::error::end_of_stream) {
      close();
    } else {
      close_socket();  // timeout, reset, TLS error: nobody to answer
    }
  }

  void on_body(beast::error_code ec) {
    if (ec) {
      if (ec == bhttp::error::body_limit) {
        answer_too_large(core_.limit_for(std::string(parser_->get().target())));
        return;
      }
      read_failed(ec);
      return;
    }
    auto message = parser_->release();
    bool keep_alive = message.keep_alive();
    auto split = split_target(std::string(message.target()));
    Request request = to_request(message, remote_, split);
    request.client_common_name = client_cn_;
    if (!split) {
      respond(problem(Error{Errc::invalid_argument, "malformed request target", ""}), false, std::move(request));
      return;
    }
    net::post(pool_, [self = shared_from_this(), request = std::move(request), keep_alive]() mutable {
      Response response = self->handle(request);
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response), request = std::move(request), keep_alive]() mutable {
                  self->respond(std::move(response), keep_alive, std::move(request));
                });
    });
  }

  // On a pool thread.
  Response handle(Request& request) {
    try {
      const auto& options = core_.options;
      bool is_get = request.method == "GET" || request.method == "HEAD";
      if (!options.static_dir.empty() && is_get && !starts_with(request.path, "/api/") && request.path != "/api" &&
          !core_.router.has_path(request.path)) {
        return serve_static(options.static_dir, request.path, accepts_gzip(request.header("accept-encoding")));
      }
      return core_.router.dispatch(request);
    } catch (const std::exception& e) {
      core_.log->error("request failed method={} path={} what={}", request.method, request.path, e.what());
    }
    return problem(Error{Errc::internal, "internal error", ""});
  }

  void answer_too_large(std::size_t limit) {
    busy_ = true;
    // The unread body is drained after the answer (see close) so the client sees the 413
    // instead of a connection reset.
    drain_ = true;
    Request request;
    if (parser_) {
      auto& message = parser_->get();
      request = to_request(bhttp::request<bhttp::string_body>(message.base()), remote_,
                           split_target(std::string(message.target())));
    }
    respond(problem(Error{Errc::too_large, "request body exceeds " + std::to_string(limit) + " bytes", ""}), false,
            std::move(request));
  }

  void respond(Response response, bool keep_alive, Request request) {
    bool head = request.method == "HEAD";
    response_.emplace();
    auto& out = *response_;
    out.version(version_ == 10 ? 10 : 11);
    out.result(static_cast<unsigned>(response.status));
    out.set(bhttp::field::server, "carillon");
    if (!response.content_type.empty() && safe_header_text(response.content_type)) {
      out.set(bhttp::field::content_type, response.content_type);
    }
    out.set("X-Content-Type-Options", "nosniff");
    out.set(bhttp::field::strict_transport_security, "max-age=31536000");
    for (const auto& [name, value] : response.headers) {
      if (name.empty() || !safe_header_text(name) || !safe_header_text(value) || name.find(':') != std::string::npos) {
        core_.log->error("dropped unsafe response header path={} name={}", request.path, name);
        continue;
      }
      out.insert(name, value);
    }
    keep_alive = keep_alive && !stopping_;
    out.keep_alive(keep_alive);
    std::size_t size = response.body.size();
    if (!head) out.body() = std::move(response.body);
    // RFC 9110: no Content-Length on 1xx, 204 and 304.
    if (response.status >= 200 && response.status != 204 && response.status != 304) out.content_length(size);
    core_.report(request, response.status, started_);

    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    bhttp::async_write(stream_, out, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      self->busy_ = false;
      self->response_.reset();
      if (ec) {
        self->close_socket();
        return;
      }
      if (!keep_alive || self->stopping_) {
        self->close();
        return;
      }
      self->read_header();
    });
  }

  void close() {
    if (drain_) {
      drain_ = false;
      drain_deadline_ = Clock::now() + kDrainTimeout;
      drain();
      return;
    }
    beast::get_lowest_layer(stream_).expires_after(kShutdownTimeout);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close_socket(); });
  }

  void drain() {
    buffer_.consume(buffer_.size());
    // Stops when the peer closes, goes quiet, or keeps sending for too long.
    beast::get_lowest_layer(stream_).expires_after(kDrainIdle);
    stream_.async_read_some(buffer_.prepare(64 * 1024), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kDrainMax || Clock::now() > self->drain_deadline_) {
        self->close_socket();
        return;
      }
      self->drain();
    });
  }

  void close_socket() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  void upgrade(const Router::WebSocketOpen& open, std::optional<SplitTarget> split) {
    auto message = parser_->release();
    Request request = to_request(message, remote_, std::move(split));
    auto session = std::make_shared<WebSocketSession>(core_, pool_, liveness_, std::move(stream_), std::move(message),
                                                      std::move(request), started_);
    session->start(open);
    // This HttpSession ends here: its stream now belongs to the WebSocket session.
  }

  Core& core_;
  net::thread_pool& pool_;
  std::shared_ptr<Liveness> liveness_;
  TlsStream stream_;
  std::string client_cn_;
  std::string remote_;
  std::uint64_t id_ = 0;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  Clock::time_point started_ = Clock::now();
  Clock::time_point drain_deadline_;
  std::size_t drained_ = 0;
  unsigned version_ = 11;
  bool busy_ = false;
  bool drain_ = false;
  bool stopping_ = false;
};

}  // namespace

struct Server::Impl {
  Core core;
  std::shared_ptr<Liveness> liveness = std::make_shared<Liveness>();
  ssl::context tls{ssl::context::tls_server};
  net::io_context io{1};
  net::thread_pool pool;
  std::optional<tcp::acceptor> acceptor;
  std::thread io_thread;
  std::atomic<unsigned short> port{0};
  bool started = false;
  bool stopped = false;

  Impl(ServerOptions options, const Router& router)
      : core(std::move(options), router), pool(static_cast<std::size_t>(std::max(1, core.options.threads))) {}

  Status configure_tls() {
    const auto& options = core.options;
    if (options.cert_pem.empty() || options.key_pem.empty()) {
      return fail(Errc::invalid_argument, "a TLS certificate and key are required", "cert_pem");
    }
    beast::error_code ec;
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                        ssl::context::no_compression,
                    ec);
    if (ec) return fail(Errc::internal, "tls options: " + ec.message());
    if (SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION) != 1) {
      return fail(Errc::internal, "cannot set the minimum TLS version");
    }
    std::string chain = options.cert_pem;
    if (!options.ca_chain_pem.empty()) chain += "\n" + options.ca_chain_pem;
    tls.use_certificate_chain(net::buffer(chain), ec);
    if (ec) return fail(Errc::invalid_argument, "tls certificate: " + ec.message(), "cert_pem");
    tls.use_private_key(net::buffer(options.key_pem), ssl::context::pem, ec);
    if (ec) return fail(Errc::invalid_argument, "tls key: " + ec.message(), "key_pem");
    if (SSL_CTX_check_private_key(tls.native_handle()) != 1) {
      return fail(Errc::invalid_argument, "tls key does not match the certificate", "key_pem");
    }
    if (!options.client_ca_pem.empty()) {
      tls.add_certificate_authority(net::buffer(options.client_ca_pem), ec);
      if (ec) return fail(Errc::invalid_argument, "client CA: " + ec.message(), "client_ca_pem");
      tls.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
      if (ec) return fail(Errc::internal, "tls verify mode: " + ec.message());
    }
    return {};
  }

  Status listen() {
    beast::error_code ec;
    auto address = net::ip::make_address(core.options.address, ec);
    if (ec) return fail(Errc::invalid_argument, "bad listen address: " + core.options.address, "address");
    tcp::endpoint endpoint(address, core.options.port);
    acceptor.emplace(net::make_strand(io));
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(Errc::unavailable, "cannot listen on " + core.options.address + ":" +
                                         std::to_string(core.options.port) + ": " + ec.message());
    }
    port = acceptor->local_endpoint().port();
    return {};
  }

  void accept() {
    acceptor->async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (!ec) {
        // A response leaves as several TLS records; with Nagle on, the last one waits for the
        // client's delayed ACK (40 ms on Linux), which made every keep-alive reply of more than
        // a few KiB take 44 ms (BENCHMARKS.md, device list).
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<HttpSession>(core, pool, liveness, std::move(socket), tls)->start();
      } else {
        core.log->warn("accept failed error={}", ec.message());
      }
      accept();
    });
  }

  void stop() {
    if (!started || stopped) return;
    stopped = true;
    std::vector<std::shared_ptr<Tracked>> open;
    {
      std::lock_guard lock(core.mutex);
      core.stopping = true;
      for (auto& [id, weak] : core.sessions) {
        if (auto session = weak.lock()) open.push_back(std::move(session));
      }
    }
    net::post(acceptor->get_executor(), [this] {
      beast::error_code ignored;
      acceptor->close(ignored);
    });
    for (auto& session : open) session->shut_down();
    open.clear();
    {
      // Gives WebSocket close handshakes and in-flight responses a moment to finish.
      std::unique_lock lock(core.mutex);
      core.drained.wait_for(lock, std::chrono::seconds(3), [this] { return core.sessions.empty(); });
    }
    {
      std::lock_guard lock(liveness->mutex);
      liveness->alive = false;
    }
    pool.join();
    io.stop();
    if (io_thread.joinable()) io_thread.join();
  }
};

Server::Server(ServerOptions options, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(options), router)) {}

Server::~Server() { stop(); }

Status Server::start() {
  if (impl_->started) return fail(Errc::conflict, "server already started");
  if (auto tls = impl_->configure_tls(); !tls) return tls;
  if (auto listening = impl_->listen(); !listening) return listening;
  impl_->started = true;
  impl_->accept();
  impl_->io_thread = std::thread([this] {
    try {
      impl_->io.run();
    } catch (const std::exception& e) {
      // Handlers do not throw by design; reaching this is a bug worth crashing loudly for.
      impl_->core.log->critical("io thread died what={}", e.what());
      std::terminate();
    }
  });
  impl_->core.log->info("listening address={} port={}", impl_->core.options.address, impl_->port.load());
  return {};
}

unsigned short Server::port() const { return impl_->port.load(); }

void Server::stop() { impl_->stop(); }

}  // namespace carillon::http
