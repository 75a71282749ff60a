// Differential tests against independent SCIM implementations from npm (tests/scim/oracle):
// scim2-parse-filter for filters and scim-patch for PATCH, installed with `npm ci` from the
// committed lock file into a temp dir once per run. Where both sides accept an input their
// results must agree; where the oracle departs from RFC 7643/7644 the case is listed with the
// reason, and the departure itself is asserted (so a changed oracle shows up). The tests skip
// only when node is not installed; a failing `npm ci` fails them.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scim/filter.hpp"
#include "scim/patch.hpp"
#include "scim/samples.hpp"
#include "support/push_oracle.hpp"
#include "support/temp_dir.hpp"

namespace carillon::scim {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class NpmOracle {
 public:
  NpmOracle() {
    node_ = carillon::testing::run_shell("command -v node").exit_code == 0;
    if (!node_) return;
    const fs::path source = fs::path(CARILLON_SOURCE_DIR) / "tests" / "scim" / "oracle";
    for (const char* name : {"package.json", "package-lock.json", "oracle.js"})
      fs::copy_file(source / name, dir_.path() / name);
    auto npm = carillon::testing::run_shell("cd '" + dir_.path().string() +
                                            "' && npm ci --no-audit --no-fund --prefer-offline");
    log_ = npm.output;
    installed_ = npm.exit_code == 0 && fs::exists(dir_.path() / "node_modules" / "scim-patch") &&
                 fs::exists(dir_.path() / "node_modules" / "scim2-parse-filter");
  }

  bool has_node() const { return node_; }
  bool installed() const { return installed_; }
  const std::string& log() const { return log_; }

  // Runs `node oracle.js <command> <request>` and parses its JSON answer (null on failure).
  json call(const std::string& command, const json& request) {
    const fs::path file = dir_.path() / ("request-" + std::to_string(++calls_) + ".json");
    std::ofstream(file) << request.dump();
    auto result = carillon::testing::run_shell("cd '" + dir_.path().string() + "' && node oracle.js " + command +
                                               " '" + file.string() + "'");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    json answer = json::parse(result.output, nullptr, false);
    EXPECT_FALSE(answer.is_discarded()) << result.output;
    return answer.is_discarded() ? json() : answer;
  }

 private:
  carillon::testing::TempDir dir_;
  bool node_ = false;
  bool installed_ = false;
  std::string log_;
  int calls_ = 0;
};

class ScimDifferential : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { oracle_ = new NpmOracle(); }
  static void TearDownTestSuite() {
    delete oracle_;
    oracle_ = nullptr;
  }
  void SetUp() override {
    if (!oracle_->has_node()) GTEST_SKIP() << "node is not installed: the npm SCIM oracles cannot run";
    ASSERT_TRUE(oracle_->installed()) << "npm ci of tests/scim/oracle failed:\n" << oracle_->log();
  }
  static NpmOracle* oracle_;
};

NpmOracle* ScimDifferential::oracle_ = nullptr;

struct FilterCase {
  const char* text;
  const char* deviation;  // why scim2-parse-filter disagrees with the RFC here, or nullptr
};

TEST_F(ScimDifferential, FiltersAgreeWithScim2ParseFilter) {
  const std::vector<FilterCase> corpus = {
      {R"(userName eq "bjensen")", nullptr},
      {R"(name.familyName co "O'Malley")", nullptr},
      {R"(meta.lastModified lt "2011-05-13T04:42:34Z")", nullptr},
      {R"(meta.created lt "2010-06-01T00:00:00Z")", nullptr},
      {R"(meta.created gt "2010-01-01T00:00:00Z")", nullptr},
      {R"(active eq true)", nullptr},
      {R"(active eq false)", nullptr},
      {R"(active pr)", nullptr},
      {R"(not (active eq true) and userType eq "Intern")", nullptr},
      {R"(active eq false or userName eq "bjensen" and name.familyName pr)", nullptr},
      {R"((active eq false or userName eq "bjensen") and name.familyName pr)", nullptr},
      {R"(not (userName eq "bjensen") and active eq true)", nullptr},
      {R"(userName eq "jsmith" or userName eq "jdoe" or userName eq "Jane")", nullptr},
      {R"(userName eq "jsmith" and (ims.value ew "@foo.com" or displayName pr))", nullptr},
      {R"(emails.value ew ".org")", nullptr},
      {R"(emails.value co "@")", nullptr},
      {R"(emails[type eq "home"])", nullptr},
      {R"(emails[type eq "home" and value co "@jensen."])", nullptr},
      {R"(ims[type eq "aim" or type eq "xmpp"])", nullptr},
      {R"(emails[type eq "home"] or ims[type eq "xmpp" and value co "@foo.com"])", nullptr},
      {R"(name.givenName sw "J")", nullptr},
      {R"(name.formatted sw "Ms.")", nullptr},
      {R"(externalId eq "bjensen")", nullptr},
      {R"(id eq "2819c223-7f76-453a-919d-413861904646")", nullptr},
      {R"(ims.type eq "xmpp")", nullptr},
      {R"(meta.resourceType eq "User")", nullptr},
      {R"(NOT (active EQ true))", nullptr},
      {R"(USERNAME eq "bjensen")", nullptr},  // this version of the oracle folds attribute names too
      // Departures of scim2-parse-filter 0.2.10 from RFC 7643/7644 (users 2 and 4 provoke them):
      {R"(userName eq "BJENSEN")", "compares every string exactly; userName has caseExact false"},
      {R"(userName sw "j")", "compares every string exactly; userName has caseExact false"},
      {R"(userName gt "jdoe")", "orders strings exactly; userName has caseExact false"},
      {R"(userType ne "Employee" and userType pr)", "compares every string exactly; userType has caseExact false"},
      {R"(userType eq "Employee" and (emails.type eq "work"))", "compares every string exactly; emails.type has caseExact false"},
      {R"(userType eq "Employee" and emails[type eq "work" and value co "@example.com"])",
       "compares every string exactly; emails.type and emails.value have caseExact false"},
      {R"(emails[type eq "work"] and not (emails[type eq "home"]))", "compares every string exactly (user 4: Work)"},
      {R"(title pr)", "treats \"\" and null as present; RFC 7644: pr needs a non-empty value"},
      {R"(title pr and userType eq "Employee")", "treats \"\" as present"},
      {R"(title pr or userType eq "Intern")", "treats \"\" and null as present"},
      {R"(emails pr)", "treats an empty array as present; RFC 7643 §2.5: [] is unassigned"},
      {R"(title ne "Tour Guide")", "ne is false when the attribute is absent; we define ne as not eq"},
      {R"(emails co "example.com")", "does not compare a complex multi-valued attribute's \"value\" (RFC 7643 §2.4)"},
      {R"(schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")",
       "compares a multi-valued simple attribute as a whole array instead of any of its values"},
      {R"(urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen")",
       "looks the core schema URN up as a key instead of stripping it"},
      {R"(meta.lastModified gt "2011-05-13T04:42:34Z")", "compares dateTimes as strings, not instants (+01:00 offset)"},
      {R"(meta.lastModified eq "2011-05-13T04:42:34.000Z")", "compares dateTimes as strings, not instants"},
      {R"(name.familyName eq "O\u0027Malley")", "does not decode JSON escapes other than \\\" in strings"},
  };

  std::vector<std::string> texts;
  for (const FilterCase& c : corpus) texts.push_back(c.text);
  const auto users = testing::sample_users();
  const json answers = oracle_->call("filter", {{"filters", texts}, {"resources", users}});
  ASSERT_EQ(answers.size(), corpus.size());
  int compared = 0;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const FilterCase& c = corpus[i];
    auto ours = parse_filter(c.text);
    ASSERT_TRUE(ours) << c.text << ": " << ours.error().message;
    ASSERT_TRUE(validate(*ours, user_schema())) << c.text;
    ASSERT_TRUE(answers[i]["ok"].get<bool>()) << c.text << ": oracle refused: " << answers[i].dump();
    std::vector<int> mine;
    for (std::size_t u = 0; u < users.size(); ++u)
      if (matches(*ours, users[u], user_schema())) mine.push_back(static_cast<int>(u));
    const auto theirs = answers[i]["matches"].get<std::vector<int>>();
    if (c.deviation == nullptr) {
      EXPECT_EQ(mine, theirs) << c.text;
      ++compared;
    } else {
      EXPECT_NE(mine, theirs) << c.text << ": the documented deviation (" << c.deviation << ") no longer shows";
    }
  }
  EXPECT_GE(compared, 25);
}

struct MalformedCase {
  const char* text;
  const char* oracle_accepts;  // why scim2-parse-filter accepts this malformed filter, or nullptr
};

TEST_F(ScimDifferential, MalformedFiltersAreRefusedByUsAndWhereTheOracleAgreesByIt) {
  const std::vector<MalformedCase> corpus = {
      {"userName eq", nullptr},
      {R"(userName eq "bjensen)", nullptr},
      {R"((userName eq "x")", nullptr},
      {R"(userName eq "x"))", nullptr},
      {R"(userName eq "x" and)", nullptr},
      {R"(userName eq "x" or 1=1)", nullptr},
      {R"(userName eq 'x')", nullptr},
      {R"('; DROP TABLE users; --)", nullptr},
      {R"(userName like "x")", nullptr},
      {R"(emails[type eq "work")", nullptr},
      {R"(userName eq "x" "y")", nullptr},
      {R"(userName eq x)", nullptr},
      {R"(userName eq "x" -- comment)", nullptr},
      {R"(emails[type eq "work" and ims[type eq "x"]])", "nests a valuePath in a value filter; valFilter has none"},
      {R"(userName eq "\q")", "accepts escapes that JSON strings do not have"},
      {R"(userName eq 01)", nullptr},
      {R"(1userName eq "x")", "accepts names starting with a digit; ATTRNAME = ALPHA *(nameChar)"},
      {R"(name.givenName.x eq "y")", "accepts two sub-attribute levels; attrPath has *1subAttr"},
      {R"(())", nullptr},
      {R"(userName pr pr)", nullptr},
  };
  std::vector<std::string> texts;
  for (const MalformedCase& c : corpus) texts.push_back(c.text);
  const json answers = oracle_->call("filter", {{"filters", texts}, {"resources", json::array()}});
  ASSERT_EQ(answers.size(), corpus.size());
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    EXPECT_FALSE(parse_filter(corpus[i].text)) << corpus[i].text;
    const bool oracle_ok = answers[i]["ok"].get<bool>();
    EXPECT_EQ(oracle_ok, corpus[i].oracle_accepts != nullptr)
        << corpus[i].text << ": oracle " << (oracle_ok ? "accepts" : "refuses") << " " << answers[i].dump();
  }
}

struct PatchCase {
  const char* resource;  // "user" or "group"
  const char* operations;
  const char* deviation;  // why scim-patch disagrees with RFC 7644 §3.5.2 here, or nullptr
};

json resource_named(const std::string& name) {
  if (name == "user") return testing::sample_users()[0];
  return json::parse(R"({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "e9e30dba", "displayName": "Tour Guides",
    "members": [{"value": "2819c223", "display": "Babs Jensen"}, {"value": "902c246b", "display": "Mandy Pepperidge"}]
  })");
}

TEST_F(ScimDifferential, PatchesAgreeWithScimPatch) {
  const std::vector<PatchCase> corpus = {
      {"group", R"([{"op": "add", "path": "members", "value": [{"value": "08e1d05d", "display": "James Smith"}]}])", nullptr},
      {"group", R"([{"op": "remove", "path": "members[value eq \"2819c223\"]"}])", nullptr},
      {"group", R"([{"op": "remove", "path": "members"}])", nullptr},
      {"group", R"([{"op": "remove", "path": "members"}, {"op": "add", "path": "members", "value": [{"value": "08e1d05d"}]}])", nullptr},
      {"group", R"([{"op": "replace", "path": "members", "value": [{"value": "08e1d05d"}]}])", nullptr},
      {"group", R"([{"op": "replace", "path": "displayName", "value": "Guides"}])", nullptr},
      {"user", R"([{"op": "add", "value": {"emails": [{"value": "b@x.org", "type": "other"}], "nickName": "Babs"}}])", nullptr},
      {"user", R"([{"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}])", nullptr},
      {"user", R"([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "home@x.org"}])", nullptr},
      {"user", R"([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@x.org"}}])", nullptr},
      {"user", R"([{"op": "replace", "path": "name.givenName", "value": "Barb"}])", nullptr},
      {"user", R"([{"op": "replace", "value": {"displayName": "B", "active": false}}])", nullptr},
      {"user", R"([{"op": "remove", "path": "name.formatted"}])", nullptr},
      {"user", R"([{"op": "remove", "path": "emails[type eq \"home\"]"}])", nullptr},
      {"user", R"([{"op": "remove", "path": "emails[type eq \"other\"]"}])", nullptr},
      {"user", R"([{"op": "remove", "path": "title"}])", nullptr},
      {"user", R"([{"op": "add", "path": "ims[type eq \"xmpp\"].value", "value": "bj@jabber.org"}])", nullptr},
      {"user", R"([{"op": "replace", "path": "emails", "value": [{"value": "a@b.org", "type": "work"}]}])", nullptr},
      {"user", R"([{"op": "add", "path": "name", "value": {"middleName": "J"}}])", nullptr},
      {"user", R"([{"op": "replace", "path": "name", "value": {"givenName": "B"}}])", nullptr},
      {"user", R"([{"op": "add", "path": "title", "value": "Boss"}, {"op": "replace", "path": "title", "value": "Chief"}])", nullptr},
      {"user", R"([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x@y"}])", nullptr},  // both: noTarget
      {"user", R"([{"op": "remove"}])", nullptr},                                                              // both: noTarget
      {"user", R"([{"op": "move", "path": "title", "value": "x"}])", nullptr},                                 // both: bad op
      {"user", R"([{"op": "add", "path": "title"}])", nullptr},                                                // both: no value
      // Departures of scim-patch 0.8.3 from RFC 7643/7644:
      {"user", R"([{"op": "replace", "path": "id", "value": "other"}])", "does not enforce mutability: id is readOnly"},
      {"user", R"([{"op": "add", "path": "groups", "value": [{"value": "g"}]}])", "does not enforce mutability: groups is readOnly"},
      {"user", R"([{"op": "remove", "path": "userName"}])", "removes a required attribute"},
      {"user", R"([{"op": "add", "path": "nosuch", "value": "x"}])", "accepts attributes outside the schema (RFC: invalidPath)"},
      {"user", R"([{"op": "replace", "path": "active", "value": 3}])", "does not check value types (RFC: invalidValue)"},
      {"user", R"([{"op": "replace", "path": "USERNAME", "value": "b"}])",
       "matches path attribute names exactly and adds a second key; RFC 7643 §2.1: names are case-insensitive"},
      {"group", R"([{"op": "add", "path": "members", "value": [{"value": "2819c223", "display": "Barbara"}]}])",
       "adds the same member (same value) a second time; RFC 7644 §3.5.2.1: a value already there is not added"},
      {"user", R"([{"op": "add", "path": "emails", "value": [{"value": "n@x.org", "primary": true}]}])",
       "leaves two primary values; RFC 7643 §2.4 allows one (the server clears the others)"},
  };
  json cases = json::array();
  for (const PatchCase& c : corpus)
    cases.push_back({{"resource", resource_named(c.resource)},
                     {"patch", {{"schemas", {"urn:ietf:params:scim:api:messages:2.0:PatchOp"}},
                                {"Operations", json::parse(c.operations)}}}});
  const json answers = oracle_->call("patch", {{"cases", cases}});
  ASSERT_EQ(answers.size(), corpus.size());
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const PatchCase& c = corpus[i];
    const Schema& schema = std::string(c.resource) == "user" ? user_schema() : group_schema();
    auto ours = apply_patch(cases[i]["resource"], cases[i]["patch"], schema);
    const json& theirs = answers[i];
    const bool same = theirs["ok"].get<bool>() == ours.has_value() && (!ours || theirs["result"] == *ours);
    if (c.deviation == nullptr) {
      EXPECT_TRUE(same) << c.operations << "\n ours: " << (ours ? ours->dump() : ours.error().message)
                        << "\n theirs: " << theirs.dump();
    } else {
      EXPECT_FALSE(same) << c.operations << ": the documented deviation (" << c.deviation << ") no longer shows";
    }
  }
}

}  // namespace
}  // namespace carillon::scim
