#include "sip/kamailio_rpc.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace carillon::sip {
namespace {

using Clock = std::chrono::steady_clock;

Status to_status(const Result<nlohmann::json>& r) {
  if (!r) return tl::unexpected(r.error());
  return {};
}

}  // namespace

KamailioRpc::KamailioRpc(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

KamailioRpc::~KamailioRpc() {
  if (fd_ >= 0) ::close(fd_);
}

Status KamailioRpc::ensure_socket() {
  if (fd_ >= 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) {
    return fail(Errc::invalid_argument, "kamailio rpc host must be an IPv4 address: " + host_, "host");
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Errc::internal, std::string("socket: ") + std::strerror(errno));
  // A connected UDP socket reports ICMP port-unreachable as ECONNREFUSED: Kamailio is down.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return fail(Errc::unavailable, std::string("kamailio rpc connect: ") + std::strerror(errno));
  }
  fd_ = fd;
  return {};
}

Status KamailioRpc::send_request(const std::string& method, const nlohmann::json& params, std::uint64_t id) {
  const std::string body =
      nlohmann::json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}, {"id", id}}.dump();
  if (::send(fd_, body.data(), body.size(), 0) < 0) {
    const int err = errno;
    if (err == ECONNREFUSED) return fail(Errc::unavailable, "kamailio rpc: connection refused");
    return fail(Errc::unavailable, std::string("kamailio rpc send: ") + std::strerror(err));
  }
  return {};
}

Result<nlohmann::json> KamailioRpc::receive_reply(std::uint64_t id, Clock::time_point deadline) {
  std::string buffer(65536, '\0');
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return fail(Errc::unavailable, "kamailio rpc: no reply within timeout");
    pollfd pfd{fd_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return fail(Errc::unavailable, "kamailio rpc: no reply within timeout");
    ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNREFUSED) return fail(Errc::unavailable, "kamailio rpc: connection refused");
      return fail(Errc::unavailable, std::string("kamailio rpc recv: ") + std::strerror(errno));
    }
    auto reply = nlohmann::json::parse(buffer.begin(), buffer.begin() + n, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) return fail(Errc::internal, "kamailio rpc: reply is not JSON");
    auto rid = reply.find("id");
    if (rid == reply.end() || !rid->is_number_unsigned() || rid->get<std::uint64_t>() != id) {
      continue;  // a late reply to an earlier request that timed out
    }
    if (auto err = reply.find("error"); err != reply.end()) {
      const int code = err->value("code", 0);
      std::string message = err->value("message", std::string("unknown error"));
      if (code == 404) return fail(Errc::not_found, "kamailio rpc: " + message);
      if (code == 400) return fail(Errc::invalid_argument, "kamailio rpc: " + message);
      return fail(Errc::internal, "kamailio rpc error " + std::to_string(code) + ": " + message);
    }
    auto result = reply.find("result");
    if (result == reply.end()) return nlohmann::json();
    return *result;
  }
}

Result<nlohmann::json> KamailioRpc::call(const std::string& method, const nlohmann::json& params) {
  std::lock_guard lock(mutex_);
  if (auto ok = ensure_socket(); !ok) return tl::unexpected(ok.error());
  const std::uint64_t id = next_id_++;
  if (auto ok = send_request(method, params, id); !ok) return tl::unexpected(ok.error());
  return receive_reply(id, Clock::now() + timeout_);
}

Status KamailioRpc::set(const std::string& table, const std::string& key, const std::string& value) {
  return to_status(call("htable.sets", {table, key, value}));
}

Status KamailioRpc::set_int(const std::string& table, const std::string& key, std::int64_t value) {
  return to_status(call("htable.seti", {table, key, value}));
}

Status KamailioRpc::set_with_expiry(const std::string& table, const std::string& key, const std::string& value,
                                    int seconds) {
  if (seconds <= 0) return fail(Errc::invalid_argument, "expiry must be positive", "seconds");
  return to_status(call("htable.setxs", {table, key, value, seconds}));
}

Status KamailioRpc::remove(const std::string& table, const std::string& key) {
  return to_status(call("htable.delete", {table, key}));
}

Status KamailioRpc::flush(const std::string& table) { return to_status(call("htable.flush", {table})); }

Status KamailioRpc::set_many(const std::string& table, const std::vector<std::pair<std::string, std::string>>& entries) {
  // jsonrpcs has no batch arrays; a window of datagrams in flight keeps its receive buffer
  // from overflowing while still not paying one round trip per key.
  constexpr std::size_t kWindow = 32;
  std::lock_guard lock(mutex_);
  if (auto ok = ensure_socket(); !ok) return ok;
  std::size_t sent = 0;
  std::size_t done = 0;
  std::vector<std::uint64_t> ids;
  ids.reserve(entries.size());
  while (done < entries.size()) {
    while (sent < entries.size() && sent - done < kWindow) {
      const std::uint64_t id = next_id_++;
      ids.push_back(id);
      const auto& [key, value] = entries[sent];
      if (auto ok = send_request("htable.sets", {table, key, value}, id); !ok) return ok;
      ++sent;
    }
    // jsonrpcs has one datagram worker, so replies come back in request order.
    auto reply = receive_reply(ids[done], Clock::now() + timeout_);
    if (!reply) return tl::unexpected(reply.error());
    ++done;
  }
  return {};
}

}  // namespace carillon::sip
