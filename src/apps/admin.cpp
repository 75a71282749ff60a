#include <cstdlib>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/commands.hpp"
#include "common/files.hpp"
#include "http/client.hpp"

namespace carillon::apps {

using nlohmann::json;

namespace {

int error_line(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 1;
}

// One readable line from a problem+json answer, naming the field when there is one.
std::string describe(const http::ClientResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "HTTP " + std::to_string(r.status);
  std::string line = j.value("detail", j.value("title", "HTTP " + std::to_string(r.status)));
  if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty())
    line += " (field: " + j["errors"][0].value("field", "") + ")";
  return line + " [" + std::to_string(r.status) + "]";
}

Result<json> load_session(const AdminSession& session) {
  auto text = read_file(session.session_file);
  if (!text) return fail(Errc::unauthenticated, "not logged in: run `carillon admin login` first");
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return fail(Errc::internal, "session file " + session.session_file.string() + " is corrupt");
  if (!session.url.empty()) j["url"] = session.url;
  if (!session.ca_file.empty()) j["ca_file"] = session.ca_file.string();
  return j;
}

Status save_session(const AdminSession& session, const json& j) {
  std::error_code ec;
  std::filesystem::create_directories(session.session_file.parent_path(), ec);
  return write_file(session.session_file, j.dump(2), std::filesystem::perms(0600));
}

Result<http::Client> client_for(const std::string& ca_file) {
  std::string ca;
  if (!ca_file.empty()) {
    auto text = read_file(ca_file);
    if (!text) return tl::unexpected(text.error());
    ca = *text;
  }
  return http::Client(http::ClientOptions{ca, "", "", 15000});
}

}  // namespace

std::filesystem::path default_session_file() {
  if (const char* env = std::getenv("CARILLON_SESSION")) return env;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".config" / "carillon" / "session.json";
}

int run_admin_login(AdminSession session, const std::string& username, const std::string& password) {
  if (session.url.empty()) return error_line("--url is required for login (the portal URL `carillon up` printed)");
  auto client = client_for(session.ca_file.string());
  if (!client) return error_line(client.error().message);
  auto r = client->request("POST", session.url + "/api/v1/auth/login",
                           json{{"username", username}, {"password", password}}.dump(),
                           {{"Content-Type", "application/json"}});
  if (!r) return error_line(r.error().message);
  if (r->status != 200) return error_line(describe(*r));
  auto tokens = json::parse(r->body);
  json j{{"url", session.url},
         {"ca_file", session.ca_file.empty() ? "" : std::filesystem::absolute(session.ca_file).string()},
         {"access_token", tokens["access_token"]},
         {"refresh_token", tokens["refresh_token"]}};
  if (auto s = save_session(session, j); !s) return error_line(s.error().message);
  std::cout << "logged in as " << username << " at " << session.url << "\n";
  return 0;
}

namespace {

// Sends with the session's access token; on 401 refreshes the tokens once and sends again.
// Prints the answer (or one error line) and returns the exit code.
using Send = std::function<Result<http::ClientResponse>(http::Client&, const std::string& url, const std::string& token)>;

int with_session(const AdminSession& session, const Send& send) {
  auto j = load_session(session);
  if (!j) return error_line(j.error().message);
  auto client = client_for(j->value("ca_file", ""));
  if (!client) return error_line(client.error().message);
  auto url = j->value("url", "");
  auto r = send(*client, url, j->value("access_token", ""));
  if (r && r->status == 401) {
    // Access tokens live 15 minutes; the refresh token keeps a CLI session going.
    auto refreshed = client->request("POST", url + "/api/v1/auth/refresh",
                                     json{{"refresh_token", j->value("refresh_token", "")}}.dump(),
                                     {{"Content-Type", "application/json"}});
    if (refreshed && refreshed->status == 200) {
      auto tokens = json::parse(refreshed->body);
      (*j)["access_token"] = tokens["access_token"];
      (*j)["refresh_token"] = tokens["refresh_token"];
      (void)save_session(session, *j);
      r = send(*client, url, tokens["access_token"].get<std::string>());
    }
  }
  if (!r) return error_line(r.error().message);
  if (r->status >= 400) return error_line(describe(*r));
  if (!r->body.empty()) {
    auto answer = json::parse(r->body, nullptr, false);
    std::cout << (answer.is_discarded() ? r->body : answer.dump(2)) << "\n";
  }
  return 0;
}

}  // namespace

int run_admin_request(const AdminSession& session, const std::string& method, const std::string& path,
                      const std::string& body, const std::string& content_type) {
  return with_session(session, [&](http::Client& client, const std::string& url, const std::string& token) {
    std::vector<std::pair<std::string, std::string>> headers = {{"Authorization", "Bearer " + token}};
    if (!body.empty()) headers.emplace_back("Content-Type", content_type);
    return client.request(method, url + path, body, headers);
  });
}

int run_admin_upload(const AdminSession& session, const std::string& path, const std::filesystem::path& file) {
  return with_session(session, [&](http::Client& client, const std::string& url, const std::string& token) {
    return client.upload_file("POST", url + path, file, {{"Authorization", "Bearer " + token}});
  });
}

}  // namespace carillon::apps
