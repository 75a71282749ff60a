#include "support/rtpengine_server.hpp"

#include <stdexcept>
#include <thread>

namespace carillon::testing {

using namespace std::chrono_literals;

RtpengineServer::RtpengineServer(const TempDir& dir, const sip::EdgeSettings& settings)
    : log_path_(dir.path() / "rtpengine.log") {
  sip::EdgeSettings s = settings;
  s.rtpengine_log_level = 6;
  process_ = ChildProcess(sip::rtpengine_arguments(s), log_path_);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_.running()) throw std::runtime_error("rtpengine exited during start:\n" + log());
    if (log().find("Startup complete") != std::string::npos) return;
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("rtpengine did not start:\n" + log());
}

std::string RtpengineServer::log() const { return read_text(log_path_); }

}  // namespace carillon::testing
