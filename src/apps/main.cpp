// carillon: one binary, one subcommand per role (ARCHITECTURE.md). Parsing and wiring only.

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cctype>
#include <sstream>
#include <fstream>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/commands.hpp"
#include "mqtt/client.hpp"

namespace {

using carillon::apps::AdminSession;
using nlohmann::json;

// key=value pairs -> JSON object of strings.
json pairs(const std::vector<std::string>& items, char sep) {
  json out = json::object();
  for (const auto& item : items) {
    auto at = item.find(sep);
    if (at == std::string::npos) throw CLI::ValidationError("expected key" + std::string(1, sep) + "value: " + item);
    out[item.substr(0, at)] = item.substr(at + 1);
  }
  return out;
}

json labels(const std::vector<std::string>& items) {
  json out = json::array();
  auto parsed = pairs(items, ':');
  for (const auto& [name, color] : parsed.items()) out.push_back({{"name", name}, {"color", color}});
  return out;
}

json parse_json_option(const std::string& text, const char* option) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw CLI::ValidationError(std::string(option) + " is not valid JSON");
  return j;
}

// RFC 3986 unreserved characters pass, everything else is %XX.
std::string percent_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string query(std::vector<std::pair<std::string, std::string>> params) {
  std::string q;
  for (auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + k + "=" + percent_encode(v);
  }
  return q;
}

// "1,10,100" -> [1, 10, 100]
nlohmann::json int_list(const std::string& text) {
  nlohmann::json out = nlohmann::json::array();
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    try {
      out.push_back(std::stoi(item));
    } catch (const std::exception&) {
      throw CLI::ValidationError("expected comma-separated numbers, got " + text);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken by a thread of ours (sigwait), so every other thread blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Each emulated device holds ~4 descriptors and serve one per client: use what we may.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  std::atomic<bool> stop{false};
  std::thread([&signals, &stop] {
    int signo = 0;
    sigwait(&signals, &signo);
    stop = true;
  }).detach();

  carillon::mqtt::Library mqtt_library;
  CLI::App app{"Carillon: an open intercom cloud platform"};
  app.require_subcommand(1);
  int rc = 0;

  // --- up
  carillon::apps::UpOptions up;
  auto* up_cmd = app.add_subcommand("up", "Start the whole platform on this machine (SQLite, Mosquitto, serve)");
  up_cmd->add_option("--state-dir", up.state_dir, "State directory (created on first use)")->capture_default_str();
  up_cmd->add_option("--port-offset", up.port_offset, "Shift every port by this much")->capture_default_str();
  up_cmd->add_option("--database", up.database, "Database URL instead of SQLite, e.g. postgresql:host=... dbname=...");
  up_cmd->add_option("--web-root", up.web_root, "Built web app to serve at / (default: ./web/dist when it exists)");
  up_cmd->add_option("--smtp-url", up.smtp.url, "Alert e-mail server, smtp://host:port (STARTTLS) or smtps://host:port");
  up_cmd->add_option("--smtp-from", up.smtp.from, "Sender address of alert e-mail");
  up_cmd->add_option("--smtp-username", up.smtp.username, "SMTP login (optional)");
  up_cmd->add_option("--smtp-password-file", up.smtp.password_file, "File holding the SMTP password")->check(CLI::ExistingFile);
  up_cmd->add_option("--smtp-ca-file", up.smtp.ca_file, "CA certificate(s) the SMTP server's certificate must chain to")
      ->check(CLI::ExistingFile);
  up_cmd->add_flag("--smtp-allow-plaintext", up.smtp.allow_plaintext, "Send without STARTTLS when the server offers none");
  up_cmd->add_option("--alert-group-seconds", up.smtp.group_window_seconds,
                     "Offline alerts of one company within this many seconds go into one e-mail")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  up_cmd->callback([&] { rc = carillon::apps::run_up(up, stop); });

  // --- serve
  std::string serve_config;
  auto* serve_cmd = app.add_subcommand("serve", "Run the control plane with a serve.json");
  serve_cmd->add_option("--config", serve_config, "serve.json (as written by `carillon up`)")->required();
  serve_cmd->callback([&] { rc = carillon::apps::run_serve_command(serve_config, stop); });

  // --- device
  carillon::apps::DeviceCommandOptions dev;
  std::string claim_code, claim_file;
  auto* dev_cmd = app.add_subcommand("device", "Run emulated intercom devices (firmware emulator)");
  dev_cmd->add_option("--platform", dev.platform_url, "Portal URL printed by `carillon up`")->required();
  dev_cmd->add_option("--ca", dev.ca_file, "Platform CA certificate: the device's factory trust anchor")->required();
  dev_cmd->add_option("--state-dir", dev.state_dir, "Where the device keeps key, certificate and config")->capture_default_str();
  dev_cmd->add_option("--claim", claim_code, "Claim code (first start only)");
  dev_cmd->add_option("--claim-file", claim_file, "File with one claim code per line, for --count");
  dev_cmd->add_option("--serial", dev.serial, "Serial number (default: EMU-<random>, kept in the state dir)");
  dev_cmd->add_option("--model", dev.model)->capture_default_str();
  dev_cmd->add_option("--hardware-revision", dev.hardware_revision)->capture_default_str();
  dev_cmd->add_option("--firmware-version", dev.firmware_version)->capture_default_str();
  dev_cmd->add_option("--firmware-key", dev.firmware_key_file,
                      "Platform firmware public key (PEM); default: the one received when claiming")
      ->check(CLI::ExistingFile);
  dev_cmd->add_option("--firmware-health-timeout", dev.firmware_health_seconds,
                      "Seconds a new firmware image may take to reach the platform before it is rolled back")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  dev_cmd->add_option("--count", dev.count, "Number of emulated devices in this process")->capture_default_str();
  // libmosquitto refuses keepalives below 5 s (other than 0, which we do not want either).
  dev_cmd->add_option("--keepalive", dev.keepalive_seconds, "MQTT keepalive in seconds (5..65535)")
      ->check(CLI::Range(5, 65535))
      ->capture_default_str();
  dev_cmd->add_option("--control-port", dev.control_port,
                      "Local control channel on 127.0.0.1 (JSON lines: press, answer, hangup, dtmf, status); "
                      "with --count, device i uses port + i")
      ->check(CLI::Range(0, 65535));
  dev_cmd->add_option("--audio", dev.audio_file, "WAV file the station plays into calls (default: a tone)");
  dev_cmd->add_option("--tone-hz", dev.tone_hz, "Tone the station plays when no --audio is given")->capture_default_str();
  dev_cmd->add_option("--listen-hz", dev.listen_hz, "Tone the station reports hearing in `status`")->capture_default_str();
  dev_cmd->add_option("--record-dir", dev.record_dir, "Record every call's received audio as WAV here");
  dev_cmd->callback([&] {
    if (!claim_code.empty()) dev.claim_codes.push_back(claim_code);
    if (!claim_file.empty()) {
      std::ifstream in(claim_file);
      if (!in) throw CLI::ValidationError("cannot read --claim-file " + claim_file);
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) dev.claim_codes.push_back(line);
    }
    rc = carillon::apps::run_device(dev, stop);
  });

  // --- admin
  AdminSession session;
  session.session_file = carillon::apps::default_session_file();
  auto* admin = app.add_subcommand("admin", "Command-line client for the REST API");
  admin->require_subcommand(1);
  admin->add_option("--url", session.url, "Portal URL (kept by login)");
  admin->add_option("--ca", session.ca_file, "CA certificate that signed the portal's certificate (kept by login)");
  admin->add_option("--session", session.session_file, "Session file")->capture_default_str();
  auto request = [&](std::string method, std::string path, json body = nullptr) {
    rc = carillon::apps::run_admin_request(session, method, path, body.is_null() ? "" : body.dump());
  };

  std::string username, password;
  auto* login = admin->add_subcommand("login", "Log in and keep the tokens in the session file");
  login->add_option("--username", username)->required();
  login->add_option("--password", password, "Password (default: $CARILLON_PASSWORD)");
  login->callback([&] {
    if (password.empty()) {
      if (const char* env = std::getenv("CARILLON_PASSWORD")) password = env;
    }
    if (password.empty()) throw CLI::ValidationError("--password or $CARILLON_PASSWORD is required");
    rc = carillon::apps::run_admin_login(session, username, password);
  });

  // companies / projects / sites share one shape.
  struct NodeOptions {
    std::string id, name, parent, time_zone, label;
    std::vector<std::string> attributes, labels;
  };
  NodeOptions node;
  auto add_node_commands = [&](const std::string& collection, const std::string& parent_option,
                               const std::string& parent_field, bool zone) {
    auto* group = admin->add_subcommand(collection, "Manage " + collection);
    group->require_subcommand(1);
    auto* create = group->add_subcommand("create");
    create->add_option("--name", node.name)->required();
    if (!parent_option.empty()) create->add_option(parent_option, node.parent)->required();
    if (zone) create->add_option("--time-zone", node.time_zone, "IANA zone, e.g. Europe/Berlin")->required();
    create->add_option("--attribute", node.attributes, "key=value (repeatable)");
    create->add_option("--label", node.labels, "name:#rrggbb (repeatable)");
    create->callback([&, collection, parent_field, zone] {
      json body{{"name", node.name}};
      if (!parent_field.empty()) body[parent_field] = node.parent;
      if (zone) body["time_zone"] = node.time_zone;
      if (!node.attributes.empty()) body["attributes"] = pairs(node.attributes, '=');
      if (!node.labels.empty()) body["labels"] = labels(node.labels);
      request("POST", "/api/v1/" + collection, body);
    });
    auto* list = group->add_subcommand("list");
    list->add_option("--label", node.label, "Only those with this label");
    if (!parent_option.empty()) list->add_option(parent_option, node.parent);
    list->callback([&, collection, parent_field] {
      request("GET", "/api/v1/" + collection + query({{"label", node.label}, {parent_field, node.parent}}));
    });
    auto* get = group->add_subcommand("get");
    get->add_option("id", node.id)->required();
    get->callback([&, collection] { request("GET", "/api/v1/" + collection + "/" + node.id); });
    auto* update = group->add_subcommand("update");
    update->add_option("id", node.id)->required();
    update->add_option("--name", node.name);
    if (zone) update->add_option("--time-zone", node.time_zone);
    update->add_option("--attribute", node.attributes, "key=value (replaces all attributes)");
    update->add_option("--label", node.labels, "name:#rrggbb (replaces all labels)");
    update->callback([&, collection] {
      json body = json::object();
      if (!node.name.empty()) body["name"] = node.name;
      if (!node.time_zone.empty()) body["time_zone"] = node.time_zone;
      if (!node.attributes.empty()) body["attributes"] = pairs(node.attributes, '=');
      if (!node.labels.empty()) body["labels"] = labels(node.labels);
      request("PATCH", "/api/v1/" + collection + "/" + node.id, body);
    });
    auto* remove = group->add_subcommand("delete");
    remove->add_option("id", node.id)->required();
    remove->callback([&, collection] { request("DELETE", "/api/v1/" + collection + "/" + node.id); });
    return group;
  };
  auto* companies = add_node_commands("companies", "", "", false);
  add_node_commands("projects", "--company", "company_id", false);
  add_node_commands("sites", "--project", "project_id", true);

  std::string logo_file;
  auto* logo = companies->add_subcommand("logo", "Upload a company logo (PNG, JPEG or SVG)");
  logo->add_option("id", node.id)->required();
  logo->add_option("--file", logo_file)->required()->check(CLI::ExistingFile);
  logo->callback([&] {
    std::ifstream in(logo_file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    rc = carillon::apps::run_admin_request(session, "PUT", "/api/v1/companies/" + node.id + "/logo", bytes,
                                           "application/octet-stream");
  });

  std::string site, role = "door-station", config_json;
  long long expires_in = 0;
  auto* codes = admin->add_subcommand("claim-codes", "Claim codes for new devices");
  codes->require_subcommand(1);
  auto* code_create = codes->add_subcommand("create");
  code_create->add_option("--site", site)->required();
  code_create->add_option("--role", role, "door-station | receiving-station | call-trigger | call-receiver")->capture_default_str();
  code_create->add_option("--expires-in", expires_in, "Lifetime in seconds (default 7 days)");
  code_create->add_option("--config", config_json, "Pre-installation config (JSON merge patch)");
  code_create->callback([&] {
    json body{{"site_id", site}, {"role", role}};
    if (expires_in) body["expires_in"] = expires_in;
    if (!config_json.empty()) body["config"] = parse_json_option(config_json, "--config");
    request("POST", "/api/v1/claim-codes", body);
  });
  auto* code_list = codes->add_subcommand("list");
  code_list->add_option("--site", site)->required();
  code_list->callback([&] { request("GET", "/api/v1/claim-codes" + query({{"site_id", site}})); });

  std::string device_id, online, q, name, set_json;
  auto* devices = admin->add_subcommand("devices", "Claimed devices");
  devices->require_subcommand(1);
  auto* dlist = devices->add_subcommand("list");
  dlist->add_option("--site", site);
  dlist->add_option("--online", online, "true | false");
  dlist->add_option("--search", q);
  dlist->callback([&] { request("GET", "/api/v1/devices" + query({{"site_id", site}, {"online", online}, {"q", q}})); });
  auto* dget = devices->add_subcommand("get");
  dget->add_option("id", device_id)->required();
  dget->callback([&] { request("GET", "/api/v1/devices/" + device_id); });
  auto* dconfig = devices->add_subcommand("config", "Show the config, or change it with --set");
  dconfig->add_option("id", device_id)->required();
  dconfig->add_option("--set", set_json, "JSON merge patch, e.g. '{\"screen\":{\"brightness\":40}}'");
  dconfig->callback([&] {
    if (set_json.empty()) request("GET", "/api/v1/devices/" + device_id + "/config");
    else request("PATCH", "/api/v1/devices/" + device_id + "/config", parse_json_option(set_json, "--set"));
  });
  auto* restart = devices->add_subcommand("restart");
  restart->add_option("id", device_id)->required();
  restart->callback([&] { request("POST", "/api/v1/devices/" + device_id + "/commands", {{"type", "restart"}}); });
  auto* rename = devices->add_subcommand("rename");
  rename->add_option("id", device_id)->required();
  rename->add_option("name", name)->required();
  rename->callback([&] {
    request("POST", "/api/v1/devices/" + device_id + "/commands", {{"type", "rename"}, {"arguments", {{"name", name}}}});
  });
  auto* revoke = devices->add_subcommand("revoke", "Revoke the device certificate and cut its connection");
  revoke->add_option("id", device_id)->required();
  revoke->callback([&] { request("POST", "/api/v1/devices/" + device_id + "/revoke"); });

  std::string company;
  auto* users = admin->add_subcommand("users", "Users");
  users->require_subcommand(1);
  auto* ucreate = users->add_subcommand("create");
  ucreate->add_option("--username", username)->required();
  ucreate->add_option("--password", password)->required();
  ucreate->add_option("--role", role, "platform-admin | company-admin | viewer")->required();
  ucreate->add_option("--company", company);
  ucreate->callback([&] {
    json body{{"username", username}, {"password", password}, {"role", role}};
    if (!company.empty()) body["company_id"] = company;
    request("POST", "/api/v1/users", body);
  });
  users->add_subcommand("list")->callback([&] { request("GET", "/api/v1/users"); });

  auto* audit = admin->add_subcommand("audit", "Audit trail");
  audit->add_option("--target", device_id, "Only events about this object");
  audit->callback([&] { request("GET", "/api/v1/audit-events" + query({{"target_id", device_id}})); });

  // --- ring groups, forwarding rules, call reports
  struct CallOptions {
    std::string id, name, site, status, since, until, caller, time_from, time_to, date_from, date_to;
    std::vector<std::string> members, steps, weekdays;
    int ring_seconds = 0, priority = -1, retention_days = 0;
    bool csv = false;
  };
  CallOptions co;
  // "device:dv_..." / "user:us_..." / "ring_group:rg_...[:seconds]"
  auto targets = [](const std::vector<std::string>& items, bool steps) {
    json out = json::array();
    for (const auto& item : items) {
      auto first = item.find(':');
      if (first == std::string::npos) throw CLI::ValidationError("expected kind:id, got " + item);
      json t{{"kind", item.substr(0, first)}};
      auto rest = item.substr(first + 1);
      auto second = rest.find(':');
      if (steps && second != std::string::npos) {
        try {
          t["ring_seconds"] = std::stoi(rest.substr(second + 1));
        } catch (const std::exception&) {
          throw CLI::ValidationError("ring seconds must be a number: " + item);
        }
        rest = rest.substr(0, second);
      }
      t["id"] = rest;
      out.push_back(t);
    }
    return out;
  };
  auto* groups = admin->add_subcommand("ring-groups", "Ring groups");
  groups->require_subcommand(1);
  auto* gcreate = groups->add_subcommand("create");
  gcreate->add_option("--site", co.site)->required();
  gcreate->add_option("--name", co.name)->required();
  gcreate->add_option("--member", co.members, "device:<id> or user:<id> (repeatable, up to 32)")->required();
  gcreate->add_option("--ring-seconds", co.ring_seconds, "How long members ring (5..300, default 30)");
  gcreate->callback([&] {
    json body{{"site_id", co.site}, {"name", co.name}, {"members", targets(co.members, false)}};
    if (co.ring_seconds) body["ring_seconds"] = co.ring_seconds;
    request("POST", "/api/v1/ring-groups", body);
  });
  auto* glist = groups->add_subcommand("list");
  glist->add_option("--site", co.site);
  glist->callback([&] { request("GET", "/api/v1/ring-groups" + query({{"site_id", co.site}})); });
  auto* gget = groups->add_subcommand("get");
  gget->add_option("id", co.id)->required();
  gget->callback([&] { request("GET", "/api/v1/ring-groups/" + co.id); });
  auto* gupdate = groups->add_subcommand("update");
  gupdate->add_option("id", co.id)->required();
  gupdate->add_option("--name", co.name);
  gupdate->add_option("--member", co.members, "device:<id> or user:<id> (replaces all members)");
  gupdate->add_option("--ring-seconds", co.ring_seconds);
  gupdate->callback([&] {
    json body = json::object();
    if (!co.name.empty()) body["name"] = co.name;
    if (!co.members.empty()) body["members"] = targets(co.members, false);
    if (co.ring_seconds) body["ring_seconds"] = co.ring_seconds;
    request("PATCH", "/api/v1/ring-groups/" + co.id, body);
  });
  auto* gdelete = groups->add_subcommand("delete");
  gdelete->add_option("id", co.id)->required();
  gdelete->callback([&] { request("DELETE", "/api/v1/ring-groups/" + co.id); });

  auto* rules = admin->add_subcommand("forwarding-rules", "Forwarding rules of ring groups");
  rules->require_subcommand(1);
  auto rule_body = [&] {
    json body = json::object();
    if (!co.name.empty()) body["name"] = co.name;
    if (co.priority >= 0) body["priority"] = co.priority;
    if (!co.weekdays.empty()) body["weekdays"] = co.weekdays;
    if (!co.date_from.empty()) body["date_from"] = co.date_from;
    if (!co.date_to.empty()) body["date_to"] = co.date_to;
    if (!co.time_from.empty() || !co.time_to.empty()) body["time"] = {{"from", co.time_from}, {"to", co.time_to}};
    if (!co.steps.empty()) body["steps"] = targets(co.steps, true);
    return body;
  };
  auto rule_options = [&](CLI::App* cmd) {
    cmd->add_option("--name", co.name);
    cmd->add_option("--priority", co.priority, "Lower first (default 100)");
    cmd->add_option("--weekday", co.weekdays, "mon..sun (repeatable; default every day)");
    cmd->add_option("--date-from", co.date_from, "YYYY-MM-DD");
    cmd->add_option("--date-to", co.date_to, "YYYY-MM-DD");
    cmd->add_option("--time-from", co.time_from, "HH:MM local time of the site");
    cmd->add_option("--time-to", co.time_to, "HH:MM (earlier than --time-from: crosses midnight)");
    cmd->add_option("--step", co.steps, "kind:id[:ring_seconds], in order, e.g. ring_group:rg_...:20 user:us_...:30");
  };
  auto* rcreate = rules->add_subcommand("create");
  rcreate->add_option("--ring-group", co.id)->required();
  rule_options(rcreate);
  rcreate->callback([&] { request("POST", "/api/v1/ring-groups/" + co.id + "/forwarding-rules", rule_body()); });
  auto* rlist = rules->add_subcommand("list");
  rlist->add_option("--ring-group", co.id)->required();
  rlist->callback([&] { request("GET", "/api/v1/ring-groups/" + co.id + "/forwarding-rules"); });
  auto* rupdate = rules->add_subcommand("update");
  rupdate->add_option("id", co.id)->required();
  rule_options(rupdate);
  rupdate->callback([&] { request("PATCH", "/api/v1/forwarding-rules/" + co.id, rule_body()); });
  auto* rdelete = rules->add_subcommand("delete");
  rdelete->add_option("id", co.id)->required();
  rdelete->callback([&] { request("DELETE", "/api/v1/forwarding-rules/" + co.id); });

  auto* calls = admin->add_subcommand("calls", "Call records (VoIP report)");
  calls->require_subcommand(1);
  auto* clist = calls->add_subcommand("list");
  clist->add_option("--status", co.status, "answered | missed | busy | rejected | failed | timed_out | in_progress");
  clist->add_option("--since", co.since, "Unix seconds: calls started at or after");
  clist->add_option("--until", co.until, "Unix seconds: calls started before");
  clist->add_option("--site", co.site);
  clist->add_option("--caller", co.caller, "Caller device or user id");
  clist->add_flag("--csv", co.csv, "Print the report as CSV");
  clist->callback([&] {
    auto q = query({{"status", co.status}, {"from", co.since}, {"to", co.until}, {"site_id", co.site}, {"caller_id", co.caller}});
    request("GET", (co.csv ? "/api/v1/calls.csv" : "/api/v1/calls") + q);
  });
  auto* cget = calls->add_subcommand("get");
  cget->add_option("id", co.id)->required();
  cget->callback([&] { request("GET", "/api/v1/calls/" + co.id); });
  auto* retention = calls->add_subcommand("retention", "Show or set (--days) a company's call data retention");
  retention->add_option("--company", co.id)->required();
  retention->add_option("--days", co.retention_days, "1..180");
  retention->callback([&] {
    if (co.retention_days) request("PUT", "/api/v1/companies/" + co.id + "/call-settings", {{"retention_days", co.retention_days}});
    else request("GET", "/api/v1/companies/" + co.id + "/call-settings");
  });

  // --- firmware, rollouts, update policies (issue 5)
  struct FirmwareOptions {
    std::string id, family = "MX", version, models, notes, company, image, site, waves = "1,10,100", mode, weekdays,
                start, end;
    std::filesystem::path file;
    bool critical = false;
    int threshold = 20;
  };
  FirmwareOptions fo;
  auto* firmware = admin->add_subcommand("firmware", "Firmware images (upload: platform administrators)");
  firmware->require_subcommand(1);
  auto* fupload = firmware->add_subcommand("upload", "Upload an image; the platform signs its manifest");
  fupload->add_option("--file", fo.file)->required()->check(CLI::ExistingFile);
  fupload->add_option("--family", fo.family, "MX or BF")->capture_default_str();
  fupload->add_option("--version", fo.version, "Dotted decimal, e.g. 04.06.01.21")->required();
  fupload->add_option("--models", fo.models, "Comma-separated models the image is for (default: the whole family)");
  fupload->add_option("--notes", fo.notes, "Release notes");
  fupload->add_flag("--security-critical", fo.critical);
  fupload->callback([&] {
    rc = carillon::apps::run_admin_upload(
        session,
        "/api/v1/firmware-images" + query({{"family", fo.family}, {"version", fo.version}, {"models", fo.models},
                                           {"release_notes", fo.notes}, {"security_critical", fo.critical ? "true" : ""}}),
        fo.file);
  });
  auto* flist = firmware->add_subcommand("list");
  flist->add_option("--family", fo.family)->capture_default_str();
  flist->callback([&] { request("GET", "/api/v1/firmware-images" + query({{"family", fo.family}})); });
  firmware->add_subcommand("compatibility", "Models, minimum hardware revisions, claim modes")->callback([&] {
    request("GET", "/api/v1/firmware/compatibility");
  });

  auto* rollouts = admin->add_subcommand("rollouts", "Staged firmware rollouts");
  rollouts->require_subcommand(1);
  auto* rstart = rollouts->add_subcommand("start");
  rstart->add_option("--company", fo.company)->required();
  rstart->add_option("--image", fo.image)->required();
  rstart->add_option("--site", fo.site, "Only this site's devices");
  rstart->add_option("--waves", fo.waves, "Cumulative percentages")->capture_default_str();
  rstart->add_option("--threshold", fo.threshold, "Failure share of a wave (percent) that stops the rollout")
      ->capture_default_str();
  rstart->callback([&] {
    json body{{"company_id", fo.company}, {"image_id", fo.image}, {"waves", int_list(fo.waves)},
              {"failure_threshold_percent", fo.threshold}};
    if (!fo.site.empty()) body["site_id"] = fo.site;
    request("POST", "/api/v1/rollouts", body);
  });
  auto* rolist = rollouts->add_subcommand("list");
  rolist->add_option("--company", fo.company);
  rolist->callback([&] { request("GET", "/api/v1/rollouts" + query({{"company_id", fo.company}})); });
  auto* roget = rollouts->add_subcommand("get", "A rollout with every device's progress");
  roget->add_option("id", fo.id)->required();
  roget->callback([&] { request("GET", "/api/v1/rollouts/" + fo.id); });
  for (const char* action : {"pause", "resume", "cancel"}) {
    auto* a = rollouts->add_subcommand(action);
    a->add_option("id", fo.id)->required();
    a->callback([&request, &fo, action] { request("POST", "/api/v1/rollouts/" + fo.id + "/" + action); });
  }

  auto* policy = admin->add_subcommand("update-policy", "Update policy of a company, project or site");
  policy->require_subcommand(1);
  auto* pget = policy->add_subcommand("get", "The policy in effect and where it comes from");
  pget->add_option("scope", fo.id, "company, project or site id")->required();
  pget->callback([&] { request("GET", "/api/v1/update-policies/" + fo.id); });
  auto* pset = policy->add_subcommand("set");
  pset->add_option("scope", fo.id, "company, project or site id")->required();
  pset->add_option("--mode", fo.mode, "all | security_only | manual")->required();
  pset->add_option("--weekdays", fo.weekdays, "Maintenance window days, e.g. mon,tue,wed");
  pset->add_option("--start", fo.start, "Window start HH:MM (site time)");
  pset->add_option("--end", fo.end, "Window end HH:MM (may be past midnight)");
  pset->callback([&] {
    json body{{"mode", fo.mode}};
    if (!fo.weekdays.empty()) {
      json days = json::array();
      std::stringstream in(fo.weekdays);
      for (std::string d; std::getline(in, d, ',');) days.push_back(d);
      body["window"] = {{"weekdays", days}, {"start", fo.start}, {"end", fo.end}};
    }
    request("PUT", "/api/v1/update-policies/" + fo.id, body);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}
