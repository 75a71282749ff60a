#include "support/kamailio_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/files.hpp"

namespace carillon::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;


void run_checked(const std::vector<std::string>& argv, const fs::path& log) {
  ChildProcess p(argv, log);
  if (p.wait(30s) != 0) throw std::runtime_error("command failed: " + argv[0] + " " + argv[1] + "\n" + read_text(log));
}

unsigned short distinct_port(std::vector<unsigned short>& taken) {
  while (true) {
    unsigned short p = free_port();
    bool clash = false;
    for (auto t : taken) clash = clash || t == p;
    if (!clash) {
      taken.push_back(p);
      return p;
    }
  }
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& args, const fs::path& log, const fs::path& cwd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string log_path = log.string();
  const std::string dir = cwd.string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
}

ChildProcess::~ChildProcess() { stop(); }

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_), status_(other.status_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = other.pid_;
    status_ = other.status_;
    other.pid_ = -1;
  }
  return *this;
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
  return -1;
}

void ChildProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  wait(5s);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

EdgePki make_edge_pki(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path log = dir / "openssl.log";
  EdgePki pki;
  pki.ca_cert = dir / "ca.pem";
  pki.ca_key = dir / "ca.key";
  run_checked({"openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", pki.ca_key.string(), "-out", pki.ca_cert.string(), "-days", "30", "-subj",
               "/CN=Carillon Test Platform CA"},
              log);
  auto issue = [&](const std::string& name, const std::string& cn, const std::string& ext, fs::path& cert,
                   fs::path& key) {
    key = dir / (name + ".key");
    cert = dir / (name + ".pem");
    const fs::path csr = dir / (name + ".csr");
    run_checked({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key.string(), "-out", csr.string(), "-subj", "/CN=" + cn},
                log);
    const fs::path ext_file = dir / (name + ".ext");
    if (auto ok = write_file(ext_file, ext); !ok) throw std::runtime_error(ok.error().message);
    run_checked({"openssl", "x509", "-req", "-in", csr.string(), "-CA", pki.ca_cert.string(), "-CAkey",
                 pki.ca_key.string(), "-CAcreateserial", "-out", cert.string(), "-days", "30", "-extfile",
                 ext_file.string()},
                log);
  };
  issue("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n", pki.server_cert, pki.server_key);
  issue("device", "device-1", "extendedKeyUsage=clientAuth\n", pki.client_cert, pki.client_key);
  return pki;
}

KamailioServer::KamailioServer(const TempDir& dir, const std::function<void(sip::EdgeSettings&)>& customize)
    : dir_(dir.path() / "kamailio") {
  fs::create_directories(dir_ / "run");
  pki_ = make_edge_pki(dir_ / "pki");
  std::vector<unsigned short> taken;
  settings_.listen_ip = "127.0.0.1";
  settings_.tls_port = distinct_port(taken);
  settings_.wss_port = distinct_port(taken);
  settings_.device_udp_port = distinct_port(taken);
  settings_.loop_port = distinct_port(taken);
  settings_.jsonrpc_port = distinct_port(taken);
  settings_.evapi_port = distinct_port(taken);
  settings_.rtpengine_ng_port = distinct_port(taken);
  settings_.rtpengine_cli_port = distinct_port(taken);
  // An RTP range away from the ephemeral ports that free_port() hands out.
  const unsigned short base = static_cast<unsigned short>(20000 + (::getpid() % 400) * 20);
  settings_.rtp_port_min = base;
  settings_.rtp_port_max = static_cast<unsigned short>(base + 19);
  settings_.tls_cert_file = pki_.server_cert;
  settings_.tls_key_file = pki_.server_key;
  settings_.tls_ca_file = pki_.ca_cert;
  settings_.run_dir = dir_ / "run";
  settings_.kamailio_log_level = 2;
  if (customize) customize(settings_);
  auto config = sip::render_kamailio_config(settings_);
  if (!config) throw std::runtime_error("render_kamailio_config: " + config.error().message + " " + config.error().field);
  config_path_ = dir_ / "kamailio.cfg";
  log_path_ = dir_ / "kamailio.log";
  if (auto ok = write_file(config_path_, *config); !ok) throw std::runtime_error(ok.error().message);
  start();
}

KamailioServer::~KamailioServer() { stop(); }

std::string KamailioServer::log() const { return read_text(log_path_); }

void KamailioServer::start() {
  if (process_.running()) return;
  process_ = ChildProcess(sip::kamailio_arguments(settings_, config_path_), log_path_);
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_.running()) throw std::runtime_error("kamailio exited during start:\n" + log());
    // The TLS listener and evapi accept once every process is up; the log line marks the
    // JSON-RPC datagram worker.
    if (tcp_port_open(settings_.tls_port) && tcp_port_open(settings_.evapi_port) &&
        log().find("jsonrpc_dgram_process(): a new child") != std::string::npos) {
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  std::string why = log();
  stop();
  throw std::runtime_error("kamailio did not become ready:\n" + why);
}

void KamailioServer::stop() { process_.stop(); }

void KamailioServer::restart() {
  stop();
  // The old log stays: start() waits for a fresh readiness line only through the ports.
  std::ofstream(log_path_, std::ios::app) << "\n==== restart ====\n";
  start();
}

}  // namespace carillon::testing
