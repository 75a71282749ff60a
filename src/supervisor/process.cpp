#include "supervisor/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/log.hpp"

namespace carillon::supervisor {

SupervisedProcess::SupervisedProcess(ProcessSpec spec) : spec_(std::move(spec)) {}

SupervisedProcess::~SupervisedProcess() { stop(); }

Result<pid_t> SupervisedProcess::spawn() {
  std::vector<char*> argv;
  for (auto& a : spec_.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log = ::open(spec_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log < 0) return fail(Errc::internal, "cannot open " + spec_.log_file.string() + ": " + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return fail(Errc::internal, "fork failed: " + std::string(std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: own process group so a Ctrl-C on the terminal reaches only the supervisor, which
    // then stops children in order.
    ::setpgid(0, 0);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(argv[0], argv.data());
    _exit(127);
  }
  ::close(log);
  return pid;
}

Status SupervisedProcess::start() {
  auto pid = spawn();
  if (!pid) return tl::unexpected(pid.error());
  pid_ = *pid;
  stopping_ = false;
  watcher_ = std::thread([this] { watch(); });
  return {};
}

void SupervisedProcess::watch() {
  auto logger = log::get("supervisor");
  auto backoff = std::chrono::milliseconds(500);
  while (!stopping_) {
    int status = 0;
    pid_t current = pid_.load();
    pid_t r = ::waitpid(current, &status, 0);
    if (r < 0 && errno == EINTR) continue;
    if (stopping_) break;
    logger->warn("{} (pid {}) exited (status {}); restarting in {} ms", spec_.name, current, status, backoff.count());
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, backoff, [this] { return stopping_.load(); })) break;
    }
    auto pid = spawn();
    if (!pid) {
      logger->error("{} could not be restarted: {}", spec_.name, pid.error().message);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
      continue;
    }
    pid_ = *pid;
    restarts_++;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
  }
}

Status SupervisedProcess::signal(int signo) const {
  pid_t pid = pid_.load();
  if (pid <= 0) return fail(Errc::unavailable, spec_.name + " is not running");
  if (::kill(pid, signo) != 0) return fail(Errc::unavailable, spec_.name + ": " + std::strerror(errno));
  return {};
}

void SupervisedProcess::stop() {
  if (!watcher_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  pid_t pid = pid_.load();
  if (pid > 0) {
    ::kill(pid, SIGTERM);
    // The watcher reaps it; give it 5 s before forcing.
    for (int i = 0; i < 50 && ::kill(pid, 0) == 0; ++i) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
  }
  watcher_.join();
  pid_ = 0;
}

}  // namespace carillon::supervisor
