// Whole-system load driver for calls (issue 3; not a Google Benchmark): runs the real
// `carillon up` (Kamailio, rtpengine, Mosquitto, serve) as a child on free ports through
// testing::Platform, claims P receiving stations (auto-answer) and P door stations in this one
// process, each pair with its own ring group, and prints what BENCHMARKS.md "Calls" reports:
//
//   register  the "register storm": all P receivers started at once, then all P doors; per
//             station the time from device start (claim included) until its own SIP UA is
//             registered and until the API shows it registered
//   setup     K calls (K/P per pair, sequential within a pair, pairs in parallel): press() ->
//             door established, receiver established, both; success rate; press() -> the call
//             record in GET /api/v1/calls shows "answered"
//   audio     C simultaneous established calls held for H seconds: tone frames each side heard
//             during the hold, RTP loss/jitter, CPU of kamailio, rtpengine, serve, the brokers
//             and this driver (utime+stime from /proc), rtpengine's `list totals`
//
// Usage: call_load [--pairs P] [--calls K] [--concurrent 5,10,20] [--hold S] [--poll-ms N]
//                  [--phases setup,audio] [--keep-logs DIR] [--verbose]
// --keep-logs copies the platform's logs (up.log, Kamailio, rtpengine, brokers) to DIR at the end.
// Exit code 2: a station did not come up; the JSON then says which and how far it got.
// Progress goes to stderr; a JSON document with every figure goes to stdout.

#include <curl/curl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "apps/platform_helpers.hpp"
#include "common/files.hpp"
#include "common/random.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace carillon;
using carillon::apps::Platform;
using carillon::apps::Tenant;
using nlohmann::json;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

constexpr int kFirstRtpPort = 40000;
constexpr int kRtpPortsPerStation = 200;

double ms_since(Steady::time_point t0) { return std::chrono::duration<double, std::milli>(Steady::now() - t0).count(); }
double round1(double v) { return std::round(v * 10.0) / 10.0; }

void progress(const std::string& line) { std::cerr << "[call_load] " << line << std::endl; }

struct Options {
  int pairs = 10;
  int calls = 200;
  std::vector<int> concurrent{5, 10, 20};
  int hold_seconds = 10;
  int poll_ms = 2;
  bool verbose = false;
  std::string keep_logs;
  std::set<std::string> phases{"setup", "audio"};
};

std::vector<int> int_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--pairs") o.pairs = std::stoi(value());
    else if (a == "--calls") o.calls = std::stoi(value());
    else if (a == "--concurrent") o.concurrent = int_list(value());
    else if (a == "--hold") o.hold_seconds = std::stoi(value());
    else if (a == "--poll-ms") o.poll_ms = std::stoi(value());
    else if (a == "--verbose") o.verbose = true;
    else if (a == "--keep-logs") o.keep_logs = value();
    else if (a == "--phases") {
      o.phases.clear();
      std::stringstream list(value());
      for (std::string p; std::getline(list, p, ',');) o.phases.insert(p);
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.pairs < 1 || o.pairs > 100) throw std::invalid_argument("--pairs must be 1..100");
  if (o.calls < 1 || o.hold_seconds < 1 || o.poll_ms < 1) throw std::invalid_argument("counts must be positive");
  for (int c : o.concurrent) {
    if (c < 1 || c > o.pairs) throw std::invalid_argument("every --concurrent value must be 1..pairs");
  }
  return o;
}

// Percentiles by nearest rank.
json summary(std::vector<double> samples) {
  if (samples.empty()) return json::object();
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::min(samples.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  double sum = 0;
  for (double s : samples) sum += s;
  return {{"n", samples.size()},         {"p50_ms", round1(at(0.50))}, {"p95_ms", round1(at(0.95))},
          {"p99_ms", round1(at(0.99))},  {"min_ms", round1(samples.front())}, {"max_ms", round1(samples.back())},
          {"mean_ms", round1(sum / static_cast<double>(samples.size()))}};
}

// ---------------------------------------------------------------------------------------------
// An HTTPS session on one keep-alive connection: the record polls must not cost a TLS handshake
// each (testing::Platform::call opens a new connection per request).
class Session {
 public:
  Session(std::string base_url, std::string ca_pem, std::string token)
      : base_(std::move(base_url)), ca_(std::move(ca_pem)), token_(std::move(token)) {
    handle_ = curl_easy_init();
    if (!handle_) throw std::runtime_error("curl_easy_init failed");
  }
  ~Session() { curl_easy_cleanup(handle_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  json get(const std::string& path) {
    std::string body;
    curl_easy_setopt(handle_, CURLOPT_URL, (base_ + path).c_str());
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, 30000L);
    curl_blob blob{ca_.data(), ca_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(handle_, CURLOPT_CAINFO_BLOB, &blob);
    curl_easy_setopt(handle_, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, &Session::write);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &body);
    std::string auth = "Authorization: Bearer " + token_;
    curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(handle_);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) throw std::runtime_error("GET " + path + ": " + curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) throw std::runtime_error("GET " + path + " answered " + std::to_string(status) + ": " + body);
    return json::parse(body);
  }

 private:
  static size_t write(char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  }

  std::string base_, ca_, token_;
  CURL* handle_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// CPU time of processes from /proc/<pid>/stat (utime + stime, all threads), in seconds.
struct ProcStat {
  std::string comm;
  pid_t ppid = 0;
  double cpu_s = 0;
};

std::optional<ProcStat> proc_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto open = line.find('(');
  auto close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  ProcStat s;
  s.comm = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; rest >> x;) f.push_back(x);
  // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  if (f.size() < 13) return std::nullopt;
  s.ppid = static_cast<pid_t>(std::stol(f[1]));
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / ticks;
  return s;
}

// Every process below `root` (the `carillon up` process), grouped by name, plus root as
// "serve" and this process as "driver". Processes of other Kamailio/rtpengine instances on the
// machine (other people's tests) are not counted.
std::map<std::string, double> cpu_by_group(pid_t root) {
  std::map<pid_t, ProcStat> all;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    auto pid = static_cast<pid_t>(std::stol(name));
    if (auto s = proc_stat(pid)) all[pid] = *s;
  }
  auto below_root = [&](pid_t pid) {
    for (int depth = 0; depth < 16 && pid > 1; ++depth) {
      auto it = all.find(pid);
      if (it == all.end()) return false;
      if (it->second.ppid == root) return true;
      pid = it->second.ppid;
    }
    return false;
  };
  std::map<std::string, double> groups{{"kamailio", 0}, {"rtpengine", 0}, {"mosquitto", 0}, {"serve", 0}, {"driver", 0}};
  for (const auto& [pid, s] : all) {
    if (pid == root) groups["serve"] += s.cpu_s;
    else if (pid == ::getpid()) groups["driver"] += s.cpu_s;
    else if (below_root(pid)) groups[s.comm] += s.cpu_s;
  }
  return groups;
}

// Machine-wide busy time (all cores) from /proc/stat, in seconds, and total time.
std::pair<double, double> machine_cpu() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) {
    double x = 0;
    in >> x;
    v.push_back(x);
  }
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double total = 0;
  for (double x : v) total += x;
  double idle = v[3] + v[4];
  return {(total - idle) / ticks, total / ticks};
}

std::string load_average() {
  auto text = read_file("/proc/loadavg");
  if (!text) return "";
  auto fields = *text;
  // "1.80 1.78 2.78 3/105 10853" -> the three averages.
  std::istringstream in(fields);
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  std::array<char, 4096> buffer{};
  while (auto n = std::fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  ::pclose(pipe);
  return out;
}

// rtpengine's `list totals`: every "name : number" line as a number (the counters are totals
// since rtpengine started; the hold's figures are after - before).
json rtpengine_totals(int cli_port) {
  auto text = run_command("rtpengine-ctl -ip 127.0.0.1:" + std::to_string(cli_port) + " list totals 2>&1");
  json out = json::object();
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto colon = line.rfind(':');
    if (colon == std::string::npos) continue;
    auto key = line.substr(0, colon);
    auto value = line.substr(colon + 1);
    key.erase(0, key.find_first_not_of(" \t"));
    key.erase(key.find_last_not_of(" \t") + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r") + 1);
    if (key.empty() || value.empty()) continue;
    char* end = nullptr;
    double number = std::strtod(value.c_str(), &end);
    if (end && *end == '\0') out[key] = number;
  }
  return out;
}

json totals_delta(const json& before, const json& after) {
  json out = json::object();
  for (auto it = after.begin(); it != after.end(); ++it) {
    auto key = it.key();
    // Counters only: the rates are averages and the session counts move when rtpengine drops
    // the sessions of earlier calls (its delete delay), not because of the hold.
    if (key.rfind("Total relayed", 0) != 0) continue;
    out[key] = it.value().get<double>() - before.value(key, 0.0);
  }
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
struct Pair {
  std::unique_ptr<emulator::EmulatedDevice> receiver, door;
  std::string receiver_id, door_id, group;
};

// The call (first in the list) of a station status, or null.
json first_call(const json& status) {
  if (!status.contains("calls") || status["calls"].empty()) return nullptr;
  return status["calls"][0];
}

bool established(const json& call) { return call.is_object() && call["state"] == "established"; }

class CallLoad {
 public:
  explicit CallLoad(Options options) : options_(std::move(options)) {}

  json run() {
    json out;
    out["machine"] = {{"nproc", std::thread::hardware_concurrency()},
                      {"cpu_model", cpu_model()},
                      {"load_average_start", load_average()}};
    out["options"] = {{"pairs", options_.pairs},
                      {"calls", options_.calls},
                      {"concurrent", options_.concurrent},
                      {"hold_seconds", options_.hold_seconds},
                      {"poll_ms", options_.poll_ms}};
    start_platform();
    out["platform"] = {{"port_offset", platform_->port_offset()}};
    token_ = platform_->admin_token();
    ca_pem_ = read_file(platform_->ca_file()).value();
    tenant_ = apps::make_tenant(*platform_, token_, "Call bench");
    pairs_.resize(static_cast<std::size_t>(options_.pairs));

    json storm;
    progress("register storm: starting " + std::to_string(options_.pairs) + " receiving stations at once");
    storm["receivers"] = start_stations(true);
    if (!storm["receivers"]["failures"].empty()) return finish(out, storm);
    for (int i = 0; i < options_.pairs; ++i) {
      auto& pair = pairs_[static_cast<std::size_t>(i)];
      auto group = platform_->call("POST", "/api/v1/ring-groups", token_,
                                   json{{"name", "Bench " + std::to_string(i)},
                                        {"site_id", tenant_.site},
                                        {"members", json::array({{{"kind", "device"}, {"id", pair.receiver_id}}})},
                                        {"ring_seconds", 20}});
      if (group.status != 201) throw std::runtime_error("ring group: " + group.raw);
      pair.group = group.body["id"];
    }
    progress("register storm: starting " + std::to_string(options_.pairs) + " door stations at once");
    storm["doors"] = start_stations(false);
    if (!storm["doors"]["failures"].empty()) return finish(out, storm);
    out["register"] = storm;

    if (options_.phases.count("setup")) out["setup"] = setup_phase();
    if (options_.phases.count("audio")) {
      out["audio"] = json::array();
      for (int c : options_.concurrent) out["audio"].push_back(audio_phase(c));
    }
    return finish(out, nullptr);
  }

  bool failed() const { return failed_; }

 private:
  json finish(json& out, const json& failed_storm) {
    if (!failed_storm.is_null()) {
      out["register"] = failed_storm;
      out["error"] = "a station did not come up in the register storm; no call was measured";
      failed_ = true;
    }
    out["machine"]["load_average_end"] = load_average();
    if (!options_.keep_logs.empty()) {
      std::error_code ec;
      fs::create_directories(options_.keep_logs, ec);
      fs::copy(platform_->log_file(), fs::path(options_.keep_logs) / "up.log", fs::copy_options::overwrite_existing, ec);
      fs::copy(platform_->state_dir() / "logs", options_.keep_logs,
               fs::copy_options::overwrite_existing | fs::copy_options::recursive, ec);
      if (ec) progress("copying the logs: " + ec.message());
    }
    progress("stopping stations");
    for (auto& p : pairs_) {
      if (p.door) p.door->stop();
      if (p.receiver) p.receiver->stop();
    }
    return out;
  }

  // rtpengine's RTP range is [30000, 30999] + the port offset, which the Platform draws at
  // random: start again if it would overlap the stations' ports.
  void start_platform() {
    const int stations_end = kFirstRtpPort + 2 * options_.pairs * kRtpPortsPerStation;
    for (int attempt = 0; attempt < 8; ++attempt) {
      auto t0 = Steady::now();
      platform_ = std::make_unique<Platform>();
      int lo = 30000 + platform_->port_offset(), hi = 30999 + platform_->port_offset();
      if (hi < kFirstRtpPort || lo >= stations_end) {
        progress("platform up in " + std::to_string(std::lround(ms_since(t0))) + " ms, port offset " +
                 std::to_string(platform_->port_offset()));
        return;
      }
      progress("rtpengine's ports overlap the stations' ports: starting the platform again");
      platform_.reset();
    }
    throw std::runtime_error("no platform with rtpengine ports clear of the stations");
  }

  emulator::StationOptions station_options(int index, bool receiver) const {
    emulator::StationOptions o;
    // The receiver says 1 kHz and listens for 440 Hz, the door the other way round.
    o.tone_hz = receiver ? 1000 : 440;
    o.listen_hz = receiver ? 440 : 1000;
    o.rtp_port_min = kFirstRtpPort + (2 * index + (receiver ? 0 : 1)) * kRtpPortsPerStation;
    o.rtp_port_max = o.rtp_port_min + kRtpPortsPerStation - 1;
    return o;
  }

  // Starts every receiver (or door) at once, one thread per station; returns the storm figures.
  json start_stations(bool receivers) {
    const int n = options_.pairs;
    std::vector<std::string> codes, serials;
    for (int i = 0; i < n; ++i) {
      auto& pair = pairs_[static_cast<std::size_t>(i)];
      json config = receivers ? json{{"auto_answer", true}}
                              : json{{"call_buttons", json::array({{{"id", "b1"}, {"label", "Bench"}, {"target", pair.group}}})}};
      codes.push_back(apps::make_claim_code(*platform_, token_, tenant_.site, config,
                                            receivers ? "receiving-station" : "door-station"));
      serials.push_back(std::string(receivers ? "CALLR-" : "CALLD-") + std::to_string(1000 + i));
    }
    std::vector<double> claimed(n, -1), registered_local(n, -1), registered_api(n, -1);
    std::vector<Steady::time_point> started(n);
    std::vector<std::string> errors(n);
    std::atomic<int> done{0};
    auto t0 = Steady::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        started[i] = Steady::now();
        try {
          auto device = apps::start_device(*platform_, dir_.path() / serials[i], codes[i], random_, serials[i],
                                           station_options(i, receivers));
          claimed[i] = ms_since(started[i]);
          auto* raw = device.get();
          auto& pair = pairs_[static_cast<std::size_t>(i)];
          (receivers ? pair.receiver : pair.door) = std::move(device);
          if (apps::eventually([&] { return raw->station() && raw->station()->registered(); }, std::chrono::seconds(60),
                               std::chrono::milliseconds(2)))
            registered_local[i] = ms_since(started[i]);
          else
            errors[i] = "not registered locally within 60 s";
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
        ++done;
      });
    }
    // The API's view: the site's devices, polled every 50 ms until every station shows registered.
    Session api(platform_->url(), ca_pem_, token_);
    std::map<std::string, int> index;
    for (int i = 0; i < n; ++i) index[serials[i]] = i;
    auto deadline = Steady::now() + std::chrono::seconds(90);
    int seen = 0;
    while (seen < n && Steady::now() < deadline) {
      auto page = api.get("/api/v1/devices?site_id=" + tenant_.site + "&limit=500");
      auto now = Steady::now();
      for (const auto& d : page["items"]) {
        auto it = index.find(d.value("serial", ""));
        if (it == index.end() || registered_api[it->second] >= 0) continue;
        if (d["sip"]["registered"] == true) {
          registered_api[it->second] = std::chrono::duration<double, std::milli>(now - started[it->second]).count();
          auto& pair = pairs_[static_cast<std::size_t>(it->second)];
          (receivers ? pair.receiver_id : pair.door_id) = d["id"];
          ++seen;
        }
      }
      if (seen < n) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    double all_ms = ms_since(t0);
    for (auto& t : threads) t.join();
    // What a station that did not come up got to: claimed, connected, config applied, SIP.
    json failures = json::array();
    for (int i = 0; i < n; ++i) {
      if (errors[i].empty() && registered_api[i] >= 0) continue;
      auto& pair = pairs_[static_cast<std::size_t>(i)];
      auto* device = (receivers ? pair.receiver : pair.door).get();
      json f{{"serial", serials[i]},
             {"error", errors[i].empty() ? "not registered in the API within 90 s" : errors[i]},
             {"claimed_ms", claimed[i]},
             {"registered_locally_ms", registered_local[i]}};
      if (device) {
        f["connected"] = device->connected();
        f["applied_config_version"] = device->applied_config_version();
        f["station"] = device->station() ? device->station()->status() : json(nullptr);
      }
      try {
        f["api"] = apps::device_by_serial(*platform_, token_, serials[i]);
      } catch (const std::exception& e) {
        f["api"] = e.what();
      }
      failures.push_back(f);
    }
    if (!failures.empty()) progress("stations did not come up: " + failures.dump().substr(0, 3000));
    auto keep = [](const std::vector<double>& v) {
      std::vector<double> out;
      for (double x : v) if (x >= 0) out.push_back(x);
      return out;
    };
    return {{"stations", n},
            {"all_registered_in_api_ms", std::lround(all_ms)},
            {"claimed_and_connected", summary(keep(claimed))},
            {"sip_registered_locally", summary(keep(registered_local))},
            {"sip_registered_in_api", summary(keep(registered_api))},
            {"api_poll_interval_ms", 50},
            {"failures", failures}};
  }

  // ---- setup: K calls, sequential per pair, pairs in parallel.
  struct CallResult {
    bool ok = false;
    double door_ms = -1, receiver_ms = -1, both_ms = -1, record_answered_ms = -1, cleared_ms = -1, record_final_ms = -1;
    std::string error;
  };

  // Polls the pair's ring group's call records every 10 ms until the record of `sip_call_id`
  // satisfies `done`; returns the milliseconds since `t0`, or -1 after 10 s.
  double wait_for_record(Session& api, const Pair& pair, const std::string& sip_call_id, Steady::time_point t0,
                         const std::function<bool(const json&)>& done, std::string& error) {
    auto deadline = Steady::now() + std::chrono::seconds(10);
    json record;
    while (Steady::now() < deadline) {
      auto page = api.get("/api/v1/calls?ring_group_id=" + pair.group + "&limit=500");
      for (const auto& item : page["items"]) {
        if (item["sip_call_id"] == sip_call_id) record = item;
      }
      if (record.is_object() && done(record)) return ms_since(t0);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (error.empty()) error = "call record of " + sip_call_id + " not as expected within 10 s: " + record.dump().substr(0, 1500);
    return -1;
  }

  CallResult one_call(Pair& pair, Session& api) {
    CallResult r;
    const auto poll = std::chrono::milliseconds(options_.poll_ms);
    auto t0 = Steady::now();
    auto call = pair.door->station()->press("b1");
    if (!call) {
      r.error = "press: " + call.error().message;
      return r;
    }
    std::string sip_call_id;
    auto deadline = t0 + std::chrono::seconds(10);
    while (Steady::now() < deadline && (r.door_ms < 0 || r.receiver_ms < 0)) {
      if (r.door_ms < 0) {
        auto c = first_call(pair.door->station()->status());
        if (sip_call_id.empty() && c.is_object()) sip_call_id = c.value("call_id", "");
        if (established(c)) r.door_ms = ms_since(t0);
      }
      if (r.receiver_ms < 0 && established(first_call(pair.receiver->station()->status()))) r.receiver_ms = ms_since(t0);
      if (r.door_ms < 0 || r.receiver_ms < 0) std::this_thread::sleep_for(poll);
    }
    if (r.door_ms >= 0 && r.receiver_ms >= 0) {
      r.both_ms = std::max(r.door_ms, r.receiver_ms);
      // While the call lasts its record is "in_progress" with answered_at/answered_by set; the
      // final status ("answered") comes with the hang-up. serve learns both from Kamailio's events.
      r.record_answered_ms = wait_for_record(api, pair, sip_call_id, t0, [&](const json& record) {
        return !record["answered_at"].is_null() && record["answered_by"] == pair.receiver_id;
      }, r.error);
    } else {
      r.error = "not established within 10 s (door " + std::to_string(r.door_ms) + " ms, receiver " +
                std::to_string(r.receiver_ms) + " ms)";
    }
    auto t_hangup = Steady::now();
    (void)pair.door->station()->hangup();
    bool cleared = apps::eventually([&] {
      return first_call(pair.door->station()->status()).is_null() && first_call(pair.receiver->station()->status()).is_null();
    }, std::chrono::seconds(10), poll);
    if (cleared) r.cleared_ms = ms_since(t_hangup);
    else if (r.error.empty()) r.error = "calls not cleared within 10 s of hang-up";
    if (!sip_call_id.empty() && r.both_ms >= 0) {
      r.record_final_ms = wait_for_record(api, pair, sip_call_id, t_hangup, [](const json& record) {
        return record["status"] == "answered" && !record["ended_at"].is_null();
      }, r.error);
    }
    r.ok = r.error.empty();
    return r;
  }

  json setup_phase() {
    const int n = options_.pairs;
    progress("setup: " + std::to_string(options_.calls) + " calls over " + std::to_string(n) + " pairs");
    std::vector<std::vector<CallResult>> results(static_cast<std::size_t>(n));
    auto cpu_before = cpu_by_group(platform_->pid());
    auto machine_before = machine_cpu();
    auto t0 = Steady::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      int count = options_.calls / n + (i < options_.calls % n ? 1 : 0);
      threads.emplace_back([&, i, count] {
        Session api(platform_->url(), ca_pem_, token_);
        for (int k = 0; k < count; ++k) results[i].push_back(one_call(pairs_[static_cast<std::size_t>(i)], api));
      });
    }
    for (auto& t : threads) t.join();
    double wall_ms = ms_since(t0);
    auto cpu_after = cpu_by_group(platform_->pid());
    auto machine_after = machine_cpu();
    std::vector<double> door, receiver, both, record, cleared, final_record;
    std::vector<std::string> errors;
    int ok = 0, total = 0;
    for (auto& pair_results : results) {
      for (auto& r : pair_results) {
        ++total;
        if (r.ok) ++ok;
        else if (errors.size() < 10) errors.push_back(r.error);
        if (r.door_ms >= 0) door.push_back(r.door_ms);
        if (r.receiver_ms >= 0) receiver.push_back(r.receiver_ms);
        if (r.both_ms >= 0) both.push_back(r.both_ms);
        if (r.record_answered_ms >= 0) record.push_back(r.record_answered_ms);
        if (r.record_final_ms >= 0) final_record.push_back(r.record_final_ms);
        if (r.cleared_ms >= 0) cleared.push_back(r.cleared_ms);
      }
    }
    json cpu = json::object();
    for (auto& [name, seconds] : cpu_after) cpu[name + "_percent_of_one_core"] = round1(100.0 * (seconds - cpu_before[name]) / (wall_ms / 1000.0));
    cpu["machine_busy_percent_of_all_cores"] =
        round1(100.0 * (machine_after.first - machine_before.first) / (machine_after.second - machine_before.second));
    return {{"calls", total},
            {"pairs_in_parallel", n},
            {"succeeded", ok},
            {"success_rate", total ? round1(100.0 * ok / total) : 0.0},
            {"first_errors", errors},
            {"wall_ms", std::lround(wall_ms)},
            {"calls_per_second", round1(total / (wall_ms / 1000.0))},
            {"press_to_door_established", summary(door)},
            {"press_to_receiver_established", summary(receiver)},
            {"press_to_both_established", summary(both)},
            {"press_to_record_answered_in_api", summary(record)},
            {"hangup_to_both_cleared", summary(cleared)},
            {"hangup_to_record_final_answered_in_api", summary(final_record)},
            {"cpu_during_phase", cpu}};
  }

  // ---- audio: C simultaneous calls held for H seconds.
  json audio_phase(int c) {
    progress("audio: " + std::to_string(c) + " simultaneous calls held " + std::to_string(options_.hold_seconds) + " s");
    const auto poll = std::chrono::milliseconds(20);
    auto t0 = Steady::now();
    for (int i = 0; i < c; ++i) {
      auto call = pairs_[static_cast<std::size_t>(i)].door->station()->press("b1");
      if (!call) throw std::runtime_error("press: " + call.error().message);
    }
    auto all_established = [&] {
      for (int i = 0; i < c; ++i) {
        auto& p = pairs_[static_cast<std::size_t>(i)];
        if (!established(first_call(p.door->station()->status())) || !established(first_call(p.receiver->station()->status())))
          return false;
      }
      return true;
    };
    bool up = apps::eventually(all_established, std::chrono::seconds(30), poll);
    double ramp_ms = ms_since(t0);
    json result{{"concurrent_calls", c}, {"all_established", up}, {"press_all_to_all_established_ms", std::lround(ramp_ms)}};
    if (up) {
      std::this_thread::sleep_for(std::chrono::seconds(1));  // past the first frames and jitter buffers
      auto frames = [&](emulator::EmulatedDevice& d) { return first_call(d.station()->status()); };
      std::vector<json> door_before, receiver_before;
      for (int i = 0; i < c; ++i) {
        door_before.push_back(frames(*pairs_[static_cast<std::size_t>(i)].door));
        receiver_before.push_back(frames(*pairs_[static_cast<std::size_t>(i)].receiver));
      }
      const int cli_port = 2224 + platform_->port_offset();
      auto totals_before = rtpengine_totals(cli_port);
      auto cpu_before = cpu_by_group(platform_->pid());
      auto machine_before = machine_cpu();
      auto h0 = Steady::now();
      std::this_thread::sleep_for(std::chrono::seconds(options_.hold_seconds));
      double hold_s = ms_since(h0) / 1000.0;
      auto cpu_after = cpu_by_group(platform_->pid());
      auto machine_after = machine_cpu();
      auto totals_after = rtpengine_totals(cli_port);
      std::vector<double> door_heard, receiver_heard, lost, jitter;
      int both_heard = 0, still_up = 0;
      const double expected_frames = hold_s * 50.0;  // 20 ms frames
      for (int i = 0; i < c; ++i) {
        auto d = frames(*pairs_[static_cast<std::size_t>(i)].door);
        auto r = frames(*pairs_[static_cast<std::size_t>(i)].receiver);
        if (!established(d) || !established(r)) continue;
        ++still_up;
        double dh = d.value("heard_tone_frames", 0.0) - door_before[i].value("heard_tone_frames", 0.0);
        double rh = r.value("heard_tone_frames", 0.0) - receiver_before[i].value("heard_tone_frames", 0.0);
        door_heard.push_back(dh);
        receiver_heard.push_back(rh);
        // "Hears the other's tone": at least 90 % of the hold's frames carried it.
        if (dh >= 0.9 * expected_frames && rh >= 0.9 * expected_frames) ++both_heard;
        for (const auto* s : {&d, &r}) {
          if (s->contains("rtp")) {
            lost.push_back((*s)["rtp"].value("packets_lost", 0.0));
            jitter.push_back((*s)["rtp"].value("jitter_ms", 0.0));
          }
        }
      }
      auto stats = [](std::vector<double> v) {
        if (v.empty()) return json::object();
        std::sort(v.begin(), v.end());
        return json{{"min", v.front()}, {"median", v[v.size() / 2]}, {"max", v.back()}};
      };
      json cpu = json::object();
      for (auto& [name, seconds] : cpu_after) cpu[name + "_percent_of_one_core"] = round1(100.0 * (seconds - cpu_before[name]) / hold_s);
      cpu["machine_busy_percent_of_all_cores"] =
          round1(100.0 * (machine_after.first - machine_before.first) / (machine_after.second - machine_before.second));
      json rtp = totals_delta(totals_before, totals_after);
      rtp["note"] = "rtpengine `list totals` after - before the hold";
      result["hold_seconds"] = round1(hold_s);
      result["still_established_after_hold"] = still_up;
      result["calls_where_both_sides_heard_the_tone"] = both_heard;
      result["expected_tone_frames_per_side"] = std::lround(expected_frames);
      result["door_heard_tone_frames_in_hold"] = stats(door_heard);
      result["receiver_heard_tone_frames_in_hold"] = stats(receiver_heard);
      result["rtp_packets_lost_per_side_whole_call"] = stats(lost);
      result["rtp_jitter_ms_per_side"] = stats(jitter);
      result["cpu_during_hold"] = cpu;
      result["rtpengine_totals_delta"] = rtp;
      result["rtpengine_totals_after"] = totals_after;
    }
    for (int i = 0; i < c; ++i) (void)pairs_[static_cast<std::size_t>(i)].door->station()->hangup();
    bool cleared = apps::eventually([&] {
      for (int i = 0; i < c; ++i) {
        auto& p = pairs_[static_cast<std::size_t>(i)];
        if (!first_call(p.door->station()->status()).is_null() || !first_call(p.receiver->station()->status()).is_null())
          return false;
      }
      return true;
    }, std::chrono::seconds(15), poll);
    result["all_cleared_after_hangup"] = cleared;
    if (!cleared) throw std::runtime_error("calls not cleared after the audio phase with " + std::to_string(c) + " calls");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return result;
  }

  Options options_;
  testing::TempDir dir_;
  SodiumRandom random_;
  std::unique_ptr<Platform> platform_;
  std::string token_, ca_pem_;
  Tenant tenant_;
  std::vector<Pair> pairs_;
  bool failed_ = false;
};

int run(const Options& options) {
  spdlog::set_level(options.verbose ? spdlog::level::info : spdlog::level::warn);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  json out;
  bool failed = false;
  {
    CallLoad load(options);
    out = load.run();
    failed = load.failed();
  }
  std::cout << out.dump(2) << std::endl;
  curl_global_cleanup();
  return failed ? 2 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "call_load: " << e.what() << std::endl;
    return 1;
  }
}
