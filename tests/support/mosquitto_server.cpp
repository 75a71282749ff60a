#include "support/mosquitto_server.hpp"

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
#include <vector>

namespace carillon::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// fork/exec without a shell; output goes to `log` so failures can be diagnosed.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string log_path = log.string();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void run(const std::vector<std::string>& args, const fs::path& log) {
  pid_t pid = spawn(args, log);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("command failed: " + args[0] + " " + args[1] + "\n" + slurp(log));
  }
}


void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void stop_process(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  pid = -1;
}

}  // namespace

MosquittoServer::MosquittoServer(const TempDir& dir) : dir_(dir.path() / "mqtt"), pki_(dir.path() / "mqtt-pki") {
  fs::create_directories(dir_);
  fs::create_directories(pki_);
  fs::permissions(dir_, fs::perms(0755));
  const fs::path log = pki_ / "openssl.log";
  auto make_ca = [&](const std::string& name, const std::string& cn) {
    run({"openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", (pki_ / (name + ".key")).string(), "-out", (pki_ / (name + ".pem")).string(), "-days", "30",
         "-subj", "/CN=" + cn},
        log);
  };
  make_ca("ca", "Carillon Test Device CA");
  make_ca("platform-ca", "Carillon Test Platform Client CA");
  make_ca("foreign-ca", "Somebody Else CA");

  auto issue = [&](const std::string& ca, const std::string& name, const std::string& cn, const std::string& ext) {
    const fs::path key = pki_ / (name + ".key");
    const fs::path csr = pki_ / (name + ".csr");
    const fs::path cert = pki_ / (name + ".pem");
    run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         key.string(), "-out", csr.string(), "-subj", "/CN=" + cn},
        log);
    std::vector<std::string> args{"openssl", "x509", "-req", "-in", csr.string(), "-CA",
                                  (pki_ / (ca + ".pem")).string(), "-CAkey", (pki_ / (ca + ".key")).string(),
                                  "-CAcreateserial", "-out", cert.string(), "-days", "30"};
    if (!ext.empty()) {
      const fs::path ext_file = pki_ / (name + ".ext");
      write_text(ext_file, ext);
      args.push_back("-extfile");
      args.push_back(ext_file.string());
    }
    run(args, log);
    return TlsIdentity{cert, key};
  };
  TlsIdentity server = issue("ca", "server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  platform_ = issue("platform-ca", "platform", mqtt::kPlatformIdentity, "");
  TlsIdentity bridge = issue("platform-ca", "bridge", mqtt::kClaimBridgeIdentity, "");

  write_text(pki_ / "index.txt", "");
  write_text(pki_ / "crlnumber", "01\n");
  write_text(pki_ / "ca.cnf", "[ca]\ndefault_ca = test\n[test]\ndatabase = " + (pki_ / "index.txt").string() +
                                  "\ncrlnumber = " + (pki_ / "crlnumber").string() +
                                  "\ndefault_md = sha256\ndefault_crl_days = 30\ncertificate = " +
                                  (pki_ / "ca.pem").string() + "\nprivate_key = " + (pki_ / "ca.key").string() +
                                  "\n");
  run({"openssl", "ca", "-config", (pki_ / "ca.cnf").string(), "-gencrl", "-out", (pki_ / "crl.pem").string()}, log);

  config_.dir = dir_;
  config_.claim_port = free_port();
  do config_.device_port = free_port();
  while (config_.device_port == config_.claim_port);
  do config_.platform_port = free_port();
  while (config_.platform_port == config_.claim_port || config_.platform_port == config_.device_port);
  config_.ca_file = pki_ / "ca.pem";
  config_.server_cert_file = server.cert;
  config_.server_key_file = server.key;
  config_.crl_file = pki_ / "crl.pem";
  config_.platform_client_ca_file = pki_ / "platform-ca.pem";
  config_.bridge_cert_file = bridge.cert;
  config_.bridge_key_file = bridge.key;
  if (auto s = mqtt::write_broker_config(config_); !s) {
    throw std::runtime_error("write_broker_config: " + s.error().message);
  }
  start();
}

MosquittoServer::~MosquittoServer() { stop(); }

TlsIdentity MosquittoServer::issue(const std::string& serial, const std::string& ca, const std::string& kind) {
  const std::string name = kind + "-" + std::to_string(++issued_);
  const fs::path key = pki_ / (name + ".key");
  const fs::path csr = pki_ / (name + ".csr");
  const fs::path cert = pki_ / (name + ".pem");
  const fs::path log = pki_ / "openssl.log";
  run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       key.string(), "-out", csr.string(), "-subj", "/CN=" + serial},
      log);
  run({"openssl", "x509", "-req", "-in", csr.string(), "-CA", (pki_ / (ca + ".pem")).string(), "-CAkey",
       (pki_ / (ca + ".key")).string(), "-CAcreateserial", "-out", cert.string(), "-days", "30"},
      log);
  return TlsIdentity{cert, key};
}

TlsIdentity MosquittoServer::issue_device(const std::string& serial) { return issue(serial, "ca", "device"); }

TlsIdentity MosquittoServer::issue_foreign(const std::string& serial) { return issue(serial, "foreign-ca", "foreign"); }

void MosquittoServer::revoke(const TlsIdentity& identity) {
  const fs::path log = pki_ / "openssl.log";
  const std::string cnf = (pki_ / "ca.cnf").string();
  run({"openssl", "ca", "-config", cnf, "-revoke", identity.cert.string()}, log);
  const fs::path next = pki_ / "crl.next.pem";
  run({"openssl", "ca", "-config", cnf, "-gencrl", "-out", next.string()}, log);
  fs::rename(next, config_.crl_file);
}

void MosquittoServer::reload() {
  for (pid_t pid : {main_pid_, claim_pid_}) {
    if (pid > 0) ::kill(pid, SIGHUP);
  }
  // Mosquitto handles the signal in its main loop; give it a moment.
  std::this_thread::sleep_for(500ms);
}

void MosquittoServer::restart() {
  stop();
  start();
}

void MosquittoServer::stop() {
  stop_process(claim_pid_);
  stop_process(main_pid_);
}

void MosquittoServer::start() {
  if (main_pid_ > 0) return;
  const fs::path main_log = mqtt::broker_log_path(config_);
  const auto log_offset = fs::exists(main_log) ? fs::file_size(main_log) : 0;
  main_pid_ = spawn({"mosquitto", "-c", mqtt::broker_config_path(config_).string()}, dir_ / "mosquitto.stderr");
  claim_pid_ =
      spawn({"mosquitto", "-c", mqtt::claim_broker_config_path(config_).string()}, dir_ / "mosquitto-claim.stderr");
  const std::string bridge_line = std::string(" as ") + mqtt::kClaimBridgeIdentity;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    for (pid_t* pid : {&main_pid_, &claim_pid_}) {
      if (*pid > 0 && ::waitpid(*pid, &status, WNOHANG) == *pid) {
        *pid = -1;
        std::string why = slurp(dir_ / "mosquitto.stderr") + slurp(dir_ / "mosquitto-claim.stderr") +
                          slurp(main_log) + slurp(mqtt::claim_broker_log_path(config_));
        stop();
        throw std::runtime_error("mosquitto exited during start:\n" + why);
      }
    }
    // Mosquitto sets up the TLS context of a listener before it listens, so an accepting port
    // is a TLS-ready port; the bridge line in the main log means claims flow end to end.
    if (tcp_port_open(config_.device_port) && tcp_port_open(config_.platform_port) && tcp_port_open(config_.claim_port) &&
        slurp(main_log).find(bridge_line, log_offset) != std::string::npos) {
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::string why = slurp(main_log) + slurp(mqtt::claim_broker_log_path(config_));
  stop();
  throw std::runtime_error("mosquitto did not become ready:\n" + why);
}

}  // namespace carillon::testing
