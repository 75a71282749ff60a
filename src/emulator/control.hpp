#pragma once
// A device's local control channel, like the buttons and service port of a real station: one
// JSON object per line over TCP on 127.0.0.1, one JSON answer line each. Tests and people
// (e.g. `nc 127.0.0.1 PORT`) press call buttons, answer, hang up, send DTMF and read status:
//   {"cmd":"press","button":"b1"}  {"cmd":"answer"}  {"cmd":"hangup"}
//   {"cmd":"dtmf","digits":"1234"} {"cmd":"status"}
// Answers are {"ok":true,...} or {"ok":false,"error":"..."}.

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace carillon::emulator {

class ControlChannel {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  // Listens on 127.0.0.1:port (0 = any free port). unavailable if the port is taken.
  static Result<std::unique_ptr<ControlChannel>> start(unsigned short port, Handler handler);
  ~ControlChannel();  // closes the listener and every connection, joins the threads
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  unsigned short port() const { return port_; }

 private:
  ControlChannel(int listener, unsigned short port, Handler handler);
  void accept_loop();
  void serve(int fd);

  int listener_;
  unsigned short port_;
  Handler handler_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> workers_;
};

}  // namespace carillon::emulator
