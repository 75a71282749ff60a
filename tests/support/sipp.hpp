#pragma once
// Runs SIPp (Debian sip-tester, built without TLS, so it talks to the edge's plain device
// listener) with scenarios from tests/sip/scenarios. Each run gets its own log and error file.

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/kamailio_server.hpp"

namespace carillon::testing {

struct SippRun {
  int exit_code = -1;   // 0: every call succeeded; 1: some failed; 97/99: SIPp errors
  std::string output;   // stdout/stderr and the error trace, for failure messages
  std::filesystem::path stat_file;  // -trace_stat CSV
};

class Sipp {
 public:
  explicit Sipp(std::filesystem::path work_dir);

  // Path of tests/sip/scenarios/<name>.
  static std::filesystem::path scenario(const std::string& name);

  // Writes an injection file ("SEQUENTIAL" + one line per row, fields separated by ';').
  std::filesystem::path write_injection(const std::string& name, const std::vector<std::vector<std::string>>& rows);

  // Runs `sipp target -sf scenario args...` to the end (killed after `timeout`).
  SippRun run(const std::string& target, const std::string& scenario_name, const std::vector<std::string>& args,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // Starts SIPp in the background (e.g. a UAS); finish() waits for it.
  void start(const std::string& target, const std::string& scenario_name, const std::vector<std::string>& args);
  SippRun finish(std::chrono::milliseconds timeout = std::chrono::seconds(20));

 private:
  std::vector<std::string> command(const std::string& target, const std::string& scenario_name,
                                   const std::vector<std::string>& args, const std::string& tag);
  SippRun collect(int exit_code, const std::string& tag);

  std::filesystem::path dir_;
  int runs_ = 0;
  ChildProcess background_;
  std::string background_tag_;
};

}  // namespace carillon::testing
