// The REST API over real HTTPS against a real `carillon up` (SQLite, Mosquitto, the serve
// process): tenancy, pagination, hostile input, tenant isolation, tokens and login throttling.
// One platform serves the whole suite; every test makes its own companies so tests do not
// depend on each other's data.

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/encoding.hpp"
#include "common/files.hpp"
#include "common/random.hpp"
#include "identity/tokens.hpp"
#include "support/images.hpp"
#include "support/platform.hpp"
#include "support/temp_dir.hpp"

namespace carillon {
namespace {

using json = nlohmann::json;

const std::string& kPng = testing::png_image();
const std::string& kJpeg = testing::jpeg_image();
const std::string& kCleanSvg = testing::svg_image();

std::string url_encode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// A response with its headers (Platform::Reply has none).
struct Answer {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  json json_body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class ApiIntegrationTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    platform_ = new testing::Platform();
    admin_token_ = platform_->admin_token();
    auto me = send("GET", "/api/v1/me", admin_token_);
    ASSERT_EQ(me.status, 200) << me.body;
    admin_id_ = me.json_body.at("id").get<std::string>();
  }
  static void TearDownTestSuite() {
    delete platform_;
    platform_ = nullptr;
  }

  static Answer send(const std::string& method, const std::string& path, const std::string& token,
                     const std::string& body = {}, const std::string& content_type = "application/json") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    if (!body.empty()) headers.emplace_back("Content-Type", content_type);
    auto r = platform_->client().request(method, platform_->url() + path, body, headers);
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": " << r.error().message;
      return {};
    }
    Answer a{r->status, r->body, r->headers, json::parse(r->body, nullptr, false)};
    if (a.json_body.is_discarded()) a.json_body = nullptr;
    return a;
  }
  static Answer send(const std::string& method, const std::string& path, const std::string& token, const json& body) {
    return send(method, path, token, body.dump());
  }
  static Answer admin(const std::string& method, const std::string& path, const json& body = nullptr) {
    return body.is_null() ? send(method, path, admin_token_) : send(method, path, admin_token_, body);
  }

  static std::string create(const std::string& collection, const json& body, const std::string& token = admin_token_) {
    auto r = send("POST", "/api/v1/" + collection, token, body);
    EXPECT_EQ(r.status, 201) << collection << " " << body.dump() << " -> " << r.body;
    return r.json_body.is_object() ? r.json_body.value("id", "") : "";
  }
  static std::string company(const std::string& name) { return create("companies", {{"name", name}}); }
  static std::string project(const std::string& company_id, const std::string& name) {
    return create("projects", {{"name", name}, {"company_id", company_id}});
  }
  static std::string site(const std::string& project_id, const std::string& name,
                          const std::string& zone = "Europe/Berlin") {
    return create("sites", {{"name", name}, {"project_id", project_id}, {"time_zone", zone}});
  }
  // A user with this role, logged in; returns {user id, access token}.
  static std::pair<std::string, std::string> user(const std::string& username, const std::string& role,
                                                  const std::string& company_id) {
    const std::string password = "correct horse battery staple " + username;
    json body{{"username", username}, {"password", password}, {"role", role}};
    if (!company_id.empty()) body["company_id"] = company_id;
    auto r = admin("POST", "/api/v1/users", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return {r.json_body.is_object() ? r.json_body.value("id", "") : "", platform_->login(username, password)};
  }

  // Every item of a list, following `next` cursors.
  static std::vector<json> list_all(const std::string& path, const std::string& token = admin_token_) {
    std::vector<json> items;
    std::string after;
    for (int guard = 0; guard < 100; ++guard) {
      auto sep = path.find('?') == std::string::npos ? "?" : "&";
      auto r = send("GET", path + sep + "limit=500" + (after.empty() ? "" : "&after=" + url_encode(after)), token);
      EXPECT_EQ(r.status, 200) << path << " " << r.body;
      if (r.status != 200) break;
      for (const auto& item : r.json_body.at("items")) items.push_back(item);
      if (r.json_body.at("next").is_null()) break;
      after = r.json_body.at("next").get<std::string>();
    }
    return items;
  }

  static std::vector<json> audit_events(const std::string& query) { return list_all("/api/v1/audit-events?" + query); }

  static testing::Platform* platform_;
  static std::string admin_token_;
  static std::string admin_id_;

 protected:
  testing::TempDir scratch_;
};

testing::Platform* ApiIntegrationTest::platform_ = nullptr;
std::string ApiIntegrationTest::admin_token_;
std::string ApiIntegrationTest::admin_id_;

// An RFC 7807 problem with this status; when `field` is given, errors[0].field names it.
void expect_problem(const Answer& a, int status, const std::string& field = {}) {
  EXPECT_EQ(a.status, status) << a.body;
  EXPECT_EQ(a.header("content-type"), "application/problem+json") << a.body;
  ASSERT_TRUE(a.json_body.is_object()) << a.body;
  EXPECT_EQ(a.json_body.value("status", 0), status) << a.body;
  EXPECT_TRUE(a.json_body.contains("type") && a.json_body["type"].is_string()) << a.body;
  EXPECT_TRUE(a.json_body.contains("title")) << a.body;
  if (!field.empty()) {
    ASSERT_TRUE(a.json_body.contains("errors") && a.json_body["errors"].is_array() && !a.json_body["errors"].empty())
        << a.body;
    EXPECT_EQ(a.json_body["errors"][0].value("field", ""), field) << a.body;
  }
}

// What a client can read of the stored state: every company, project and site.
json snapshot() {
  return json{{"companies", ApiIntegrationTest::list_all("/api/v1/companies")},
              {"projects", ApiIntegrationTest::list_all("/api/v1/projects")},
              {"sites", ApiIntegrationTest::list_all("/api/v1/sites")}};
}

// ---------------------------------------------------------------------------------------------
// Tenancy (S1)

TEST_F(ApiIntegrationTest, CompaniesProjectsSitesCrudWithAttributesLabelsAndAudit) {
  auto created = admin("POST", "/api/v1/companies",
                       {{"name", "Acme Doors"},
                        {"attributes", {{"customer_no", "4711"}, {"region", "north"}}},
                        {"labels", json::array({{{"name", "vip"}, {"color", "#1e90ff"}}})}});
  ASSERT_EQ(created.status, 201) << created.body;
  auto company_id = created.json_body.at("id").get<std::string>();
  EXPECT_EQ(created.json_body["name"], "Acme Doors");
  EXPECT_EQ(created.json_body["attributes"], (json{{"customer_no", "4711"}, {"region", "north"}}));
  EXPECT_EQ(created.json_body["labels"], json::parse(R"~([{"name":"vip","color":"#1e90ff"}])~"));

  auto got = admin("GET", "/api/v1/companies/" + company_id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json_body, created.json_body);

  auto patched = admin("PATCH", "/api/v1/companies/" + company_id, {{"name", "Acme Doors GmbH"}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json_body["name"], "Acme Doors GmbH");
  EXPECT_EQ(patched.json_body["attributes"], created.json_body["attributes"]);  // absent = kept
  EXPECT_EQ(patched.json_body["labels"], created.json_body["labels"]);

  auto project_id = project(company_id, "HQ");
  auto p = admin("GET", "/api/v1/projects/" + project_id);
  ASSERT_EQ(p.status, 200);
  EXPECT_EQ(p.json_body["company_id"], company_id);
  auto site_id = site(project_id, "Main entrance", "Europe/Berlin");
  auto s = admin("GET", "/api/v1/sites/" + site_id);
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.json_body["project_id"], project_id);
  EXPECT_EQ(s.json_body["company_id"], company_id);
  EXPECT_EQ(s.json_body["time_zone"], "Europe/Berlin");

  auto moved = admin("PATCH", "/api/v1/sites/" + site_id, {{"time_zone", "America/Argentina/Buenos_Aires"}});
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(admin("GET", "/api/v1/sites/" + site_id).json_body["time_zone"], "America/Argentina/Buenos_Aires");
  // The parent cannot be changed by PATCH.
  expect_problem(admin("PATCH", "/api/v1/sites/" + site_id, {{"project_id", project_id}}), 400, "project_id");

  auto sites = list_all("/api/v1/sites?project_id=" + project_id);
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0]["id"], site_id);

  EXPECT_EQ(admin("DELETE", "/api/v1/sites/" + site_id).status, 204);
  expect_problem(admin("GET", "/api/v1/sites/" + site_id), 404);
  EXPECT_EQ(admin("DELETE", "/api/v1/projects/" + project_id).status, 204);
  EXPECT_EQ(admin("DELETE", "/api/v1/companies/" + company_id).status, 204);
  expect_problem(admin("GET", "/api/v1/companies/" + company_id), 404);

  // Every change left an event by the admin.
  std::multiset<std::string> actions;
  for (const auto& e : audit_events("company_id=" + company_id)) {
    EXPECT_EQ(e["actor"], admin_id_) << e.dump();
    EXPECT_EQ(e["company_id"], company_id) << e.dump();
    EXPECT_FALSE(e["source"].get<std::string>().empty()) << e.dump();
    actions.insert(e["action"].get<std::string>());
  }
  for (const char* action : {"company.create", "company.update", "project.create", "site.create", "site.update",
                             "site.delete", "project.delete", "company.delete"}) {
    EXPECT_EQ(actions.count(action), 1u) << action;
  }
  std::multiset<std::string> site_actions;
  for (const auto& e : audit_events("target_id=" + site_id)) site_actions.insert(e["action"].get<std::string>());
  EXPECT_EQ(site_actions, (std::multiset<std::string>{"site.create", "site.update", "site.delete"}));
}

TEST_F(ApiIntegrationTest, LabelsFilterLists) {
  auto company_id = company("Label Co");
  auto project_id = project(company_id, "Labelled");
  auto vip = create(
      "sites",
      {{"name", "A"},
       {"project_id", project_id},
       {"time_zone", "UTC"},
       {"labels", json::array({{{"name", "vip"}, {"color", "#ff0000"}}, {{"name", "night"}, {"color", "#000080"}}})}});
  auto night = create("sites", {{"name", "B"},
                                {"project_id", project_id},
                                {"time_zone", "UTC"},
                                {"labels", json::array({{{"name", "night"}, {"color", "#000080"}}})}});
  auto plain = site(project_id, "C", "UTC");
  auto ids = [](const std::vector<json>& items) {
    std::set<std::string> out;
    for (const auto& i : items) out.insert(i["id"].get<std::string>());
    return out;
  };
  EXPECT_EQ(ids(list_all("/api/v1/sites?project_id=" + project_id + "&label=vip")), (std::set<std::string>{vip}));
  EXPECT_EQ(ids(list_all("/api/v1/sites?project_id=" + project_id + "&label=night")),
            (std::set<std::string>{vip, night}));
  EXPECT_TRUE(list_all("/api/v1/sites?project_id=" + project_id + "&label=none").empty());
  EXPECT_EQ(ids(list_all("/api/v1/sites?project_id=" + project_id)), (std::set<std::string>{vip, night, plain}));

  // Relabelling replaces the set; filtering follows.
  ASSERT_EQ(
      admin("PATCH", "/api/v1/sites/" + plain, {{"labels", json::array({{{"name", "vip"}, {"color", "#00ff00"}}})}})
          .status,
      200);
  EXPECT_EQ(ids(list_all("/api/v1/sites?project_id=" + project_id + "&label=vip")),
            (std::set<std::string>{vip, plain}));
  ASSERT_EQ(admin("PATCH", "/api/v1/sites/" + vip, {{"labels", json::array()}}).status, 200);
  EXPECT_EQ(ids(list_all("/api/v1/sites?project_id=" + project_id + "&label=vip")), (std::set<std::string>{plain}));

  // Labels on companies too.
  auto labelled = create(
      "companies", {{"name", "Labelled Co"}, {"labels", json::array({{{"name", "partner-x"}, {"color", "#123456"}}})}});
  EXPECT_EQ(ids(list_all("/api/v1/companies?label=partner-x")), (std::set<std::string>{labelled}));

  auto before = admin("GET", "/api/v1/sites/" + night);
  expect_problem(
      admin("PATCH", "/api/v1/sites/" + night, {{"labels", json::array({{{"name", "x"}, {"color", "red"}}})}}), 400,
      "labels[0].color");
  expect_problem(admin("PATCH", "/api/v1/sites/" + night, {{"labels", json::array({{{"name", "x"}}})}}), 400,
                 "labels[0].color");
  expect_problem(admin("PATCH", "/api/v1/sites/" + night, {{"labels", "vip"}}), 400, "labels");
  expect_problem(admin("PATCH", "/api/v1/sites/" + night, {{"attributes", {{"bad key", "v"}}}}), 400,
                 "attributes.bad key");
  expect_problem(admin("PATCH", "/api/v1/sites/" + night, {{"attributes", {{"n", 5}}}}), 400, "attributes.n");
  EXPECT_EQ(admin("GET", "/api/v1/sites/" + night).json_body, before.json_body);
}

TEST_F(ApiIntegrationTest, TimeZonesMustBeIanaNames) {
  auto project_id = project(company("Zone Co"), "Zones");
  for (const char* zone :
       {"Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC", "America/Argentina/Buenos_Aires"}) {
    auto id = site(project_id, std::string("Site in ") + zone, zone);
    EXPECT_EQ(admin("GET", "/api/v1/sites/" + id).json_body["time_zone"], zone);
  }
  auto existing = site(project_id, "Fixed", "Europe/Paris");
  auto before = snapshot();
  for (const char* zone : {"Mars/Base", "../etc/passwd", "", "Europe/../../etc/passwd", "Europe/Berlin\n"}) {
    expect_problem(admin("POST", "/api/v1/sites", {{"name", "bad"}, {"project_id", project_id}, {"time_zone", zone}}),
                   400, "time_zone");
    expect_problem(admin("PATCH", "/api/v1/sites/" + existing, {{"time_zone", zone}}), 400, "time_zone");
  }
  expect_problem(admin("POST", "/api/v1/sites", {{"name", "no zone"}, {"project_id", project_id}}), 400, "time_zone");
  expect_problem(admin("POST", "/api/v1/sites", {{"name", "bad"}, {"project_id", project_id}, {"time_zone", 1}}), 400,
                 "time_zone");
  // Only sites have a time zone.
  expect_problem(admin("PATCH", "/api/v1/projects/" + project_id, {{"time_zone", "UTC"}}), 400, "time_zone");
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ApiIntegrationTest, LogoUploadChecksTheBytes) {
  auto company_id = company("Logo Co");
  auto logo_path = "/api/v1/companies/" + company_id + "/logo";
  expect_problem(admin("GET", logo_path), 404);  // none yet

  auto put_and_get = [&](const std::string& bytes, const std::string& declared, const std::string& detected) {
    auto put = send("PUT", logo_path, admin_token_, bytes, declared);
    ASSERT_EQ(put.status, 204) << put.body;
    auto got = send("GET", logo_path, admin_token_);
    ASSERT_EQ(got.status, 200);
    EXPECT_EQ(got.body, bytes);
    EXPECT_EQ(got.header("content-type"), detected);
    EXPECT_EQ(got.header("x-content-type-options"), "nosniff");
    EXPECT_NE(got.header("content-security-policy").find("sandbox"), std::string::npos);
  };
  put_and_get(kPng, "image/png", "image/png");
  put_and_get(kJpeg, "image/jpeg", "image/jpeg");
  // The declared type is not trusted: the bytes decide.
  put_and_get(kPng, "application/octet-stream", "image/png");
  put_and_get(kCleanSvg, "image/svg+xml", "image/svg+xml");

  auto rejected = [&](const std::string& bytes, const std::string& declared, int status) {
    expect_problem(send("PUT", logo_path, admin_token_, bytes, declared), status, status == 400 ? "logo" : "");
    auto got = send("GET", logo_path, admin_token_);  // the previous logo is untouched
    EXPECT_EQ(got.body, kCleanSvg);
    EXPECT_EQ(got.header("content-type"), "image/svg+xml");
  };
  rejected(R"~(<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>)~",
           "image/svg+xml", 400);
  rejected(R"~(<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>)~", "image/svg+xml", 400);
  rejected(R"~(<svg/onload=alert(1)></svg>)~", "image/svg+xml", 400);
  rejected(R"~(<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/t.png"/></svg>)~",
           "image/svg+xml", 400);
  rejected("This is a text file that someone renamed to logo.png\n", "image/png", 400);
  std::string big = kPng + std::string(600 * 1024 - kPng.size(), '\x42');
  auto too_big = send("PUT", logo_path, admin_token_, big, "image/png");
  expect_problem(too_big, 413);
  EXPECT_EQ(send("GET", logo_path, admin_token_).body, kCleanSvg);

  std::vector<std::string> types;
  for (const auto& e : audit_events("action=company.logo&target_id=" + company_id)) {
    EXPECT_EQ(e["actor"], admin_id_);
    types.push_back(e["details"].value("content_type", ""));
  }
  // As a multiset: ids (and so list order) only resolve whole seconds (see common_test).
  std::sort(types.begin(), types.end());
  EXPECT_EQ(types, (std::vector<std::string>{"image/jpeg", "image/png", "image/png", "image/svg+xml"}));
}

TEST_F(ApiIntegrationTest, DeletingAProjectThatHasSitesIsAConflict) {
  auto company_id = company("Conflict Co");
  auto project_id = project(company_id, "Busy");
  auto site_id = site(project_id, "Still here");
  expect_problem(admin("DELETE", "/api/v1/projects/" + project_id), 409);
  expect_problem(admin("DELETE", "/api/v1/companies/" + company_id), 409);
  EXPECT_EQ(admin("GET", "/api/v1/projects/" + project_id).status, 200);
  EXPECT_EQ(admin("GET", "/api/v1/sites/" + site_id).status, 200);
  EXPECT_TRUE(audit_events("action=project.delete&target_id=" + project_id).empty());
  ASSERT_EQ(admin("DELETE", "/api/v1/sites/" + site_id).status, 204);
  EXPECT_EQ(admin("DELETE", "/api/v1/projects/" + project_id).status, 204);
  EXPECT_EQ(audit_events("action=project.delete&target_id=" + project_id).size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Cursor pagination

TEST_F(ApiIntegrationTest, CursorPaginationVisitsEveryItemOnce) {
  auto project_id = project(company("Many Sites Co"), "Big");
  std::set<std::string> created;
  for (int i = 0; i < 120; ++i) created.insert(site(project_id, "Site " + std::to_string(i), "UTC"));
  ASSERT_EQ(created.size(), 120u);

  std::vector<std::string> seen;
  std::vector<std::size_t> page_sizes;
  std::string after;
  for (int guard = 0; guard < 10; ++guard) {
    auto r =
        admin("GET", "/api/v1/sites?project_id=" + project_id + "&limit=50" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(r.status, 200) << r.body;
    page_sizes.push_back(r.json_body["items"].size());
    for (const auto& item : r.json_body["items"]) seen.push_back(item["id"].get<std::string>());
    if (r.json_body["next"].is_null()) break;
    after = r.json_body["next"].get<std::string>();
  }
  EXPECT_EQ(page_sizes, (std::vector<std::size_t>{50, 50, 20}));
  EXPECT_EQ(seen.size(), 120u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), created);

  for (const char* limit : {"0", "501", "abc", "-1", "50x", "", "1e2"}) {
    expect_problem(admin("GET", "/api/v1/sites?project_id=" + project_id + "&limit=" + limit), 400, "limit");
  }
  expect_problem(admin("GET", "/api/v1/companies?limit=0"), 400, "limit");
  expect_problem(admin("GET", "/api/v1/audit-events?limit=501"), 400, "limit");
  EXPECT_EQ(admin("GET", "/api/v1/sites?project_id=" + project_id + "&limit=500").json_body["items"].size(), 120u);
  EXPECT_EQ(admin("GET", "/api/v1/sites?project_id=" + project_id + "&limit=1").json_body["items"].size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Bad input: a problem+json answer and nothing changed

TEST_F(ApiIntegrationTest, MalformedBodiesAreRejectedAndChangeNothing) {
  auto company_id = company("Input Co");
  auto project_id = project(company_id, "Input");
  auto site_id = site(project_id, "Input site");
  auto before = snapshot();

  struct Case {
    std::string method, path, body, content_type, field;
  };
  const std::string huge_name(1100 * 1024, 'x');
  std::vector<Case> cases = {
      {"POST", "/api/v1/companies", "{\"name\": \"unterminated", "application/json", "body"},
      {"POST", "/api/v1/companies", "", "application/json", "body"},
      {"POST", "/api/v1/companies", "[{\"name\": \"array\"}]", "application/json", "body"},
      {"POST", "/api/v1/companies", "\"just a string\"", "application/json", "body"},
      {"POST", "/api/v1/companies", "{\"name\": 5}", "application/json", "name"},
      {"POST", "/api/v1/companies", "{\"name\": null}", "application/json", "name"},
      {"POST", "/api/v1/companies", "{\"name\": [\"a\"]}", "application/json", "name"},
      {"POST", "/api/v1/companies", "{\"name\": \"ok\", \"is_admin\": true}", "application/json", "is_admin"},
      {"POST", "/api/v1/companies", "{\"name\": \"ok\", \"id\": \"co_00000000000000000000000000ff\"}",
       "application/json", "id"},
      {"POST", "/api/v1/companies", "{\"name\": \"ok\"}", "text/plain", "body"},
      {"POST", "/api/v1/companies", "{\"name\": \"\"}", "application/json", "name"},
      {"POST", "/api/v1/companies", "{\"name\": \"a\\u0000b\"}", "application/json", "name"},
      {"POST", "/api/v1/companies", "{\"name\": \"ok\", \"attributes\": [1]}", "application/json", "attributes"},
      {"POST", "/api/v1/projects", "{\"name\": \"p\"}", "application/json", "company_id"},
      {"POST", "/api/v1/projects", "{\"name\": \"p\", \"company_id\": 7}", "application/json", "company_id"},
      {"POST", "/api/v1/projects", "{\"name\": \"p\", \"company_id\": \"co_nope\"}", "application/json", "company_id"},
      {"POST", "/api/v1/sites", "{\"name\": \"s\", \"project_id\": \"" + company_id + "\", \"time_zone\": \"UTC\"}",
       "application/json", "project_id"},
      {"PATCH", "/api/v1/sites/" + site_id, "{\"name\": 5}", "application/json", "name"},
      {"PATCH", "/api/v1/sites/" + site_id, "{\"nmae\": \"typo\"}", "application/json", "nmae"},
      {"PATCH", "/api/v1/sites/" + site_id, "not json", "application/json", "body"},
      {"PATCH", "/api/v1/projects/" + project_id, "{\"company_id\": \"" + company_id + "\"}", "application/json",
       "company_id"},
      {"PATCH", "/api/v1/companies/" + company_id, "{\"name\": \"" + std::string(201, 'n') + "\"}", "application/json",
       "name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path + " " + c.body.substr(0, 80));
    expect_problem(send(c.method, c.path, admin_token_, c.body, c.content_type), 400, c.field);
  }
  // Over the 1 MiB body limit: 413, whether the body is otherwise valid or not.
  expect_problem(send("POST", "/api/v1/companies", admin_token_, json{{"name", huge_name}}.dump()), 413);
  expect_problem(send("PATCH", "/api/v1/sites/" + site_id, admin_token_, std::string(1100 * 1024, '{')), 413);
  // The connection handling survived all that.
  EXPECT_EQ(snapshot(), before);
}

TEST_F(ApiIntegrationTest, MalformedAndUnknownIdsAreNotFound) {
  for (const std::string path :
       {"/api/v1/companies/xyz", "/api/v1/companies/co_00000000000000000000000000ff",
        "/api/v1/projects/co_00000000000000000000000000ff", "/api/v1/sites/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/sites/%27%3B%20DROP%20TABLE%20nodes%3B--", "/api/v1/devices/dv_x",
        "/api/v1/devices/dv_00000000000000000000000000ff", "/api/v1/devices/dv_00000000000000000000000000ff/config",
        "/api/v1/companies/xyz/logo"}) {
    SCOPED_TRACE(path);
    expect_problem(admin("GET", path), 404);
  }
  expect_problem(admin("PATCH", "/api/v1/companies/xyz", {{"name", "x"}}), 404);
  expect_problem(admin("DELETE", "/api/v1/sites/xyz"), 404);
  expect_problem(send("PUT", "/api/v1/companies/xyz/logo", admin_token_, kPng, "image/png"), 404);
  expect_problem(admin("POST", "/api/v1/devices/dv_00000000000000000000000000ff/commands", {{"type", "restart"}}), 404);
  expect_problem(admin("GET", "/api/v1/no-such-collection"), 404);
}

TEST_F(ApiIntegrationTest, MetacharactersAndUnicodeAreStoredVerbatim) {
  const std::vector<std::string> names = {
      "'; DROP TABLE companies; --", "$(rm -rf /)",        "`x`",
      "\"quoted\" \\ back",          "Zürich Großmünster", "東京タワー 🔔",
      "<script>alert(1)</script>",   "a%20b&c=d",          "Robert'); DELETE FROM nodes WHERE ('1'='1"};
  auto project_id = project(company("Verbatim Co"), "Verbatim");
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto company_id =
        create("companies", {{"name", name},
                             {"attributes", {{"note", name}}},
                             {"labels", json::array({{{"name", name.substr(0, 30)}, {"color", "#abcdef"}}})}});
    auto got = admin("GET", "/api/v1/companies/" + company_id);
    ASSERT_EQ(got.status, 200);
    EXPECT_EQ(got.json_body["name"], name);
    EXPECT_EQ(got.json_body["attributes"]["note"], name);
    EXPECT_EQ(got.json_body["labels"][0]["name"], name.substr(0, 30));
    auto site_id = site(project_id, name);
    EXPECT_EQ(admin("GET", "/api/v1/sites/" + site_id).json_body["name"], name);
    auto labelled = list_all("/api/v1/companies?label=" + url_encode(name.substr(0, 30)));
    ASSERT_EQ(labelled.size(), 1u);
    EXPECT_EQ(labelled[0]["id"], company_id);
  }
  // The tables are all still there.
  EXPECT_GE(list_all("/api/v1/companies").size(), names.size());
  EXPECT_EQ(list_all("/api/v1/sites?project_id=" + project_id).size(), names.size());
  EXPECT_EQ(admin("GET", "/api/v1/sites?project_id=" + url_encode("' OR '1'='1")).json_body["items"].size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Tenant isolation and roles

// A real emulated device (`carillon device`) claimed into a site; stopped at the end.
class DeviceProcess {
 public:
  DeviceProcess(const testing::Platform& platform, const std::string& claim_code, const std::filesystem::path& dir) {
    auto log = (dir / "device.log").string();
    auto state = (dir / "device").string();
    auto ca = platform.ca_file().string();
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* out = std::freopen(log.c_str(), "a", stdout);
      FILE* err = std::freopen(log.c_str(), "a", stderr);
      (void)out;
      (void)err;
      ::execl(CARILLON_BINARY, CARILLON_BINARY, "device", "--platform", platform.url().c_str(), "--ca", ca.c_str(),
              "--claim", claim_code.c_str(), "--state-dir", state.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~DeviceProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  DeviceProcess(const DeviceProcess&) = delete;
  DeviceProcess& operator=(const DeviceProcess&) = delete;

 private:
  pid_t pid_ = -1;
};

TEST_F(ApiIntegrationTest, AnotherTenantsObjectsLookExactlyLikeMissingOnes) {
  // Company A with a project, a site, a claim code and a claimed device.
  auto a = company("Tenant A");
  auto a_project = project(a, "A project");
  auto a_site = site(a_project, "A site");
  auto code = admin("POST", "/api/v1/claim-codes", {{"site_id", a_site}, {"role", "door-station"}});
  ASSERT_EQ(code.status, 201) << code.body;
  auto code_id = code.json_body["id"].get<std::string>();
  DeviceProcess device(*platform_, code.json_body["code"].get<std::string>(), scratch_.path());
  std::string a_device;
  for (int i = 0; i < 150 && a_device.empty(); ++i) {
    auto devices = admin("GET", "/api/v1/devices?site_id=" + a_site);
    if (devices.status == 200 && !devices.json_body["items"].empty())
      a_device = devices.json_body["items"][0]["id"].get<std::string>();
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_FALSE(a_device.empty()) << "the emulated device did not claim itself";

  // Company B and its administrator.
  auto b = company("Tenant B");
  const auto b_user = user("b-admin", "company-admin", b);
  const std::string b_admin_id = b_user.first, b_token = b_user.second;
  auto b_project = create("projects", {{"name", "B project"}, {"company_id", b}}, b_token);
  ASSERT_FALSE(b_project.empty());

  auto before = snapshot();
  auto a_device_before = admin("GET", "/api/v1/devices/" + a_device).json_body;
  ASSERT_TRUE(a_device_before.is_object());

  // Reads: 404, and the same problem as for an id that never existed.
  const std::map<std::string, std::string> missing_twins = {
      {"/api/v1/companies/" + a, "/api/v1/companies/co_00000000000000000000000000ff"},
      {"/api/v1/projects/" + a_project, "/api/v1/projects/pr_00000000000000000000000000ff"},
      {"/api/v1/sites/" + a_site, "/api/v1/sites/si_00000000000000000000000000ff"},
      {"/api/v1/devices/" + a_device, "/api/v1/devices/dv_00000000000000000000000000ff"},
      {"/api/v1/devices/" + a_device + "/config", "/api/v1/devices/dv_00000000000000000000000000ff/config"},
      {"/api/v1/companies/" + a + "/logo", "/api/v1/companies/co_00000000000000000000000000ff/logo"},
      {"/api/v1/claim-codes?site_id=" + a_site, "/api/v1/claim-codes?site_id=si_00000000000000000000000000ff"},
  };
  for (const auto& [theirs, nobodys] : missing_twins) {
    SCOPED_TRACE(theirs);
    auto r = send("GET", theirs, b_token);
    expect_problem(r, 404);
    auto twin = send("GET", nobodys, b_token);
    EXPECT_EQ(r.status, twin.status);
    EXPECT_EQ(r.json_body, twin.json_body);
  }

  // Writes: also 404 (or a field error naming the reference), the same as for nonexistent ids.
  auto same = [&](const std::string& method, const std::string& theirs, const std::string& nobodys, const json& body,
                  int status, const std::string& field) {
    SCOPED_TRACE(method + " " + theirs);
    auto r = send(method, theirs, b_token, body.is_null() ? std::string() : body.dump());
    expect_problem(r, status, field);
    auto twin = send(method, nobodys, b_token, body.is_null() ? std::string() : body.dump());
    EXPECT_EQ(r.json_body, twin.json_body);
  };
  const std::string no_project = "pr_00000000000000000000000000ff", no_site = "si_00000000000000000000000000ff";
  same("PATCH", "/api/v1/companies/" + a, "/api/v1/companies/co_00000000000000000000000000ff", {{"name", "pwned"}}, 404,
       "");
  same("PATCH", "/api/v1/sites/" + a_site, "/api/v1/sites/" + no_site, {{"name", "pwned"}}, 404, "");
  same("DELETE", "/api/v1/sites/" + a_site, "/api/v1/sites/" + no_site, nullptr, 404, "");
  same("DELETE", "/api/v1/projects/" + a_project, "/api/v1/projects/" + no_project, nullptr, 404, "");
  same("PATCH", "/api/v1/devices/" + a_device + "/config", "/api/v1/devices/dv_00000000000000000000000000ff/config",
       {{"name", "pwned"}}, 404, "");
  same("POST", "/api/v1/devices/" + a_device + "/commands", "/api/v1/devices/dv_00000000000000000000000000ff/commands",
       {{"type", "restart"}}, 404, "");
  same("POST", "/api/v1/devices/" + a_device + "/revoke", "/api/v1/devices/dv_00000000000000000000000000ff/revoke",
       nullptr, 404, "");
  auto put = send("PUT", "/api/v1/companies/" + a + "/logo", b_token, kPng, "image/png");
  expect_problem(put, 404);
  // References to A's objects in bodies are "no such ..." field errors, like made-up ids.
  auto site_in_a = send("POST", "/api/v1/sites", b_token,
                        json{{"name", "x"}, {"project_id", a_project}, {"time_zone", "UTC"}}.dump());
  expect_problem(site_in_a, 400, "project_id");
  auto site_nowhere = send("POST", "/api/v1/sites", b_token,
                           json{{"name", "x"}, {"project_id", no_project}, {"time_zone", "UTC"}}.dump());
  EXPECT_EQ(site_in_a.json_body, site_nowhere.json_body);
  auto code_in_a =
      send("POST", "/api/v1/claim-codes", b_token, json{{"site_id", a_site}, {"role", "door-station"}}.dump());
  expect_problem(code_in_a, 400, "site_id");
  auto code_nowhere =
      send("POST", "/api/v1/claim-codes", b_token, json{{"site_id", no_site}, {"role", "door-station"}}.dump());
  EXPECT_EQ(code_in_a.json_body, code_nowhere.json_body);
  expect_problem(send("POST", "/api/v1/projects", b_token, json{{"name", "x"}, {"company_id", a}}.dump()), 400,
                 "company_id");
  expect_problem(send("POST", "/api/v1/users", b_token,
                      json{{"username", "b-sneaks-into-a"},
                           {"password", "long enough password"},
                           {"role", "company-admin"},
                           {"company_id", a}}
                          .dump()),
                 400, "company_id");
  expect_problem(
      send("POST", "/api/v1/users", b_token,
           json{{"username", "b-wants-more"}, {"password", "long enough password"}, {"role", "platform-admin"}}.dump()),
      403);
  expect_problem(send("POST", "/api/v1/companies", b_token, json{{"name", "B2"}}.dump()), 403);

  // Lists only show B's own objects, whatever the query asks for.
  auto b_sees = [&](const std::string& path) { return list_all(path, b_token); };
  for (const auto& c : b_sees("/api/v1/companies")) EXPECT_EQ(c["id"], b);
  for (const auto& p : b_sees("/api/v1/projects")) EXPECT_EQ(p["company_id"], b);
  EXPECT_TRUE(b_sees("/api/v1/projects?company_id=" + a).empty());
  EXPECT_TRUE(b_sees("/api/v1/sites?project_id=" + a_project).empty());
  EXPECT_TRUE(b_sees("/api/v1/devices").empty());
  EXPECT_TRUE(b_sees("/api/v1/devices?company_id=" + a).empty());
  EXPECT_TRUE(b_sees("/api/v1/devices?site_id=" + a_site).empty());
  for (const auto& u : b_sees("/api/v1/users")) EXPECT_EQ(u["company_id"], b);
  auto b_events = b_sees("/api/v1/audit-events");
  EXPECT_FALSE(b_events.empty());
  for (const auto& e : b_events) EXPECT_EQ(e["company_id"], b) << e.dump();
  for (const auto& e : b_sees("/api/v1/audit-events?company_id=" + a)) EXPECT_EQ(e["company_id"], b) << e.dump();
  EXPECT_TRUE(b_sees("/api/v1/audit-events?target_id=" + code_id).empty());

  // Nothing of A changed.
  EXPECT_EQ(snapshot(), before);
  auto a_device_after = admin("GET", "/api/v1/devices/" + a_device).json_body;
  EXPECT_EQ(a_device_after["name"], a_device_before["name"]);
  EXPECT_EQ(a_device_after["revoked"], false);
  EXPECT_EQ(a_device_after["config"]["desired_version"], a_device_before["config"]["desired_version"]);
  auto codes = admin("GET", "/api/v1/claim-codes?site_id=" + a_site);
  ASSERT_EQ(codes.status, 200);
  ASSERT_EQ(codes.json_body["items"].size(), 1u);
  EXPECT_EQ(codes.json_body["items"][0]["id"], code_id);
  for (const auto& e : audit_events("company_id=" + a)) EXPECT_NE(e["actor"], b_admin_id) << e.dump();
  EXPECT_TRUE(audit_events("company_id=" + b + "&action=auth.login").size() >= 1u);
  auto user_created = audit_events("action=user.create&target_id=" + b_admin_id);
  ASSERT_EQ(user_created.size(), 1u);
  EXPECT_EQ(user_created[0]["actor"], admin_id_);
  EXPECT_EQ(user_created[0]["company_id"], b);
  auto code_created = audit_events("action=claim_code.create&target_id=" + code_id);
  ASSERT_EQ(code_created.size(), 1u);
  EXPECT_EQ(code_created[0]["actor"], admin_id_);
  EXPECT_EQ(code_created[0]["company_id"], a);

  // B's admin can work in B.
  auto b_site = create("sites", {{"name", "B site"}, {"project_id", b_project}, {"time_zone", "UTC"}}, b_token);
  EXPECT_EQ(send("GET", "/api/v1/sites/" + b_site, b_token).status, 200);
  auto b_audit = audit_events("target_id=" + b_site);
  ASSERT_EQ(b_audit.size(), 1u);
  EXPECT_EQ(b_audit[0]["actor"], b_admin_id);
}

TEST_F(ApiIntegrationTest, ViewersReadButCannotWrite) {
  auto c = company("Viewer Co");
  auto p = project(c, "Viewed");
  auto s = site(p, "Viewed site");
  ASSERT_EQ(send("PUT", "/api/v1/companies/" + c + "/logo", admin_token_, kPng, "image/png").status, 204);
  const auto viewer_user = user("viewer-co-viewer", "viewer", c);
  const std::string viewer_id = viewer_user.first, viewer = viewer_user.second;
  EXPECT_EQ(send("GET", "/api/v1/sites/" + s, viewer).status, 200);
  EXPECT_EQ(send("GET", "/api/v1/companies/" + c + "/logo", viewer).status, 200);
  EXPECT_EQ(list_all("/api/v1/sites?project_id=" + p, viewer).size(), 1u);
  auto before = snapshot();
  expect_problem(send("PATCH", "/api/v1/sites/" + s, viewer, json{{"name", "x"}}.dump()), 403);
  expect_problem(send("PATCH", "/api/v1/companies/" + c, viewer, json{{"name", "x"}}.dump()), 403);
  expect_problem(send("DELETE", "/api/v1/sites/" + s, viewer), 403);
  expect_problem(send("POST", "/api/v1/projects", viewer, json{{"name", "x"}, {"company_id", c}}.dump()), 403);
  expect_problem(
      send("POST", "/api/v1/sites", viewer, json{{"name", "x"}, {"project_id", p}, {"time_zone", "UTC"}}.dump()), 403);
  expect_problem(send("POST", "/api/v1/claim-codes", viewer, json{{"site_id", s}, {"role", "door-station"}}.dump()),
                 403);
  expect_problem(send("PUT", "/api/v1/companies/" + c + "/logo", viewer, kCleanSvg, "image/svg+xml"), 403);
  expect_problem(
      send("POST", "/api/v1/users", viewer,
           json{{"username", "viewer-made"}, {"password", "long enough password"}, {"role", "viewer"}}.dump()),
      403);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(send("GET", "/api/v1/companies/" + c + "/logo", admin_token_).body, kPng);
  EXPECT_TRUE(admin("GET", "/api/v1/claim-codes?site_id=" + s).json_body["items"].empty());
  // The viewer's only trace is its login.
  for (const auto& e : audit_events("company_id=" + c)) {
    if (e["actor"] == viewer_id) {
      EXPECT_EQ(e["action"], "auth.login") << e.dump();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tokens

std::string public_key_pem_of(const std::string& private_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr),
                                                          &EVP_PKEY_free);
  if (!key) return {};
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) return {};
  char* data = nullptr;
  long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string hs256(const std::string& key, const std::string& input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &size);
  return base64url_encode(std::string(reinterpret_cast<const char*>(mac), size));
}

struct Jws {
  json header, payload;
  std::string signature;  // base64url
  static Jws parse(const std::string& token) {
    auto a = token.find('.'), b = token.rfind('.');
    return {json::parse(*base64url_decode(token.substr(0, a))),
            json::parse(*base64url_decode(token.substr(a + 1, b - a - 1))), token.substr(b + 1)};
  }
  std::string signing_input() const { return base64url_encode(header.dump()) + "." + base64url_encode(payload.dump()); }
  std::string with(const std::string& sig) const { return signing_input() + "." + sig; }
};

TEST_F(ApiIntegrationTest, RequestsWithoutAValidTokenAreUnauthenticated) {
  auto missing = send("GET", "/api/v1/companies", "");
  expect_problem(missing, 401);
  EXPECT_EQ(missing.header("www-authenticate").rfind("Bearer", 0), 0u) << missing.header("www-authenticate");
  for (const auto& garbage : std::vector<std::string>{"x", "a.b.c", "eyJhbGciOiJFUzI1NiJ9..", std::string(5000, 'a')}) {
    auto r = send("GET", "/api/v1/companies", garbage);
    expect_problem(r, 401);
    EXPECT_FALSE(r.header("www-authenticate").empty());
  }
  auto basic = platform_->client().request("GET", platform_->url() + "/api/v1/companies", "",
                                           {{"Authorization", "Basic YWRtaW46YWRtaW4="}});
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);

  // Tokens made with the platform's own key: the machinery below is right if this one works.
  auto key_pem = read_file(platform_->state_dir() / "pki" / "jwt-signing.key");
  ASSERT_TRUE(key_pem) << key_pem.error().message;
  SodiumRandom random;
  SystemClock clock;
  identity::TokenSigner real(*key_pem, platform_->url(), "carillon", clock, random);
  identity::AccessClaims claims;
  claims.user_id = admin_id_;
  claims.username = "admin";
  claims.role = identity::Role::platform_admin;
  ASSERT_EQ(send("GET", "/api/v1/companies", *real.issue(claims)).status, 200);

  auto genuine = Jws::parse(admin_token_);
  ASSERT_EQ(genuine.header["alg"], "ES256");

  // Payload changed after signing (a viewer promoting itself, here: another subject).
  const std::string viewer_token = user("token-test-viewer", "viewer", company("Token Co")).second;
  auto tampered = Jws::parse(viewer_token);
  tampered.payload["role"] = "platform-admin";
  tampered.payload["company_id"] = "";
  expect_problem(send("GET", "/api/v1/companies", tampered.with(tampered.signature)), 401);
  auto other_sub = Jws::parse(viewer_token);
  other_sub.payload["sub"] = admin_id_;
  expect_problem(send("GET", "/api/v1/companies", other_sub.with(other_sub.signature)), 401);
  // Signature stripped, or alg "none".
  expect_problem(send("GET", "/api/v1/companies", genuine.with("")), 401);
  auto none = genuine;
  none.header["alg"] = "none";
  expect_problem(send("GET", "/api/v1/companies", none.with("")), 401);
  none.header["alg"] = "None";
  expect_problem(send("GET", "/api/v1/companies", none.with(genuine.signature)), 401);
  // HS256 keyed with the public key (algorithm confusion), in PEM and in raw DER-ish forms.
  auto public_pem = public_key_pem_of(*key_pem);
  ASSERT_NE(public_pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(public_pem, real.public_key_pem());
  auto confused = genuine;
  confused.header["alg"] = "HS256";
  expect_problem(send("GET", "/api/v1/companies", confused.with(hs256(public_pem, confused.signing_input()))), 401);
  confused.header.erase("kid");
  expect_problem(send("GET", "/api/v1/companies", confused.with(hs256(public_pem, confused.signing_input()))), 401);
  // A well-formed ES256 token from another key, presented under the platform's key id.
  auto other_key = identity::TokenSigner::generate_key_pem();
  ASSERT_TRUE(other_key);
  identity::TokenSigner stranger(*other_key, platform_->url(), "carillon", clock, random);
  auto forged = Jws::parse(*stranger.issue(claims));
  expect_problem(send("GET", "/api/v1/companies", forged.with(forged.signature)), 401);  // unknown kid
  forged.header["kid"] = genuine.header["kid"];
  expect_problem(send("GET", "/api/v1/companies", forged.with(forged.signature)), 401);  // bad signature
  // Right key, wrong claims: expired, wrong audience, wrong issuer.
  ManualClock past(clock.now() - 3600);
  identity::TokenSigner expired_signer(*key_pem, platform_->url(), "carillon", past, random);
  expect_problem(send("GET", "/api/v1/companies", *expired_signer.issue(claims)), 401);
  identity::TokenSigner other_audience(*key_pem, platform_->url(), "someone-else", clock, random);
  expect_problem(send("GET", "/api/v1/companies", *other_audience.issue(claims)), 401);
  identity::TokenSigner other_issuer(*key_pem, "https://evil.example", "carillon", clock, random);
  expect_problem(send("GET", "/api/v1/companies", *other_issuer.issue(claims)), 401);
  // A validly signed token for a user that does not exist.
  claims.user_id = "us_00000000000000000000000000ff";
  expect_problem(send("GET", "/api/v1/companies", *real.issue(claims)), 401);
  // And the viewer's real token still works, with viewer rights.
  EXPECT_EQ(send("GET", "/api/v1/me", viewer_token).json_body.value("role", ""), "viewer");
}

TEST_F(ApiIntegrationTest, RefreshTokensRotateAndReuseRevokesTheFamily) {
  auto c = company("Refresh Co");
  const std::string password = "refresh user password 123";
  ASSERT_EQ(admin("POST", "/api/v1/users",
                  {{"username", "refresher"}, {"password", password}, {"role", "company-admin"}, {"company_id", c}})
                .status,
            201);
  auto login = send("POST", "/api/v1/auth/login", "", json{{"username", "refresher"}, {"password", password}});
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_EQ(login.json_body["token_type"], "Bearer");
  auto first = login.json_body["refresh_token"].get<std::string>();

  auto rotated = send("POST", "/api/v1/auth/refresh", "", json{{"refresh_token", first}});
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  auto second = rotated.json_body["refresh_token"].get<std::string>();
  EXPECT_NE(second, first);
  EXPECT_EQ(send("GET", "/api/v1/me", rotated.json_body["access_token"].get<std::string>()).json_body["username"],
            "refresher");

  // The old token again: refused, and the whole family with it.
  auto reused = send("POST", "/api/v1/auth/refresh", "", json{{"refresh_token", first}});
  expect_problem(reused, 401);
  expect_problem(send("POST", "/api/v1/auth/refresh", "", json{{"refresh_token", second}}), 401);
  EXPECT_FALSE(audit_events("action=auth.refresh_reused").empty());

  // A separate login is a separate family and is unaffected; logout ends it.
  auto again = send("POST", "/api/v1/auth/login", "", json{{"username", "refresher"}, {"password", password}});
  ASSERT_EQ(again.status, 200);
  auto third = again.json_body["refresh_token"].get<std::string>();
  EXPECT_EQ(send("POST", "/api/v1/auth/logout", "", json{{"refresh_token", third}}).status, 204);
  expect_problem(send("POST", "/api/v1/auth/refresh", "", json{{"refresh_token", third}}), 401);
  expect_problem(send("POST", "/api/v1/auth/refresh", "", json{{"refresh_token", "made-up"}}), 401);
  expect_problem(send("POST", "/api/v1/auth/refresh", "", json{{"refresh_token", 5}}), 400, "refresh_token");
  expect_problem(send("POST", "/api/v1/auth/refresh", "", json{{"refresh_token", first}, {"extra", 1}}), 400, "extra");
}

TEST_F(ApiIntegrationTest, RepeatedWrongPasswordsAreThrottled) {
  auto c = company("Throttle Co");
  const std::string password = "the right password 42";
  ASSERT_EQ(admin("POST", "/api/v1/users",
                  {{"username", "throttled-user"}, {"password", password}, {"role", "viewer"}, {"company_id", c}})
                .status,
            201);
  for (int i = 0; i < 5; ++i) {
    auto r = send("POST", "/api/v1/auth/login", "",
                  json{{"username", "throttled-user"}, {"password", "wrong " + std::to_string(i)}});
    expect_problem(r, 401);
  }
  // The sixth attempt is refused before the password is looked at, even the right one.
  for (const auto& attempt : {std::string("wrong again"), password}) {
    auto r = send("POST", "/api/v1/auth/login", "", json{{"username", "throttled-user"}, {"password", attempt}});
    expect_problem(r, 429);
    auto retry = r.header("retry-after");
    ASSERT_FALSE(retry.empty());
    ASSERT_EQ(retry.find_first_not_of("0123456789"), std::string::npos) << retry;
    // The first failure leaves the 15-minute window in about 15 minutes: that is the honest wait.
    EXPECT_GT(std::stoll(retry), 800) << retry;
    EXPECT_LE(std::stoll(retry), 900) << retry;
  }
  // Only that username is locked: others log in from the same address.
  EXPECT_FALSE(platform_->admin_token().empty());
  auto failed = audit_events("action=auth.login_failed&company_id=" + c);
  EXPECT_EQ(failed.size(), 5u);  // throttled attempts are not written
}

}  // namespace
}  // namespace carillon
