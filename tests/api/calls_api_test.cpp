// The calls routes through the real router, authentication and services on SQLite: ring
// groups, forwarding rules, call reports (JSON, CSV, snapshot) and retention settings, with
// tenant isolation, read-only viewers and field-level errors that leave nothing changed.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/api.hpp"
#include "api/api_fixture.hpp"
#include "calls/recorder.hpp"
#include "calls/report.hpp"
#include "common/clock.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "devices/service.hpp"
#include "http/router.hpp"
#include "identity/auth_service.hpp"
#include "identity/tokens.hpp"
#include "ops/metrics.hpp"
#include "pki/pki.hpp"
#include "store/audit_log.hpp"
#include "store/calls_repository.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/tenancy_repository.hpp"
#include "store/user_repository.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::api {
namespace {

using nlohmann::json;

// The device link is not under test here; nothing in these routes may use it.
struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
  json j;
  std::string field() const {
    return j.is_object() && j.contains("errors") ? j["errors"][0].value("field", "") : std::string();
  }
};

class CallsApiTest : public ApiFixture {
 protected:
  CallsApiTest() : ApiFixture(1'720'000'000) {}

  void SetUp() override {
    open_services();
    if (HasFatalFailure()) return;
    calls_repo_ = std::make_unique<store::SqlCallsRepository>(*db_);
    calls_ = std::make_unique<calls::CallsService>(*calls_repo_, *tenancy_, ids_, clock_);
    recorder_ = std::make_unique<calls::CallRecorder>(*calls_repo_, ids_);
    context_->calls = calls_.get();
    add_routes(router_, *context_);

    ASSERT_TRUE(auth_->create_user("root", kPassword, identity::Role::platform_admin, "", "test"));
    root_ = login("root");
    a_ = make_company("Acme", "Europe/Berlin");
    b_ = make_company("Rival", "America/New_York");
    a_admin_ = make_user("a-admin", identity::Role::company_admin, a_.company);
    a_viewer_ = make_user("a-viewer", identity::Role::viewer, a_.company);
    b_admin_ = make_user("b-admin", identity::Role::company_admin, b_.company);
  }

  struct Company {
    std::string company, site, door, alice;
  };

  Reply send(const std::string& method, const std::string& target, const std::string& token, const json& body = nullptr) {
    http::Request request;
    request.method = method;
    request.target = target;
    auto q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string rest = target.substr(q + 1);
      while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        auto eq = pair.find('=');
        request.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
      }
    }
    request.remote_address = "127.0.0.1";
    if (!token.empty()) request.headers["authorization"] = "Bearer " + token;
    if (!body.is_null()) {
      request.headers["content-type"] = "application/json";
      request.body = body.dump();
    }
    auto response = router_.dispatch(request);
    Reply r{response.status, response.content_type, response.body, json::parse(response.body, nullptr, false)};
    if (r.j.is_discarded()) r.j = nullptr;
    return r;
  }

  std::string login(const std::string& username) {
    auto tokens = auth_->login(username, kPassword, "127.0.0.1");
    EXPECT_TRUE(tokens);
    return tokens ? tokens->access_token : "";
  }
  std::string make_user(const std::string& name, identity::Role role, const std::string& company) {
    auto u = auth_->create_user(name, kPassword, role, company, "test");
    EXPECT_TRUE(u) << u.error().message;
    return login(name);
  }

  Company make_company(const std::string& name, const std::string& zone) {
    Company c;
    c.company = send("POST", "/api/v1/companies", root_, {{"name", name}}).j.value("id", "");
    auto project = send("POST", "/api/v1/projects", root_, {{"name", "P"}, {"company_id", c.company}}).j.value("id", "");
    c.site = send("POST", "/api/v1/sites", root_, {{"name", "S"}, {"project_id", project}, {"time_zone", zone}}).j.value("id", "");
    c.door = claim(c, "=HYPERLINK(\"http://evil\")");
    auto alice = auth_->create_user("alice-" + name, kPassword, identity::Role::viewer, c.company, "test");
    EXPECT_TRUE(alice);
    c.alice = alice ? alice->id : "";
    return c;
  }

  std::string claim(const Company& c, const std::string& device_name) {
    devices::ClaimCode code;
    code.id = ids_.next("cc");
    code.code_hash = "h" + code.id;
    code.company_id = c.company;
    code.site_id = c.site;
    code.role = "door-station";
    code.expires_at = clock_.now() + 100;
    AuditEvent e;
    e.id = ids_.next("au");
    e.actor = "test";
    e.action = "claim_code.create";
    EXPECT_TRUE(device_repo_->insert_claim_code(code, e));
    devices::Device d;
    d.id = ids_.next("dv");
    d.serial = "S" + d.id.substr(3, 16);
    d.company_id = c.company;
    d.site_id = c.site;
    d.name = device_name;
    d.role = "door-station";
    e.id = ids_.next("au");
    EXPECT_TRUE(device_repo_->claim(code.id, clock_.now(), d, e));
    return d.id;
  }

  json group_body(const Company& c, json members) {
    return {{"name", "Reception"}, {"site_id", c.site}, {"members", std::move(members)}, {"ring_seconds", 20}};
  }
  std::string create_group(const Company& c, const std::string& token) {
    auto r = send("POST", "/api/v1/ring-groups", token,
                  group_body(c, json::array({{{"kind", "device"}, {"id", c.door}}, {{"kind", "user"}, {"id", c.alice}}})));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.j.value("id", "");
  }
  // Everything a client of company A can read about groups and rules.
  json state(const std::string& token) {
    json out = json::object();
    auto groups = send("GET", "/api/v1/ring-groups?limit=500", token);
    out["groups"] = groups.j;
    for (const auto& g : groups.j["items"]) {
      out["rules"][g["id"].get<std::string>()] =
          send("GET", "/api/v1/ring-groups/" + g["id"].get<std::string>() + "/forwarding-rules", token).j;
    }
    return out;
  }

  static constexpr const char* kPassword = "correct horse battery staple";
  std::unique_ptr<store::SqlCallsRepository> calls_repo_;
  std::unique_ptr<calls::CallsService> calls_;
  std::unique_ptr<calls::CallRecorder> recorder_;
  std::string root_, a_admin_, a_viewer_, b_admin_;
  Company a_, b_;
};

TEST_F(CallsApiTest, RingGroupsAndRulesCrud) {
  const auto id = create_group(a_, a_admin_);
  auto got = send("GET", "/api/v1/ring-groups/" + id, a_admin_);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.j["members"], json::parse(R"([{"kind":"device","id":")" + a_.door + R"("},{"kind":"user","id":")" +
                                          a_.alice + R"("}])"));
  EXPECT_EQ(got.j["site_id"], a_.site);
  EXPECT_EQ(got.j["ring_seconds"], 20);

  auto rule = send("POST", "/api/v1/ring-groups/" + id + "/forwarding-rules", a_admin_,
                   {{"name", "Night"},
                    {"weekdays", {"fri", "sat"}},
                    {"date_from", "2024-01-01"},
                    {"time", {{"from", "22:00"}, {"to", "06:30"}}},
                    {"steps", {{{"kind", "ring_group"}, {"id", id}, {"ring_seconds", 15}}, {{"kind", "user"}, {"id", a_.alice}}}}});
  ASSERT_EQ(rule.status, 201) << rule.body;
  const auto rule_id = rule.j["id"].get<std::string>();
  EXPECT_EQ(rule.j["time"], (json{{"from", "22:00"}, {"to", "06:30"}}));
  EXPECT_EQ(rule.j["date_to"], nullptr);
  EXPECT_EQ(rule.j["priority"], 100);
  EXPECT_EQ(rule.j["steps"][1]["ring_seconds"], 20);
  EXPECT_EQ(send("GET", "/api/v1/forwarding-rules/" + rule_id, a_admin_).j, rule.j);
  auto patched = send("PATCH", "/api/v1/forwarding-rules/" + rule_id, a_admin_, {{"time", nullptr}, {"enabled", false}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.j["time"], nullptr);
  EXPECT_EQ(patched.j["enabled"], false);
  EXPECT_EQ(send("GET", "/api/v1/ring-groups/" + id + "/forwarding-rules", a_viewer_).j["items"].size(), 1u);

  auto renamed = send("PATCH", "/api/v1/ring-groups/" + id, a_admin_, {{"name", "Front desk"}});
  EXPECT_EQ(renamed.j["name"], "Front desk");
  EXPECT_EQ(send("PATCH", "/api/v1/ring-groups/" + id, a_admin_, {{"site_id", a_.site}}).status, 400);

  // Pagination over the group list.
  const auto second = create_group(a_, a_admin_);
  auto page1 = send("GET", "/api/v1/ring-groups?limit=1", a_admin_);
  ASSERT_EQ(page1.j["items"].size(), 1u);
  auto page2 = send("GET", "/api/v1/ring-groups?limit=1&after=" + page1.j["next"].get<std::string>(), a_admin_);
  EXPECT_EQ(page2.j["items"][0]["id"], second);
  EXPECT_EQ(page2.j["next"], nullptr);

  EXPECT_EQ(send("DELETE", "/api/v1/forwarding-rules/" + rule_id, a_admin_).status, 204);
  EXPECT_EQ(send("DELETE", "/api/v1/ring-groups/" + id, a_admin_).status, 204);
  EXPECT_EQ(send("GET", "/api/v1/ring-groups/" + id, a_admin_).status, 404);
  auto audit = send("GET", "/api/v1/audit-events?target_id=" + id, root_);
  ASSERT_EQ(audit.status, 200);
  EXPECT_EQ(audit.j["items"].size(), 3u);  // create, update, delete
}

TEST_F(CallsApiTest, OtherCompaniesSeeNothingAndViewersCannotWrite) {
  const auto id = create_group(a_, a_admin_);
  auto rule = send("POST", "/api/v1/ring-groups/" + id + "/forwarding-rules", a_admin_,
                   {{"name", "r"}, {"steps", {{{"kind", "user"}, {"id", a_.alice}}}}});
  ASSERT_EQ(rule.status, 201);
  const auto rule_id = rule.j["id"].get<std::string>();
  const json before = state(a_admin_);

  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/v1/ring-groups/" + id},
           {"PATCH", "/api/v1/ring-groups/" + id},
           {"DELETE", "/api/v1/ring-groups/" + id},
           {"GET", "/api/v1/ring-groups/" + id + "/forwarding-rules"},
           {"POST", "/api/v1/ring-groups/" + id + "/forwarding-rules"},
           {"GET", "/api/v1/forwarding-rules/" + rule_id},
           {"PATCH", "/api/v1/forwarding-rules/" + rule_id},
           {"DELETE", "/api/v1/forwarding-rules/" + rule_id},
           {"GET", "/api/v1/companies/" + a_.company + "/call-settings"},
           {"PUT", "/api/v1/companies/" + a_.company + "/call-settings"}}) {
    const bool group_patch = method == "PATCH" && path == "/api/v1/ring-groups/" + id;
    const json body = method == "PUT"                         ? json{{"retention_days", 5}}
                      : method == "GET" || method == "DELETE" ? json(nullptr)
                      : group_patch                           ? json{{"name", "x"}}
                                                              : json{{"name", "x"}, {"steps", {{{"kind", "user"}, {"id", a_.alice}}}}};
    EXPECT_EQ(send(method, path, b_admin_, body).status, 404) << method << " " << path;
    if (method != "GET") {
      EXPECT_EQ(send(method, path, a_viewer_, body).status, 403) << method << " " << path;
    }
  }
  EXPECT_TRUE(send("GET", "/api/v1/ring-groups", b_admin_).j["items"].empty());
  EXPECT_EQ(send("GET", "/api/v1/ring-groups?company_id=" + a_.company, b_admin_).j["items"].size(), 0u);
  EXPECT_EQ(send("POST", "/api/v1/ring-groups", a_viewer_, group_body(a_, json::array({{{"kind", "device"}, {"id", a_.door}}}))).status, 403);
  // B's admin cannot put A's site or members into a group of its own.
  auto foreign_site = send("POST", "/api/v1/ring-groups", b_admin_, group_body(a_, json::array({{{"kind", "device"}, {"id", b_.door}}})));
  EXPECT_EQ(foreign_site.status, 400);
  EXPECT_EQ(foreign_site.field(), "site_id");
  auto foreign_member = send("POST", "/api/v1/ring-groups", b_admin_, group_body(b_, json::array({{{"kind", "device"}, {"id", a_.door}}})));
  EXPECT_EQ(foreign_member.field(), "members[0].id");
  EXPECT_EQ(foreign_member.j["detail"], "no such device in this company");
  EXPECT_EQ(state(a_admin_), before);
  EXPECT_EQ(send("GET", "/api/v1/ring-groups/" + id, a_viewer_).status, 200);
  EXPECT_EQ(send("GET", "/api/v1/ring-groups", "").status, 401);
}

TEST_F(CallsApiTest, FieldErrorsNameTheFieldAndChangeNothing) {
  const auto id = create_group(a_, a_admin_);
  const json before = state(a_admin_);
  json many = json::array();
  for (int i = 0; i < 33; ++i) many.push_back({{"kind", "device"}, {"id", a_.door}});
  struct Bad {
    std::string method, path;
    json body;
    std::string field;
  };
  const std::string rules = "/api/v1/ring-groups/" + id + "/forwarding-rules";
  const json step = {{"kind", "user"}, {"id", a_.alice}};
  for (const Bad& bad : std::vector<Bad>{
           {"POST", "/api/v1/ring-groups", group_body(a_, many), "members"},
           {"POST", "/api/v1/ring-groups", group_body(a_, json::array()), "members"},
           {"POST", "/api/v1/ring-groups", group_body(a_, json::array({{{"kind", "phone"}, {"id", a_.door}}})), "members[0].kind"},
           {"POST", "/api/v1/ring-groups", group_body(a_, json::array({{{"kind", "ring_group"}, {"id", id}}})), "members[0].kind"},
           {"POST", "/api/v1/ring-groups", group_body(a_, json::array({{{"kind", "user"}, {"id", a_.door}}})), "members[0].id"},
           {"POST", "/api/v1/ring-groups", group_body(a_, json::array({{{"kind", "device"}, {"id", b_.door}}})), "members[0].id"},
           {"POST", "/api/v1/ring-groups", {{"name", "x"}, {"site_id", a_.site}, {"members", json::array({step})}, {"ring_seconds", 2}}, "ring_seconds"},
           {"POST", "/api/v1/ring-groups", {{"name", "x"}, {"site_id", a_.site}, {"members", json::array({step})}, {"colour", 1}}, "colour"},
           {"POST", "/api/v1/ring-groups", {{"name", ""}, {"site_id", a_.site}, {"members", json::array({step})}}, "name"},
           {"PATCH", "/api/v1/ring-groups/" + id, {{"members", many}}, "members"},
           {"POST", rules, {{"name", "r"}, {"steps", json::array()}}, "steps"},
           {"POST", rules, {{"name", "r"}, {"steps", json::array({step})}, {"weekdays", {"monday"}}}, "weekdays[0]"},
           {"POST", rules, {{"name", "r"}, {"steps", json::array({step})}, {"weekdays", json::array()}}, "weekdays"},
           {"POST", rules, {{"name", "r"}, {"steps", json::array({step})}, {"time", {{"from", "25:00"}, {"to", "06:00"}}}}, "time.from"},
           {"POST", rules, {{"name", "r"}, {"steps", json::array({step})}, {"time", {{"from", "06:00"}, {"to", "06:00"}}}}, "time.to"},
           {"POST", rules, {{"name", "r"}, {"steps", json::array({step})}, {"time", {{"from", "06:00"}}}}, "time.to"},
           {"POST", rules, {{"name", "r"}, {"steps", json::array({step})}, {"date_from", "2024-02-30"}}, "date_from"},
           {"POST", rules, {{"name", "r"}, {"steps", json::array({step})}, {"date_from", "2024-05-01"}, {"date_to", "2024-04-01"}}, "date_to"},
           {"POST", rules, {{"name", "r"}, {"steps", {{{"kind", "user"}, {"id", a_.alice}, {"ring_seconds", 301}}}}}, "steps[0].ring_seconds"},
           {"POST", rules, {{"name", "r"}, {"steps", {{{"kind", "device"}, {"id", b_.door}}}}}, "steps[0].id"},
           {"POST", rules, {{"name", "r"}, {"steps", {{{"kind", "user"}, {"id", a_.alice}, {"after", "busy"}}}}}, "steps[0].after"},
           {"POST", rules, {{"name", "r"}}, "steps"},
           {"PUT", "/api/v1/companies/" + a_.company + "/call-settings", {{"retention_days", 181}}, "retention_days"},
           {"PUT", "/api/v1/companies/" + a_.company + "/call-settings", json::object(), "retention_days"},
       }) {
    auto r = send(bad.method, bad.path, a_admin_, bad.body);
    EXPECT_EQ(r.status, 400) << bad.body.dump() << " -> " << r.body;
    EXPECT_EQ(r.content_type, "application/problem+json");
    EXPECT_EQ(r.field(), bad.field) << bad.body.dump() << " -> " << r.body;
  }
  EXPECT_EQ(state(a_admin_), before);
  EXPECT_EQ(send("GET", "/api/v1/companies/" + a_.company + "/call-settings", a_admin_).j["retention_days"], 180);
  EXPECT_EQ(send("GET", "/api/v1/calls?status=lost", a_admin_).field(), "status");
  EXPECT_EQ(send("GET", "/api/v1/calls?from=yesterday", a_admin_).field(), "from");
}

TEST_F(CallsApiTest, CallReportsJsonCsvAndSnapshots) {
  const auto group = create_group(a_, a_admin_);
  const std::int64_t t = clock_.now() * 1000;
  using T = calls::EdgeCallEvent::Type;
  auto event = [&](T type, const std::string& call_id, const std::string& member, int code, std::int64_t ts) {
    calls::EdgeCallEvent e;
    e.type = type;
    e.call_id = call_id;
    e.member = member;
    e.code = code;
    e.ts = ts;
    if (type == T::call_start) {
      e.caller = a_.door;
      e.target = group;
      e.company = a_.company;
    }
    ASSERT_TRUE(recorder_->handle(e));
  };
  event(T::call_start, "sip-1", "", 0, t);
  event(T::leg_ringing, "sip-1", a_.alice, 180, t + 10);
  event(T::call_answered, "sip-1", a_.alice, 200, t + 2000);
  ASSERT_TRUE(recorder_->door_opened("sip-1", a_.door, "main", t + 3000));
  const std::string jpeg = std::string("\xFF\xD8\xFF\xDB", 4) + "pixels" + "\xFF\xD9";
  ASSERT_TRUE(recorder_->attach_snapshot("sip-1", jpeg));
  event(T::call_end, "sip-1", "", 200, t + 32'000);
  event(T::call_start, "sip-2", "", 0, t + 60'000);
  event(T::call_end, "sip-2", "", 486, t + 61'000);

  auto list = send("GET", "/api/v1/calls", a_viewer_);
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.j["items"].size(), 2u);
  const auto first = list.j["items"][0];
  EXPECT_EQ(first["status"], "answered");
  EXPECT_EQ(first["caller"], (json{{"kind", "device"}, {"id", a_.door}, {"name", "=HYPERLINK(\"http://evil\")"}}));
  EXPECT_EQ(first["ring_group_id"], group);
  EXPECT_EQ(first["answered_by"], a_.alice);
  EXPECT_EQ(first["duration_seconds"], 30);
  EXPECT_EQ(first["door_events"][0]["door"], "main");
  EXPECT_EQ(first["has_snapshot"], true);
  EXPECT_EQ(list.j["items"][1]["status"], "busy");
  EXPECT_EQ(send("GET", "/api/v1/calls?status=busy", a_admin_).j["items"].size(), 1u);
  EXPECT_EQ(send("GET", "/api/v1/calls?ring_group_id=" + group + "&from=" + std::to_string(clock_.now() + 30), a_admin_).j["items"].size(), 1u);
  EXPECT_EQ(send("GET", "/api/v1/calls?to=" + std::to_string(clock_.now()), a_admin_).j["items"].size(), 0u);
  EXPECT_EQ(send("GET", "/api/v1/calls?limit=1", a_admin_).j["next"], first["id"]);
  EXPECT_EQ(send("GET", "/api/v1/calls/" + first["id"].get<std::string>(), a_admin_).j, first);

  auto csv = send("GET", "/api/v1/calls.csv", a_admin_);
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.content_type, "text/csv; charset=utf-8");
  EXPECT_EQ(csv.body.rfind("id,started_at,", 0), 0u);
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), 3);
  EXPECT_NE(csv.body.find(",\"'=HYPERLINK(\"\"http://evil\"\")\","), std::string::npos) << csv.body;
  const auto busy_csv = send("GET", "/api/v1/calls.csv?status=busy", a_admin_).body;
  EXPECT_EQ(std::count(busy_csv.begin(), busy_csv.end(), '\n'), 2);

  auto image = send("GET", "/api/v1/calls/" + first["id"].get<std::string>() + "/snapshot", a_viewer_);
  EXPECT_EQ(image.status, 200);
  EXPECT_EQ(image.content_type, "image/jpeg");
  EXPECT_EQ(image.body, jpeg);
  EXPECT_EQ(send("GET", "/api/v1/calls/" + list.j["items"][1]["id"].get<std::string>() + "/snapshot", a_admin_).status, 404);

  // Company B sees none of it.
  EXPECT_TRUE(send("GET", "/api/v1/calls", b_admin_).j["items"].empty());
  const auto b_csv = send("GET", "/api/v1/calls.csv", b_admin_).body;
  EXPECT_EQ(b_csv, calls::csv_header());
  EXPECT_EQ(send("GET", "/api/v1/calls/" + first["id"].get<std::string>(), b_admin_).status, 404);
  EXPECT_EQ(send("GET", "/api/v1/calls/" + first["id"].get<std::string>() + "/snapshot", b_admin_).status, 404);
  EXPECT_EQ(send("GET", "/api/v1/calls?company_id=" + a_.company, b_admin_).j["items"].size(), 0u);
  EXPECT_EQ(send("GET", "/api/v1/calls?company_id=" + a_.company, root_).j["items"].size(), 2u);

  // Retention setting round trip, audited.
  auto set = send("PUT", "/api/v1/companies/" + a_.company + "/call-settings", a_admin_, {{"retention_days", 30}});
  EXPECT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(send("GET", "/api/v1/companies/" + a_.company + "/call-settings", a_viewer_).j["retention_days"], 30);
  EXPECT_EQ(send("GET", "/api/v1/audit-events?action=company.call_retention", root_).j["items"].size(), 1u);
}

}  // namespace
}  // namespace carillon::api
