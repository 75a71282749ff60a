#pragma once
// A whole platform for a test: runs the real `carillon up` binary on a fresh state directory
// and free loopback ports, reads its admin credentials, and stops it (SIGTERM) at the end.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/client.hpp"
#include "support/temp_dir.hpp"

namespace carillon::testing {

class Platform {
 public:
  // Starts `carillon up` with `up_arguments` appended to its command line (e.g. {"--database",
  // "postgresql://..."}) and waits until /readyz is green (throws on failure).
  explicit Platform(std::vector<std::string> up_arguments = {});
  ~Platform();  // SIGTERM, waits for a clean exit
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  const std::filesystem::path& state_dir() const { return state_dir_; }
  std::filesystem::path ca_file() const { return state_dir_ / "pki" / "ca.pem"; }
  const std::string& url() const { return url_; }
  int port_offset() const { return offset_; }
  pid_t pid() const { return pid_; }
  // stdout and stderr of every `carillon up` run of this platform.
  std::filesystem::path log_file() const { return dir_.path() / "up.log"; }
  std::string admin_password() const;

  // An HTTP client that trusts the platform CA.
  http::Client client() const;
  // Logs in and returns an access token.
  std::string login(const std::string& username, const std::string& password) const;
  std::string admin_token() const { return login("admin", admin_password()); }
  // Sends a JSON request with a bearer token; returns status and parsed body (null if not JSON).
  struct Reply {
    int status = 0;
    nlohmann::json body;
    std::string raw;
  };
  Reply call(const std::string& method, const std::string& path, const std::string& token,
             const std::string& body = {}, const std::string& content_type = "application/json") const;
  Reply call(const std::string& method, const std::string& path, const std::string& token, const nlohmann::json& body) const {
    return call(method, path, token, body.dump());
  }

  // Stops (SIGTERM) and starts `carillon up` again on the same state directory.
  void restart();
  void stop();

 private:
  void start();

  TempDir dir_;
  std::vector<std::string> up_arguments_;
  std::filesystem::path state_dir_;
  int offset_ = 0;
  std::string url_;
  pid_t pid_ = -1;
};

}  // namespace carillon::testing
