#pragma once
// Child processes for `carillon up`: started without a shell, output appended to a log file,
// restarted with backoff when they die, stopped with SIGTERM (then SIGKILL) on shutdown.

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"

namespace carillon::supervisor {

struct ProcessSpec {
  std::string name;                 // for logs: "mosquitto"
  std::vector<std::string> argv;    // argv[0] is the program (looked up in PATH)
  std::filesystem::path log_file;   // stdout and stderr are appended here
};

class SupervisedProcess {
 public:
  explicit SupervisedProcess(ProcessSpec spec);
  ~SupervisedProcess();  // stop()
  SupervisedProcess(const SupervisedProcess&) = delete;
  SupervisedProcess& operator=(const SupervisedProcess&) = delete;

  // Starts the child and a watcher that restarts it (after 0.5 s, doubling up to 10 s) whenever it exits.
  Status start();
  void stop();
  pid_t pid() const { return pid_.load(); }
  int restarts() const { return restarts_.load(); }
  // Sends a signal to the current child (e.g. SIGHUP to reload).
  Status signal(int signo) const;

 private:
  Result<pid_t> spawn();
  void watch();

  ProcessSpec spec_;
  std::atomic<pid_t> pid_{0};
  std::atomic<int> restarts_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread watcher_;
};

}  // namespace carillon::supervisor
