// Whole-system load driver (not a Google Benchmark): runs the real `carillon up` binary as a
// child on free ports (SQLite, or PostgreSQL started here like tests/support does), emulated
// devices (in child processes of this binary, 250 each: see kDevicesPerHost) and the HTTPS API,
// and prints what the foundation issue asks for:
//
//   claim   claim N devices from one driver: wall time, broker and serve RSS
//   bulk    change one config field on those N devices in one bulk-config request: time until
//           every device applied it and until the platform recorded every acknowledgement
//   memory  RSS of broker + serve with 0 and with N connected devices (platform restarted in
//           between, so claim-time growth is not counted), per device
//   list    seed M devices straight through the repositories, then GET /api/v1/devices with
//           several filter shapes: p50/p99 on a keep-alive connection and on new connections
//
// Usage: fleet_load [--devices N] [--list-devices M] [--database sqlite|postgresql]
//                   [--concurrency K] [--requests R] [--bulk-rounds B] [--phases claim,bulk,memory,list]
//                   [--verbose]
// Progress goes to stderr; a JSON document with every figure goes to stdout.

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "devices/config.hpp"
#include "emulator/device.hpp"
#include "http/client.hpp"
#include "mqtt/client.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace carillon;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

double ms_since(Steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
}

void progress(const std::string& line) { std::cerr << "[fleet_load] " << line << std::endl; }

struct Options {
  int devices = 1000;
  int list_devices = 10000;
  std::string database = "sqlite";
  int concurrency = 8;
  int requests = 200;
  int bulk_rounds = 3;
  bool verbose = false;  // library logs at info level instead of warn
  std::set<std::string> phases = {"claim", "bulk", "memory", "list"};
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--devices") o.devices = std::stoi(value());
    else if (a == "--list-devices") o.list_devices = std::stoi(value());
    else if (a == "--database") o.database = value();
    else if (a == "--concurrency") o.concurrency = std::stoi(value());
    else if (a == "--requests") o.requests = std::stoi(value());
    else if (a == "--bulk-rounds") o.bulk_rounds = std::stoi(value());
    else if (a == "--verbose") o.verbose = true;
    else if (a == "--phases") {
      o.phases.clear();
      std::stringstream list(value());
      for (std::string p; std::getline(list, p, ',');) o.phases.insert(p);
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (o.database != "sqlite" && o.database != "postgresql") throw std::invalid_argument("--database sqlite|postgresql");
  if (o.devices < 1 || o.concurrency < 1 || o.requests < 1) throw std::invalid_argument("counts must be positive");
  if (o.phases.count("bulk") && !o.phases.count("claim")) throw std::invalid_argument("bulk needs the claim phase");
  return o;
}

struct HostArgs;
HostArgs parse_host_args(int argc, char** argv);

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
  auto round3 = [](double v) { return std::round(v * 1000.0) / 1000.0; };
  return {{"n", samples.size()},         {"p50_ms", round3(at(0.50))}, {"p90_ms", round3(at(0.90))},
          {"p99_ms", round3(at(0.99))},  {"max_ms", round3(samples.back())},
          {"mean_ms", round3(sum / static_cast<double>(samples.size()))}};
}

// ---------------------------------------------------------------------------------------------
// An HTTPS session on one keep-alive connection (what a portal or script holding a connection
// sees); http::Client opens a new TLS connection per request, which is measured separately.
class Session {
 public:
  Session(std::string base_url, const std::string& ca_pem) : base_(std::move(base_url)), ca_(ca_pem) {
    handle_ = curl_easy_init();
    if (!handle_) throw std::runtime_error("curl_easy_init failed");
  }
  ~Session() { curl_easy_cleanup(handle_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void set_token(std::string token) { token_ = std::move(token); }

  struct Reply {
    int status = 0;
    std::string body;
    double ms = 0;
    json parsed() const { return json::parse(body, nullptr, false); }
  };

  Reply request(const std::string& method, const std::string& path, const std::string& body = {}) {
    Reply reply;
    CURL* h = handle_;
    curl_easy_setopt(h, CURLOPT_URL, (base_ + path).c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    curl_blob blob{const_cast<char*>(ca_.data()), ca_.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Session::write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
    if (method == "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body.c_str());
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    curl_slist* headers = curl_slist_append(nullptr, "Expect:");
    headers = curl_slist_append(headers, "Content-Type: application/json");
    std::string auth = "Authorization: Bearer " + token_;
    if (!token_.empty()) headers = curl_slist_append(headers, auth.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    auto t0 = Steady::now();
    CURLcode rc = curl_easy_perform(h);
    reply.ms = ms_since(t0);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) throw std::runtime_error(method + " " + path + ": " + curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    reply.status = static_cast<int>(status);
    return reply;
  }

  json expect(const std::string& method, const std::string& path, const json& body, int status) {
    auto r = request(method, path, body.is_null() ? std::string() : body.dump());
    if (r.status != status) throw std::runtime_error(method + " " + path + " answered " + std::to_string(r.status) + ": " + r.body);
    return r.parsed();
  }

 private:
  static size_t write(char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  }

  std::string base_;
  std::string ca_;
  std::string token_;
  CURL* handle_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// `carillon up` as a child process.
// `carillon up` takes four ports (8443, 8883, 8884, 8885 shifted by one offset), so a single
// free_port() is not enough: probe the four of a random offset.
bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<unsigned short>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

int free_offset() {
  std::random_device seed;
  std::mt19937 gen(seed());
  std::uniform_int_distribution<int> pick(2000, 50000);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int offset = pick(gen);
    if (port_free(8443 + offset) && port_free(8883 + offset) && port_free(8884 + offset) && port_free(8885 + offset))
      return offset;
  }
  throw std::runtime_error("no free port offset");
}

class UpProcess {
 public:
  UpProcess(fs::path dir, std::string database) : dir_(std::move(dir)), database_(std::move(database)), offset_(free_offset()) {
    url_ = "https://127.0.0.1:" + std::to_string(8443 + offset_);
  }
  ~UpProcess() { stop(); }
  UpProcess(const UpProcess&) = delete;
  UpProcess& operator=(const UpProcess&) = delete;

  const std::string& url() const { return url_; }
  fs::path state_dir() const { return dir_ / "state"; }
  fs::path ca_file() const { return state_dir() / "pki" / "ca.pem"; }
  pid_t pid() const { return pid_; }

  void start() {
    auto log = (dir_ / "up.log").string();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      FILE* out = std::freopen(log.c_str(), "a", stdout);
      FILE* err = std::freopen(log.c_str(), "a", stderr);
      (void)out;
      (void)err;
      auto offset = std::to_string(offset_);
      auto state = state_dir().string();
      if (database_.empty()) {
        ::execl(CARILLON_BINARY, CARILLON_BINARY, "up", "--state-dir", state.c_str(), "--port-offset", offset.c_str(),
                static_cast<char*>(nullptr));
      } else {
        ::execl(CARILLON_BINARY, CARILLON_BINARY, "up", "--state-dir", state.c_str(), "--port-offset", offset.c_str(),
                "--database", database_.c_str(), static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    auto deadline = Steady::now() + std::chrono::seconds(90);
    while (Steady::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("carillon up exited early; see " + log);
      }
      if (fs::exists(ca_file())) {
        auto ca = read_file(ca_file());
        http::Client client(http::ClientOptions{ca ? *ca : std::string(), "", "", 2000});
        auto r = client.request("GET", url_ + "/readyz");
        if (r && r->status == 200) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    throw std::runtime_error("carillon up did not become ready; see " + log);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 300; ++i) {
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

  std::string admin_password() const {
    auto text = read_file(state_dir() / "admin-credentials.json");
    if (!text) throw std::runtime_error("no admin-credentials.json");
    return json::parse(*text).at("password").get<std::string>();
  }
  std::string database_url() const {
    auto text = read_file(state_dir() / "serve.json");
    if (!text) throw std::runtime_error("no serve.json");
    return json::parse(*text).at("database").get<std::string>();
  }

 private:
  fs::path dir_;
  std::string database_;
  int offset_;
  std::string url_;
  pid_t pid_ = -1;
};

// ---------------------------------------------------------------------------------------------
// Memory: VmRSS of a process in KiB (0 if it is gone).
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

pid_t pid_from_file(const fs::path& file) {
  auto text = read_file(file);
  return text ? static_cast<pid_t>(std::atoi(text->c_str())) : -1;
}

json memory_snapshot(const UpProcess& up) {
  auto broker_dir = up.state_dir() / "mosquitto";
  long serve = rss_kib(up.pid());
  long broker = rss_kib(pid_from_file(broker_dir / "mosquitto.pid"));
  long claim = rss_kib(pid_from_file(broker_dir / "mosquitto-claim.pid"));
  return {{"serve_kib", serve},
          {"broker_kib", broker},
          {"claim_broker_kib", claim},
          {"platform_total_kib", serve + broker + claim},
          {"driver_kib", rss_kib(::getpid())}};
}

// Runs job(i) for i in [0, n) on `threads` threads.
void parallel_for(int n, int threads, const std::function<void(int)>& job) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) job(i);
    });
  }
  for (auto& t : pool) t.join();
}

// Pages through GET /api/v1/devices?<query> and returns every item.
std::vector<json> all_devices(Session& api, const std::string& query) {
  std::vector<json> out;
  std::string after;
  for (;;) {
    auto page = api.expect("GET", "/api/v1/devices?" + query + "&limit=500" + (after.empty() ? "" : "&after=" + after), nullptr, 200);
    for (auto& item : page["items"]) out.push_back(item);
    if (page["next"].is_null()) return out;
    after = page["next"].get<std::string>();
  }
}

bool wait_until(std::chrono::seconds timeout, std::chrono::milliseconds step, const std::function<bool()>& done) {
  auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(step);
  }
  return done();
}

std::string create_node(Session& api, const std::string& collection, const json& body) {
  return api.expect("POST", "/api/v1/" + collection, body, 201)["id"].get<std::string>();
}

// ---------------------------------------------------------------------------------------------
// Emulated devices live in "host" processes of at most kDevicesPerHost each: every libmosquitto
// client holds three descriptors (socket + wake-up socket pair) and its threaded loop uses
// select(), which cannot watch descriptors >= FD_SETSIZE (1024). One process therefore stalls
// at about 340 connected devices (measured: BENCHMARKS.md). A host is this binary run with
// --host-devices; it answers one-line commands on stdin with one line on stdout.
constexpr int kDevicesPerHost = 250;

struct HostArgs {
  int first = 0;
  int count = 0;
  std::string url;
  fs::path ca;
  fs::path dir;
  fs::path codes;  // one claim code per line for devices first..first+count-1; "" = reconnect
  int concurrency = 2;
};

std::unique_ptr<emulator::EmulatedDevice> make_device(const HostArgs& a, int i, const std::string& code, Random& random) {
  emulator::DeviceOptions o;
  o.platform_url = a.url;
  o.ca_file = a.ca;
  o.state_dir = a.dir / std::to_string(i);
  o.claim_code = code;
  char serial[32];
  std::snprintf(serial, sizeof serial, "BENCH-%06d", i);
  o.serial = serial;
  o.claim_timeout = std::chrono::milliseconds(60000);
  return std::make_unique<emulator::EmulatedDevice>(o, random);
}

// The host side: start (claim or reconnect) the slice, report, then serve queries until "stop".
int run_host(const HostArgs& a) {
  spdlog::set_level(spdlog::level::warn);
  mqtt::Library mqtt_library;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  SodiumRandom random;
  std::vector<std::string> codes(static_cast<std::size_t>(a.count));
  if (!a.codes.empty()) {
    std::ifstream in(a.codes);
    std::string line;
    for (int i = 0; i < a.first + a.count && std::getline(in, line); ++i) {
      if (i >= a.first) codes[static_cast<std::size_t>(i - a.first)] = line;
    }
  }
  std::vector<std::unique_ptr<emulator::EmulatedDevice>> devices(static_cast<std::size_t>(a.count));
  std::mutex m;
  std::vector<double> latencies;
  std::vector<std::string> errors, fatal;
  parallel_for(a.count, a.concurrency, [&](int k) {
    auto& device = devices[static_cast<std::size_t>(k)];
    const auto& code = codes[static_cast<std::size_t>(k)];
    auto t = Steady::now();
    device = make_device(a, a.first + k, code, random);
    auto s = device->start();
    // A failed attempt is retried (the code is still unused) and counted in the report.
    for (int attempt = 1; !s && attempt < 3; ++attempt) {
      {
        std::lock_guard lock(m);
        errors.push_back(s.error().message);
      }
      device = make_device(a, a.first + k, code, random);
      s = device->start();
    }
    double ms = ms_since(t);
    std::lock_guard lock(m);
    latencies.push_back(ms);
    if (!s) fatal.push_back(s.error().message);
  });
  json started{{"latencies", latencies}, {"retries", errors.size()}, {"fatal", fatal.size()},
               {"first_error", errors.empty() ? std::string() : errors.front()}};
  std::cout << started.dump() << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    std::stringstream command(line);
    std::string verb;
    long long arg = 0;
    command >> verb >> arg;
    long long n = 0;
    if (verb == "connected") {
      for (auto& d : devices) n += d && d->connected() ? 1 : 0;
    } else if (verb == "applied") {
      for (auto& d : devices) n += d && d->applied_config_version() >= arg ? 1 : 0;
    } else if (verb == "volume") {
      for (auto& d : devices) n += d && d->config()["audio"]["speaker_volume"] == arg ? 1 : 0;
    } else if (verb == "rss") {
      n = rss_kib(::getpid());
    } else if (verb == "stop") {
      parallel_for(a.count, a.concurrency, [&](int k) { devices[static_cast<std::size_t>(k)].reset(); });
      std::cout << "0" << std::endl;
      break;
    }
    std::cout << n << std::endl;
  }
  curl_global_cleanup();
  return 0;
}

// The driver's end of one host process.
class Host {
 public:
  explicit Host(const HostArgs& a) {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[0]);
      ::close(to_child[1]);
      ::close(from_child[0]);
      ::close(from_child[1]);
      std::vector<std::string> args = {"fleet_load",         "--host-devices",     std::to_string(a.first),
                                       std::to_string(a.count), "--url",          a.url,
                                       "--ca",               a.ca.string(),      "--dir",
                                       a.dir.string(),       "--concurrency",    std::to_string(a.concurrency),
                                       "--codes",            a.codes.string()};
      std::vector<char*> argv;
      for (auto& s : args) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_ = ::fdopen(to_child[1], "w");
    from_ = ::fdopen(from_child[0], "r");
  }
  ~Host() {
    if (pid_ > 0) {
      (void)ask("stop");
      std::fclose(to_);
      std::fclose(from_);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // The line the host prints once its devices are started.
  json started() { return json::parse(read_line()); }
  long long ask(const std::string& command) {
    std::fprintf(to_, "%s\n", command.c_str());
    std::fflush(to_);
    return std::stoll(read_line());
  }
  pid_t pid() const { return pid_; }

 private:
  std::string read_line() {
    std::string line;
    for (int c = std::fgetc(from_); c != EOF && c != '\n'; c = std::fgetc(from_)) line.push_back(static_cast<char>(c));
    if (line.empty()) throw std::runtime_error("device host " + std::to_string(pid_) + " ended");
    return line;
  }

  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
};

class Fleet {
 public:
  Fleet(const Options& options, UpProcess& up, const fs::path& dir) : options_(options), up_(up), dir_(dir) {}

  json claim(Session& api) {
    auto company = create_node(api, "companies", {{"name", "Fleet bench"}});
    auto project = create_node(api, "projects", {{"name", "Fleet"}, {"company_id", company}});
    site_ = create_node(api, "sites", {{"name", "Fleet site"}, {"project_id", project}, {"time_zone", "Europe/Zurich"}});

    const int n = options_.devices;
    progress("creating " + std::to_string(n) + " claim codes");
    auto t_codes = Steady::now();
    {
      std::ofstream codes(dir_ / "codes.txt");
      for (int i = 0; i < n; ++i) {
        codes << api.expect("POST", "/api/v1/claim-codes", {{"site_id", site_}, {"role", "door-station"}}, 201)["code"]
                     .get<std::string>()
              << "\n";
      }
    }
    double codes_ms = ms_since(t_codes);

    // `carillon up` is ready once serve is on the main broker, but the claim broker's bridge
    // may connect seconds later and claim requests sent before are lost (BENCHMARKS.md). One
    // untimed warm-up claim, retried, makes sure the claim path is up before the clock runs.
    int warmup_attempts = 0;
    double warmup_ms = 0;
    {
      SodiumRandom random;
      auto warmup_site = create_node(api, "sites", {{"name", "Warm-up"}, {"project_id", project}, {"time_zone", "Europe/Zurich"}});
      auto code = api.expect("POST", "/api/v1/claim-codes", {{"site_id", warmup_site}, {"role", "door-station"}}, 201)["code"].get<std::string>();
      emulator::DeviceOptions o;
      o.platform_url = up_.url();
      o.ca_file = up_.ca_file();
      o.state_dir = dir_ / "warmup";
      o.claim_code = code;
      o.serial = "BENCH-WARMUP";
      o.claim_timeout = std::chrono::milliseconds(2000);
      auto t = Steady::now();
      Status s = fail(Errc::unavailable, "not tried");
      while (!s && warmup_attempts < 30) {
        ++warmup_attempts;
        emulator::EmulatedDevice warmup(o, random);  // stops (disconnects) at the end of the turn
        s = warmup.start();
      }
      if (!s) throw std::runtime_error("warm-up claim failed: " + s.error().message);
      warmup_ms = ms_since(t);
    }

    auto before = memory_snapshot(up_);
    progress("claiming " + std::to_string(n) + " devices in " + std::to_string(host_count()) + " host processes, " +
             std::to_string(options_.concurrency) + " at a time");
    auto t0 = Steady::now();
    auto started = start_hosts(dir_ / "codes.txt");
    double claimed_ms = ms_since(t0);
    bool connected = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(5), [&] { return sum("connected") == n; });
    double connected_ms = ms_since(t0);
    bool recorded = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(100), [&] {
      return all_devices(api, "site_id=" + site_ + "&online=true").size() == static_cast<std::size_t>(n);
    });
    double online_ms = ms_since(t0);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return {{"devices", n},
            {"host_processes", host_count()},
            {"concurrency", options_.concurrency},
            {"claim_codes_created_ms", std::round(codes_ms)},
            {"all_claimed_ms", std::round(claimed_ms)},
            {"all_connected_ms", connected ? json(std::round(connected_ms)) : json(nullptr)},
            {"all_online_in_api_ms", recorded ? json(std::round(online_ms)) : json(nullptr)},
            {"warmup_claim_attempts", warmup_attempts},
            {"warmup_claim_ms", std::round(warmup_ms)},
            {"claims_per_second", std::round(n / (claimed_ms / 1000.0) * 10) / 10},
            {"failed_attempts_retried", started["retries"]},
            {"first_failure", started["first_error"]},
            {"per_device_start", summary(started["latencies"].get<std::vector<double>>())},
            {"rss_before", before},
            {"rss_after", snapshot()}};
  }

  json bulk(Session& api, int round) {
    const int n = options_.devices;
    if (ids_.empty()) {
      for (auto& d : all_devices(api, "site_id=" + site_)) ids_.push_back(d["id"].get<std::string>());
      if (ids_.size() != static_cast<std::size_t>(n)) throw std::runtime_error("site lists " + std::to_string(ids_.size()) + " devices");
    }
    int volume = 10 + round;
    json body{{"device_ids", ids_}, {"config", {{"audio", {{"speaker_volume", volume}}}}}};
    progress("bulk-config round " + std::to_string(round) + ": speaker_volume=" + std::to_string(volume));
    auto t0 = Steady::now();
    auto reply = api.request("POST", "/api/v1/devices/bulk-config", body.dump());
    double response_ms = ms_since(t0);
    if (reply.status != 200) throw std::runtime_error("bulk-config answered " + std::to_string(reply.status) + ": " + reply.body);
    auto result = reply.parsed();
    if (result["failed"].get<int>() != 0) throw std::runtime_error("bulk-config failures: " + reply.body.substr(0, 500));
    std::int64_t target = INT64_MAX;
    for (auto& r : result["results"]) target = std::min(target, r["version"].get<std::int64_t>());
    bool applied = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(2),
                              [&] { return sum("applied " + std::to_string(target)) == n; });
    double applied_ms = ms_since(t0);
    bool recorded = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(50), [&] {
      int done = 0;
      for (auto& d : all_devices(api, "site_id=" + site_)) {
        if (d["config"]["applied_version"].get<std::int64_t>() >= target) ++done;
      }
      return done == n;
    });
    double recorded_ms = ms_since(t0);
    return {{"round", round},
            {"devices", n},
            {"target_version", target},
            {"http_response_ms", std::round(response_ms)},
            {"all_devices_applied_ms", applied ? json(std::round(applied_ms)) : json(nullptr)},
            {"all_acks_recorded_ms", recorded ? json(std::round(recorded_ms)) : json(nullptr)},
            {"devices_with_new_value", sum("volume " + std::to_string(volume))}};
  }

  json memory(Session& api) {
    const int n = options_.devices;
    progress("memory: disconnecting all devices, restarting the platform");
    hosts_.clear();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto after_disconnect = snapshot();
    up_.stop();
    up_.start();
    api.set_token(login(api, up_));
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto idle = snapshot();
    progress("memory: reconnecting " + std::to_string(n) + " devices from their stored identity");
    auto t0 = Steady::now();
    auto started = start_hosts({});
    bool connected = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(5), [&] { return sum("connected") == n; });
    double connected_ms = ms_since(t0);
    bool online = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(100), [&] {
      return all_devices(api, "site_id=" + site_ + "&online=true").size() == static_cast<std::size_t>(n);
    });
    double online_ms = ms_since(t0);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    auto loaded = snapshot();
    auto per_device = [&](const char* key) {
      return std::round((loaded[key].get<double>() - idle[key].get<double>()) / n * 100.0) / 100.0;
    };
    return {{"devices", n},
            {"after_disconnect_before_restart", after_disconnect},
            {"idle_0_connected", idle},
            {"with_n_connected", loaded},
            {"reconnect_all_connected_ms", connected ? json(std::round(connected_ms)) : json(nullptr)},
            {"reconnect_all_online_in_api_ms", online ? json(std::round(online_ms)) : json(nullptr)},
            {"per_device_kib",
             {{"serve", per_device("serve_kib")},
              {"broker", per_device("broker_kib")},
              {"broker_plus_serve", per_device("serve_kib") + per_device("broker_kib")},
              {"emulator_hosts", per_device("device_hosts_kib")}}}};
  }

  static std::string login(Session& api, const UpProcess& up) {
    api.set_token("");
    return api.expect("POST", "/api/v1/auth/login", {{"username", "admin"}, {"password", up.admin_password()}}, 200)["access_token"]
        .get<std::string>();
  }

  void stop_all() { hosts_.clear(); }

 private:
  int host_count() const { return (options_.devices + kDevicesPerHost - 1) / kDevicesPerHost; }

  // Starts every host (they claim or reconnect in parallel) and merges their reports.
  json start_hosts(const fs::path& codes) {
    const int hosts = host_count();
    const int per_host_concurrency = std::max(1, (options_.concurrency + hosts - 1) / hosts);
    for (int h = 0; h < hosts; ++h) {
      HostArgs a;
      a.first = h * kDevicesPerHost;
      a.count = std::min(kDevicesPerHost, options_.devices - a.first);
      a.url = up_.url();
      a.ca = up_.ca_file();
      a.dir = dir_ / "devices";
      a.codes = codes;
      a.concurrency = per_host_concurrency;
      hosts_.push_back(std::make_unique<Host>(a));
    }
    json merged{{"latencies", json::array()}, {"retries", 0}, {"fatal", 0}, {"first_error", nullptr}};
    for (auto& host : hosts_) {
      auto r = host->started();
      for (auto& l : r["latencies"]) merged["latencies"].push_back(l);
      merged["retries"] = merged["retries"].get<int>() + r["retries"].get<int>();
      merged["fatal"] = merged["fatal"].get<int>() + r["fatal"].get<int>();
      if (merged["first_error"].is_null() && !r["first_error"].get<std::string>().empty()) merged["first_error"] = r["first_error"];
    }
    if (merged["fatal"].get<int>() > 0)
      throw std::runtime_error(merged["fatal"].dump() + " devices failed to start 3 times, e.g. " + merged["first_error"].dump());
    return merged;
  }

  long long sum(const std::string& command) {
    long long total = 0;
    for (auto& host : hosts_) total += host->ask(command);
    return total;
  }

  json snapshot() {
    auto s = memory_snapshot(up_);
    long long hosts = 0;
    for (auto& host : hosts_) hosts += rss_kib(host->pid());
    s["device_hosts_kib"] = hosts;
    return s;
  }

  const Options& options_;
  UpProcess& up_;
  fs::path dir_;
  std::string site_;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<Host>> hosts_;
};

// ---------------------------------------------------------------------------------------------
json list_phase(const Options& options, UpProcess& up, Session& api, const std::string& token) {
  const int m = options.list_devices;
  auto company = create_node(api, "companies", {{"name", "List bench"}});
  std::vector<std::string> projects, sites;
  for (int p = 0; p < 2; ++p) {
    projects.push_back(create_node(api, "projects", {{"name", "Project " + std::to_string(p)}, {"company_id", company}}));
    for (int s = 0; s < 5; ++s) {
      sites.push_back(create_node(api, "sites", {{"name", "Site " + std::to_string(p) + "." + std::to_string(s)},
                                                 {"project_id", projects.back()},
                                                 {"time_zone", "Europe/Zurich"}}));
    }
  }

  // Seeding goes straight through the repositories the platform uses, against its database
  // while it runs: a claim code and a claim per device, as a real claim stores them.
  progress("seeding " + std::to_string(m) + " devices through SqlDeviceRepository (" + options.database + ")");
  auto db = store::Database::open(up.database_url(), 4);
  if (!db) throw std::runtime_error("open database: " + db.error().message);
  store::SqlDeviceRepository repo(**db);
  SystemClock clock;
  SodiumRandom random;
  IdGenerator ids(clock, random);
  std::atomic<int> failures{0};
  std::string first_error;
  std::mutex error_mutex;
  auto t_seed = Steady::now();
  parallel_for(m, 4, [&](int i) {
    auto now = clock.now();
    const auto& site = sites[static_cast<std::size_t>(i % 10)];
    devices::ClaimCode code;
    code.id = ids.next(id_prefix::claim_code);
    code.code_hash = random.hex(32);
    code.company_id = company;
    code.site_id = site;
    code.role = "door-station";
    code.created_at = now;
    code.expires_at = now + 3600;
    code.created_by = "bench";
    AuditEvent created{ids.next(id_prefix::audit), now, "bench", "claim_code.create", "claim_code", code.id, company, "", json::object()};
    devices::Device d;
    d.id = ids.next(id_prefix::device);
    char serial[32];
    std::snprintf(serial, sizeof serial, "LIST-%06d", i);
    d.serial = serial;
    d.company_id = company;
    d.site_id = site;
    d.name = "Door " + std::to_string(i);
    d.role = "door-station";
    d.model = "MX-DS-1";
    d.hardware_revision = "3";
    d.firmware_version = "1.0.0";
    d.capabilities = json::array({"audio", "video", "door-opener", "dtmf", "hearing-loop"});
    d.online = i % 3 != 0;  // two thirds online
    d.last_seen = now;
    d.cert_serial = random.hex(16);
    d.cert_expires_at = now + 365 * 86400;
    d.desired_config = devices::default_config(d.name, d.role);
    d.desired_version = 1;
    d.applied_version = 1;
    d.created_at = d.updated_at = now;
    AuditEvent claimed{ids.next(id_prefix::audit), now, "device:" + d.serial, "device.claim", "device", d.id, company, "bench", json::object()};
    Status s = repo.insert_claim_code(code, created);
    if (s) s = repo.claim(code.id, now, d, claimed);
    if (!s) {
      failures++;
      std::lock_guard lock(error_mutex);
      if (first_error.empty()) first_error = s.error().message;
    }
  });
  double seed_ms = ms_since(t_seed);
  if (failures > 0) throw std::runtime_error(std::to_string(failures.load()) + " seeds failed, first: " + first_error);

  // A cursor in the middle of a site, for a deep page.
  auto site_items = all_devices(api, "site_id=" + sites[0]);
  std::string middle = site_items[site_items.size() / 2]["id"].get<std::string>();

  struct Shape {
    std::string name;
    std::string query;
  };
  const std::vector<Shape> shapes = {
      {"all devices (platform admin)", "limit=50"},
      {"company", "company_id=" + company + "&limit=50"},
      {"company online", "company_id=" + company + "&online=true&limit=50"},
      {"project", "project_id=" + projects[0] + "&limit=50"},
      {"project offline", "project_id=" + projects[1] + "&online=false&limit=50"},
      {"site", "site_id=" + sites[3] + "&limit=50"},
      {"site online", "site_id=" + sites[3] + "&online=true&limit=50"},
      {"site offline, page after middle", "site_id=" + sites[0] + "&online=false&limit=50&after=" + middle},
      {"search q=serial substring", "company_id=" + company + "&q=LIST-00042&limit=50"},
      {"search q=name, no match", "company_id=" + company + "&q=nomatch&limit=50"},
      {"company limit=500", "company_id=" + company + "&limit=500"},
  };
  auto ca = read_file(up.ca_file());
  http::Client fresh(http::ClientOptions{ca ? *ca : std::string(), "", "", 20000});
  json results = json::array();
  for (const auto& shape : shapes) {
    const std::string path = "/api/v1/devices?" + shape.query;
    std::size_t items = 0;
    for (int i = 0; i < 10; ++i) items = api.expect("GET", path, nullptr, 200)["items"].size();  // warm-up
    std::vector<double> keepalive, fresh_connection;
    for (int i = 0; i < options.requests; ++i) {
      auto r = api.request("GET", path);
      if (r.status != 200) throw std::runtime_error(path + " answered " + std::to_string(r.status));
      keepalive.push_back(r.ms);
    }
    for (int i = 0; i < std::max(1, options.requests / 4); ++i) {
      auto t = Steady::now();
      auto r = fresh.request("GET", up.url() + path, "", {{"Authorization", "Bearer " + token}});
      if (!r || r->status != 200) throw std::runtime_error(path + " failed on a new connection");
      fresh_connection.push_back(ms_since(t));
    }
    progress(shape.name + ": p50 " + summary(keepalive)["p50_ms"].dump() + " ms, p99 " + summary(keepalive)["p99_ms"].dump() + " ms");
    results.push_back({{"shape", shape.name},
                       {"query", shape.query},
                       {"items", items},
                       {"keepalive", summary(keepalive)},
                       {"new_connection", summary(fresh_connection)}});
  }
  return {{"seeded_devices", m},
          {"seed_ms", std::round(seed_ms)},
          {"devices_in_database", all_devices(api, "limit=500").size()},
          {"shapes", results}};
}

HostArgs parse_host_args(int argc, char** argv) {
  HostArgs a;
  if (argc < 4) throw std::invalid_argument("--host-devices FIRST COUNT ...");
  a.first = std::stoi(argv[2]);
  a.count = std::stoi(argv[3]);
  for (int i = 4; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--url") a.url = v;
    else if (k == "--ca") a.ca = v;
    else if (k == "--dir") a.dir = v;
    else if (k == "--codes") a.codes = v;
    else if (k == "--concurrency") a.concurrency = std::stoi(v);
  }
  return a;
}

int run(const Options& options) {
  // 1,000 devices = 1,000 sockets here and in the brokers (children inherit the limit).
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  spdlog::set_level(options.verbose ? spdlog::level::info : spdlog::level::warn);

  mqtt::Library mqtt_library;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  testing::TempDir dir;
  std::unique_ptr<testing::PostgresServer> postgres;
  std::string database;
  if (options.database == "postgresql") {
    progress("starting PostgreSQL");
    postgres = std::make_unique<testing::PostgresServer>();
    database = postgres->create_database("carillon_bench");
  }
  UpProcess up(dir.path(), database);
  progress("starting carillon up (" + options.database + ") at " + up.url());
  auto t_up = Steady::now();
  up.start();
  double up_ms = ms_since(t_up);
  auto ca = read_file(up.ca_file());
  Session api(up.url(), ca ? *ca : std::string());
  auto token = Fleet::login(api, up);
  api.set_token(token);

  json out{{"database", options.database},
           {"options",
            {{"devices", options.devices},
             {"list_devices", options.list_devices},
             {"concurrency", options.concurrency},
             {"requests", options.requests}}},
           {"platform_start_ms", std::round(up_ms)},
           {"rss_idle_fresh", memory_snapshot(up)}};
  {
    Fleet fleet(options, up, dir.path());
    if (options.phases.count("claim")) out["claim"] = fleet.claim(api);
    if (options.phases.count("bulk")) {
      out["bulk"] = json::array();
      for (int round = 1; round <= options.bulk_rounds; ++round) out["bulk"].push_back(fleet.bulk(api, round));
    }
    if (options.phases.count("memory") && options.phases.count("claim")) {
      out["memory"] = fleet.memory(api);
      token = Fleet::login(api, up);
      api.set_token(token);
    }
    if (options.phases.count("list")) out["list"] = list_phase(options, up, api, token);
    fleet.stop_all();
  }
  up.stop();
  std::cout << out.dump(2) << std::endl;
  curl_global_cleanup();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "--host-devices") return run_host(parse_host_args(argc, argv));
    return run(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "fleet_load: " << e.what() << std::endl;
    return 1;
  }
}
