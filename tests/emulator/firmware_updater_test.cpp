// The device side of firmware updates against a real HTTPS image server (our http::Server with
// mutual TLS, on 127.0.0.1:0) and a real Ed25519 firmware key. The device around the updater is
// reduced to what the updater asks of it: a link that is up or down and a reboot that runs the
// bootloader (boot()). A "restart of the process" is a new FirmwareUpdater on the same directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
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
#include "emulator/firmware_updater.hpp"
#include "firmware/signing.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "pki/pki.hpp"
#include "support/temp_dir.hpp"

namespace carillon::emulator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kWait = 20s;
const std::string kModel = "ID5 TD";
const std::string kRevision = "AD";

// An emulated image: the JSON header line, then `size` bytes in total of pseudo-random padding.
std::string make_image(const std::string& version, const std::string& boot, std::size_t size) {
  std::string image = json{{"carillon_firmware", 1}, {"version", version}, {"family", "MX"}, {"boot", boot}}.dump() + "\n";
  std::uint32_t x = 2463534242u;
  while (image.size() < size) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    image.push_back(static_cast<char>(x & 0xff));
  }
  return image;
}

// Serves GET /device/v1/firmware/{id} with byte ranges ("bytes=k-"), like the platform does,
// and records every request's Range header.
class ImageServer {
 public:
  ImageServer(const std::string& cert, const std::string& key, const std::string& client_ca) {
    router_.add("GET", "/device/v1/firmware/{id}", [this](const http::Request& request) {
      std::lock_guard lock(mutex_);
      ranges_.push_back(request.header("range"));
      auto it = images_.find(request.params.at("id"));
      if (it == images_.end()) return http::Response{404, "text/plain", "no such image", {}};
      const std::string& body = it->second;
      auto range = request.header("range");
      if (range.rfind("bytes=", 0) == 0 && range.back() == '-') {
        auto from = std::stoull(range.substr(6, range.size() - 7));
        if (from >= body.size())
          return http::Response{416, "text/plain", "", {{"Content-Range", "bytes */" + std::to_string(body.size())}}};
        served_ += body.size() - from;
        return http::Response{206, "application/octet-stream", body.substr(from),
                              {{"Content-Range", "bytes " + std::to_string(from) + "-" + std::to_string(body.size() - 1) +
                                                     "/" + std::to_string(body.size())}}};
      }
      served_ += body.size();
      return http::Response{200, "application/octet-stream", body, {}};
    });
    http::ServerOptions options;
    options.cert_pem = cert;
    options.key_pem = key;
    options.client_ca_pem = client_ca;
    server_ = std::make_unique<http::Server>(options, router_);
    if (auto s = server_->start(); !s) throw std::runtime_error("image server: " + s.error().message);
  }
  std::string url(const std::string& id) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + "/device/v1/firmware/" + id;
  }
  void put(const std::string& id, std::string bytes) {
    std::lock_guard lock(mutex_);
    images_[id] = std::move(bytes);
  }
  std::vector<std::string> ranges() const {
    std::lock_guard lock(mutex_);
    return ranges_;
  }
  std::size_t served() const {
    std::lock_guard lock(mutex_);
    return served_;
  }

 private:
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> images_;
  std::vector<std::string> ranges_;
  std::size_t served_ = 0;
};

class FirmwareUpdaterTest : public ::testing::Test {
 protected:
  FirmwareUpdaterTest() : clock_(1'800'000'000) {
    auto ca = pki::CertificateAuthority::create("Test Platform CA", system_clock_, random_);
    if (!ca) throw std::runtime_error(ca.error().message);
    auto server = ca->issue_server("platform", {}, {"127.0.0.1"}, 2);
    auto device = ca->issue_client("EMU-1", 2);
    if (!server || !device) throw std::runtime_error("cannot issue test certificates");
    ca_pem_ = ca->cert_pem();
    device_cert_ = device->cert_pem;
    device_key_ = device->key_pem;
    server_ = std::make_unique<ImageServer>(server->cert_pem, server->key_pem, ca_pem_);
    auto signer = firmware::FirmwareSigner::load_or_create(dir_.path() / "platform" / "firmware-key.pem");
    if (!signer) throw std::runtime_error(signer.error().message);
    signer_ = std::make_unique<firmware::FirmwareSigner>(*signer);
    device_dir_ = dir_.path() / "device" / "firmware";
  }
  ~FirmwareUpdaterTest() override { updater_.reset(); }

  // Publishes `image` under `id` and returns the command args the platform would send.
  FirmwareUpdateRequest offer(const std::string& id, const std::string& image, const std::string& version,
                              std::vector<std::string> models = {}) {
    server_->put(id, image);
    firmware::Manifest manifest;
    manifest.family = "MX";
    manifest.version = version;
    manifest.sha256 = sha256_hex(image);
    manifest.size = static_cast<std::int64_t>(image.size());
    manifest.models = std::move(models);
    return FirmwareUpdateRequest{"rollout-1", id, server_->url(id), firmware::to_json(manifest), signer_->sign(manifest)};
  }

  DownloadFunction real_download() const { return https_download(http::ClientOptions{ca_pem_, device_cert_, device_key_, 10000}); }

  // Powers the device on: a fresh updater on the same directory, boot(), and the link comes up
  // if the image does.
  void power_on(DownloadFunction download = {}) {
    updater_.reset();
    FirmwareUpdaterOptions o;
    o.dir = device_dir_;
    o.model = kModel;
    o.hardware_revision = kRevision;
    o.factory_version = "1.0.0";
    o.public_key_pem = signer_->public_key_pem();
    o.health_timeout = health_timeout_;
    FirmwareUpdaterHooks hooks;
    hooks.download = download ? download : real_download();
    hooks.publish = [this](const json& event) {
      std::lock_guard lock(mutex_);
      events_.push_back(event);
      changed_.notify_all();
    };
    hooks.reboot = [this] {
      reboots_++;
      link_up_ = false;
      std::this_thread::sleep_for(20ms);
      bool up = updater_->boot();
      link_up_ = up && dead_reboots_.fetch_sub(1) <= 0;
    };
    hooks.wait_link_up = [this](std::chrono::milliseconds timeout) {
      if (!link_up_) std::this_thread::sleep_for(timeout);
      return link_up_.load();
    };
    hooks.cut_power_for_test = [this](std::string_view point) { return point == cut_at_; };
    updater_ = std::make_unique<FirmwareUpdater>(o, hooks, clock_);
    link_up_ = updater_->boot();
  }

  // Waits for the next event in a terminal state and returns it.
  json wait_terminal() {
    std::unique_lock lock(mutex_);
    json found;
    bool ok = changed_.wait_for(lock, kWait, [&] {
      for (std::size_t i = seen_; i < events_.size(); ++i) {
        auto state = events_[i].value("state", "");
        if (state == "done" || state == "failed" || state == "rolled_back") {
          found = events_[i];
          seen_ = i + 1;
          return true;
        }
      }
      return false;
    });
    if (!ok) ADD_FAILURE() << "no terminal firmware.progress event; events: " << json(events_).dump();
    return found;
  }
  std::vector<std::string> states() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.value("state", ""));
    return out;
  }
  void wait_idle() {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (updater_->busy() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    ASSERT_FALSE(updater_->busy());
  }
  json boot_json() { return json::parse(read_file(device_dir_ / "boot.json").value()); }

  testing::TempDir dir_;
  ManualClock clock_;  // the updater's: progress pacing
  SystemClock system_clock_;  // certificates must be valid now
  SodiumRandom random_;
  std::string ca_pem_, device_cert_, device_key_;
  std::unique_ptr<ImageServer> server_;
  std::unique_ptr<firmware::FirmwareSigner> signer_;
  fs::path device_dir_;
  std::chrono::milliseconds health_timeout_{3000};
  std::atomic<bool> link_up_{false};
  std::atomic<int> dead_reboots_{0};  // reboots after which the link stays down
  std::atomic<int> reboots_{0};
  std::string cut_at_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<json> events_;
  std::size_t seen_ = 0;
  std::unique_ptr<FirmwareUpdater> updater_;
};

TEST_F(FirmwareUpdaterTest, HealthyUpdateDownloadsInstallsRebootsAndCommits) {
  power_on();
  EXPECT_EQ(updater_->running_version(), "1.0.0");
  auto image = make_image("1.1.0", "ok", 1 << 20);
  ASSERT_TRUE(updater_->start(offer("img-1", image, "1.1.0", {kModel})));
  auto done = wait_terminal();
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["version"], "1.1.0");
  EXPECT_EQ(done["type"], "firmware.progress");
  EXPECT_EQ(done["rollout_id"], "rollout-1");
  EXPECT_EQ(done["image_id"], "img-1");
  EXPECT_EQ(done["percent"], 100);
  EXPECT_EQ(done["error"], "");
  EXPECT_EQ(updater_->running_version(), "1.1.0");
  EXPECT_EQ(reboots_.load(), 1);

  // The order of states, each progress step at least 10 % apart, versions old until the reboot.
  auto seen = states();
  auto first_verifying = std::find(seen.begin(), seen.end(), "verifying");
  ASSERT_NE(first_verifying, seen.end());
  EXPECT_EQ(std::vector<std::string>(first_verifying, seen.end()),
            (std::vector<std::string>{"verifying", "installing", "rebooting", "done"}));
  std::vector<int> percents;
  {
    std::lock_guard lock(mutex_);
    for (const auto& e : events_) {
      if (e["state"] == "downloading") percents.push_back(e["percent"].get<int>());
      if (e["state"] != "done") {
        EXPECT_EQ(e["version"], "1.0.0") << e.dump();
      }
    }
  }
  ASSERT_GE(percents.size(), 2u);
  EXPECT_EQ(percents.front(), 0);
  EXPECT_LE(percents.size(), 11u);
  for (std::size_t i = 1; i < percents.size(); ++i) EXPECT_GE(percents[i] - percents[i - 1], 10);

  // Slot a is active and holds the image; the download is gone.
  auto boot = boot_json();
  EXPECT_EQ(boot["active"], "a");
  EXPECT_EQ(boot["trial"], "");
  EXPECT_EQ(read_file(device_dir_ / "slot-a" / "image.bin").value(), image);
  EXPECT_FALSE(fs::exists(device_dir_ / "download.part"));

  // A restart keeps running it; the next update goes to the other slot.
  power_on();
  EXPECT_EQ(updater_->running_version(), "1.1.0");
  ASSERT_TRUE(updater_->start(offer("img-2", make_image("1.2.0", "ok", 4096), "1.2.0")));
  EXPECT_EQ(wait_terminal()["state"], "done");
  EXPECT_EQ(updater_->running_version(), "1.2.0");
  EXPECT_EQ(boot_json()["active"], "b");
  EXPECT_EQ(read_file(device_dir_ / "slot-a" / "image.bin").value(), image);  // the fallback stays intact
}

TEST_F(FirmwareUpdaterTest, BadSignatureFailsBeforeAnythingIsDownloaded) {
  power_on();
  auto request = offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0");
  // The manifest is altered after signing (another digest would slip in another image).
  request.manifest["version"] = "1.1.1";
  ASSERT_TRUE(updater_->start(request));
  auto failed = wait_terminal();
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["error"], "signature invalid");
  EXPECT_EQ(failed["version"], "1.0.0");

  // A signature by another key.
  auto other = firmware::FirmwareSigner::load_or_create(dir_.path() / "other-key.pem");
  ASSERT_TRUE(other);
  request = offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0");
  request.signature = other->sign(firmware::manifest_from_json(request.manifest).value());
  wait_idle();
  ASSERT_TRUE(updater_->start(request));
  EXPECT_EQ(wait_terminal()["error"], "signature invalid");

  EXPECT_TRUE(server_->ranges().empty()) << "nothing may be fetched for an unverified manifest";
  EXPECT_FALSE(fs::exists(device_dir_ / "download.part"));
  EXPECT_EQ(updater_->running_version(), "1.0.0");
  auto seen = states();
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "downloading"), 0);
}

TEST_F(FirmwareUpdaterTest, ImageForAnotherModelIsRefusedWithoutDownloading) {
  power_on();
  ASSERT_TRUE(updater_->start(offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0", {"IM1"})));
  auto failed = wait_terminal();
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_NE(failed["error"].get<std::string>().find("does not fit"), std::string::npos) << failed.dump();
  EXPECT_NE(failed["error"].get<std::string>().find(kModel), std::string::npos) << failed.dump();
  EXPECT_TRUE(server_->ranges().empty());
  EXPECT_EQ(updater_->running_version(), "1.0.0");
}

TEST_F(FirmwareUpdaterTest, TruncatedImageFailsAndDeletesThePartialFile) {
  power_on();
  auto image = make_image("1.1.0", "ok", 64 * 1024);
  auto request = offer("img-1", image, "1.1.0");
  server_->put("img-1", image.substr(0, image.size() / 2));  // the server hands out half of it
  ASSERT_TRUE(updater_->start(request));
  auto failed = wait_terminal();
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["error"].get<std::string>().rfind("sha256 mismatch", 0), 0u) << failed.dump();
  EXPECT_FALSE(fs::exists(device_dir_ / "download.part"));
  EXPECT_EQ(reboots_.load(), 0);
  EXPECT_EQ(updater_->running_version(), "1.0.0");
  EXPECT_FALSE(fs::exists(device_dir_ / "boot.json"));

  // Same size, one byte different.
  auto corrupt = image;
  corrupt[corrupt.size() - 1] ^= 0x01;
  server_->put("img-1", corrupt);
  wait_idle();
  ASSERT_TRUE(updater_->start(request));
  EXPECT_EQ(wait_terminal()["error"], "sha256 mismatch");
  EXPECT_FALSE(fs::exists(device_dir_ / "download.part"));
  EXPECT_EQ(updater_->running_version(), "1.0.0");
}

TEST_F(FirmwareUpdaterTest, InterruptedDownloadResumesWhereItStopped) {
  auto image = make_image("1.1.0", "ok", 2 << 20);
  // The first attempt loses its connection (the device gives up) once a third has arrived.
  auto real = real_download();
  power_on([&](const std::string& url, const fs::path& destination,
               const std::function<bool(std::int64_t, std::int64_t)>& on_progress) {
    return real(url, destination, [&](std::int64_t received, std::int64_t total) {
      return on_progress(received, total) && received < static_cast<std::int64_t>(image.size() / 3);
    });
  });
  auto request = offer("img-1", image, "1.1.0");
  ASSERT_TRUE(updater_->start(request));
  auto failed = wait_terminal();
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["error"].get<std::string>().rfind("download failed", 0), 0u) << failed.dump();
  auto kept = fs::file_size(device_dir_ / "download.part");
  ASSERT_GT(kept, 0u);
  ASSERT_LT(kept, image.size());

  // The device restarts; the platform retries the command; only the rest is fetched.
  power_on();
  auto before = server_->served();
  ASSERT_TRUE(updater_->start(request));
  auto done = wait_terminal();
  EXPECT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(server_->ranges().back(), "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(server_->served() - before, image.size() - kept);
  EXPECT_EQ(read_file(device_dir_ / "slot-a" / "image.bin").value(), image);
  EXPECT_EQ(updater_->running_version(), "1.1.0");
}

TEST_F(FirmwareUpdaterTest, PartialFileOfAnotherImageIsNotContinued) {
  power_on();
  fs::create_directories(device_dir_);
  ASSERT_TRUE(write_file(device_dir_ / "download.part", "left over from some other image"));
  ASSERT_TRUE(write_file(device_dir_ / "download.json", json{{"sha256", std::string(64, 'a')}, {"size", 99}}.dump()));
  ASSERT_TRUE(updater_->start(offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0")));
  EXPECT_EQ(wait_terminal()["state"], "done");
  EXPECT_EQ(server_->ranges(), std::vector<std::string>{""});
}

TEST_F(FirmwareUpdaterTest, ImageThatDoesNotBootIsRolledBack) {
  power_on();
  ASSERT_TRUE(updater_->start(offer("img-1", make_image("1.1.0", "fail", 8192), "1.1.0")));
  auto rolled = wait_terminal();
  EXPECT_EQ(rolled["state"], "rolled_back") << rolled.dump();
  EXPECT_NE(rolled["error"].get<std::string>().find("did not come up"), std::string::npos) << rolled.dump();
  EXPECT_EQ(rolled["version"], "1.0.0");
  EXPECT_EQ(reboots_.load(), 2);  // into the new image, and back
  EXPECT_EQ(updater_->running_version(), "1.0.0");
  EXPECT_TRUE(link_up_);
  auto boot = boot_json();
  EXPECT_EQ(boot["active"], "");
  EXPECT_EQ(boot["trial"], "");
  power_on();
  EXPECT_EQ(updater_->running_version(), "1.0.0");
}

TEST_F(FirmwareUpdaterTest, ImageThatNeverReachesThePlatformIsRolledBack) {
  health_timeout_ = 300ms;
  power_on();
  // The new image boots but its link never comes up; the old one connects again.
  dead_reboots_ = 1;
  ASSERT_TRUE(updater_->start(offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0")));
  auto rolled = wait_terminal();
  EXPECT_EQ(reboots_.load(), 2);
  EXPECT_EQ(rolled["state"], "rolled_back") << rolled.dump();
  EXPECT_NE(rolled["error"].get<std::string>().find("did not reach the platform"), std::string::npos) << rolled.dump();
  EXPECT_EQ(rolled["version"], "1.0.0");
  EXPECT_EQ(updater_->running_version(), "1.0.0");
}

TEST_F(FirmwareUpdaterTest, ImageWhoseHeaderContradictsTheManifestIsRolledBack) {
  power_on();
  ASSERT_TRUE(updater_->start(offer("img-1", make_image("9.9.9", "ok", 8192), "1.1.0")));
  auto rolled = wait_terminal();
  EXPECT_EQ(rolled["state"], "rolled_back");
  EXPECT_NE(rolled["error"].get<std::string>().find("9.9.9"), std::string::npos) << rolled.dump();
  EXPECT_EQ(updater_->running_version(), "1.0.0");
}

// Power is cut while the image is half written into the inactive slot: the old image boots, and
// the retried command installs from the kept download without fetching it again.
TEST_F(FirmwareUpdaterTest, PowerCutWhileInstallingKeepsTheOldVersionBootable) {
  power_on();
  auto image = make_image("1.1.0", "ok", 1 << 20);
  auto request = offer("img-1", image, "1.1.0");
  cut_at_ = "image-partial";
  ASSERT_TRUE(updater_->start(request));
  wait_idle();
  auto written = fs::file_size(device_dir_ / "slot-a" / "image.bin");
  EXPECT_GT(written, 0u);
  EXPECT_LT(written, image.size());
  EXPECT_FALSE(fs::exists(device_dir_ / "slot-a" / "manifest.json"));
  EXPECT_EQ(states().back(), "installing");

  cut_at_.clear();
  power_on();
  EXPECT_TRUE(link_up_) << "the old image must come up";
  EXPECT_EQ(updater_->running_version(), "1.0.0");
  updater_->resume();  // nothing to finish
  wait_idle();
  EXPECT_EQ(states().back(), "installing");

  auto fetched = server_->ranges().size();
  ASSERT_TRUE(updater_->start(request));
  EXPECT_EQ(wait_terminal()["state"], "done");
  EXPECT_EQ(server_->ranges().size(), fetched);
  EXPECT_EQ(updater_->running_version(), "1.1.0");
}

// Power is cut after boot.json names the trial slot but before the reboot: the next power-on
// tries the new image, and resume() confirms it and reports done.
TEST_F(FirmwareUpdaterTest, PowerCutBeforeTheRebootFinishesOnTheNextStart) {
  power_on();
  cut_at_ = "boot-state";
  ASSERT_TRUE(updater_->start(offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0")));
  wait_idle();
  EXPECT_EQ(boot_json()["trial"], "a");
  cut_at_.clear();
  power_on();
  EXPECT_EQ(updater_->running_version(), "1.1.0");
  updater_->resume();
  auto done = wait_terminal();
  EXPECT_EQ(done["state"], "done");
  EXPECT_EQ(done["image_id"], "img-1");
  EXPECT_EQ(done["rollout_id"], "rollout-1");
  EXPECT_EQ(done["version"], "1.1.0");
  EXPECT_EQ(boot_json()["active"], "a");
}

// The trial image was started but the device died before confirming it: the bootloader does not
// try it a second time.
TEST_F(FirmwareUpdaterTest, TrialThatWasNeverConfirmedIsAbandonedAtTheNextBoot) {
  power_on();
  cut_at_ = "boot-state";
  ASSERT_TRUE(updater_->start(offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0")));
  wait_idle();
  cut_at_.clear();
  power_on();  // boots the trial once ...
  EXPECT_EQ(updater_->running_version(), "1.1.0");
  power_on();  // ... and dies before resume() confirmed it
  EXPECT_EQ(updater_->running_version(), "1.0.0");
  updater_->resume();
  auto rolled = wait_terminal();
  EXPECT_EQ(rolled["state"], "rolled_back");
  EXPECT_EQ(rolled["image_id"], "img-1");
  EXPECT_EQ(rolled["version"], "1.0.0");
  EXPECT_EQ(boot_json()["trial"], "");
}

TEST_F(FirmwareUpdaterTest, SecondCommandWhileUpdatingIsRefusedAndRetryAfterDoneIsIdempotent) {
  std::mutex gate;
  std::unique_lock hold(gate);
  auto real = real_download();
  power_on([&](const std::string& url, const fs::path& destination,
               const std::function<bool(std::int64_t, std::int64_t)>& on_progress) {
    std::lock_guard wait_for_test(gate);
    return real(url, destination, on_progress);
  });
  auto request = offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0");
  ASSERT_TRUE(updater_->start(request));
  auto again = updater_->start(request);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::conflict);
  hold.unlock();
  EXPECT_EQ(wait_terminal()["state"], "done");
  wait_idle();
  auto fetched = server_->ranges().size();
  ASSERT_TRUE(updater_->start(request));
  auto done = wait_terminal();
  EXPECT_EQ(done["state"], "done");
  EXPECT_EQ(done["version"], "1.1.0");
  EXPECT_EQ(server_->ranges().size(), fetched);
  EXPECT_EQ(reboots_.load(), 1);
}

TEST_F(FirmwareUpdaterTest, WithoutAFirmwareKeyNothingIsTrusted) {
  power_on();
  FirmwareUpdaterOptions o;
  o.dir = device_dir_;
  o.model = kModel;
  o.hardware_revision = kRevision;
  o.factory_version = "1.0.0";
  FirmwareUpdaterHooks hooks;
  hooks.download = real_download();
  std::vector<json> events;
  hooks.publish = [&](const json& e) { events.push_back(e); };
  hooks.reboot = [] {};
  hooks.wait_link_up = [](std::chrono::milliseconds) { return true; };
  {
    FirmwareUpdater keyless(o, hooks, clock_);
    keyless.boot();
    ASSERT_TRUE(keyless.start(offer("img-1", make_image("1.1.0", "ok", 8192), "1.1.0")));
    while (keyless.busy()) std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["state"], "failed");
  EXPECT_EQ(events[0]["error"].get<std::string>().rfind("signature invalid", 0), 0u);
  EXPECT_TRUE(server_->ranges().empty());
}

TEST(FirmwareUpdateArgs, ParsesTheCommandAndNamesTheBadField) {
  auto args = json{{"rollout_id", "r"}, {"image_id", "i"}, {"url", "https://h/x"}, {"manifest", json::object()},
                   {"signature", "c2ln"}};
  auto ok = parse_firmware_update_args(args);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->rollout_id, "r");
  EXPECT_EQ(ok->image_id, "i");
  EXPECT_EQ(ok->url, "https://h/x");
  EXPECT_EQ(ok->signature, "c2ln");
  for (const char* field : {"rollout_id", "image_id", "url", "manifest", "signature"}) {
    auto broken = args;
    broken.erase(field);
    auto r = parse_firmware_update_args(broken);
    ASSERT_FALSE(r) << field;
    EXPECT_EQ(r.error().field, field);
  }
  EXPECT_FALSE(parse_firmware_update_args(json::array()));
}

TEST(FirmwareImageHeader, ReadsTheFirstLineOnly) {
  testing::TempDir dir;
  ASSERT_TRUE(write_file(dir.path() / "ok.bin", make_image("2.0.1", "ok", 1000)));
  auto header = read_image_header(dir.path() / "ok.bin");
  ASSERT_TRUE(header);
  EXPECT_EQ(header->version, "2.0.1");
  EXPECT_EQ(header->family, "MX");
  EXPECT_TRUE(header->boots);
  ASSERT_TRUE(write_file(dir.path() / "fail.bin", make_image("2.0.1", "fail", 1000)));
  EXPECT_FALSE(read_image_header(dir.path() / "fail.bin")->boots);
  ASSERT_TRUE(write_file(dir.path() / "junk.bin", std::string(5000, 'x')));
  EXPECT_FALSE(read_image_header(dir.path() / "junk.bin"));
  EXPECT_FALSE(read_image_header(dir.path() / "missing.bin"));
}

}  // namespace
}  // namespace carillon::emulator
