// `carillon admin ring-groups / forwarding-rules / calls` against a real `carillon up`: the
// CLI drives the calls API over HTTPS, prints JSON (or CSV), and on errors prints one line and
// exits non-zero.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "support/platform.hpp"
#include "support/temp_dir.hpp"

namespace carillon {
namespace {

using nlohmann::json;

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

class CallsCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { platform_ = new testing::Platform(); }
  static void TearDownTestSuite() {
    delete platform_;
    platform_ = nullptr;
  }

  CliRun carillon(std::vector<std::string> args) {
    const auto out = scratch_.path() / ("run" + std::to_string(runs_) + ".out");
    const auto err = scratch_.path() / ("run" + std::to_string(runs_++) + ".err");
    const auto session = (scratch_.path() / "session.json").string();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("CARILLON_SESSION", session.c_str(), 1);
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (o < 0 || e < 0) _exit(126);
      ::dup2(o, STDOUT_FILENO);
      ::dup2(e, STDERR_FILENO);
      std::string binary = CARILLON_BINARY;
      std::vector<char*> argv{binary.data()};
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(CARILLON_BINARY, argv.data());
      _exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out).value_or(""), read_file(err).value_or("")};
  }

  json ok(std::vector<std::string> args) {
    args.insert(args.begin(), "admin");
    auto r = carillon(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json(r.out) : j;
  }

  static testing::Platform* platform_;
  testing::TempDir scratch_;
  int runs_ = 0;
};

testing::Platform* CallsCliTest::platform_ = nullptr;

TEST_F(CallsCliTest, RingGroupsRulesAndReportsFromTheCommandLine) {
  ASSERT_EQ(carillon({"admin", "--url", platform_->url(), "--ca", platform_->ca_file().string(), "login", "--username",
                      "admin", "--password", platform_->admin_password()})
                .exit_code,
            0);
  const auto company = ok({"companies", "create", "--name", "Acme"})["id"].get<std::string>();
  const auto project = ok({"projects", "create", "--name", "P", "--company", company})["id"].get<std::string>();
  const auto site = ok({"sites", "create", "--name", "S", "--project", project, "--time-zone", "Asia/Kolkata"})["id"].get<std::string>();
  const auto alice = ok({"users", "create", "--username", "alice-cli", "--password", "correct horse battery staple",
                         "--role", "viewer", "--company", company})["id"].get<std::string>();

  auto group = ok({"ring-groups", "create", "--site", site, "--name", "Reception", "--member", "user:" + alice,
                   "--ring-seconds", "25"});
  ASSERT_TRUE(group.is_object()) << group;
  const auto id = group["id"].get<std::string>();
  EXPECT_EQ(group["members"][0]["id"], alice);
  EXPECT_EQ(ok({"ring-groups", "list", "--site", site})["items"].size(), 1u);

  auto rule = ok({"forwarding-rules", "create", "--ring-group", id, "--name", "Night", "--weekday", "fri", "--weekday",
                  "sat", "--time-from", "22:00", "--time-to", "06:00", "--step", "ring_group:" + id + ":15", "--step",
                  "user:" + alice + ":30"});
  ASSERT_TRUE(rule.is_object()) << rule;
  EXPECT_EQ(rule["weekdays"], (json{"fri", "sat"}));
  EXPECT_EQ(rule["steps"][1]["ring_seconds"], 30);
  EXPECT_EQ(ok({"forwarding-rules", "list", "--ring-group", id})["items"].size(), 1u);

  auto csv = ok({"calls", "list", "--csv", "--status", "missed"});
  ASSERT_TRUE(csv.is_string());
  EXPECT_EQ(csv.get<std::string>().rfind("id,started_at,", 0), 0u);
  EXPECT_TRUE(ok({"calls", "list", "--since", "1700000000"})["items"].empty());
  EXPECT_EQ(ok({"calls", "retention", "--company", company, "--days", "90"})["retention_days"], 90);

  // Errors: one readable line naming the field, exit code 1.
  auto bad = carillon({"admin", "ring-groups", "create", "--site", site, "--name", "X", "--member", "user:us_nope"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "error: no such user in this company (field: members[0].id) [400]\n");
  auto bad_time = carillon({"admin", "forwarding-rules", "create", "--ring-group", id, "--name", "N", "--time-from",
                            "25:00", "--time-to", "06:00", "--step", "user:" + alice});
  EXPECT_EQ(bad_time.exit_code, 1);
  EXPECT_NE(bad_time.err.find("(field: time.from) [400]"), std::string::npos) << bad_time.err;
  EXPECT_EQ(std::count(bad_time.err.begin(), bad_time.err.end(), '\n'), 1);

  EXPECT_EQ(ok({"ring-groups", "delete", id}), json(""));
  auto gone = carillon({"admin", "ring-groups", "get", id});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("[404]"), std::string::npos);
}

}  // namespace
}  // namespace carillon
