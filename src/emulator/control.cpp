#include "emulator/control.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace carillon::emulator {

using nlohmann::json;

Result<std::unique_ptr<ControlChannel>> ControlChannel::start(unsigned short port, Handler handler) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(Errc::unavailable, std::string("control socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0) {
    auto message = std::string("control port ") + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return fail(Errc::unavailable, message, "control-port");
  }
  socklen_t size = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size);
  return std::unique_ptr<ControlChannel>(new ControlChannel(fd, ntohs(addr.sin_port), std::move(handler)));
}

ControlChannel::ControlChannel(int listener, unsigned short port, Handler handler)
    : listener_(listener), port_(port), handler_(std::move(handler)) {
  acceptor_ = std::thread([this] { accept_loop(); });
}

ControlChannel::~ControlChannel() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  ::close(listener_);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.join();
}

void ControlChannel::accept_loop() {
  while (!stopping_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    connections_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void ControlChannel::serve(int fd) {
  std::string buffer;
  char chunk[4096];
  while (!stopping_) {
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    if (buffer.size() > 64 * 1024) break;  // nobody types that much: not a control client
    std::size_t end;
    while ((end = buffer.find('\n')) != std::string::npos) {
      auto line = buffer.substr(0, end);
      buffer.erase(0, end + 1);
      if (line.empty() || line == "\r") continue;
      auto request = json::parse(line, nullptr, false);
      json answer = request.is_object() ? handler_(request) : json{{"ok", false}, {"error", "send one JSON object per line"}};
      auto out = answer.dump() + "\n";
      if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) break;
    }
  }
  std::lock_guard lock(mutex_);
  connections_.erase(std::remove(connections_.begin(), connections_.end(), fd), connections_.end());
  ::close(fd);
}

}  // namespace carillon::emulator
