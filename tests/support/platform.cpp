#include "support/platform.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/files.hpp"
#include "supervisor/installation.hpp"

namespace carillon::testing {

namespace {

// Free for TCP and UDP (the SIP edge listens on both).
bool port_free(int port) {
  bool ok = true;
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    int fd = ::socket(AF_INET, type, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<unsigned short>(port));
    ok = ok && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
  }
  return ok;
}

// `carillon up` shifts every port of supervisor::Ports by the offset.
int free_offset() {
  std::random_device seed;
  std::mt19937 gen(seed());
  std::uniform_int_distribution<int> pick(2000, 34000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int offset = pick(gen);
    auto ports = supervisor::Ports::with_offset(offset);
    if (!ports) continue;
    bool all_free = true;
    for (auto port : ports->all()) all_free = all_free && port_free(port);
    if (all_free) return offset;
  }
  throw std::runtime_error("no free port offset");
}

}  // namespace

Platform::Platform(std::vector<std::string> up_arguments)
    : up_arguments_(std::move(up_arguments)), state_dir_(dir_.path() / "state"), offset_(free_offset()) {
  url_ = "https://127.0.0.1:" + std::to_string(8443 + offset_);
  start();
}

Platform::~Platform() { stop(); }

void Platform::start() {
  auto log = log_file().string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    FILE* out = std::freopen(log.c_str(), "a", stdout);
    FILE* err = std::freopen(log.c_str(), "a", stderr);
    (void)out;
    (void)err;
    std::vector<std::string> args = {CARILLON_BINARY, "up", "--state-dir", state_dir_.string(), "--port-offset",
                                      std::to_string(offset_)};
    args.insert(args.end(), up_arguments_.begin(), up_arguments_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(CARILLON_BINARY, argv.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      auto text = read_file(log);
      throw std::runtime_error("carillon up exited early:\n" + (text ? *text : std::string()));
    }
    if (std::filesystem::exists(ca_file())) {
      auto r = client().request("GET", url_ + "/readyz");
      if (r && r->status == 200) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto text = read_file(log);
  throw std::runtime_error("carillon up did not become ready:\n" + (text ? *text : std::string()));
}

void Platform::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 150; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Platform::restart() {
  stop();
  start();
}

std::string Platform::admin_password() const {
  auto text = read_file(state_dir_ / "admin-credentials.json");
  if (!text) throw std::runtime_error("no admin-credentials.json");
  return nlohmann::json::parse(*text).at("password").get<std::string>();
}

http::Client Platform::client() const {
  auto ca = read_file(ca_file());
  return http::Client(http::ClientOptions{ca ? *ca : std::string(), "", "", 20000});
}

std::string Platform::login(const std::string& username, const std::string& password) const {
  auto r = call("POST", "/api/v1/auth/login", "", nlohmann::json{{"username", username}, {"password", password}});
  if (r.status != 200) throw std::runtime_error("login failed: " + r.raw);
  return r.body.at("access_token").get<std::string>();
}

Platform::Reply Platform::call(const std::string& method, const std::string& path, const std::string& token,
                               const std::string& body, const std::string& content_type) const {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  if (!body.empty()) headers.emplace_back("Content-Type", content_type);
  auto r = client().request(method, url_ + path, body, headers);
  if (!r) throw std::runtime_error(method + " " + path + ": " + r.error().message);
  Reply reply;
  reply.status = r->status;
  reply.raw = r->body;
  reply.body = nlohmann::json::parse(r->body, nullptr, false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  return reply;
}

}  // namespace carillon::testing
