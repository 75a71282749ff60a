#pragma once
// A small SIP user agent server on UDP for the edge tests: every registered test member's contact
// points here, and it answers per member (ring only, answer after a delay, busy). SIPp cannot do
// this: the branches of one forked call share a Call-ID, which SIPp takes for one call.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace carillon::sip::testing {

class SipUas {
 public:
  enum class Behavior { ring, answer, busy };

  SipUas() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("SipUas: bind failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~SipUas() {
    stopping_ = true;
    thread_.join();
    ::close(fd_);
  }
  SipUas(const SipUas&) = delete;
  SipUas& operator=(const SipUas&) = delete;

  unsigned short port() const { return port_; }
  std::string contact_host_port() const { return "127.0.0.1:" + std::to_string(port_); }

  // Members not configured ring forever. `delay` is the time from INVITE to 200 (answer).
  void set_behavior(const std::string& user, Behavior behavior,
                    std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    std::lock_guard lock(mutex_);
    behaviors_[user] = {behavior, delay};
  }
  int invites(const std::string& user) const { return count(invites_, user); }
  int cancels(const std::string& user) const { return count(cancels_, user); }
  int byes(const std::string& user) const { return count(byes_, user); }
  std::string last_offer(const std::string& user) const {
    std::lock_guard lock(mutex_);
    auto it = offers_.find(user);
    return it == offers_.end() ? std::string() : it->second;
  }

 private:
  struct Message {
    std::string start_line;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string header(const std::string& name) const {
      for (const auto& [n, v] : headers) {
        if (n == name) return v;
      }
      return {};
    }
  };
  struct Pending {
    Message invite;
    sockaddr_in from{};
    std::string to_tag;
    std::chrono::steady_clock::time_point answer_at;
    bool answered = false;
    bool done = false;
  };

  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static std::string canonical(const std::string& name) {
    const std::string l = lower(name);
    if (l == "v") return "via";
    if (l == "f") return "from";
    if (l == "t") return "to";
    if (l == "i") return "call-id";
    if (l == "m") return "contact";
    if (l == "l") return "content-length";
    if (l == "c") return "content-type";
    return l;
  }
  static Message parse(const std::string& raw) {
    Message m;
    std::size_t body_at = raw.find("\r\n\r\n");
    std::string head = raw.substr(0, body_at);
    if (body_at != std::string::npos) m.body = raw.substr(body_at + 4);
    std::istringstream in(head);
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    m.start_line = line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      m.headers.emplace_back(canonical(line.substr(0, colon)), value);
    }
    return m;
  }
  static std::string user_of(const Message& m) {
    // "INVITE sip:user@host:port SIP/2.0"
    auto sip = m.start_line.find("sip:");
    auto at = m.start_line.find('@', sip);
    if (sip == std::string::npos || at == std::string::npos) return {};
    return m.start_line.substr(sip + 4, at - sip - 4);
  }
  static std::string branch_of(const Message& m) {
    std::string via = m.header("via");
    auto b = via.find("branch=");
    if (b == std::string::npos) return via;
    return via.substr(b + 7, via.find_first_of(";,", b + 7) - b - 7);
  }
  int count(const std::map<std::string, int>& counts, const std::string& user) const {
    std::lock_guard lock(mutex_);
    auto it = counts.find(user);
    return it == counts.end() ? 0 : it->second;
  }

  std::string response(const Message& req, int code, const std::string& reason, const std::string& to_tag,
                       const std::string& body = {}) const {
    std::string out = "SIP/2.0 " + std::to_string(code) + " " + reason + "\r\n";
    for (const auto& [n, v] : req.headers) {
      if (n == "via") out += "Via: " + v + "\r\n";
    }
    if (code > 100 && code < 300) {
      for (const auto& [n, v] : req.headers) {
        if (n == "record-route") out += "Record-Route: " + v + "\r\n";
      }
    }
    out += "From: " + req.header("from") + "\r\n";
    std::string to = req.header("to");
    if (!to_tag.empty() && to.find("tag=") == std::string::npos) to += ";tag=" + to_tag;
    out += "To: " + to + "\r\n";
    out += "Call-ID: " + req.header("call-id") + "\r\n";
    out += "CSeq: " + req.header("cseq") + "\r\n";
    if (code > 100 && code < 300) out += "Contact: <sip:" + user_of(req) + "@" + contact_host_port() + ">\r\n";
    if (!body.empty()) out += "Content-Type: application/sdp\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return out;
  }

  // PCMA answer; for an SRTP offer the first offered crypto suite with our own key.
  static std::string answer_sdp(const std::string& offer) {
    std::string proto = offer.find("RTP/SAVP") != std::string::npos ? "RTP/SAVP" : "RTP/AVP";
    std::string sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 " +
                      proto + " 8\r\na=rtpmap:8 PCMA/8000\r\n";
    auto crypto = offer.find("a=crypto:");
    if (crypto != std::string::npos) {
      std::istringstream in(offer.substr(crypto + 9));
      std::string tag, suite;
      in >> tag >> suite;
      sdp += "a=crypto:" + tag + " " + suite + " inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIz\r\n";
    }
    return sdp;
  }

  void send_to(const std::string& text, const sockaddr_in& to) {
    ::sendto(fd_, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  }

  void run() {
    std::string buffer(65536, '\0');
    while (!stopping_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) > 0) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(fd_, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0) handle(parse(buffer.substr(0, static_cast<std::size_t>(n))), from);
      }
      answer_due();
    }
  }

  void handle(const Message& m, const sockaddr_in& from) {
    if (m.start_line.rfind("SIP/2.0", 0) == 0) return;  // responses (none expected)
    const std::string method = m.start_line.substr(0, m.start_line.find(' '));
    const std::string key = m.header("call-id") + "|" + branch_of(m);
    std::lock_guard lock(mutex_);
    if (method == "INVITE") {
      auto [it, fresh] = pending_.try_emplace(key);
      Pending& p = it->second;
      const std::string user = user_of(m);
      if (fresh) {
        p.invite = m;
        p.from = from;
        p.to_tag = "uas" + std::to_string(++tags_);
        ++invites_[user];
        offers_[user] = m.body;
      }
      auto b = behaviors_.find(user);
      const Behavior behavior = b == behaviors_.end() ? Behavior::ring : b->second.first;
      if (behavior == Behavior::busy) {
        send_to(response(m, 486, "Busy Here", p.to_tag), from);
        p.done = true;
        return;
      }
      send_to(response(m, 180, "Ringing", p.to_tag), from);
      if (fresh && behavior == Behavior::answer) p.answer_at = std::chrono::steady_clock::now() + b->second.second;
      if (behavior == Behavior::answer) p.answered = false;
    } else if (method == "CANCEL") {
      ++cancels_[user_of(m)];
      send_to(response(m, 200, "OK", ""), from);
      auto it = pending_.find(key);
      if (it != pending_.end() && !it->second.done) {
        it->second.done = true;
        send_to(response(it->second.invite, 487, "Request Terminated", it->second.to_tag), it->second.from);
      }
    } else if (method == "BYE") {
      ++byes_[user_of(m)];
      send_to(response(m, 200, "OK", ""), from);
    } else if (method != "ACK") {
      send_to(response(m, 200, "OK", ""), from);
    }
  }

  void answer_due() {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    for (auto& [key, p] : pending_) {
      if (p.done || p.answered || p.answer_at == std::chrono::steady_clock::time_point{} || p.answer_at > now) continue;
      p.answered = true;
      p.done = true;
      send_to(response(p.invite, 200, "OK", p.to_tag, answer_sdp(p.invite.body)), p.from);
    }
  }

  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<std::string, std::pair<Behavior, std::chrono::milliseconds>> behaviors_;
  std::map<std::string, Pending> pending_;
  std::map<std::string, int> invites_, cancels_, byes_;
  std::map<std::string, std::string> offers_;
  int tags_ = 0;
};

}  // namespace carillon::sip::testing
