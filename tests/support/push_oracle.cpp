#include "support/push_oracle.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/clock.hpp"
#include "common/random.hpp"

namespace carillon::testing {

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

CommandResult run_shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

Oracle& Oracle::instance() {
  static Oracle oracle;
  return oracle;
}

Oracle::Oracle() {
  const fs::path source = fs::path(CARILLON_SOURCE_DIR) / "tests" / "notify" / "oracle";
  for (const char* name : {"package.json", "package-lock.json", "oracle.js"}) fs::copy_file(source / name, dir() / name);
  CommandResult npm = run_shell("cd '" + dir().string() + "' && npm ci --no-audit --no-fund --prefer-offline");
  install_log_ = npm.output;
  installed_ = npm.exit_code == 0 && fs::exists(dir() / "node_modules" / "http_ece" / "ece.js");
}

CommandResult Oracle::call(const std::string& command, const nlohmann::json& request) {
  std::string line = "cd '" + dir().string() + "' && node oracle.js " + command;
  if (!request.is_null()) {
    const fs::path file = dir() / ("request-" + std::to_string(++requests_) + ".json");
    write_text(file, request.dump());
    line += " '" + file.string() + "'";
  }
  return run_shell(line);
}

PushService::PushService(Oracle& oracle, const nlohmann::json& ua, const std::string& vapid_k,
                         pki::CertificateAuthority& ca) {
  start(oracle, ua, vapid_k, ca);
}

PushService::PushService(Oracle& oracle, const nlohmann::json& ua, const std::string& vapid_k) {
  SystemClock clock;
  SodiumRandom random;
  auto ca = pki::CertificateAuthority::create("Push Test CA", clock, random);
  if (!ca) throw std::runtime_error(ca.error().message);
  start(oracle, ua, vapid_k, *ca);
}

void PushService::start(Oracle& oracle, const nlohmann::json& ua, const std::string& vapid_k,
                        pki::CertificateAuthority& ca) {
  auto server = ca.issue_server("push-service", {"localhost"}, {"127.0.0.1"}, 1);
  if (!server) throw std::runtime_error(server.error().message);
  ca_pem_ = ca.cert_pem();
  const fs::path dir = dir_.path();
  write_text(dir / "cert.pem", server->cert_pem);
  write_text(dir / "key.pem", server->key_pem);
  log_ = dir / "requests.jsonl";
  const fs::path port_file = dir / "port";
  const nlohmann::json config = {{"cert", (dir / "cert.pem").string()}, {"key", (dir / "key.pem").string()},
                                 {"private_key", ua["private_key"]},     {"auth", ua["auth"]},
                                 {"vapid_k", vapid_k},                   {"log", log_.string()},
                                 {"port_file", port_file.string()}};
  write_text(dir / "config.json", config.dump());
  const std::string script = (oracle.dir() / "oracle.js").string();
  const std::string config_path = (dir / "config.json").string();
  const std::string output = (dir / "server.log").string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    FILE* out = std::freopen(output.c_str(), "w", stdout);
    if (out != nullptr) ::dup2(::fileno(stdout), STDERR_FILENO);
    ::execlp("node", "node", script.c_str(), "serve", config_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (read_text(port_file).empty()) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("push service exited: " + read_text(output));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      throw std::runtime_error("push service did not start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  origin_ = "https://127.0.0.1:" + read_text(port_file);
}

PushService::~PushService() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

std::vector<nlohmann::json> PushService::requests() const {
  std::vector<nlohmann::json> out;
  std::istringstream lines(read_text(log_));
  for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line, nullptr, false));
  return out;
}

}  // namespace carillon::testing
