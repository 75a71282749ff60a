#pragma once
// `carillon serve`: the control plane. Reads serve.json (written by `carillon up`, or by hand
// for a production install), opens the database, connects to the broker and serves HTTPS.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "common/result.hpp"

namespace carillon::apps {

struct ServeConfig {
  std::string listen_address = "127.0.0.1";
  unsigned short port = 8443;
  std::string public_url;
  std::string database;  // "sqlite:/path" or "postgresql:<conninfo>"
  std::string tls_cert, tls_key;
  std::string ca_cert, ca_key, crl;
  std::string token_key, token_issuer, token_audience = "carillon";
  std::string mqtt_host = "127.0.0.1";
  unsigned short mqtt_device_port = 8883, mqtt_claim_port = 8884, mqtt_platform_port = 8885;
  std::string mqtt_ca, mqtt_client_cert, mqtt_client_key, broker_pid_file;
  // The SIP edge (docs/sip-edge.md); without a "sip" section serve runs without calls.
  struct Sip {
    bool enabled = false;
    std::string domain = "carillon.local";
    std::string registrar, wss_url, loop_uri;
    std::string rpc_host = "127.0.0.1";
    unsigned short rpc_port = 0;
    std::string evapi_host = "127.0.0.1";
    unsigned short evapi_port = 0;
    std::string secret_file;
    int max_call_seconds = 600;
  } sip;
  // Web Push (apps/push_link.hpp); without a "push" section serve sends none. The push client
  // trusts the system CA store and the platform CA (pki.ca_cert), so a push service on the
  // platform's own certificates (tests, an on-premises relay) works without more settings.
  struct Push {
    bool enabled = false;
    std::string vapid_key;  // PEM file of the VAPID P-256 key
    std::string subject;    // VAPID "sub": "mailto:..." or "https:..."
  } push;
  // Firmware catalogue and rollouts; without a "firmware" section serve runs without them.
  struct Firmware {
    bool enabled = false;
    std::string signing_key;  // Ed25519 PEM, created when missing
    std::string image_dir;    // images and in-flight uploads (one file system: uploads are renamed)
    std::int64_t max_image_bytes = 2LL * 1024 * 1024 * 1024;
    std::int64_t device_timeout_seconds = 15 * 60;  // a silent updating device has failed
    int tick_seconds = 2;     // how often running rollouts are advanced
  } firmware;
  // Alert e-mail (src/alerts); without an "smtp" section serve sends none.
  struct Smtp {
    bool enabled = false;
    std::string url, from, username, password_file, ca_file;
    bool require_starttls = true;
    long timeout_ms = 10000;
    int group_window_seconds = 60;
    int interval_ms = 5000;  // how often due alerts are decided and sent
  } smtp;
  unsigned short device_port = 0;  // mutual-TLS listener for device uploads; 0 = none
  std::string web_root;      // built front end; "" = none
  std::string openapi_file;  // docs/openapi.yaml
  int threads = 4;
  int retention_interval_seconds = 3600;  // how often the call-data retention purge runs
};

Result<ServeConfig> load_serve_config(const std::filesystem::path& file);

struct ServeHooks {
  // Called once the server listens (with the bound port), e.g. to bootstrap the first admin.
  std::function<Status(const ServeConfig&)> on_ready;
  // Checked periodically; serving ends when it turns true.
  const std::atomic<bool>* stop = nullptr;
};

// Runs until *hooks.stop becomes true. Errors are start-up failures.
Status run_serve(const ServeConfig& config, const ServeHooks& hooks);

// Creates the first platform administrator when there are no users and writes its credentials
// to `credentials_file` (0600). Does nothing when users exist.
Status bootstrap_admin(const ServeConfig& config, const std::filesystem::path& credentials_file);

}  // namespace carillon::apps
