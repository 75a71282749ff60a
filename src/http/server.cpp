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
#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.hpp"
#include "common/openssl.hpp"
#include "http/problem.hpp"
#include "http/ranges.hpp"
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
namespace fs = std::filesystem;

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

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

// The temporary file of one streamed upload. Whatever is still at its path when this is destroyed
// is removed: after a 413, a disconnect, an error, or once the handler (which may have renamed the
// file into place) has returned.
class UploadFile {
 public:
  static Result<std::unique_ptr<UploadFile>> create(const fs::path& directory) {
    std::string pattern = (directory / ".upload-XXXXXX").string();
    // mkstemp: unpredictable name, O_EXCL, mode 0600.
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) return fail(Errc::unavailable, "cannot create an upload file: " + errno_text(errno));
    std::unique_ptr<UploadFile> file(new UploadFile(pattern, fd));
    if (!file->digest_ || EVP_DigestInit_ex(file->digest_.get(), EVP_sha256(), nullptr) != 1) {
      return openssl::failure("sha256 init");
    }
    return file;
  }

  UploadFile(const UploadFile&) = delete;
  UploadFile& operator=(const UploadFile&) = delete;
  ~UploadFile() {
    close_fd();
    std::error_code ignored;
    fs::remove(path_, ignored);
  }

  // False with errno set when the disk refuses the data.
  bool append(const char* data, std::size_t size) {
    if (EVP_DigestUpdate(digest_.get(), data, size) != 1) {
      errno = EIO;
      return false;
    }
    while (size > 0) {
      ssize_t written = ::write(fd_, data, size);
      if (written < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data += written;
      size -= static_cast<std::size_t>(written);
      size_ += static_cast<std::uint64_t>(written);
    }
    return true;
  }

  // Closes the file and returns the lower-case hex SHA-256 of everything appended.
  Result<std::string> finish() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(digest_.get(), digest, &length) != 1) return openssl::failure("sha256 final");
    if (!close_fd()) return fail(Errc::unavailable, "cannot close the upload file: " + errno_text(errno));
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
      hex.push_back(kHex[digest[i] >> 4]);
      hex.push_back(kHex[digest[i] & 0x0f]);
    }
    return hex;
  }

  const fs::path& path() const { return path_; }
  std::uint64_t size() const { return size_; }

 private:
  UploadFile(std::string path, int fd) : path_(std::move(path)), fd_(fd), digest_(EVP_MD_CTX_new()) {}

  bool close_fd() {
    if (fd_ < 0) return true;
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0;
  }

  fs::path path_;
  int fd_ = -1;
  openssl::MdCtxPtr digest_;
  std::uint64_t size_ = 0;
};

// Beast body that appends the parsed (de-chunked) body to an UploadFile as it arrives, so memory
// use does not depend on the upload's size.
struct UploadBody {
  using value_type = std::unique_ptr<UploadFile>;

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(bhttp::header<isRequest, Fields>&, value_type& file) : file_(file) {}

    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }

    template <class Buffers>
    std::size_t put(const Buffers& buffers, beast::error_code& ec) {
      std::size_t taken = 0;
      for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers); ++it) {
        net::const_buffer buffer = *it;
        if (!file_->append(static_cast<const char*>(buffer.data()), buffer.size())) {
          ec = beast::error_code(errno, boost::system::generic_category());
          return taken;
        }
        taken += buffer.size();
      }
      ec = {};
      return taken;
    }

    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& file_;
  };
};

// An open file and the byte range of it to send.
class FileRange {
 public:
  FileRange() = default;
  FileRange(int fd, std::uint64_t offset, std::uint64_t length) : fd_(fd), offset_(offset), length_(length) {}
  FileRange(FileRange&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), offset_(other.offset_), length_(other.length_) {}
  FileRange& operator=(FileRange&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
      offset_ = other.offset_;
      length_ = other.length_;
    }
    return *this;
  }
  FileRange(const FileRange&) = delete;
  FileRange& operator=(const FileRange&) = delete;
  ~FileRange() { reset(); }

  // Narrows the range to [offset, offset + length) of the file.
  void select(std::uint64_t offset, std::uint64_t length) {
    offset_ = offset;
    length_ = length;
  }
  int fd() const { return fd_; }
  std::uint64_t offset() const { return offset_; }
  std::uint64_t length() const { return length_; }

 private:
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  std::uint64_t offset_ = 0;
  std::uint64_t length_ = 0;
};

// Beast body that sends a FileRange with pread in 64 KiB pieces (Beast 1.74's file_body can only
// send from the current position to the end of the file).
struct FileRangeBody {
  using value_type = FileRange;

  static std::uint64_t size(const value_type& range) { return range.length(); }

  class writer {
   public:
    using const_buffers_type = net::const_buffer;

    template <bool isRequest, class Fields>
    writer(const bhttp::header<isRequest, Fields>&, const value_type& range)
        : range_(range), position_(range.offset()), remaining_(range.length()) {}

    void init(beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      if (remaining_ == 0) return boost::none;
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, sizeof buffer_));
      ssize_t got = 0;
      do {
        got = ::pread(range_.fd(), buffer_, want, static_cast<off_t>(position_));
      } while (got < 0 && errno == EINTR);
      if (got < 0) {
        ec = beast::error_code(errno, boost::system::generic_category());
        return boost::none;
      }
      if (got == 0) {
        // The file shrank after Content-Length was sent: the connection must not pretend success.
        ec = bhttp::error::short_read;
        return boost::none;
      }
      position_ += static_cast<std::uint64_t>(got);
      remaining_ -= static_cast<std::uint64_t>(got);
      return std::make_pair(net::const_buffer(buffer_, static_cast<std::size_t>(got)), remaining_ > 0);
    }

   private:
    const value_type& range_;
    std::uint64_t position_;
    std::uint64_t remaining_;
    char buffer_[64 * 1024];
  };
};

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

  const UploadRoute* upload_route_for(const std::string& method, const std::string& path) const {
    for (const auto& route : options.upload_routes) {
      if (route.method == method && starts_with(path, route.path_prefix)) return &route;
    }
    return nullptr;
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

Request to_request(const bhttp::request_header<>& message, std::string body, const std::string& remote,
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
  request.body_size = body.size();
  request.body = std::move(body);
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
      // response is written (see on_written). Uploads and file downloads can take minutes: they
      // are cut off.
      if (!self->busy_ || self->upload_parser_ || self->streaming_) beast::get_lowest_layer(self->stream_).close();
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
    limit_ = core_.options.body_limit;
    if (ec) {
      read_failed(ec);
      return;
    }
    busy_ = true;
    auto& message = parser_->get();
    version_ = message.version();
    std::string target(message.target());
    const UploadRoute* upload_route = nullptr;
    if (auto split = split_target(target)) {
      upload_route = core_.upload_route_for(std::string(message.method_string()), split->path);
    }
    limit_ = upload_route ? upload_route->max_bytes : core_.limit_for(target);
    if (auto length = parser_->content_length(); length && *length > limit_) {
      answer_too_large();
      return;
    }
    parser_->body_limit(limit_);

    if (websocket::is_upgrade(message)) {
      auto split = split_target(target);
      if (split) {
        if (const auto* open = core_.router.find_websocket(split->path)) {
          upgrade(*open, std::move(split));
          return;
        }
      }
    }
    if (upload_route) {
      auto file = UploadFile::create(upload_route->directory);
      if (!file) {
        core_.log->error("upload refused path={} what={}", target, file.error().message);
        drain_ = true;
        respond(problem(file.error()), false, header_request());
        return;
      }
      upload_parser_.emplace(std::move(*parser_), std::move(*file));
      parser_.reset();
      upload_parser_->body_limit(limit_);
    }
    if (lower(std::string(message_header()[bhttp::field::expect])) == "100-continue") {
      auto interim = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, version_);
      beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
      bhttp::async_write(stream_, *interim, [self = shared_from_this(), interim](beast::error_code ec, std::size_t) {
        if (ec) {
          self->upload_parser_.reset();
          self->close_socket();
          return;
        }
        self->read_body();
      });
      return;
    }
    read_body();
  }

  const bhttp::request_header<>& message_header() {
    if (upload_parser_) return upload_parser_->get().base();
    return parser_->get().base();
  }

  // The request as far as its header goes (for problems answered before the body is read).
  Request header_request() {
    if (!upload_parser_ && !parser_) return Request{};
    const auto& header = message_header();
    return to_request(header, {}, remote_, split_target(std::string(header.target())));
  }

  void read_body() {
    if (upload_parser_) {
      read_upload();
      return;
    }
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_body(ec);
    });
  }

  // Piece by piece so the idle timeout applies to each read, not to the whole (large) body.
  void read_upload() {
    if (stopping_) {
      upload_parser_.reset();
      close_socket();
      return;
    }
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    bhttp::async_read_some(stream_, buffer_, *upload_parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             if (ec) {
                               self->upload_failed(ec);
                               return;
                             }
                             if (self->upload_parser_->is_done()) {
                               self->on_upload();
                               return;
                             }
                             self->read_upload();
                           });
  }

  void upload_failed(beast::error_code ec) {
    Request request = header_request();
    // Destroying the parser removes the partial file.
    upload_parser_.reset();
    if (ec.category() == boost::system::generic_category()) {
      core_.log->error("upload write failed path={} error={}", request.path, ec.message());
      drain_ = true;
      respond(problem(Error{Errc::unavailable, "cannot store the upload: " + ec.message(), ""}), false,
              std::move(request));
      return;
    }
    if (ec == bhttp::error::body_limit) {
      answer_too_large(std::move(request));
      return;
    }
    read_failed(ec);
  }

  void on_upload() {
    auto message = upload_parser_->release();
    upload_parser_.reset();
    std::shared_ptr<UploadFile> file = std::move(message.body());
    bool keep_alive = message.keep_alive();
    auto split = split_target(std::string(message.target()));
    Request request = to_request(message.base(), {}, remote_, split);
    request.client_common_name = client_cn_;
    auto digest = file->finish();
    if (!digest) {
      core_.log->error("upload failed path={} what={}", request.path, digest.error().message);
      respond(problem(digest.error()), false, std::move(request));
      return;
    }
    request.body_file = file->path();
    request.body_size = file->size();
    request.body_sha256 = std::move(*digest);
    dispatch(std::move(request), keep_alive, std::move(file));
  }

  void read_failed(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      answer_too_large(header_request());
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
      read_failed(ec);
      return;
    }
    auto message = parser_->release();
    bool keep_alive = message.keep_alive();
    auto split = split_target(std::string(message.target()));
    Request request = to_request(message.base(), std::move(message.body()), remote_, split);
    request.client_common_name = client_cn_;
    if (!split) {
      respond(problem(Error{Errc::invalid_argument, "malformed request target", ""}), false, std::move(request));
      return;
    }
    dispatch(std::move(request), keep_alive, nullptr);
  }

  // Runs the handler on the pool, then responds on the connection's strand. An upload's file is
  // released on the pool right after the handler returns.
  void dispatch(Request request, bool keep_alive, std::shared_ptr<UploadFile> upload) {
    net::post(pool_, [self = shared_from_this(), request = std::move(request), keep_alive,
                      upload = std::move(upload)]() mutable {
      Response response = self->handle(request);
      upload.reset();
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

  void answer_too_large() { answer_too_large(header_request()); }

  void answer_too_large(Request request) {
    busy_ = true;
    // The unread body is drained after the answer (see close) so the client sees the 413
    // instead of a connection reset.
    drain_ = true;
    upload_parser_.reset();
    respond(problem(Error{Errc::too_large, "request body exceeds " + std::to_string(limit_) + " bytes", ""}), false,
            std::move(request));
  }

  template <class Message>
  void fill_header(Message& out, const Response& response, bool keep_alive, const Request& request) {
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
    out.keep_alive(keep_alive);
  }

  // `content_length` replaces the body's size (a HEAD of a file response).
  void respond(Response response, bool keep_alive, Request request,
               std::optional<std::uint64_t> content_length = std::nullopt) {
    if (!response.file.empty() && response.status == 200) {
      respond_file(std::move(response), keep_alive, std::move(request));
      return;
    }
    bool head = request.method == "HEAD";
    keep_alive = keep_alive && !stopping_;
    response_.emplace();
    auto& out = *response_;
    fill_header(out, response, keep_alive, request);
    std::uint64_t size = content_length ? *content_length : response.body.size();
    if (!head) out.body() = std::move(response.body);
    // RFC 9110: no Content-Length on 1xx, 204 and 304.
    if (response.status >= 200 && response.status != 204 && response.status != 304) out.content_length(size);
    core_.report(request, response.status, started_);

    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    bhttp::async_write(stream_, out, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      self->response_.reset();
      self->on_written(ec, keep_alive);
    });
  }

  void respond_file(Response response, bool keep_alive, Request request) {
    fs::path path = std::move(response.file);
    response.file.clear();
    response.body.clear();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat info {};
    if (fd >= 0 && (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode))) {
      ::close(fd);
      fd = -1;
    }
    if (fd < 0) {
      core_.log->warn("file response unavailable path={} file={}", request.path, path.string());
      respond(problem(Error{Errc::not_found, "no such file", ""}), keep_alive, std::move(request));
      return;
    }
    FileRange whole(fd, 0, static_cast<std::uint64_t>(info.st_size));
    std::uint64_t size = whole.length();
    std::int64_t mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
    std::string etag = quote_etag(response.etag);
    if (response.etag.empty() || !safe_header_text(etag)) etag = file_etag(size, mtime_ns);
    std::string last_modified = http_date(std::chrono::system_clock::from_time_t(info.st_mtim.tv_sec));
    response.headers.emplace_back("Accept-Ranges", "bytes");
    response.headers.emplace_back("ETag", etag);
    response.headers.emplace_back("Last-Modified", last_modified);

    RangeDecision range;
    if (request.method == "GET") {
      range = decide_range(request.header("range"), request.header("if-range"), etag, last_modified, size);
    }
    if (range.kind == RangeDecision::Kind::unsatisfiable) {
      Response refused = problem(416, "range-not-satisfiable", "Range not satisfiable",
                                 "the file has " + std::to_string(size) + " bytes");
      refused.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
      refused.headers.emplace_back("Accept-Ranges", "bytes");
      refused.headers.emplace_back("ETag", etag);
      respond(std::move(refused), keep_alive, std::move(request));
      return;
    }
    if (request.method == "HEAD") {
      respond(std::move(response), keep_alive, std::move(request), size);
      return;
    }
    FileRange part = std::move(whole);
    if (range.kind == RangeDecision::Kind::partial) {
      part.select(range.first, range.length);
      response.status = 206;
      response.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                                         std::to_string(range.first + range.length - 1) + "/" +
                                                         std::to_string(size));
    }
    keep_alive = keep_alive && !stopping_;
    file_response_.emplace();
    auto& out = *file_response_;
    fill_header(out, response, keep_alive, request);
    out.content_length(part.length());
    out.body() = std::move(part);
    core_.report(request, response.status, started_);
    streaming_ = true;
    file_serializer_.emplace(out);
    write_file_part(keep_alive);
  }

  // Piece by piece so the write timeout applies to each piece, not to the whole (large) file.
  void write_file_part(bool keep_alive) {
    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    bhttp::async_write_some(stream_, *file_serializer_,
                            [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                              if (!ec && !self->file_serializer_->is_done() && !self->stopping_) {
                                self->write_file_part(keep_alive);
                                return;
                              }
                              bool complete = !ec && self->file_serializer_->is_done();
                              self->file_serializer_.reset();
                              self->file_response_.reset();
                              self->streaming_ = false;
                              if (!complete) {
                                self->close_socket();
                                return;
                              }
                              self->on_written(ec, keep_alive);
                            });
  }

  void on_written(beast::error_code ec, bool keep_alive) {
    busy_ = false;
    if (ec) {
      close_socket();
      return;
    }
    if (!keep_alive || stopping_) {
      close();
      return;
    }
    read_header();
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
    Request request = to_request(message, {}, remote_, std::move(split));
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
  std::optional<bhttp::request_parser<UploadBody>> upload_parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  // Declared after the message so the serializer (which refers to it) is destroyed first.
  std::optional<bhttp::response<FileRangeBody>> file_response_;
  std::optional<bhttp::response_serializer<FileRangeBody>> file_serializer_;
  std::uint64_t limit_ = 0;
  Clock::time_point started_ = Clock::now();
  Clock::time_point drain_deadline_;
  std::size_t drained_ = 0;
  unsigned version_ = 11;
  bool busy_ = false;
  bool streaming_ = false;  // a file response is being written
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
