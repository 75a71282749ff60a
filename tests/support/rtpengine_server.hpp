#pragma once
// A real rtpengine (userspace, foreground) for tests, on the ng/cli ports and RTP range of the
// given EdgeSettings (KamailioServer picks free ones). Stopped in the destructor.

#include <filesystem>
#include <string>

#include "sip/edge_settings.hpp"
#include "support/kamailio_server.hpp"
#include "support/temp_dir.hpp"

namespace carillon::testing {

class RtpengineServer {
 public:
  // Throws std::runtime_error if rtpengine does not report "Startup complete" within 10 s.
  RtpengineServer(const TempDir& dir, const sip::EdgeSettings& settings);
  ~RtpengineServer() = default;
  RtpengineServer(const RtpengineServer&) = delete;
  RtpengineServer& operator=(const RtpengineServer&) = delete;

  std::string log() const;

 private:
  std::filesystem::path log_path_;
  ChildProcess process_;
};

}  // namespace carillon::testing
