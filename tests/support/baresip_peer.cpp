#include "support/baresip_peer.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/temp_dir.hpp"

namespace carillon::testing {

namespace {

bool tcp_listening(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

BaresipPeer::BaresipPeer(const std::filesystem::path& dir, Options options) : dir_(dir) {
  std::filesystem::create_directories(dir_);
  // baresip listens for TLS on its SIP port + 1.
  unsigned short base = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    base = free_port();
    if (base < 65000 && !tcp_listening(static_cast<unsigned short>(base + 1))) break;
  }
  tls_port_ = static_cast<unsigned short>(base + 1);
  const unsigned short ctrl_port = free_port();
  {
    std::ofstream config(dir_ / "config");
    config << "poll_method epoll\n"
           << "sip_listen 127.0.0.1:" << base << "\n"
           << "sip_certificate " << options.cert_key_file << "\n"
           << "sip_cafile " << options.ca_file << "\n"
           << "call_local_timeout 120\n"
           // No file player in baresip 1.0: sndfile records the decoded stream into snd_path.
           << "audio_player aubridge,nowhere\n"
           << "snd_path " << dir_.string() << "\n"
           << "audio_source ausine," << static_cast<int>(options.tone_hz) << "\n"
           << "audio_alert aufile,/dev/null\n"
           << "ausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\n"
           << "rtp_ports 30000-39999\n"
           << "net_interface 127.0.0.1\n"
           << "module_path /usr/lib/baresip/modules\n"
           << "module sndfile.so\nmodule aubridge.so\nmodule opus.so\nmodule g722.so\nmodule g711.so\nmodule aufile.so\nmodule ausine.so\n"
           << "module srtp.so\nmodule_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n"
           << "ctrl_tcp_listen 127.0.0.1:" << ctrl_port << "\n";
    std::ofstream accounts(dir_ / "accounts");
    accounts << "<sip:bob@127.0.0.1;transport=tls>;regint=0;answermode=auto;audio_codecs=" << options.codecs;
    if (!options.mediaenc.empty()) accounts << ";mediaenc=" << options.mediaenc;
    accounts << "\n";
    std::ofstream(dir_ / "contacts");
  }
  const std::string log_path = (dir_ / "baresip.log").string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execlp("baresip", "baresip", "-f", dir_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!tcp_listening(tls_port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("baresip exited: " + log());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("baresip did not listen on TLS port: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

BaresipPeer::~BaresipPeer() { stop(); }

void BaresipPeer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

std::string BaresipPeer::uri() const {
  return "sip:bob@127.0.0.1:" + std::to_string(tls_port_) + ";transport=tls";
}

std::filesystem::path BaresipPeer::recording() const {
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("dump-") && name.ends_with("-dec.wav")) return entry.path();
  }
  return {};
}

std::string BaresipPeer::log() const {
  std::ifstream in(dir_ / "baresip.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace carillon::testing
