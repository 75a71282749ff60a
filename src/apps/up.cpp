#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "apps/commands.hpp"
#include "apps/serve.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "http/client.hpp"
#include "common/files.hpp"
#include "mqtt/broker_config.hpp"
#include "sip/edge_settings.hpp"
#include "supervisor/installation.hpp"
#include "supervisor/process.hpp"

namespace carillon::apps {

namespace {

// /readyz turns green once the database answers and serve is on the broker.
Status wait_ready(const ServeConfig& config, std::chrono::seconds timeout) {
  auto ca = read_file(config.ca_cert);
  if (!ca) return tl::unexpected(ca.error());
  http::Client client(http::ClientOptions{*ca, "", "", 2000});
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "no answer";
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = client.request("GET", config.public_url + "/readyz");
    if (r && r->status == 200) return {};
    if (r) last = r->body;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return fail(Errc::unavailable, "platform not ready: " + last);
}

}  // namespace

int run_up(const UpOptions& options, const std::atomic<bool>& stop) {
  auto logger = log::get("up");
  SystemClock clock;
  SodiumRandom random;
  auto web_root = options.web_root;
  std::error_code ec;
  if (web_root.empty() && std::filesystem::is_directory("web/dist", ec)) web_root = "web/dist";
  if (!web_root.empty()) {
    if (!std::filesystem::is_regular_file(web_root / "index.html", ec)) {
      std::cerr << "carillon up: --web-root " << web_root.string() << " has no index.html (build it: npm run build in web/)\n";
      return 1;
    }
    web_root = std::filesystem::absolute(web_root, ec);
  }
  auto installation =
      supervisor::prepare(options.state_dir, options.port_offset, clock, random, options.database, web_root);
  if (!installation) {
    std::cerr << "carillon up: " << installation.error().message << "\n";
    return 1;
  }
  if (!options.smtp.url.empty()) {
    // serve.json is rewritten by every `up`; the e-mail settings come from this command line.
    if (options.smtp.from.empty()) {
      std::cerr << "carillon up: --smtp-from is required with --smtp-url\n";
      return 1;
    }
    auto text = read_file(installation->serve_config);
    auto serve = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    if (!serve.is_object()) {
      std::cerr << "carillon up: cannot read " << installation->serve_config.string() << "\n";
      return 1;
    }
    serve["smtp"] = {{"url", options.smtp.url},
                     {"from", options.smtp.from},
                     {"username", options.smtp.username},
                     {"password_file", options.smtp.password_file.empty() ? "" : std::filesystem::absolute(options.smtp.password_file).string()},
                     {"ca_file", options.smtp.ca_file.empty() ? "" : std::filesystem::absolute(options.smtp.ca_file).string()},
                     {"require_starttls", !options.smtp.allow_plaintext},
                     {"group_window_seconds", options.smtp.group_window_seconds}};
    if (auto s = write_file(installation->serve_config, serve.dump(2)); !s) {
      std::cerr << "carillon up: " << s.error().message << "\n";
      return 1;
    }
  }
  auto config = load_serve_config(installation->serve_config);
  if (!config) {
    std::cerr << "carillon up: " << config.error().message << "\n";
    return 1;
  }

  mqtt::BrokerConfig broker;
  broker.dir = installation->broker_dir;
  supervisor::SupervisedProcess main_broker(
      {"mosquitto", {"mosquitto", "-c", mqtt::broker_config_path(broker).string()}, installation->logs_dir / "mosquitto.out"});
  supervisor::SupervisedProcess claim_broker({"mosquitto-claim",
                                              {"mosquitto", "-c", mqtt::claim_broker_config_path(broker).string()},
                                              installation->logs_dir / "mosquitto-claim.out"});
  // The SIP edge: rtpengine first, so Kamailio finds its media relay at once.
  const auto& edge = installation->edge;
  supervisor::SupervisedProcess rtpengine({"rtpengine", sip::rtpengine_arguments(edge), installation->logs_dir / "rtpengine.out"});
  supervisor::SupervisedProcess kamailio({"kamailio",
                                          sip::kamailio_arguments(edge, installation->sip_dir / "kamailio.cfg"),
                                          installation->logs_dir / "kamailio.out"});
  for (auto* p : {&main_broker, &claim_broker, &rtpengine, &kamailio}) {
    if (auto s = p->start(); !s) {
      std::cerr << "carillon up: cannot start a service: " << s.error().message << "\n";
      return 1;
    }
  }

  auto credentials = installation->dir / "admin-credentials.json";
  if (auto s = bootstrap_admin(*config, credentials); !s) {
    std::cerr << "carillon up: " << s.error().message << "\n";
    return 1;
  }

  ServeHooks hooks;
  hooks.stop = &stop;
  hooks.on_ready = [&](const ServeConfig& c) -> Status {
    if (auto s = wait_ready(c, std::chrono::seconds(30)); !s) return s;
    std::cout << "Carillon is up.\n"
              << "  portal:      " << c.public_url << "\n"
              << "  credentials: " << credentials.string() << "\n"
              << "  device CA:   " << installation->ca_cert.string() << "\n"
              << "Stop with Ctrl-C." << std::endl;
    return {};
  };
  auto served = run_serve(*config, hooks);
  kamailio.stop();
  rtpengine.stop();
  claim_broker.stop();
  main_broker.stop();
  if (!served) {
    std::cerr << "carillon up: " << served.error().message << "\n";
    return 1;
  }
  return 0;
}

int run_serve_command(const std::filesystem::path& file, const std::atomic<bool>& stop) {
  auto config = load_serve_config(file);
  if (!config) {
    std::cerr << "carillon serve: " << config.error().message << "\n";
    return 1;
  }
  ServeHooks hooks;
  hooks.stop = &stop;
  if (auto s = run_serve(*config, hooks); !s) {
    std::cerr << "carillon serve: " << s.error().message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace carillon::apps
