// A whole emulated device (EmulatedDevice) updated over the real device protocol: a real Mosquitto
// (device listener with mutual TLS), the platform's side played by an MQTT client on the platform
// listener, and the image served over HTTPS with mutual TLS by our http::Server. The device's
// reboot is the real one (the link drops, the will says offline, the birth message comes back).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/encoding.hpp"
#include "common/files.hpp"
#include "common/random.hpp"
#include "emulator/device.hpp"
#include "firmware/signing.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "mqtt/client.hpp"
#include "support/mosquitto_server.hpp"
#include "support/temp_dir.hpp"

namespace carillon::emulator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kWait = 30s;
const std::string kSerial = "EMU-FW1";

std::string make_image(const std::string& version, const std::string& boot, std::size_t size) {
  std::string image = json{{"carillon_firmware", 1}, {"version", version}, {"family", "MX"}, {"boot", boot}}.dump() + "\n";
  for (std::size_t i = 0; image.size() < size; ++i) image.push_back(static_cast<char>((i * 7919) & 0xff));
  return image;
}

// Set-up steps that cannot fail in a sane environment.
void must(const Status& status) {
  if (!status) throw std::runtime_error(status.error().message);
}

std::string topic(const std::string& leaf) { return "carillon/v1/devices/" + kSerial + "/" + leaf; }

class FirmwareUpdateIntegration : public ::testing::Test {
 protected:
  FirmwareUpdateIntegration() {
    // The device was claimed earlier: its identity, certificate and the firmware key are on disk.
    auto identity = broker_.issue_device(kSerial);
    state_ = tmp_.path() / "device";
    fs::create_directories(state_);
    fs::copy_file(broker_.ca_file(), state_ / "ca.pem");
    fs::copy_file(identity.cert, state_ / "device.pem");
    fs::copy_file(identity.key, state_ / "device.key");
    must(write_file(state_ / "identity.json", json{{"serial", kSerial}, {"device_id", "dev-1"}, {"mqtt_host", "127.0.0.1"},
                                                    {"device_port", broker_.config().device_port}}.dump()));
    auto signer = firmware::FirmwareSigner::load_or_create(tmp_.path() / "platform" / "firmware-key.pem");
    signer_ = std::make_unique<firmware::FirmwareSigner>(signer.value());
    must(write_file(state_ / "firmware-key.pem", signer_->public_key_pem()));

    // The platform's image download endpoint, for devices only (mutual TLS with the device CA).
    router_.add("GET", "/device/v1/firmware/{id}", [this](const http::Request& request) {
      std::lock_guard lock(mutex_);
      downloads_by_.push_back(request.client_common_name);
      auto it = images_.find(request.params.at("id"));
      if (it == images_.end()) return http::Response{404, "text/plain", "", {}};
      return http::Response{200, "application/octet-stream", it->second, {}};
    });
    http::ServerOptions options;
    options.cert_pem = read_file(broker_.config().server_cert_file).value();
    options.key_pem = read_file(broker_.config().server_key_file).value();
    options.client_ca_pem = read_file(broker_.ca_file()).value();
    image_server_ = std::make_unique<http::Server>(options, router_);
    must(image_server_->start());

    mqtt::ClientOptions o;
    o.port = broker_.config().platform_port;
    o.client_id = "platform-test";
    o.ca_pem_file = broker_.ca_file().string();
    o.cert_file = broker_.platform_identity().cert.string();
    o.key_file = broker_.platform_identity().key.string();
    o.ack_timeout = 5s;
    platform_ = std::make_unique<mqtt::Client>(o);
    platform_->on_message([this](const std::string& t, const std::string& payload, bool) {
      std::lock_guard lock(mutex_);
      messages_.push_back({t, json::parse(payload, nullptr, false)});
      changed_.notify_all();
    });
    must(platform_->connect());
    must(platform_->wait_connected(10s));
    for (const char* leaf : {"state", "events", "commands/result"}) must(platform_->subscribe(topic(leaf)));
  }
  ~FirmwareUpdateIntegration() override {
    if (device_) device_->stop();
    device_.reset();
    platform_->disconnect();
    image_server_->stop();
  }

  void start_device() {
    DeviceOptions o;
    o.ca_file = broker_.ca_file();
    o.state_dir = state_;
    o.model = "ID5 TD";
    o.hardware_revision = "AD";
    o.firmware_version = "1.0.0";
    o.keepalive_seconds = 5;
    o.firmware_health_timeout = 10s;
    device_ = std::make_unique<EmulatedDevice>(o, random_);
    must(device_->start());
  }

  // Sends update-firmware for a freshly published image; returns the command's result.
  json update(const std::string& id, const std::string& image, const std::string& version) {
    {
      std::lock_guard lock(mutex_);
      images_[id] = image;
    }
    firmware::Manifest manifest{"MX", version, sha256_hex(image), static_cast<std::int64_t>(image.size()), false, {}};
    json command{{"schema", 1},
                 {"id", "cmd-" + id},
                 {"type", "update-firmware"},
                 {"args",
                  {{"rollout_id", "rollout-" + id},
                   {"image_id", id},
                   {"url", "https://127.0.0.1:" + std::to_string(image_server_->port()) + "/device/v1/firmware/" + id},
                   {"manifest", firmware::to_json(manifest)},
                   {"signature", signer_->sign(manifest)}}}};
    must(platform_->publish(topic("commands"), command.dump()));
    return wait_for("commands/result", [&](const json& m) { return m.value("id", "") == "cmd-" + id; });
  }

  // The first message on `leaf` since the last wait that matches.
  json wait_for(const std::string& leaf, const std::function<bool(const json&)>& match) {
    std::unique_lock lock(mutex_);
    json found;
    bool ok = changed_.wait_for(lock, kWait, [&] {
      for (std::size_t i = seen_; i < messages_.size(); ++i) {
        if (messages_[i].first == topic(leaf) && match(messages_[i].second)) {
          found = messages_[i].second;
          return true;
        }
      }
      return false;
    });
    if (!ok) {
      json all = json::array();
      for (const auto& [t, m] : messages_) all.push_back({t, m});
      ADD_FAILURE() << "no matching message on " << leaf << "; got " << all.dump();
    }
    return found;
  }
  json wait_terminal(const std::string& id) {
    return wait_for("events", [&](const json& e) {
      auto state = e.value("state", "");
      return e.value("image_id", "") == id && (state == "done" || state == "failed" || state == "rolled_back");
    });
  }
  // Everything received so far is old news for the next wait_for().
  void mark() {
    std::lock_guard lock(mutex_);
    seen_ = messages_.size();
  }
  std::vector<json> on(const std::string& leaf) {
    std::lock_guard lock(mutex_);
    std::vector<json> out;
    for (std::size_t i = seen_; i < messages_.size(); ++i)
      if (messages_[i].first == topic(leaf)) out.push_back(messages_[i].second);
    return out;
  }

  mqtt::Library library_;
  testing::TempDir tmp_;
  testing::MosquittoServer broker_{tmp_};
  SodiumRandom random_;
  fs::path state_;
  std::unique_ptr<firmware::FirmwareSigner> signer_;
  http::Router router_;
  std::unique_ptr<http::Server> image_server_;
  std::unique_ptr<mqtt::Client> platform_;
  std::unique_ptr<EmulatedDevice> device_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> images_;
  std::vector<std::string> downloads_by_;
  std::vector<std::pair<std::string, json>> messages_;
  std::size_t seen_ = 0;
};

TEST_F(FirmwareUpdateIntegration, UpdatesRebootsReportsTheNewVersionAndRollsBackABrokenImage) {
  start_device();
  wait_for("state", [](const json& m) { return m.value("online", false) && m.value("firmware_version", "") == "1.0.0"; });
  mark();

  // A good image: started, downloaded with the device's certificate, rebooted into, confirmed.
  auto result = update("img-1", make_image("1.1.0", "ok", 300 * 1024), "1.1.0");
  EXPECT_EQ(result.value("ok", false), true) << result.dump();
  EXPECT_EQ(result["detail"], "update started");
  auto done = wait_terminal("img-1");
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["version"], "1.1.0");
  EXPECT_EQ(done["schema"], 1);
  EXPECT_EQ(done["rollout_id"], "rollout-img-1");
  {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(downloads_by_, std::vector<std::string>{kSerial});
  }
  std::vector<std::string> states;
  for (const auto& e : on("events")) states.push_back(e.value("state", ""));
  ASSERT_GE(states.size(), 5u);
  EXPECT_EQ(states.front(), "downloading");
  EXPECT_EQ(std::vector<std::string>(states.end() - 4, states.end()),
            (std::vector<std::string>{"verifying", "installing", "rebooting", "done"}));
  // The reboot was seen from outside: offline (the will), then the birth message with 1.1.0.
  auto births = on("state");
  ASSERT_GE(births.size(), 2u);
  EXPECT_EQ(births[births.size() - 2].value("online", true), false);
  EXPECT_EQ(births.back().value("firmware_version", ""), "1.1.0");
  EXPECT_EQ(device_->firmware_version(), "1.1.0");
  EXPECT_EQ(device_->restarts(), 1u);
  mark();

  // A signed image that cannot come up: rebooted into, given up, rebooted back, reported.
  result = update("img-2", make_image("1.2.0", "fail", 64 * 1024), "1.2.0");
  EXPECT_EQ(result.value("ok", false), true);
  auto rolled = wait_terminal("img-2");
  EXPECT_EQ(rolled["state"], "rolled_back") << rolled.dump();
  EXPECT_EQ(rolled["version"], "1.1.0");
  EXPECT_NE(rolled.value("error", "").find("did not come up"), std::string::npos) << rolled.dump();
  EXPECT_EQ(device_->restarts(), 3u);
  for (const auto& birth : on("state")) {
    if (birth.value("online", false)) {
      EXPECT_EQ(birth.value("firmware_version", ""), "1.1.0") << "1.2.0 never came up";
    }
  }
  mark();

  // A manifest signed by someone else: refused before anything is fetched.
  {
    std::lock_guard lock(mutex_);
    downloads_by_.clear();
  }
  auto forged_image = make_image("1.3.0", "ok", 4096);
  {
    std::lock_guard lock(mutex_);
    images_["img-3"] = forged_image;
  }
  auto other = firmware::FirmwareSigner::load_or_create(tmp_.path() / "attacker-key.pem").value();
  firmware::Manifest manifest{"MX", "1.3.0", sha256_hex(forged_image), static_cast<std::int64_t>(forged_image.size()), false, {}};
  json command{{"schema", 1}, {"id", "cmd-img-3"}, {"type", "update-firmware"},
               {"args",
                {{"rollout_id", "rollout-img-3"},
                 {"image_id", "img-3"},
                 {"url", "https://127.0.0.1:" + std::to_string(image_server_->port()) + "/device/v1/firmware/img-3"},
                 {"manifest", firmware::to_json(manifest)},
                 {"signature", other.sign(manifest)}}}};
  must(platform_->publish(topic("commands"), command.dump()));
  auto failed = wait_terminal("img-3");
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["error"], "signature invalid");
  EXPECT_EQ(failed["version"], "1.1.0");
  {
    std::lock_guard lock(mutex_);
    EXPECT_TRUE(downloads_by_.empty());
  }

  // The process restarts: it still runs 1.1.0.
  device_->stop();
  device_.reset();
  mark();
  start_device();
  auto birth = wait_for("state", [](const json& m) { return m.value("online", false); });
  EXPECT_EQ(birth.value("firmware_version", ""), "1.1.0");
}

TEST_F(FirmwareUpdateIntegration, MalformedCommandIsRefusedAtOnce) {
  start_device();
  wait_for("state", [](const json& m) { return m.value("online", false); });
  json command{{"schema", 1}, {"id", "cmd-x"}, {"type", "update-firmware"}, {"args", {{"rollout_id", "r"}}}};
  must(platform_->publish(topic("commands"), command.dump()));
  auto result = wait_for("commands/result", [](const json& m) { return m.value("id", "") == "cmd-x"; });
  EXPECT_EQ(result["ok"], false);
  EXPECT_NE(result.value("detail", "").find("image_id"), std::string::npos) << result.dump();
}

}  // namespace
}  // namespace carillon::emulator
