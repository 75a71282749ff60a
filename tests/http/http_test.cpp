// Pure tests of the HTTP layer: routing, problem+json mapping, target parsing, static files, ranges.
#include <algorithm>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "http/problem.hpp"
#include "http/ranges.hpp"
#include "http/router.hpp"
#include "http/static_files.hpp"
#include "http/uri.hpp"
#include "support/temp_dir.hpp"

namespace carillon::http {
namespace {

using nlohmann::json;

Request make_request(const std::string& method, const std::string& target) {
  Request request;
  request.method = method;
  request.target = target;
  auto split = split_target(target);
  if (split) {
    request.path = split->path;
    request.query = split->query;
  }
  return request;
}

Handler named(const std::string& name) {
  return [name](const Request& request) {
    json params = json::object();
    for (const auto& [key, value] : request.params) params[key] = value;
    return json_response(200, {{"handler", name}, {"params", params}});
  };
}

std::string header_value(const Response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add("GET", "/api/v1/sites/{id}/claim-codes", named("list-codes"));
    router_.add("POST", "/api/v1/sites/{id}/claim-codes", named("create-code"));
    router_.add("GET", "/api/v1/devices/{id}", named("device"));
    router_.add("GET", "/api/v1/devices/search", named("search"));
    router_.add("DELETE", "/api/v1/devices/{id}", named("delete-device"));
    router_.add("GET", "/healthz", named("health"));
  }
  json call(const std::string& method, const std::string& target, int expected_status) {
    Request request = make_request(method, target);
    Response response = router_.dispatch(request);
    EXPECT_EQ(response.status, expected_status) << method << " " << target << " -> " << response.body;
    return json::parse(response.body);
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralAndParameterSegments) {
  json body = call("GET", "/api/v1/sites/si_42/claim-codes", 200);
  EXPECT_EQ(body["handler"], "list-codes");
  EXPECT_EQ(body["params"]["id"], "si_42");
  EXPECT_EQ(call("POST", "/api/v1/sites/si_42/claim-codes", 200)["handler"], "create-code");
  EXPECT_EQ(call("GET", "/healthz", 200)["handler"], "health");
}

TEST_F(RouterTest, LiteralSegmentBeatsParameterRegardlessOfOrder) {
  EXPECT_EQ(call("GET", "/api/v1/devices/search", 200)["handler"], "search");
  EXPECT_EQ(call("GET", "/api/v1/devices/dv_1", 200)["handler"], "device");
}

TEST_F(RouterTest, ParametersAreDecodedPerSegment) {
  json body = call("GET", "/api/v1/devices/a%2Fb%20c", 200);
  EXPECT_EQ(body["params"]["id"], "a/b c");
}

TEST_F(RouterTest, QueryDoesNotAffectMatching) {
  EXPECT_EQ(call("GET", "/api/v1/devices/dv_1?x=1&y=2", 200)["params"]["id"], "dv_1");
}

TEST_F(RouterTest, UnknownPathIs404Problem) {
  for (const char* target : {"/api/v1/nothing", "/api/v1/sites//claim-codes", "/api/v1/devices/dv_1/", "/api/v1/devices",
                             "/api/v1/sites/si_1/claim-codes/extra"}) {
    Request request = make_request("GET", target);
    Response response = router_.dispatch(request);
    EXPECT_EQ(response.status, 404) << target;
    EXPECT_EQ(response.content_type, "application/problem+json");
    EXPECT_EQ(json::parse(response.body)["type"], "https://carillon.dev/problems/not-found");
  }
}

TEST_F(RouterTest, OtherMethodIs405WithAllow) {
  Request request = make_request("PUT", "/api/v1/devices/dv_1");
  Response response = router_.dispatch(request);
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.content_type, "application/problem+json");
  EXPECT_EQ(header_value(response, "Allow"), "DELETE, GET, HEAD");
  EXPECT_EQ(json::parse(response.body)["status"], 405);
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  EXPECT_EQ(call("HEAD", "/healthz", 200)["handler"], "health");
}

TEST_F(RouterTest, HandlerExceptionBecomes500WithoutLeakingText) {
  router_.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("secret detail"); });
  Request request = make_request("GET", "/boom");
  Response response = router_.dispatch(request);
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.body.find("secret detail"), std::string::npos);
  EXPECT_EQ(json::parse(response.body)["type"], "https://carillon.dev/problems/internal");
}

TEST_F(RouterTest, ListsRoutesInRegistrationOrder) {
  const auto& routes = router_.routes();
  ASSERT_EQ(routes.size(), 6u);
  EXPECT_EQ(routes[0].method, "GET");
  EXPECT_EQ(routes[0].pattern, "/api/v1/sites/{id}/claim-codes");
  EXPECT_EQ(routes[3].pattern, "/api/v1/devices/search");
}

TEST_F(RouterTest, RejectsDuplicateAndMalformedPatterns) {
  EXPECT_THROW(router_.add("GET", "/healthz", named("again")), std::logic_error);
  EXPECT_THROW(router_.add("GET", "no-slash", named("x")), std::logic_error);
  EXPECT_THROW(router_.add("GET", "/a/{b", named("x")), std::logic_error);
}

TEST_F(RouterTest, HasPathAndWebSocketLookup) {
  router_.add_websocket("/api/v1/events", [](const Request&, std::shared_ptr<Router::WebSocket>) {
    return Result<std::function<void()>>(std::function<void()>([] {}));
  });
  EXPECT_TRUE(router_.has_path("/healthz"));
  EXPECT_TRUE(router_.has_path("/api/v1/devices/x"));
  EXPECT_TRUE(router_.has_path("/api/v1/events"));
  EXPECT_FALSE(router_.has_path("/devices/x"));
  EXPECT_NE(router_.find_websocket("/api/v1/events"), nullptr);
  EXPECT_EQ(router_.find_websocket("/api/v1/events/x"), nullptr);
}

struct Mapping {
  Errc code;
  int status;
  const char* slug;
};

TEST(ProblemTest, MapsEveryErrcToItsStatusAndType) {
  const Mapping mappings[] = {
      {Errc::invalid_argument, 400, "invalid-argument"}, {Errc::unauthenticated, 401, "unauthenticated"},
      {Errc::forbidden, 403, "forbidden"},                {Errc::not_found, 404, "not-found"},
      {Errc::conflict, 409, "conflict"},                  {Errc::too_large, 413, "too-large"},
      {Errc::throttled, 429, "throttled"},                {Errc::unavailable, 503, "unavailable"},
      {Errc::internal, 500, "internal"},
  };
  for (const auto& mapping : mappings) {
    Response response = problem(Error{mapping.code, "went wrong", ""});
    EXPECT_EQ(response.status, mapping.status);
    EXPECT_EQ(status_for(mapping.code), mapping.status);
    EXPECT_EQ(response.content_type, "application/problem+json");
    json body = json::parse(response.body);
    EXPECT_EQ(body["type"], std::string("https://carillon.dev/problems/") + mapping.slug);
    EXPECT_EQ(body["status"], mapping.status);
    EXPECT_EQ(body["detail"], "went wrong");
    EXPECT_TRUE(body["title"].is_string());
    EXPECT_FALSE(body.contains("errors"));
  }
}

TEST(ProblemTest, FieldBecomesErrorsEntry) {
  json body = json::parse(problem(Error{Errc::invalid_argument, "must not be empty", "name"}).body);
  ASSERT_TRUE(body["errors"].is_array());
  ASSERT_EQ(body["errors"].size(), 1u);
  EXPECT_EQ(body["errors"][0]["field"], "name");
  EXPECT_EQ(body["errors"][0]["reason"], "must not be empty");
}

TEST(ProblemTest, AuthAndThrottleHeaders) {
  Response unauthenticated = problem(Error{Errc::unauthenticated, "token expired", ""});
  EXPECT_EQ(header_value(unauthenticated, "WWW-Authenticate"), "Bearer");
  Response throttled = problem(Error{Errc::throttled, "slow down", ""}, 30);
  EXPECT_EQ(header_value(throttled, "Retry-After"), "30");
  EXPECT_EQ(header_value(problem(Error{Errc::throttled, "slow down", ""}), "Retry-After"), "1");
  EXPECT_TRUE(problem(Error{Errc::forbidden, "no", ""}).headers.empty());
}

TEST(ProblemTest, InvalidUtf8InMessageDoesNotThrow) {
  Response response = problem(Error{Errc::invalid_argument, std::string("bad \xff byte"), ""});
  EXPECT_EQ(response.status, 400);
  json body = json::parse(response.body);
  EXPECT_TRUE(body["detail"].get<std::string>().find("bad") == 0);
}

TEST(UriTest, PercentDecoding) {
  EXPECT_EQ(percent_decode("a%20b%2Fc"), "a b/c");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("%e2%82%ac"), "\xe2\x82\xac");
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%2"));
  EXPECT_FALSE(percent_decode("%zz"));
  EXPECT_FALSE(percent_decode("a%00b"));
}

TEST(UriTest, QueryLastWins) {
  auto query = parse_query("a=1&b=x%20y&a=2&flag&&c=p+q");
  ASSERT_TRUE(query);
  EXPECT_EQ((*query)["a"], "2");
  EXPECT_EQ((*query)["b"], "x y");
  EXPECT_EQ((*query)["flag"], "");
  EXPECT_EQ((*query)["c"], "p q");
  EXPECT_FALSE(parse_query("a=%G0"));
}

TEST(UriTest, SplitTarget) {
  auto split = split_target("/api/v1/x%20y?limit=5");
  ASSERT_TRUE(split);
  EXPECT_EQ(split->raw_path, "/api/v1/x%20y");
  EXPECT_EQ(split->path, "/api/v1/x y");
  EXPECT_EQ(split->query["limit"], "5");
  EXPECT_FALSE(split_target("http://example.com/"));
  EXPECT_FALSE(split_target("*"));
  EXPECT_FALSE(split_target("/a%zz"));
}

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() / "web";
    std::filesystem::create_directories(root_ / "assets");
    write(root_ / "index.html", "<html>app</html>");
    write(root_ / "assets" / "app.js", "console.log(1)");
    write(root_ / "assets" / "style.css", "body{}");
    write(dir_.path() / "secret.txt", "top secret");
    std::filesystem::create_symlink(dir_.path() / "secret.txt", root_ / "escape.txt");
  }
  static void write(const std::filesystem::path& path, const std::string& content) {
    std::ofstream(path) << content;
  }
  testing::TempDir dir_;
  std::filesystem::path root_;
};

TEST_F(StaticFilesTest, ServesFilesWithContentTypes) {
  Response index = serve_static(root_, "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<html>app</html>");
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  Response js = serve_static(root_, "/assets/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(serve_static(root_, "/assets/style.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("x.SVG"), "image/svg+xml");
  EXPECT_EQ(content_type_for("x.unknown"), "application/octet-stream");
}

TEST_F(StaticFilesTest, PrecompressedFilesGoToClientsThatAcceptGzip) {
  write(root_ / "assets" / "app.js.gz", "GZIPPED");
  Response plain = serve_static(root_, "/assets/app.js", false);
  EXPECT_EQ(plain.body, "console.log(1)");
  Response gz = serve_static(root_, "/assets/app.js", true);
  EXPECT_EQ(gz.body, "GZIPPED");
  EXPECT_EQ(gz.content_type, "text/javascript; charset=utf-8");
  auto has = [](const Response& r, const std::string& name, const std::string& value) {
    return std::find(r.headers.begin(), r.headers.end(), std::make_pair(name, value)) != r.headers.end();
  };
  EXPECT_TRUE(has(gz, "Content-Encoding", "gzip"));
  EXPECT_TRUE(has(gz, "Vary", "Accept-Encoding"));
  EXPECT_FALSE(has(plain, "Content-Encoding", "gzip"));
  EXPECT_TRUE(has(plain, "Vary", "Accept-Encoding"));
  // Without a .gz sibling nothing changes.
  EXPECT_FALSE(has(serve_static(root_, "/assets/style.css", true), "Content-Encoding", "gzip"));
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));
  EXPECT_TRUE(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("deflate, br"));
  EXPECT_FALSE(accepts_gzip(""));
}

TEST_F(StaticFilesTest, SpaFallbackOnlyForExtensionlessPaths) {
  Response route = serve_static(root_, "/sites/si_1/devices");
  EXPECT_EQ(route.status, 200);
  EXPECT_EQ(route.body, "<html>app</html>");
  EXPECT_EQ(serve_static(root_, "/assets/missing.js").status, 404);
}

TEST_F(StaticFilesTest, RefusesTraversal) {
  for (const char* path : {"/../secret.txt", "/assets/../../secret.txt", "/./index.html", "/assets//app.js",
                           "/..\\secret.txt", "/escape.txt"}) {
    Response response = serve_static(root_, path);
    EXPECT_NE(response.status, 200) << path;
    EXPECT_EQ(response.body.find("top secret"), std::string::npos) << path;
  }
}


using Kind = RangeDecision::Kind;

void expect_range(const RangeDecision& decision, Kind kind, std::uint64_t first = 0, std::uint64_t length = 0) {
  EXPECT_EQ(decision.kind, kind);
  if (kind == Kind::partial) {
    EXPECT_EQ(decision.first, first);
    EXPECT_EQ(decision.length, length);
  }
}

TEST(RangeTest, SingleRangesOfAllThreeForms) {
  const std::string etag = "\"e1\"";
  const std::string date = "Wed, 25 Nov 2026 14:00:00 GMT";
  expect_range(decide_range("bytes=0-99", "", etag, date, 1000), Kind::partial, 0, 100);
  expect_range(decide_range("bytes=990-2000", "", etag, date, 1000), Kind::partial, 990, 10);
  expect_range(decide_range("bytes=400-", "", etag, date, 1000), Kind::partial, 400, 600);
  expect_range(decide_range("bytes=-100", "", etag, date, 1000), Kind::partial, 900, 100);
  expect_range(decide_range("bytes=-5000", "", etag, date, 1000), Kind::partial, 0, 1000);
  expect_range(decide_range("BYTES = 5-5", "", etag, date, 1000), Kind::whole);  // not the grammar
  expect_range(decide_range("Bytes=5-5", "", etag, date, 1000), Kind::partial, 5, 1);
  expect_range(decide_range("", "", etag, date, 1000), Kind::whole);
}

TEST(RangeTest, UnsatisfiableMultipleAndMalformed) {
  const std::string etag = "\"e1\"";
  expect_range(decide_range("bytes=1000-", "", etag, "", 1000), Kind::unsatisfiable);
  expect_range(decide_range("bytes=1000-1001", "", etag, "", 1000), Kind::unsatisfiable);
  expect_range(decide_range("bytes=-0", "", etag, "", 1000), Kind::unsatisfiable);
  expect_range(decide_range("bytes=0-", "", etag, "", 0), Kind::unsatisfiable);
  expect_range(decide_range("bytes=0-1,5-9", "", etag, "", 1000), Kind::whole);
  expect_range(decide_range("bytes=9-5", "", etag, "", 1000), Kind::whole);
  expect_range(decide_range("bytes=a-5", "", etag, "", 1000), Kind::whole);
  expect_range(decide_range("bytes=5", "", etag, "", 1000), Kind::whole);
  expect_range(decide_range("items=0-5", "", etag, "", 1000), Kind::whole);
  expect_range(decide_range("bytes=99999999999999999999-", "", etag, "", 1000), Kind::whole);
}

TEST(RangeTest, IfRangeNeedsTheCurrentStrongValidator) {
  const std::string etag = "\"e1\"";
  const std::string date = "Wed, 25 Nov 2026 14:00:00 GMT";
  expect_range(decide_range("bytes=10-", etag, etag, date, 100), Kind::partial, 10, 90);
  expect_range(decide_range("bytes=10-", "\"e0\"", etag, date, 100), Kind::whole);
  expect_range(decide_range("bytes=10-", "W/\"e1\"", etag, date, 100), Kind::whole);
  expect_range(decide_range("bytes=10-", date, etag, date, 100), Kind::partial, 10, 90);
  expect_range(decide_range("bytes=10-", "Tue, 24 Nov 2026 14:00:00 GMT", etag, date, 100), Kind::whole);
  // A stale If-Range with an unsatisfiable range still gets the whole (new) file, not a 416.
  expect_range(decide_range("bytes=500-", "\"e0\"", etag, date, 100), Kind::whole);
}

TEST(RangeTest, ValidatorsAndDates) {
  EXPECT_EQ(http_date(std::chrono::system_clock::from_time_t(784111777)), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(file_etag(255, 16), "\"ff-10\"");
  EXPECT_NE(file_etag(255, 16), file_etag(255, 17));
  EXPECT_EQ(quote_etag("abc"), "\"abc\"");
  EXPECT_EQ(quote_etag("\"abc\""), "\"abc\"");
  EXPECT_EQ(quote_etag("W/\"abc\""), "W/\"abc\"");
}

}  // namespace
}  // namespace carillon::http
