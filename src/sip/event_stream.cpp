#include "sip/event_stream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace carillon::sip {
namespace {

struct KindName {
  EdgeEventKind kind;
  std::string_view name;
};

constexpr std::array<KindName, 7> kKinds{{
    {EdgeEventKind::registered, "register"},
    {EdgeEventKind::call_start, "call.start"},
    {EdgeEventKind::leg_ringing, "leg.ringing"},
    {EdgeEventKind::leg_answered, "leg.answered"},
    {EdgeEventKind::leg_failed, "leg.failed"},
    {EdgeEventKind::call_answered, "call.answered"},
    {EdgeEventKind::call_end, "call.end"},
}};

Status read_string(const nlohmann::json& doc, const char* name, std::string& out) {
  auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return {};
  if (!it->is_string()) return fail(Errc::invalid_argument, std::string(name) + " must be a string", name);
  out = it->get<std::string>();
  return {};
}

template <class Int>
Status read_int(const nlohmann::json& doc, const char* name, Int& out) {
  auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return {};
  if (!it->is_number_integer()) return fail(Errc::invalid_argument, std::string(name) + " must be an integer", name);
  out = it->get<Int>();
  return {};
}

}  // namespace

std::string_view to_string(EdgeEventKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

Result<EdgeEvent> parse_edge_event(std::string_view json) {
  auto doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return fail(Errc::invalid_argument, "event is not a JSON object");
  auto name = doc.find("event");
  if (name == doc.end() || !name->is_string()) return fail(Errc::invalid_argument, "event name missing", "event");
  const std::string event_name = name->get<std::string>();
  auto kind = std::find_if(kKinds.begin(), kKinds.end(), [&](const KindName& k) { return k.name == event_name; });
  if (kind == kKinds.end()) return fail(Errc::invalid_argument, "unknown event " + event_name, "event");
  EdgeEvent event;
  event.kind = kind->kind;
  for (Status s : {read_int(doc, "ts", event.ts), read_string(doc, "call_id", event.call_id),
                   read_string(doc, "user", event.user), read_string(doc, "member", event.member),
                   read_string(doc, "contact", event.contact), read_int(doc, "expires", event.expires),
                   read_string(doc, "caller", event.caller), read_string(doc, "target", event.target),
                   read_string(doc, "company", event.company), read_int(doc, "code", event.code),
                   read_string(doc, "reason", event.reason), read_string(doc, "ua", event.user_agent),
                   read_string(doc, "src", event.source)}) {
    if (!s) return tl::unexpected(s.error());
  }
  if (event.ts <= 0) return fail(Errc::invalid_argument, "ts missing", "ts");
  return event;
}

Result<std::optional<std::string>> NetstringDecoder::next() {
  std::size_t colon = buffer_.find(':');
  if (colon == std::string::npos) {
    // A length prefix longer than the largest allowed payload's digits is garbage, not "partial".
    if (buffer_.size() > 20) return fail(Errc::invalid_argument, "netstring length prefix too long");
    if (!std::all_of(buffer_.begin(), buffer_.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return fail(Errc::invalid_argument, "netstring length is not a number");
    }
    return std::optional<std::string>();
  }
  if (colon == 0 || colon > 20 ||
      !std::all_of(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(colon),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return fail(Errc::invalid_argument, "netstring length is not a number");
  }
  std::size_t length = std::stoull(buffer_.substr(0, colon));
  if (length > max_payload_) return fail(Errc::invalid_argument, "netstring payload too large");
  if (buffer_.size() < colon + 1 + length + 1) return std::optional<std::string>();
  if (buffer_[colon + 1 + length] != ',') return fail(Errc::invalid_argument, "netstring not terminated by ','");
  std::string payload = buffer_.substr(colon + 1, length);
  buffer_.erase(0, colon + 1 + length + 1);
  return std::optional<std::string>(std::move(payload));
}

EventStream::EventStream(Options options, Handler on_event, ConnectedHandler on_connected)
    : options_(std::move(options)), on_event_(std::move(on_event)), on_connected_(std::move(on_connected)) {}

EventStream::~EventStream() { stop(); }

void EventStream::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void EventStream::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  connected_ = false;
}

bool EventStream::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return connected_.load() || stopping_.load(); }) && connected_.load();
}

void EventStream::run() {
  auto logger = log::get("sip");
  auto backoff = options_.initial_backoff;
  while (!stopping_) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(options_.port);
    bool ok = fd >= 0 && ::inet_pton(AF_INET, options_.host.c_str(), &addr.sin_addr) == 1 &&
              ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (ok) {
      backoff = options_.initial_backoff;
      logger->info("evapi connected host={} port={}", options_.host, options_.port);
      if (on_connected_) on_connected_();
      {
        std::lock_guard lock(mutex_);
        connected_ = true;
      }
      cv_.notify_all();
      read_loop(fd);
      connected_ = false;
      if (!stopping_) logger->warn("evapi connection lost host={} port={}", options_.host, options_.port);
    }
    if (fd >= 0) ::close(fd);
    if (stopping_) break;
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, backoff, [this] { return stopping_.load(); });
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void EventStream::read_loop(int fd) {
  auto logger = log::get("sip");
  NetstringDecoder decoder;
  std::array<char, 16384> buffer{};
  while (!stopping_) {
    pollfd pfd{fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, 100);  // wakes up regularly to notice stop()
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) continue;
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) return;
    decoder.feed({buffer.data(), static_cast<std::size_t>(n)});
    while (true) {
      auto payload = decoder.next();
      if (!payload) {
        logger->error("evapi stream broken, reconnecting: {}", payload.error().message);
        return;
      }
      if (!*payload) break;
      auto event = parse_edge_event(**payload);
      if (!event) {
        logger->warn("evapi event skipped: {} field={}", event.error().message, event.error().field);
        continue;
      }
      on_event_(*event);
    }
  }
}

}  // namespace carillon::sip
