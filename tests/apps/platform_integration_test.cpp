// End to end: the real `carillon up` (SQLite, two Mosquitto processes, HTTPS API) driven through
// its REST API, its WebSocket event stream, the admin CLI and emulated devices - in this process
// (EmulatedDevice) or as `carillon device` child processes. Every wait polls with a deadline.
#include <utility>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "common/random.hpp"
#include "devices/protocol.hpp"
#include "emulator/device.hpp"
#include "mqtt/client.hpp"
#include "pki/pki.hpp"
#include "apps/platform_helpers.hpp"
#include "support/platform.hpp"
#include "support/temp_dir.hpp"

namespace carillon::apps {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using nlohmann::json;
using testing::Platform;
using testing::TempDir;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// main() owns the libmosquitto initialisation in the binary; here the test environment does.
class MqttLibraryEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { library_ = std::make_unique<mqtt::Library>(); }
  void TearDown() override { library_.reset(); }

 private:
  std::unique_ptr<mqtt::Library> library_;
};
const auto* const kMqttEnvironment = ::testing::AddGlobalTestEnvironment(new MqttLibraryEnvironment);

std::string upper_hex_without_leading_zeros(std::string hex) {
  for (auto& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto first = hex.find_first_not_of('0');
  return first == std::string::npos ? "0" : hex.substr(first);
}

bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  // A zombie is dead, only not reaped yet.
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  auto close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() || (*stat)[close + 2] != 'Z';
}

pid_t pid_from_file(const fs::path& file) {
  auto text = read_file(file);
  if (!text) return -1;
  try {
    return static_cast<pid_t>(std::stol(*text));
  } catch (const std::exception&) {
    return -1;
  }
}

// Output (stdout and stderr) of a shell command.
std::string shell(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed");
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

// --- child processes of the `carillon` binary -------------------------------------------------

struct Finished {
  int exit_code = -1;
  std::string out;
  std::string err;
};

pid_t spawn(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
            const fs::path& out_file, const fs::path& err_file) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    for (const auto& [key, value] : env) ::setenv(key.c_str(), value.c_str(), 1);
    int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out < 0 || err < 0) _exit(126);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    std::vector<char*> argv;
    std::string binary = CARILLON_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(CARILLON_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

// Runs `carillon args...` to completion (killed after `timeout`).
Finished run_carillon(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
                      const fs::path& dir, std::chrono::seconds timeout = 30s) {
  static std::atomic<int> counter{0};
  auto n = std::to_string(counter++);
  auto out = dir / ("run-" + n + ".out");
  auto err = dir / ("run-" + n + ".err");
  pid_t pid = spawn(args, env, out, err);
  Finished result;
  int status = 0;
  bool done = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout, 20ms);
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  result.exit_code = done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(out).value_or("");
  result.err = read_file(err).value_or("");
  return result;
}

// A `carillon device` child process, SIGKILLed by the test or stopped at the end.
class DeviceProcess {
 public:
  DeviceProcess(const std::vector<std::string>& args, const fs::path& log)
      : pid_(spawn(args, {}, log, log)) {}
  ~DeviceProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      if (!eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 10s)) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
  }
  DeviceProcess(const DeviceProcess&) = delete;
  DeviceProcess& operator=(const DeviceProcess&) = delete;
  void kill_hard() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool running() { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_;
};

// --- the WebSocket event stream --------------------------------------------------------------

template <class T>
T await(std::future<T> future) {
  if (future.wait_for(10s) != std::future_status::ready) throw std::runtime_error("operation timed out");
  return future.get();
}

// Subscribes to /api/v1/events (token as ?access_token=, the way browsers must) and collects
// every event on a background thread.
class EventStream {
 public:
  EventStream(const Platform& platform, const std::string& token)
      : guard_(net::make_work_guard(io_)), tls_(ssl::context::tls_client), ws_(io_, tls_) {
    auto ca = read_file(platform.ca_file()).value();
    tls_.add_certificate_authority(net::buffer(ca));
    tls_.set_verify_mode(ssl::verify_peer);
    ws_.next_layer().set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    thread_ = std::thread([this] { io_.run(); });
    auto port = static_cast<unsigned short>(8443 + platform.port_offset());
    await(beast::get_lowest_layer(ws_).socket().async_connect(tcp::endpoint(net::ip::address_v4::loopback(), port),
                                                              net::use_future));
    await(ws_.next_layer().async_handshake(ssl::stream_base::client, net::use_future));
    await(ws_.async_handshake("127.0.0.1", "/api/v1/events?access_token=" + token, net::use_future));
    net::post(io_, [this] { read_next(); });
  }
  ~EventStream() {
    net::post(io_, [this] { beast::get_lowest_layer(ws_).socket().close(); });
    guard_.reset();
    thread_.join();
  }
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // The first event of `type` (about device `device_id` when not empty) received so far or
  // within `timeout`; null if none came.
  json wait_for(const std::string& type, const std::string& device_id, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    json found;
    changed_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (e.value("type", "") == type && (device_id.empty() || e["data"].value("id", "") == device_id)) {
          found = e;
          return true;
        }
      }
      return closed_;
    });
    return found;
  }
  // How many events of `type` about `device_id` arrived so far.
  std::size_t count(const std::string& type, const std::string& device_id) {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(), [&](const json& e) {
      return e.value("type", "") == type && e["data"].value("id", "") == device_id;
    }));
  }

 private:
  void read_next() {
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      std::lock_guard lock(mutex_);
      if (ec) {
        closed_ = true;
        changed_.notify_all();
        return;
      }
      auto event = json::parse(beast::buffers_to_string(buffer_.data()), nullptr, false);
      buffer_.consume(buffer_.size());
      if (event.is_object()) events_.push_back(event);
      changed_.notify_all();
      read_next();
    });
  }

  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  ssl::context tls_;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
  beast::flat_buffer buffer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<json> events_;
  bool closed_ = false;
  std::thread thread_;
};

const json kDoorOpener = {{"id", 1}, {"name", "Main door"}, {"dtmf", "*1"}, {"output", 1}, {"pulse_ms", 3000}};

// --- 1. `carillon up` lifecycle ---------------------------------------------------------------

TEST(PlatformLifecycle, ServesHealthReadinessMetricsAndOpenApi) {
  Platform p;
  auto client = p.client();
  auto health = client.request("GET", p.url() + "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  auto ready = p.call("GET", "/readyz", "");
  EXPECT_EQ(ready.status, 200) << ready.raw;
  EXPECT_EQ(ready.body["checks"]["database"], "ok") << ready.raw;
  EXPECT_EQ(ready.body["checks"]["broker"], "ok") << ready.raw;

  auto openapi = client.request("GET", p.url() + "/api/v1/openapi.yaml");
  ASSERT_TRUE(openapi);
  EXPECT_EQ(openapi->status, 200);
  EXPECT_NE(openapi->body.find("\nopenapi: \"3."), std::string::npos) << openapi->body.substr(0, 200);
  EXPECT_NE(openapi->body.find("/devices/{id}/config"), std::string::npos);

  auto metrics = client.request("GET", p.url() + "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->headers["content-type"].rfind("text/plain", 0), 0u) << metrics->headers["content-type"];
  EXPECT_NE(metrics->body.find("carillon_http_requests_total"), std::string::npos) << metrics->body;

  auto credentials_file = p.state_dir() / "admin-credentials.json";
  struct stat info {};
  ASSERT_EQ(::stat(credentials_file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto credentials = json::parse(read_file(credentials_file).value());
  EXPECT_EQ(credentials["url"], p.url());
  EXPECT_EQ(credentials["username"], "admin");
  EXPECT_GE(credentials["password"].get<std::string>().size(), 20u);
  EXPECT_NO_THROW(p.admin_token());
}

TEST(PlatformLifecycle, RestartKeepsCaAndAdminAndSigtermStopsTheBrokers) {
  Platform p;
  auto ca_before = read_file(p.ca_file()).value();
  auto password = p.admin_password();

  p.restart();
  EXPECT_EQ(read_file(p.ca_file()).value(), ca_before);
  EXPECT_EQ(p.admin_password(), password);
  EXPECT_NO_THROW(p.login("admin", password));

  std::vector<pid_t> brokers;
  for (const char* name : {"mosquitto.pid", "mosquitto-claim.pid"}) {
    auto pid = pid_from_file(p.state_dir() / "mosquitto" / name);
    ASSERT_GT(pid, 0) << name;
    EXPECT_TRUE(process_alive(pid)) << name;
    brokers.push_back(pid);
  }
  p.stop();
  for (auto pid : brokers) EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 5s)) << "mosquitto " << pid;
}

TEST(PlatformLifecycle, SupervisorRestartsAKilledBroker) {
  Platform p;
  auto pid_file = p.state_dir() / "mosquitto" / "mosquitto.pid";
  auto old_pid = pid_from_file(pid_file);
  ASSERT_GT(old_pid, 0);
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);

  // Serve notices the lost broker (readiness drops) ...
  EXPECT_TRUE(eventually([&] { return p.call("GET", "/readyz", "").status == 503; }, 5s));
  // ... the supervisor starts a new one and serve reconnects.
  EXPECT_TRUE(eventually([&] {
    auto pid = pid_from_file(pid_file);
    return pid > 0 && pid != old_pid && process_alive(pid);
  }, 10s));
  EXPECT_TRUE(eventually([&] { return p.call("GET", "/readyz", "").status == 200; }, 20s, 100ms));
}

// --- 2..7, 9: one platform shared by tests that do not disturb each other ---------------------

class SharedPlatform : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { platform_ = new Platform(); }
  static void TearDownTestSuite() {
    delete platform_;
    platform_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(platform_, nullptr);
    token_ = platform_->admin_token();
  }
  // A tenant with one site and a device claimed on it (door opener in the pre-installation
  // config), online with its first config applied.
  struct Claimed {
    Tenant tenant;
    std::unique_ptr<emulator::EmulatedDevice> device;
    std::string id;
  };
  Claimed claim_one(const std::string& name, const fs::path& state) {
    Claimed c;
    c.tenant = make_tenant(*platform_, token_, name);
    auto code = make_claim_code(*platform_, token_, c.tenant.site, json{{"door_openers", json::array({kDoorOpener})}});
    c.device = start_device(*platform_, state, code, random_);
    json found;
    bool ready = eventually([&] {
      found = device_by_serial(*platform_, token_, c.device->serial());
      return found.is_object() && found["online"] == true && found["config"]["state"] == "applied";
    }, 15s, 100ms);
    if (!ready) throw std::runtime_error("device not online with its config: " + found.dump());
    c.id = found["id"];
    return c;
  }

  static Platform* platform_;
  std::string token_;
  SodiumRandom random_;
  TempDir dir_;
};

Platform* SharedPlatform::platform_ = nullptr;

// 2. login -> company -> project -> site -> claim code -> device claims -> online with config.
TEST_F(SharedPlatform, TourFromLoginToAnOnlineConfiguredDevice) {
  auto& p = *platform_;
  EventStream events(p, token_);
  auto tenant = make_tenant(p, token_, "Tour GmbH");
  auto code = make_claim_code(p, token_, tenant.site, json{{"door_openers", json::array({kDoorOpener})}});
  ASSERT_EQ(code.size(), 14u) << code;

  auto device = start_device(p, dir_.path() / "tour-device", code, random_);
  ASSERT_TRUE(eventually([&] { return device->connected(); }, 10s));
  auto connected_at = SteadyClock::now();
  json found;
  ASSERT_TRUE(eventually([&] {
    found = device_by_serial(p, token_, device->serial());
    return found.is_object() && found["online"] == true;
  }, 2s, 25ms)) << "not online within 2 s of connecting: " << found.dump();
  EXPECT_LE(SteadyClock::now() - connected_at, 2s);

  EXPECT_EQ(found["site_id"], tenant.site);
  EXPECT_EQ(found["company_id"], tenant.company);
  EXPECT_EQ(found["model"], "ID5 TD");
  EXPECT_EQ(found["hardware_revision"], "AD");
  EXPECT_EQ(found["firmware_version"], "1.0.0");
  EXPECT_NE(std::find(found["capabilities"].begin(), found["capabilities"].end(), "door-opener"),
            found["capabilities"].end()) << found["capabilities"].dump();
  auto id = found["id"].get<std::string>();
  ASSERT_TRUE(eventually([&] {
    found = device_by_id(p, token_, id);
    return found["config"]["applied_version"] == found["config"]["desired_version"];
  }, 10s)) << found.dump();
  EXPECT_EQ(found["config"]["state"], "applied");
  EXPECT_EQ(found["config"]["desired_version"], 1);

  auto config = p.call("GET", "/api/v1/devices/" + id + "/config", token_);
  ASSERT_EQ(config.status, 200) << config.raw;
  ASSERT_EQ(config.body["desired"]["door_openers"].size(), 1u) << config.raw;
  EXPECT_EQ(config.body["desired"]["door_openers"][0]["dtmf"], "*1");
  EXPECT_EQ(device->config()["door_openers"], config.body["desired"]["door_openers"]);

  EXPECT_FALSE(events.wait_for("device.claimed", id, 5s).is_null());
  EXPECT_FALSE(events.wait_for("device.online", id, 5s).is_null());
  device->stop();
}

// 3. Config changes reach the device; invalid ones are refused with the field named.
TEST_F(SharedPlatform, ConfigChangeIsAppliedAndInvalidPatchesAreRefused) {
  auto& p = *platform_;
  auto c = claim_one("Config AG", dir_.path() / "config-device");
  auto path = "/api/v1/devices/" + c.id + "/config";

  auto changed = p.call("PATCH", path, token_, json{{"screen", {{"brightness", 40}}}});
  ASSERT_EQ(changed.status, 200) << changed.raw;
  EXPECT_EQ(changed.body["config"]["desired_version"], 2);
  json found;
  ASSERT_TRUE(eventually([&] {
    found = device_by_id(p, token_, c.id);
    return found["config"]["applied_version"] == 2;
  }, 10s)) << found.dump();
  EXPECT_EQ(found["config"]["state"], "applied");
  EXPECT_EQ(c.device->applied_config_version(), 2);
  EXPECT_EQ(c.device->config()["screen"]["brightness"], 40);
  EXPECT_EQ(c.device->config()["door_openers"].size(), 1u) << "merge patch must keep the rest";

  json three = json::array();
  for (int i = 1; i <= 3; ++i)
    three.push_back({{"id", i}, {"name", "Door " + std::to_string(i)}, {"dtmf", "*" + std::to_string(i)}, {"output", 1}});
  struct Case {
    json patch;
    std::string field;
  };
  for (const auto& [patch, field] : {Case{json{{"door_openers", three}}, "config.door_openers"},
                                     Case{json{{"volume", 3}}, "config.volume"},
                                     Case{json{{"screen", {{"brightness", 200}}}}, "config.screen.brightness"}}) {
    auto r = p.call("PATCH", path, token_, patch);
    EXPECT_EQ(r.status, 400) << patch.dump() << " -> " << r.raw;
    EXPECT_EQ(r.body.value("type", ""), "https://carillon.dev/problems/invalid-argument") << r.raw;
    EXPECT_EQ(first_error_field(r), field) << r.raw;
  }
  auto after = p.call("GET", path, token_);
  EXPECT_EQ(after.body["desired_version"], 2) << after.raw;
  EXPECT_EQ(after.body["desired"]["screen"]["brightness"], 40);
  c.device->stop();
}

// 4. Commands: restart, rename, lookup by id, unknown type.
TEST_F(SharedPlatform, CommandsRestartAndRename) {
  auto& p = *platform_;
  EventStream events(p, token_);
  auto c = claim_one("Commands SA", dir_.path() / "commands-device");
  auto commands = "/api/v1/devices/" + c.id + "/commands";

  auto restart = p.call("POST", commands, token_, json{{"type", "restart"}});
  ASSERT_EQ(restart.status, 202) << restart.raw;
  auto restart_id = restart.body["id"].get<std::string>();
  Platform::Reply state;
  ASSERT_TRUE(eventually([&] {
    state = p.call("GET", commands + "/" + restart_id, token_);
    return state.body.value("state", "") != "pending";
  }, 10s)) << state.raw;
  EXPECT_EQ(state.body["state"], "succeeded") << state.raw;
  EXPECT_EQ(state.body["type"], "restart");
  EXPECT_FALSE(state.body["finished_at"].is_null());
  ASSERT_TRUE(eventually([&] { return c.device->restarts() == 1 && c.device->connected(); }, 15s));
  // A reboot is a lost connection for the platform: offline (last will), then online again.
  EXPECT_FALSE(events.wait_for("device.offline", c.id, 10s).is_null());
  ASSERT_TRUE(eventually([&] { return events.count("device.online", c.id) >= 1 && device_by_id(p, token_, c.id)["online"] == true; }, 10s));

  auto rename = p.call("POST", commands, token_, json{{"type", "rename"}, {"arguments", {{"name", "Front door"}}}});
  ASSERT_EQ(rename.status, 202) << rename.raw;
  auto rename_id = rename.body["id"].get<std::string>();
  ASSERT_TRUE(eventually([&] {
    state = p.call("GET", commands + "/" + rename_id, token_);
    return state.body.value("state", "") != "pending";
  }, 10s)) << state.raw;
  EXPECT_EQ(state.body["state"], "succeeded") << state.raw;
  EXPECT_EQ(c.device->config()["name"], "Front door");
  EXPECT_EQ(device_by_id(p, token_, c.id)["name"], "Front door");

  auto unknown = p.call("POST", commands, token_, json{{"type", "self-destruct"}});
  EXPECT_EQ(unknown.status, 400) << unknown.raw;
  EXPECT_EQ(first_error_field(unknown), "type") << unknown.raw;
  auto missing = p.call("GET", commands + "/cm_00000000000000000000000000", token_);
  EXPECT_EQ(missing.status, 404) << missing.raw;
  c.device->stop();
}

// 5. A device process that dies is reported offline through its last will; restarted without a
// claim code it comes back with its stored identity.
TEST_F(SharedPlatform, KilledDeviceGoesOfflineAndReturnsWithItsIdentity) {
  auto& p = *platform_;
  EventStream events(p, token_);
  auto tenant = make_tenant(p, token_, "Offline Ltd");
  auto code = make_claim_code(p, token_, tenant.site);
  auto state = dir_.path() / "process-device";
  const std::string serial = "EMU-KILL-" + random_.hex(4);
  std::vector<std::string> args = {"device", "--platform", p.url(), "--ca", p.ca_file().string(), "--state-dir",
                                   state.string(), "--serial", serial, "--keepalive", "5"};
  auto log = dir_.path() / "device-process.log";
  // libmosquitto cannot keep alive below 5 s: the command line says so instead of failing later.
  auto too_short = run_carillon({"device", "--platform", p.url(), "--ca", p.ca_file().string(), "--state-dir",
                                 state.string(), "--keepalive", "2", "--claim", code},
                                {}, dir_.path());
  EXPECT_NE(too_short.exit_code, 0);
  EXPECT_NE(too_short.err.find("--keepalive"), std::string::npos) << too_short.err;
  json found;
  std::string id;
  {
    auto with_claim = args;
    with_claim.insert(with_claim.end(), {"--claim", code});
    DeviceProcess device(with_claim, log);
    ASSERT_TRUE(eventually([&] {
      found = device_by_serial(p, token_, serial);
      return found.is_object() && found["online"] == true;
    }, 20s, 100ms)) << read_file(log).value_or("");
    id = found["id"];
    ASSERT_TRUE(device.running());

    device.kill_hard();
    auto killed_at = SteadyClock::now();
    // The broker gives up on the session after 1.5 keepalives (7.5 s) and publishes the will.
    ASSERT_TRUE(eventually([&] { return device_by_id(p, token_, id)["online"] == false; }, 12s, 100ms))
        << "still online " << std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now() - killed_at).count()
        << " s after the kill";
    EXPECT_FALSE(events.wait_for("device.offline", id, 2s).is_null());
  }

  DeviceProcess again(args, log);
  ASSERT_TRUE(eventually([&] {
    found = device_by_serial(p, token_, serial);
    return found.is_object() && found["online"] == true;
  }, 20s, 100ms)) << read_file(log).value_or("");
  EXPECT_EQ(found["id"], id);
  auto listed = p.call("GET", "/api/v1/devices?site_id=" + tenant.site, token_);
  EXPECT_EQ(listed.body["items"].size(), 1u) << listed.raw;
  EXPECT_GE(events.count("device.online", id), 2u);
}

// 6. Revocation cuts the live session, keeps the device out and lists it in the CRL.
TEST_F(SharedPlatform, RevokedDeviceIsCutOffAndListedInTheCrl) {
  auto& p = *platform_;
  auto c = claim_one("Revoke BV", dir_.path() / "revoke-device");
  ASSERT_TRUE(c.device->connected());
  auto before = device_by_id(p, token_, c.id);
  auto cert_serial = before["certificate"]["serial"].get<std::string>();
  ASSERT_FALSE(cert_serial.empty());

  auto revoked = p.call("POST", "/api/v1/devices/" + c.id + "/revoke", token_);
  ASSERT_EQ(revoked.status, 200) << revoked.raw;
  EXPECT_EQ(revoked.body["revoked"], true);
  EXPECT_EQ(device_by_id(p, token_, c.id)["revoked"], true);

  ASSERT_TRUE(eventually([&] { return !c.device->connected(); }, 5s)) << "live session not cut";
  auto reconnected = eventually([&] { return c.device->connected(); }, 5s, 25ms);
  EXPECT_FALSE(reconnected) << "a revoked device got back in";

  auto crl_text = shell("openssl crl -noout -text -in " + (p.state_dir() / "pki" / "crl.pem").string());
  EXPECT_NE(crl_text.find("Serial Number: " + upper_hex_without_leading_zeros(cert_serial)), std::string::npos)
      << cert_serial << "\n" << crl_text;

  auto config = p.call("PATCH", "/api/v1/devices/" + c.id + "/config", token_, json{{"screen", {{"brightness", 10}}}});
  EXPECT_EQ(config.status, 409) << config.raw;
  c.device->stop();
}

// An anonymous client on the claim listener with a fixed client id, speaking the claim protocol.
class ClaimClient {
 public:
  ClaimClient(const Platform& platform, std::string client_id) : client_id_(std::move(client_id)) {
    mqtt::ClientOptions o;
    o.host = "127.0.0.1";
    o.port = static_cast<unsigned short>(8884 + platform.port_offset());
    o.client_id = client_id_;
    o.ca_pem_file = platform.ca_file().string();
    client_ = std::make_unique<mqtt::Client>(o);
    client_->on_message([this](const std::string&, const std::string& payload, bool) {
      std::lock_guard lock(mutex_);
      answers_.push_back(json::parse(payload, nullptr, false));
      changed_.notify_all();
    });
    if (auto s = client_->subscribe(devices::protocol::claim_topic(client_id_, "response")); !s)
      throw std::runtime_error(s.error().message);
    if (auto s = client_->connect(); !s) throw std::runtime_error(s.error().message);
    if (auto s = client_->wait_connected(10s); !s) throw std::runtime_error(s.error().message);
  }

  // Sends one claim request with a real CSR for `serial` and returns the answer (null: none).
  json claim(const std::string& code, const std::string& serial) {
    auto key = pki::generate_private_key_pem().value();
    auto csr = pki::make_csr_pem(key, serial).value();
    json request{{"schema", devices::protocol::kSchema}, {"code", code}, {"csr", csr}, {"serial", serial},
                 {"model", "ID5 TD"}, {"hardware_revision", "AD"}};
    std::size_t seen = 0;
    {
      std::lock_guard lock(mutex_);
      seen = answers_.size();
    }
    if (auto s = client_->publish(devices::protocol::claim_topic(client_id_, "request"), request.dump()); !s)
      throw std::runtime_error(s.error().message);
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, 10s, [&] { return answers_.size() > seen; })) return nullptr;
    return answers_[seen];
  }

 private:
  std::string client_id_;
  std::unique_ptr<mqtt::Client> client_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<json> answers_;
};

// 7. Claim codes: used and unknown codes look alike; guessing is throttled per claim client.
// (Expiry and CSR/serial mismatch: tests/apps/device_service_test.cpp, with a manual clock.)
TEST_F(SharedPlatform, ClaimCodesUsedUnknownAndThrottled) {
  auto& p = *platform_;
  auto tenant = make_tenant(p, token_, "Claims Oy");
  auto used = make_claim_code(p, token_, tenant.site);
  auto spare = make_claim_code(p, token_, tenant.site);
  auto suffix = random_.hex(4);

  ClaimClient first(p, "claim-first-" + suffix);
  auto ok = first.claim(used, "EMU-CLAIM1-" + suffix);
  ASSERT_TRUE(ok.is_object());
  ASSERT_EQ(ok.value("ok", false), true) << ok.dump();
  EXPECT_FALSE(ok.value("device_id", "").empty());

  ClaimClient guesser(p, "claim-guess-" + suffix);
  auto reused = guesser.claim(used, "EMU-CLAIM2-" + suffix);
  ASSERT_TRUE(reused.is_object());
  EXPECT_EQ(reused["ok"], false);
  auto message = reused["error"].value("message", "");
  EXPECT_FALSE(message.empty()) << reused.dump();
  EXPECT_EQ(reused["error"]["code"], "forbidden") << reused.dump();
  for (int i = 2; i <= 5; ++i) {
    auto unknown = guesser.claim("ZZZZ-ZZZZ-ZZZ" + std::to_string(i), "EMU-CLAIM2-" + suffix);
    ASSERT_TRUE(unknown.is_object()) << "guess " << i;
    EXPECT_EQ(unknown["ok"], false);
    EXPECT_EQ(unknown["error"].value("message", ""), message) << "guess " << i << ": " << unknown.dump();
  }
  // Five failures: the sixth attempt is throttled, even with a valid code ...
  auto throttled = guesser.claim(spare, "EMU-CLAIM2-" + suffix);
  ASSERT_TRUE(throttled.is_object());
  EXPECT_EQ(throttled["ok"], false);
  EXPECT_EQ(throttled["error"]["code"], "throttled") << throttled.dump();
  // ... which was not spent: another client can still use it.
  ClaimClient other(p, "claim-other-" + suffix);
  auto later = other.claim(spare, "EMU-CLAIM3-" + suffix);
  ASSERT_TRUE(later.is_object());
  EXPECT_EQ(later.value("ok", false), true) << later.dump();
}

// 9. The admin CLI: a session file, JSON on stdout, one "error:" line on stderr.
TEST_F(SharedPlatform, AdminCliLoginCompaniesAndOneLineErrors) {
  auto& p = *platform_;
  auto session = dir_.path() / "cli" / "session.json";
  std::vector<std::pair<std::string, std::string>> env = {{"CARILLON_SESSION", session.string()}};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "admin");
    return run_carillon(args, env, dir_.path());
  };

  auto login = run({"--url", p.url(), "--ca", p.ca_file().string(), "login", "--username", "admin", "--password",
                    p.admin_password()});
  ASSERT_EQ(login.exit_code, 0) << login.out << login.err;
  struct stat info {};
  ASSERT_EQ(::stat(session.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  auto wrong = run({"--url", p.url(), "--ca", p.ca_file().string(), "login", "--username", "admin", "--password", "nope"});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_EQ(wrong.err.rfind("error:", 0), 0u) << wrong.err;

  auto created = run({"companies", "create", "--name", "Cli Corp", "--attribute", "tier=gold"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto company = json::parse(created.out, nullptr, false);
  ASSERT_TRUE(company.is_object()) << created.out;
  EXPECT_EQ(company["name"], "Cli Corp");
  EXPECT_EQ(company["attributes"]["tier"], "gold");

  auto listed = run({"companies", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto list = json::parse(listed.out, nullptr, false);
  ASSERT_TRUE(list.is_object()) << listed.out;
  EXPECT_TRUE(std::any_of(list["items"].begin(), list["items"].end(), [&](const json& c) { return c["id"] == company["id"]; }))
      << listed.out;

  auto project = run({"projects", "create", "--name", "Cli project", "--company", company["id"]});
  ASSERT_EQ(project.exit_code, 0) << project.err;
  auto project_id = json::parse(project.out)["id"].get<std::string>();
  auto bad_zone = run({"sites", "create", "--name", "Cli site", "--project", project_id, "--time-zone", "Mars/Olympus"});
  EXPECT_NE(bad_zone.exit_code, 0);
  EXPECT_EQ(bad_zone.err.rfind("error:", 0), 0u) << bad_zone.err;
  EXPECT_EQ(std::count(bad_zone.err.begin(), bad_zone.err.end(), '\n'), 1) << bad_zone.err;
  EXPECT_NE(bad_zone.err.find("time_zone"), std::string::npos) << bad_zone.err;
  EXPECT_TRUE(bad_zone.out.empty()) << bad_zone.out;
}

// 8. The broker dies: the supervisor restarts it, device and serve reconnect by themselves.
TEST(BrokerRestart, DeviceAndServeReconnectAndConfigStillFlows) {
  Platform p;
  auto token = p.admin_token();
  SodiumRandom random;
  auto tenant = make_tenant(p, token, "Broker Kft");
  auto code = make_claim_code(p, token, tenant.site);
  auto device = start_device(p, p.state_dir() / ".." / "broker-device", code, random);
  json found;
  ASSERT_TRUE(eventually([&] {
    found = device_by_serial(p, token, device->serial());
    return found.is_object() && found["online"] == true && found["config"]["state"] == "applied";
  }, 15s, 100ms)) << found.dump();
  auto id = found["id"].get<std::string>();

  auto pid_file = p.state_dir() / "mosquitto" / "mosquitto.pid";
  auto old_pid = pid_from_file(pid_file);
  ASSERT_GT(old_pid, 0);
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return !device->connected(); }, 5s));
  ASSERT_TRUE(eventually([&] {
    auto pid = pid_from_file(pid_file);
    return pid > 0 && pid != old_pid && process_alive(pid);
  }, 10s));
  ASSERT_TRUE(eventually([&] { return device->connected(); }, 20s, 100ms))
      << "device did not reconnect; broker log:\n" << read_file(p.state_dir() / "mosquitto" / "mosquitto.log").value_or("");
  ASSERT_TRUE(eventually([&] { return p.call("GET", "/readyz", "").status == 200; }, 20s, 100ms))
      << "serve did not reconnect";
  EXPECT_EQ(device_by_id(p, token, id)["online"], true);

  auto changed = p.call("PATCH", "/api/v1/devices/" + id + "/config", token, json{{"screen", {{"brightness", 55}}}});
  ASSERT_EQ(changed.status, 200) << changed.raw;
  ASSERT_TRUE(eventually([&] {
    found = device_by_id(p, token, id);
    return found["config"]["applied_version"] == 2;
  }, 15s, 100ms)) << found.dump();
  EXPECT_EQ(device->config()["screen"]["brightness"], 55);
  device->stop();
}

}  // namespace
}  // namespace carillon::apps
