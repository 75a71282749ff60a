#include "support/smtp_server.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/random.hpp"
#include "pki/pki.hpp"

namespace carillon::testing {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_text(const fs::path& path) { return read_file(path).value_or(std::string()); }

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

SmtpCertificates::SmtpCertificates() {
  SystemClock clock;
  SodiumRandom random;
  auto authority = pki::CertificateAuthority::create("SMTP Test CA", clock, random);
  if (!authority) throw std::runtime_error(authority.error().message);
  ca_pem = authority->cert_pem();
  auto server = authority->issue_server("smtp-test", {"localhost"}, {"127.0.0.1"}, 1);
  if (!server) throw std::runtime_error(server.error().message);
  cert_pem = server->cert_pem;
  key_pem = server->key_pem;
}

SmtpServer::SmtpServer(unsigned short port, const SmtpCertificates& certificates, SmtpServerOptions options)
    : port_(port) {
  const fs::path dir = dir_.path();
  fs::create_directories(dir / "mail");
  write_text(dir / "cert.pem", certificates.cert_pem);
  write_text(dir / "key.pem", certificates.key_pem);
  std::vector<std::string> args = {"/usr/bin/python3",
                                   std::string(CARILLON_SOURCE_DIR) + "/tests/support/smtp_server.py",
                                   "--port",
                                   std::to_string(port),
                                   "--dir",
                                   (dir / "mail").string()};
  if (options.tls) {
    args.push_back("--cert");
    args.push_back((dir / "cert.pem").string());
    args.push_back("--key");
    args.push_back((dir / "key.pem").string());
    if (options.require_starttls) args.push_back("--require-starttls");
  }
  if (!options.auth.empty()) {
    args.push_back("--auth");
    args.push_back(options.auth);
  }
  const std::string log = (dir / "server.log").string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    if (out != nullptr) ::dup2(::fileno(stdout), STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!fs::exists(dir / "mail" / "ready")) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("smtp server exited: " + read_text(log));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("smtp server did not start: " + read_text(log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

SmtpServer::~SmtpServer() { stop(); }

void SmtpServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::vector<json> SmtpServer::messages() const {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir_.path() / "mail")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<json> out;
  for (const auto& f : files) out.push_back(json::parse(read_text(f)));
  return out;
}

std::string SmtpServer::log() const { return read_text(dir_.path() / "server.log"); }

}  // namespace carillon::testing
