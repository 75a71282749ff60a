#pragma once
// A real Kamailio SIP edge for tests: a throwaway PKI made with the `openssl` CLI, the production
// config rendered by sip::render_kamailio_config on free ports in a TempDir, and the process
// started in the constructor and stopped in the destructor. Binaries that use this (or
// RtpengineServer) must link carillon_sip.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sip/edge_settings.hpp"
#include "support/temp_dir.hpp"

namespace carillon::testing {

// A child process (no shell) whose stdout+stderr go to a log file.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log,
               const std::filesystem::path& cwd = {});
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool running();
  // Waits for exit up to `timeout` (then SIGKILL); the exit code, or -signal.
  int wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after 5 s.
  void stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
};

std::string read_text(const std::filesystem::path& path);

struct EdgePki {
  std::filesystem::path ca_cert;
  std::filesystem::path ca_key;
  std::filesystem::path server_cert;  // CN=localhost, SAN IP:127.0.0.1
  std::filesystem::path server_key;
  std::filesystem::path client_cert;  // a device certificate from the same CA
  std::filesystem::path client_key;
};

// CA, server and device certificates (EC P-256) under `dir`.
EdgePki make_edge_pki(const std::filesystem::path& dir);

class KamailioServer {
 public:
  // `customize` may change settings (limits, timers, rtpengine port) before the config is rendered;
  // ports and files are already filled in. Throws std::runtime_error if Kamailio does not start.
  explicit KamailioServer(const TempDir& dir, const std::function<void(sip::EdgeSettings&)>& customize = {});
  ~KamailioServer();
  KamailioServer(const KamailioServer&) = delete;
  KamailioServer& operator=(const KamailioServer&) = delete;

  const sip::EdgeSettings& settings() const { return settings_; }
  const EdgePki& pki() const { return pki_; }
  // Kamailio's stdout/stderr so far (print it when a test fails).
  std::string log() const;

  void start();
  void stop();
  void restart();

 private:
  std::filesystem::path dir_;
  EdgePki pki_;
  sip::EdgeSettings settings_;
  std::filesystem::path config_path_;
  std::filesystem::path log_path_;
  ChildProcess process_;
};

}  // namespace carillon::testing
