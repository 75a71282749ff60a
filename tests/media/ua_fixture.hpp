#pragma once
// Shared by the media integration tests: a test PKI made with the openssl CLI, and a UserAgent
// wrapper that records what its handlers saw.

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "media/user_agent.hpp"
#include "support/temp_dir.hpp"

namespace carillon::media::test {

inline void run_or_throw(const std::string& command) {
  if (std::system(("(" + command + ") >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// A CA and a leaf certificate for 127.0.0.1 signed by it, plus an unrelated CA.
struct TestPki {
  testing::TempDir dir;
  std::string ca, cert, key, other_ca, combined;

  TestPki() {
    const std::string d = dir.path().string();
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run_or_throw("openssl req -x509 " + ec + " -keyout " + d + "/ca.key -out " + d + "/ca.pem -days 2 -subj /CN=test-ca");
    run_or_throw("openssl req -x509 " + ec + " -keyout " + d + "/other.key -out " + d +
                 "/other.pem -days 2 -subj /CN=other-ca");
    std::ofstream(d + "/ext.cnf") << "subjectAltName=IP:127.0.0.1\n";
    run_or_throw("openssl req " + ec + " -keyout " + d + "/leaf.key -out " + d + "/leaf.csr -subj /CN=127.0.0.1");
    run_or_throw("openssl x509 -req -in " + d + "/leaf.csr -CA " + d + "/ca.pem -CAkey " + d + "/ca.key -CAcreateserial -out " +
                 d + "/leaf.pem -days 2 -extfile " + d + "/ext.cnf");
    run_or_throw("cat " + d + "/leaf.pem " + d + "/leaf.key > " + d + "/combined.pem");
    ca = d + "/ca.pem";
    cert = d + "/leaf.pem";
    key = d + "/leaf.key";
    other_ca = d + "/other.pem";
    combined = d + "/combined.pem";
  }

  TlsSettings tls() const { return TlsSettings{ca, cert, key, "127.0.0.1"}; }
};

// A UserAgent plus everything its handlers reported.
class Peer {
 public:
  explicit Peer(const TestPki& pki, std::vector<Codec> codecs = {Codec::opus, Codec::g722, Codec::pcma, Codec::pcmu},
                bool auto_answer = true, UaSettings settings = {}) {
    settings.tls = pki.tls();
    settings.codecs = std::move(codecs);
    auto_answer_ = auto_answer;
    Handlers handlers;
    handlers.on_incoming = [this](const CallInfo& info) {
      {
        std::lock_guard lock(mutex_);
        incoming_.push_back(info.id);
        last_[info.id] = info;
      }
      changed_.notify_all();
      if (auto_answer_) {
        auto status = ua_->answer(info.id);
        EXPECT_TRUE(status) << status.error().message;
      }
    };
    handlers.on_call_state = [this](const CallInfo& info) {
      {
        std::lock_guard lock(mutex_);
        last_[info.id] = info;
        history_[info.id].push_back(info.state);
      }
      changed_.notify_all();
    };
    handlers.on_dtmf = [this](CallId id, char digit) {
      {
        std::lock_guard lock(mutex_);
        digits_[id] += digit;
      }
      changed_.notify_all();
    };
    handlers.on_registration = [this](bool ok, int code, std::string) {
      {
        std::lock_guard lock(mutex_);
        registrations_.emplace_back(ok, code);
      }
      changed_.notify_all();
    };
    auto ua = UserAgent::start(std::move(settings), std::move(handlers));
    if (!ua) throw std::runtime_error("UserAgent::start: " + ua.error().message);
    ua_ = std::move(*ua);
  }

  UserAgent& ua() { return *ua_; }
  std::string uri() const { return "sip:peer@127.0.0.1:" + std::to_string(ua_->sip_port()) + ";transport=tls"; }

  // `pred` runs without the lock held (it may call the accessors or the UserAgent).
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::unique_lock lock(mutex_);
      changed_.wait_for(lock, std::chrono::milliseconds(20));
    }
    return true;
  }
  bool wait_state(CallId id, CallState state, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return wait([&] { return last(id).state == state && last(id).id == id; }, timeout);
  }
  bool wait_incoming(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return wait([&] { return incoming().size() >= n; }, timeout);
  }
  CallInfo last(CallId id) {
    std::lock_guard lock(mutex_);
    return last_[id];
  }
  std::vector<CallId> incoming() {
    std::lock_guard lock(mutex_);
    return incoming_;
  }
  std::string digits(CallId id) {
    std::lock_guard lock(mutex_);
    return digits_[id];
  }
  std::vector<std::pair<bool, int>> registrations() {
    std::lock_guard lock(mutex_);
    return registrations_;
  }

 private:
  bool auto_answer_ = true;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<CallId> incoming_;
  std::map<CallId, CallInfo> last_;
  std::map<CallId, std::vector<CallState>> history_;
  std::map<CallId, std::string> digits_;
  std::vector<std::pair<bool, int>> registrations_;
  std::unique_ptr<UserAgent> ua_;  // last: stopped before the members its handlers use
};

}  // namespace carillon::media::test
