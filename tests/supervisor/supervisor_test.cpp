#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "supervisor/installation.hpp"
#include "supervisor/process.hpp"
#include "support/temp_dir.hpp"

namespace carillon::supervisor {
namespace {

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

template <class F>
bool eventually(F condition, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(Ports, OffsetShiftsEveryPortAndRejectsOutOfRange) {
  auto p = Ports::with_offset(100);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->https, 8543);
  EXPECT_EQ(p->mqtt_devices, 8983);
  EXPECT_EQ(p->mqtt_claim, 8984);
  EXPECT_EQ(p->mqtt_platform, 8985);
  EXPECT_EQ(p->sip_tls, 5161);
  EXPECT_EQ(p->rtp_max, 31099);
  EXPECT_EQ(Ports::with_offset(-1).error().field, "port-offset");
  EXPECT_FALSE(Ports::with_offset(60000));
  // The highest port (the end of rtpengine's range) must still fit.
  EXPECT_TRUE(Ports::with_offset(65535 - 30999));
  EXPECT_FALSE(Ports::with_offset(65535 - 30999 + 1));
  auto all = Ports::with_offset(0)->all();
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "two services share a port";
}

TEST(Installation, WritesTheSipEdgeConfigAndAStableSipSecret) {
  testing::TempDir dir;
  SystemClock clock;
  SodiumRandom random;
  auto first = prepare(dir.path() / "state", 11, clock, random);
  ASSERT_TRUE(first) << first.error().message;
  auto secret_file = first->dir / "pki" / "sip-secret";
  EXPECT_EQ(mode_of(secret_file), 0600u);
  auto secret = read_file(secret_file);
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->size(), 64u);
  EXPECT_EQ(first->edge.tls_port, 5072);
  auto cfg = first->sip_dir / "kamailio.cfg";
  ASSERT_TRUE(std::filesystem::exists(cfg));
  // Kamailio itself must accept the generated configuration.
  std::string check = "kamailio -c -f " + cfg.string() + " >" + (dir.path() / "check.log").string() + " 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << read_file(dir.path() / "check.log").value_or("");
  auto serve = nlohmann::json::parse(read_file(first->serve_config).value());
  EXPECT_EQ(serve["sip"]["jsonrpc"]["port"], 5082);
  EXPECT_EQ(serve["listen"]["device_port"], 8455);
  auto second = prepare(dir.path() / "state", 11, clock, random);
  ASSERT_TRUE(second);
  EXPECT_EQ(read_file(secret_file).value(), *secret);
}

TEST(Installation, CreatesOnceAndReusesEverything) {
  testing::TempDir dir;
  SystemClock clock;
  SodiumRandom random;
  auto first = prepare(dir.path() / "state", 7, clock, random);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->portal_url, "https://127.0.0.1:8450");
  auto pki = first->dir / "pki";
  for (const char* key : {"ca.key", "platform-ca.key", "jwt-signing.key", "platform.key", "vapid.key"})
    EXPECT_EQ(mode_of(pki / key), 0600u) << key;
  auto ca = read_file(pki / "ca.pem");
  auto jwt = read_file(pki / "jwt-signing.key");
  auto vapid = read_file(pki / "vapid.key");
  ASSERT_TRUE(ca && jwt && vapid);
  EXPECT_NE(vapid->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);

  auto second = prepare(dir.path() / "state", 7, clock, random);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*read_file(pki / "ca.pem"), *ca);
  EXPECT_EQ(*read_file(pki / "jwt-signing.key"), *jwt);
  EXPECT_EQ(*read_file(pki / "vapid.key"), *vapid);
  auto serve = read_file(second->serve_config);
  ASSERT_TRUE(serve);
  auto config = nlohmann::json::parse(*serve);
  EXPECT_EQ(config["push"]["vapid_key"], (pki / "vapid.key").string());
  EXPECT_EQ(config["push"]["subject"].get<std::string>().rfind("mailto:admin@", 0), 0u) << config["push"];
  EXPECT_NE(serve->find("\"port\": 8450"), std::string::npos);
  EXPECT_NE(serve->find("sqlite:"), std::string::npos);
}

TEST(Installation, DatabaseOverrideGoesIntoServeConfig) {
  testing::TempDir dir;
  SystemClock clock;
  SodiumRandom random;
  auto in = prepare(dir.path() / "state", 0, clock, random, "postgresql:host=127.0.0.1 dbname=x");
  ASSERT_TRUE(in) << in.error().message;
  EXPECT_NE(read_file(in->serve_config)->find("postgresql:host=127.0.0.1 dbname=x"), std::string::npos);
}

TEST(SupervisedProcess, RestartsAChildThatDiesAndStopsItForGood) {
  testing::TempDir dir;
  SupervisedProcess process({"sleeper", {"sleep", "30"}, dir.path() / "sleeper.log"});
  ASSERT_TRUE(process.start());
  pid_t first = process.pid();
  ASSERT_TRUE(alive(first));
  ::kill(first, SIGKILL);
  ASSERT_TRUE(eventually([&] { return process.pid() != first && alive(process.pid()); }));
  EXPECT_EQ(process.restarts(), 1);
  pid_t second = process.pid();
  process.stop();
  EXPECT_FALSE(alive(second));
  EXPECT_EQ(process.pid(), 0);
}

TEST(SupervisedProcess, SignalReachesTheChild) {
  testing::TempDir dir;
  SupervisedProcess process({"sleeper", {"sleep", "30"}, dir.path() / "sleeper.log"});
  ASSERT_TRUE(process.start());
  pid_t first = process.pid();
  ASSERT_TRUE(process.signal(SIGTERM));
  // SIGTERM ends sleep; the supervisor brings it back.
  ASSERT_TRUE(eventually([&] { return process.pid() != first && alive(process.pid()); }));
  process.stop();
  EXPECT_FALSE(process.signal(SIGHUP));
}

}  // namespace
}  // namespace carillon::supervisor
