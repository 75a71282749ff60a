// docs/openapi.yaml against the real route list: every route the API registers is documented
// (path + method), every documented operation exists, and what the document declares public
// (`security: []`) is exactly what answers without a token.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "api/api.hpp"
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
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/tenancy_repository.hpp"
#include "store/user_repository.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::api {
namespace {

// The platform's device link, reduced to a log of what the API asked it to do.
class RecordingChannel final : public devices::DeviceChannel {
 public:
  Status publish_config(const std::string& serial, const nlohmann::json&) override { return note("config " + serial); }
  Status send_command(const std::string& serial, const nlohmann::json&) override { return note("command " + serial); }
  Status send_claim_response(const std::string& client_id, const nlohmann::json&) override {
    return note("claim_response " + client_id);
  }
  Status cut_off(const std::string& serial, const std::vector<std::string>&) override {
    return note("cut_off " + serial);
  }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  Status note(std::string call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(call));
    return {};
  }
  mutable std::mutex mutex_;
  std::vector<std::string> calls_;
};

// One operation of the document: path key, lower-case method, and whether it opts out of auth.
struct Operation {
  std::string path;
  std::string method;
  bool is_public = false;
  bool operator<(const Operation& o) const { return std::tie(path, method) < std::tie(o.path, o.method); }
};

// Reads the `paths:` section of the document (block style, two-space indents as written in
// docs/openapi.yaml): path keys at indent 2, methods at indent 4, operation fields at indent 6.
std::vector<Operation> read_operations(const std::string& yaml) {
  static const std::set<std::string> kMethods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"};
  std::vector<Operation> out;
  std::istringstream in(yaml);
  std::string line, path;
  bool in_paths = false;
  auto indent_of = [](const std::string& l) { return l.find_first_not_of(' '); };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto indent = indent_of(line);
    if (indent == std::string::npos || line[indent] == '#') continue;
    if (indent == 0) {
      in_paths = line == "paths:";
      continue;
    }
    if (!in_paths) continue;
    auto text = line.substr(indent);
    if (indent == 2) {
      // "/api/v1/x":   (quoted or not)
      EXPECT_EQ(text.back(), ':') << line;
      auto key = text.substr(0, text.size() - 1);
      if (key.size() >= 2 && key.front() == '"' && key.back() == '"') key = key.substr(1, key.size() - 2);
      EXPECT_EQ(key.front(), '/') << line;
      path = key;
    } else if (indent == 4 && text.back() == ':' && kMethods.count(text.substr(0, text.size() - 1))) {
      out.push_back({path, text.substr(0, text.size() - 1), false});
    } else if (indent == 6 && !out.empty() && out.back().path == path) {
      if (text == "security: []") out.back().is_public = true;
    }
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// A concrete path for a pattern: each "{name}" becomes a well-formed but unknown id.
std::string concrete(const std::string& pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      i = pattern.find('}', i);
      out += "zz_0000000000000000000000000000";
    } else {
      out.push_back(pattern[i]);
    }
  }
  return out;
}

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::open("sqlite:" + (dir_.path() / "api.db").string());
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    ASSERT_TRUE(db_->migrate());
    tenancy_repo_ = std::make_unique<store::SqlTenancyRepository>(*db_);
    users_ = std::make_unique<store::SqlUserRepository>(*db_);
    device_repo_ = std::make_unique<store::SqlDeviceRepository>(*db_);
    audit_ = std::make_unique<store::SqlAuditLog>(*db_);
    auto key = identity::TokenSigner::generate_key_pem();
    ASSERT_TRUE(key) << key.error().message;
    signer_ = std::make_unique<identity::TokenSigner>(*key, "https://carillon.test", "carillon", clock_, random_);
    auth_ = std::make_unique<identity::AuthService>(*users_, *audit_, *signer_, clock_, random_, ids_);
    tenancy_ = std::make_unique<tenancy::TenancyService>(*tenancy_repo_, ids_, clock_, events_);
    auto ca = pki::CertificateAuthority::create("Carillon Test CA", clock_, random_);
    ASSERT_TRUE(ca) << ca.error().message;
    ca_ = std::make_unique<pki::CertificateAuthority>(std::move(*ca));
    devices::DeviceSettings settings;
    settings.portal_url = "https://carillon.test";
    devices_ = std::make_unique<devices::DeviceService>(*device_repo_, *tenancy_, *ca_, channel_, *audit_, events_,
                                                        ids_, clock_, random_, settings);
    auto yaml = read_document();
    context_ = std::make_unique<ApiContext>(ApiContext{
        *auth_, *users_, *tenancy_, *devices_, *audit_, events_, metrics_, yaml, {"127.0.0.1", 8884, 8883}, {}});
    add_routes(router_, *context_);
  }

  static std::string read_document() {
    std::ifstream in(std::string(CARILLON_SOURCE_DIR) + "/docs/openapi.yaml");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  http::Response dispatch(const std::string& method, const std::string& path) {
    http::Request request;
    request.method = method;
    request.target = path;
    request.path = path;
    request.remote_address = "127.0.0.1";
    return router_.dispatch(request);
  }

  testing::TempDir dir_;
  SystemClock clock_;
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  EventBus events_;
  ops::Metrics metrics_;
  RecordingChannel channel_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::SqlTenancyRepository> tenancy_repo_;
  std::unique_ptr<store::SqlUserRepository> users_;
  std::unique_ptr<store::SqlDeviceRepository> device_repo_;
  std::unique_ptr<store::SqlAuditLog> audit_;
  std::unique_ptr<identity::TokenSigner> signer_;
  std::unique_ptr<identity::AuthService> auth_;
  std::unique_ptr<tenancy::TenancyService> tenancy_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<devices::DeviceService> devices_;
  std::unique_ptr<ApiContext> context_;
  http::Router router_;
};

TEST_F(OpenApiTest, TheScannerFindsTheDocumentsOperations) {
  auto ops = read_operations(context_->openapi_yaml);
  ASSERT_GT(ops.size(), 20u) << "docs/openapi.yaml not found or not in the expected layout";
  std::set<Operation> unique(ops.begin(), ops.end());
  EXPECT_EQ(unique.size(), ops.size()) << "an operation is listed twice";
  // Spot checks so a scanner that reads the wrong indentation cannot pass silently.
  EXPECT_TRUE(unique.count({"/api/v1/auth/login", "post"}));
  EXPECT_TRUE(unique.count({"/api/v1/companies/{id}/logo", "put"}));
  EXPECT_TRUE(unique.count({"/api/v1/devices/{id}/commands/{command_id}", "get"}));
  EXPECT_FALSE(unique.count({"/api/v1/companies", "put"}));
}

TEST_F(OpenApiTest, EveryRouteIsDocumented) {
  auto ops = read_operations(context_->openapi_yaml);
  std::set<Operation> documented(ops.begin(), ops.end());
  ASSERT_FALSE(router_.routes().empty());
  for (const auto& route : router_.routes()) {
    EXPECT_TRUE(documented.count({route.pattern, lower(route.method)}))
        << route.method << " " << route.pattern << " is served but missing from docs/openapi.yaml";
  }
}

TEST_F(OpenApiTest, EveryDocumentedOperationIsServed) {
  std::set<Operation> served;
  for (const auto& route : router_.routes()) served.insert({route.pattern, lower(route.method)});
  for (const auto& op : read_operations(context_->openapi_yaml)) {
    if (op.path == "/api/v1/events") continue;  // the WebSocket endpoint, checked below
    EXPECT_TRUE(served.count({op.path, op.method}))
        << op.method << " " << op.path << " is documented but the router has no such route";
  }
}

TEST_F(OpenApiTest, TheEventStreamIsTheRoutersWebSocket) {
  auto ops = read_operations(context_->openapi_yaml);
  auto events = std::find_if(ops.begin(), ops.end(), [](const Operation& o) { return o.path == "/api/v1/events"; });
  ASSERT_NE(events, ops.end()) << "/api/v1/events is not documented";
  EXPECT_EQ(events->method, "get");  // the upgrade request
  EXPECT_EQ(std::count_if(ops.begin(), ops.end(), [](const Operation& o) { return o.path == "/api/v1/events"; }), 1);
  EXPECT_NE(router_.find_websocket("/api/v1/events"), nullptr);
  EXPECT_TRUE(router_.has_path("/api/v1/events"));
  for (const auto& route : router_.routes()) EXPECT_NE(route.pattern, "/api/v1/events") << "plain HTTP route too";
}

TEST_F(OpenApiTest, DocumentedSecurityMatchesWhatAnswersWithoutAToken) {
  for (const auto& op : read_operations(context_->openapi_yaml)) {
    if (op.path == "/api/v1/events") continue;
    auto path = concrete(op.path);
    auto response = dispatch(upper(op.method), path);
    EXPECT_NE(response.status, 404) << op.method << " " << path;
    EXPECT_NE(response.status, 405) << op.method << " " << path;
    if (op.is_public) {
      EXPECT_NE(response.status, 401) << op.method << " " << op.path << " is documented as public";
    } else {
      EXPECT_EQ(response.status, 401) << op.method << " " << op.path << " answers without a token";
      EXPECT_EQ(response.content_type, "application/problem+json");
      bool challenge = std::any_of(response.headers.begin(), response.headers.end(), [](const auto& h) {
        return lower(h.first) == "www-authenticate" && h.second.rfind("Bearer", 0) == 0;
      });
      EXPECT_TRUE(challenge) << op.method << " " << op.path;
    }
  }
  EXPECT_TRUE(channel_.calls().empty()) << "unauthenticated requests reached the device channel";
}

TEST_F(OpenApiTest, TheServedDocumentIsTheFileInTheRepository) {
  auto response = dispatch("GET", "/api/v1/openapi.yaml");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/yaml");
  EXPECT_EQ(response.body, read_document());
}

}  // namespace
}  // namespace carillon::api
