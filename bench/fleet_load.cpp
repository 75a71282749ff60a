// Whole-system load driver (not a Google Benchmark): runs the real `carillon up` binary as a
// child on free ports (testing::Platform; SQLite, or PostgreSQL started here like the tests do),
// all emulated devices in this one process, and the HTTPS API, and prints what the foundation
// issue asks for:
//
//   claim   claim N devices from this one process: wall time, broker and serve RSS
//   bulk    change one config field on those N devices in one bulk-config request: time until
//           every device applied it and until the platform recorded every acknowledgement
//   memory  RSS of broker + serve with 0 and with N connected devices (platform restarted in
//           between, so claim-time growth is not counted), per device
//   rollout upload an image of --rollout-mb MB (streamed) and roll it out in waves 10 %, 100 % to
//           the claimed devices: wall time until completed, serve CPU seconds and peak RSS, bytes
//           the devices downloaded (opt-in: every emulated device keeps its image on disk)
//   list    seed M devices straight through the repositories, then GET /api/v1/devices with
//           several filter shapes: p50/p99 on a keep-alive connection and on new connections
//
// Usage: fleet_load [--devices N] [--list-devices M] [--database sqlite|postgresql]
//                   [--concurrency K] [--requests R] [--bulk-rounds B] [--rollout-mb S]
//                   [--phases claim,bulk,memory,list,rollout]
//                   [--verbose]
// Progress goes to stderr; a JSON document with every figure goes to stdout.

#include <curl/curl.h>
#include <malloc.h>
#include <sys/resource.h>
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
#include <iterator>
#include <iostream>
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
#include "seed.hpp"
#include "support/platform.hpp"
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
  int rollout_mb = 50;
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
    else if (a == "--rollout-mb") o.rollout_mb = std::stoi(value());
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
  if (o.phases.count("rollout") && !o.phases.count("claim")) throw std::invalid_argument("rollout needs the claim phase");
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
// The platform's own database, for seeding: `carillon up` writes its URL to serve.json.
std::string database_url(const testing::Platform& up) {
  auto text = read_file(up.state_dir() / "serve.json");
  if (!text) throw std::runtime_error("no serve.json");
  return json::parse(*text).at("database").get<std::string>();
}

// ---------------------------------------------------------------------------------------------
// Memory: VmRSS of a process in KiB (0 if it is gone).
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// utime + stime of a process, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::stringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) break;
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

pid_t pid_from_file(const fs::path& file) {
  auto text = read_file(file);
  return text ? static_cast<pid_t>(std::atoi(text->c_str())) : -1;
}

json memory_snapshot(const testing::Platform& up) {
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
// The emulated fleet: N EmulatedDevice objects in this process, each with its own MQTT client
// (one socket and one eventfd; the client's loop is poll()-based, so descriptors above
// FD_SETSIZE are fine once RLIMIT_NOFILE is raised, which run() does).
class Fleet {
 public:
  Fleet(const Options& options, testing::Platform& up, const fs::path& dir) : options_(options), up_(up), dir_(dir) {}
  ~Fleet() { stop_all(); }
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  json claim(Session& api) {
    auto company = create_node(api, "companies", {{"name", "Fleet bench"}});
    auto project = create_node(api, "projects", {{"name", "Fleet"}, {"company_id", company}});
    site_ = create_node(api, "sites", {{"name", "Fleet site"}, {"project_id", project}, {"time_zone", "Europe/Zurich"}});
    company_ = company;

    const int n = options_.devices;
    progress("creating " + std::to_string(n) + " claim codes");
    auto t_codes = Steady::now();
    std::vector<std::string> codes;
    for (int i = 0; i < n; ++i) {
      codes.push_back(
          api.expect("POST", "/api/v1/claim-codes", {{"site_id", site_}, {"role", "door-station"}}, 201)["code"].get<std::string>());
    }
    double codes_ms = ms_since(t_codes);

    // No warm-up claim: /readyz waits for the claim broker's bridge, so the first claims are
    // timed like all others. A claim that got lost would time out (kClaimTimeout), be retried
    // and show up in failed_attempts_retried.
    auto before = memory_snapshot(up_);
    progress("claiming " + std::to_string(n) + " devices in this process, " + std::to_string(options_.concurrency) +
             " at a time");
    auto t0 = Steady::now();
    auto started = start_devices(codes);
    double claimed_ms = ms_since(t0);
    bool connected = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(5), [&] { return count_connected() == n; });
    double connected_ms = ms_since(t0);
    bool recorded = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(100), [&] {
      return all_devices(api, "site_id=" + site_ + "&online=true").size() == static_cast<std::size_t>(n);
    });
    double online_ms = ms_since(t0);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto after = snapshot();
    return {{"devices", n},
            {"device_processes", 1},
            {"concurrency", options_.concurrency},
            {"claim_codes_created_ms", std::round(codes_ms)},
            {"all_claimed_ms", std::round(claimed_ms)},
            {"all_connected_ms", connected ? json(std::round(connected_ms)) : json(nullptr)},
            {"all_online_in_api_ms", recorded ? json(std::round(online_ms)) : json(nullptr)},
            {"claims_per_second", std::round(n / (claimed_ms / 1000.0) * 10) / 10},
            {"failed_attempts_retried", started.retries},
            {"first_failure", started.first_error},
            {"per_device_start", summary(started.latencies)},
            {"rss_before", before},
            {"rss_after", after}};
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
    bool applied = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(2), [&] {
      return count([&](const emulator::EmulatedDevice& d) { return d.applied_config_version() >= target; }) == n;
    });
    double applied_ms = ms_since(t0);
    bool recorded = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(50), [&] {
      int done = 0;
      for (auto& d : all_devices(api, "site_id=" + site_)) {
        if (d["config"]["applied_version"].get<std::int64_t>() >= target) ++done;
      }
      return done == n;
    });
    double recorded_ms = ms_since(t0);
    // serve logs how long the bulk change took to check, store and publish.
    std::string serve_log;
    if (auto log = read_file(up_.log_file())) {
      auto at = log->rfind("bulk config:");
      if (at != std::string::npos) serve_log = log->substr(at, log->find('\n', at) - at);
    }
    return {{"round", round},
            {"devices", n},
            {"target_version", target},
            {"http_response_ms", std::round(response_ms)},
            {"all_devices_applied_ms", applied ? json(std::round(applied_ms)) : json(nullptr)},
            {"all_acks_recorded_ms", recorded ? json(std::round(recorded_ms)) : json(nullptr)},
            {"serve_log", serve_log},
            {"devices_with_new_value",
             count([&](const emulator::EmulatedDevice& d) { return d.config()["audio"]["speaker_volume"] == volume; })}};
  }

  json rollout(Session& api, const std::string& token) {
    const std::int64_t size = static_cast<std::int64_t>(options_.rollout_mb) * 1024 * 1024;
    const fs::path image = dir_ / "rollout-image.bin";
    {
      // What the emulator boots: a JSON header line, then the bulk.
      std::ofstream out(image, std::ios::binary);
      out << json{{"carillon_firmware", 1}, {"version", "9.9.0"}, {"family", "MX"}, {"boot", "ok"}}.dump() << "\n";
      std::string chunk(1 << 20, 'f');
      for (std::int64_t written = static_cast<std::int64_t>(out.tellp()); written < size;) {
        auto n = std::min<std::int64_t>(static_cast<std::int64_t>(chunk.size()), size - written);
        out.write(chunk.data(), n);
        written += n;
      }
    }
    auto ca = read_file(up_.ca_file());
    http::Client client(http::ClientOptions{ca ? *ca : std::string(), "", "", 20000});
    progress("uploading a " + std::to_string(options_.rollout_mb) + " MB image");
    auto t_upload = Steady::now();
    auto uploaded = client.upload_file("POST", up_.url() + "/api/v1/firmware-images?family=MX&version=9.9.0", image,
                                       {{"Authorization", "Bearer " + token}});
    double upload_ms = ms_since(t_upload);
    if (!uploaded || uploaded->status != 201) throw std::runtime_error("image upload failed");
    const auto image_id = json::parse(uploaded->body)["id"].get<std::string>();
    const double cpu_before = cpu_seconds(up_.pid());
    long peak_rss = rss_kib(up_.pid());
    progress("rolling out to " + std::to_string(options_.devices) + " devices in waves 10 %, 100 %");
    auto t0 = Steady::now();
    auto started = api.expect("POST", "/api/v1/rollouts",
                              {{"company_id", company_}, {"image_id", image_id}, {"waves", {10, 100}},
                               {"failure_threshold_percent", 20}},
                              201);
    const auto id = started["id"].get<std::string>();
    json last;
    wait_until(std::chrono::seconds(3600), std::chrono::milliseconds(500), [&] {
      peak_rss = std::max(peak_rss, rss_kib(up_.pid()));
      last = api.expect("GET", "/api/v1/rollouts/" + id, nullptr, 200);
      return last["state"] != "running";
    });
    double wall_ms = ms_since(t0);
    const double cpu = cpu_seconds(up_.pid()) - cpu_before;
    const int done = last["counts"]["done"].get<int>();
    return {{"devices", options_.devices},
            {"image_bytes", size},
            {"upload_ms", std::round(upload_ms)},
            {"state", last["state"]},
            {"counts", last["counts"]},
            {"wall_ms", std::round(wall_ms)},
            {"serve_cpu_seconds", std::round(cpu * 10) / 10},
            {"serve_peak_rss_kib", peak_rss},
            {"bytes_served_to_done_devices", static_cast<std::int64_t>(done) * size},
            {"serve_mb_per_cpu_second", cpu > 0 ? std::round(done * (size / 1048576.0) / cpu) : 0}};
  }

  json memory(Session& api) {
    const int n = options_.devices;
    progress("memory: disconnecting all devices, restarting the platform");
    stop_all();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto after_disconnect = snapshot();
    up_.restart();
    api.set_token(login(api, up_));
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto idle = snapshot();
    progress("memory: reconnecting " + std::to_string(n) + " devices from their stored identity");
    auto t0 = Steady::now();
    start_devices({});
    bool connected = wait_until(std::chrono::seconds(120), std::chrono::milliseconds(5), [&] { return count_connected() == n; });
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
              {"emulator_driver", per_device("driver_kib")}}}};
  }

  static std::string login(Session& api, const testing::Platform& up) {
    api.set_token("");
    return api.expect("POST", "/api/v1/auth/login", {{"username", "admin"}, {"password", up.admin_password()}}, 200)["access_token"]
        .get<std::string>();
  }

  // Disconnects every device (in parallel: each stop waits for its MQTT DISCONNECT) and hands
  // the freed memory back to the system, so the driver's RSS is comparable before and after.
  void stop_all() {
    parallel_for(static_cast<int>(devices_.size()), std::max(1, options_.concurrency),
                 [&](int k) { devices_[static_cast<std::size_t>(k)].reset(); });
    devices_.clear();
    ::malloc_trim(0);
  }

 private:
  // A lost claim waits this long before the attempt fails and is retried.
  static constexpr std::chrono::milliseconds kClaimTimeout{10000};

  struct Started {
    std::vector<double> latencies;
    int retries = 0;
    std::string first_error;
  };

  std::unique_ptr<emulator::EmulatedDevice> make_device(int i, const std::string& code) {
    emulator::DeviceOptions o;
    o.platform_url = up_.url();
    o.ca_file = up_.ca_file();
    o.state_dir = dir_ / "devices" / std::to_string(i);
    o.claim_code = code;
    char serial[32];
    std::snprintf(serial, sizeof serial, "BENCH-%06d", i);
    o.serial = serial;
    o.claim_timeout = kClaimTimeout;
    return std::make_unique<emulator::EmulatedDevice>(o, random_);
  }

  // Starts (claims with codes[i], or reconnects from the stored identity when `codes` is
  // empty) every device, options_.concurrency at a time.
  Started start_devices(const std::vector<std::string>& codes) {
    const int n = options_.devices;
    devices_.resize(static_cast<std::size_t>(n));
    Started out;
    std::vector<std::string> fatal;
    std::mutex m;
    parallel_for(n, options_.concurrency, [&](int i) {
      auto& device = devices_[static_cast<std::size_t>(i)];
      const std::string code = codes.empty() ? std::string() : codes[static_cast<std::size_t>(i)];
      auto t = Steady::now();
      device = make_device(i, code);
      auto s = device->start();
      // A failed attempt is retried (the code is still unused) and counted in the report.
      for (int attempt = 1; !s && attempt < 3; ++attempt) {
        {
          std::lock_guard lock(m);
          if (out.retries++ == 0) out.first_error = s.error().message;
        }
        device = make_device(i, code);
        s = device->start();
      }
      double ms = ms_since(t);
      std::lock_guard lock(m);
      out.latencies.push_back(ms);
      if (!s) fatal.push_back(s.error().message);
    });
    if (!fatal.empty())
      throw std::runtime_error(std::to_string(fatal.size()) + " devices failed to start 3 times, e.g. " + fatal.front());
    return out;
  }

  int count(const std::function<bool(const emulator::EmulatedDevice&)>& predicate) const {
    int n = 0;
    for (const auto& d : devices_) n += d && predicate(*d) ? 1 : 0;
    return n;
  }
  int count_connected() const {
    return count([](const emulator::EmulatedDevice& d) { return d.connected(); });
  }

  json snapshot() {
    auto s = memory_snapshot(up_);
    s["devices_running"] = devices_.size();
    return s;
  }

  const Options& options_;
  testing::Platform& up_;
  fs::path dir_;
  SodiumRandom random_;
  std::string site_;
  std::string company_;
  std::vector<std::string> ids_;
  std::vector<std::unique_ptr<emulator::EmulatedDevice>> devices_;
};

// ---------------------------------------------------------------------------------------------
json list_phase(const Options& options, testing::Platform& up, Session& api, const std::string& token) {
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
  auto db = store::Database::open(database_url(up), 4);
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
    Status s = bench::seed_claimed_device(repo, ids, clock, random, company, sites[static_cast<std::size_t>(i % 10)], i);
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
  // The dashboard (issue 5, target p99 <= 50 ms) over the same 10,000 devices, with an image in
  // the catalogue so every device's firmware status is computed against it.
  auto image = fresh.request("POST",
                             up.url() + "/api/v1/firmware-images?family=MX&version=9.0.0&models=ID5%20TD",
                             std::string(64 * 1024, 'x'),
                             {{"Authorization", "Bearer " + token}, {"Content-Type", "application/octet-stream"}});
  if (!image || image->status != 201) throw std::runtime_error("firmware upload for the dashboard failed");
  const std::vector<Shape> dashboards = {
      {"dashboard company", "company_id=" + company},
      {"dashboard project", "company_id=" + company + "&project_id=" + projects[0]},
      {"dashboard site", "company_id=" + company + "&site_id=" + sites[3]},
  };
  json dashboard_results = json::array();
  for (const auto& shape : dashboards) {
    const std::string path = "/api/v1/dashboard?" + shape.query;
    json first;
    for (int i = 0; i < 5; ++i) first = api.expect("GET", path, nullptr, 200);  // warm-up
    std::vector<double> keepalive;
    for (int i = 0; i < options.requests; ++i) {
      auto r = api.request("GET", path);
      if (r.status != 200) throw std::runtime_error(path + " answered " + std::to_string(r.status));
      keepalive.push_back(r.ms);
    }
    progress(shape.name + ": p50 " + summary(keepalive)["p50_ms"].dump() + " ms, p99 " +
             summary(keepalive)["p99_ms"].dump() + " ms");
    dashboard_results.push_back({{"shape", shape.name},
                                 {"devices", first["devices"]},
                                 {"firmware", first["firmware"]},
                                 {"keepalive", summary(keepalive)}});
  }
  return {{"seeded_devices", m},
          {"dashboard", dashboard_results},
          {"seed_ms", std::round(seed_ms)},
          {"devices_in_database", all_devices(api, "limit=500").size()},
          {"shapes", results}};
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
  progress("starting carillon up (" + options.database + ")");
  auto t_up = Steady::now();
  std::vector<std::string> up_arguments;
  if (!database.empty()) up_arguments = {"--database", database};
  testing::Platform up(up_arguments);
  double up_ms = ms_since(t_up);
  progress("carillon up ready at " + up.url());
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
    if (options.phases.count("rollout")) out["rollout"] = fleet.rollout(api, token);
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
    return run(parse_options(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "fleet_load: " << e.what() << std::endl;
    return 1;
  }
}
