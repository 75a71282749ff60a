#include "support/sipp.hpp"

#include <fstream>
#include <stdexcept>

namespace carillon::testing {

namespace fs = std::filesystem;

Sipp::Sipp(fs::path work_dir) : dir_(std::move(work_dir)) { fs::create_directories(dir_); }

fs::path Sipp::scenario(const std::string& name) {
  return fs::path(CARILLON_SOURCE_DIR) / "tests" / "sip" / "scenarios" / name;
}

fs::path Sipp::write_injection(const std::string& name, const std::vector<std::vector<std::string>>& rows) {
  const fs::path path = dir_ / name;
  std::ofstream out(path, std::ios::trunc);
  out << "SEQUENTIAL\n";
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) out << (i ? ";" : "") << row[i];
    out << "\n";
  }
  if (!out) throw std::runtime_error("cannot write " + path.string());
  return path;
}

std::vector<std::string> Sipp::command(const std::string& target, const std::string& scenario_name,
                                       const std::vector<std::string>& args, const std::string& tag) {
  std::vector<std::string> argv{"sipp",
                                target,
                                "-sf",
                                scenario(scenario_name).string(),
                                "-nostdin",
                                "-i",
                                "127.0.0.1",
                                "-trace_err",
                                "-error_file",
                                (dir_ / (tag + ".err")).string(),
                                "-trace_stat",
                                "-stf",
                                (dir_ / (tag + ".csv")).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

SippRun Sipp::collect(int exit_code, const std::string& tag) {
  SippRun r;
  r.exit_code = exit_code;
  r.output = read_text(dir_ / (tag + ".log")) + read_text(dir_ / (tag + ".err"));
  r.stat_file = dir_ / (tag + ".csv");
  return r;
}

SippRun Sipp::run(const std::string& target, const std::string& scenario_name, const std::vector<std::string>& args,
                  std::chrono::milliseconds timeout) {
  const std::string tag = "sipp-" + std::to_string(++runs_);
  ChildProcess p(command(target, scenario_name, args, tag), dir_ / (tag + ".log"), dir_);
  return collect(p.wait(timeout), tag);
}

void Sipp::start(const std::string& target, const std::string& scenario_name, const std::vector<std::string>& args) {
  background_tag_ = "sipp-" + std::to_string(++runs_);
  background_ = ChildProcess(command(target, scenario_name, args, background_tag_), dir_ / (background_tag_ + ".log"), dir_);
}

SippRun Sipp::finish(std::chrono::milliseconds timeout) { return collect(background_.wait(timeout), background_tag_); }

}  // namespace carillon::testing
