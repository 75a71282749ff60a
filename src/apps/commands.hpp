#pragma once
// The subcommands; main.cpp only parses the command line and calls one of these.

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

namespace carillon::apps {

struct UpOptions {
  std::filesystem::path state_dir = "var/carillon";
  int port_offset = 0;
  std::string database;  // "" = SQLite in the state dir; or "postgresql:<conninfo>"
  // Built web app (web/dist) served at /; "" = ./web/dist when it exists, else no web app.
  std::filesystem::path web_root;
  // Alert e-mail (serve.json "smtp"); no URL = no e-mail.
  struct Smtp {
    std::string url;                    // smtp://host:port (STARTTLS) or smtps://host:port
    std::string from;
    std::string username;
    std::filesystem::path password_file;
    std::filesystem::path ca_file;      // trust anchors for the server; "" = the system's
    bool allow_plaintext = false;       // smtp:// without STARTTLS (only for a relay on loopback)
    int group_window_seconds = 60;      // offline alerts within this window go into one e-mail
  } smtp;
};
int run_up(const UpOptions& options, const std::atomic<bool>& stop);

int run_serve_command(const std::filesystem::path& config, const std::atomic<bool>& stop);

struct DeviceCommandOptions {
  std::string platform_url;
  std::filesystem::path ca_file;
  std::filesystem::path state_dir = "var/device";
  std::vector<std::string> claim_codes;  // one per device; --claim-file for many
  std::string serial;
  std::string model = "ID5 TD";
  std::string hardware_revision = "AD";
  std::string firmware_version = "1.0.0";
  std::filesystem::path firmware_key_file;  // --firmware-key; default: the key received when claiming
  int firmware_health_seconds = 30;
  int count = 1;
  int keepalive_seconds = 30;
  unsigned short control_port = 0;
  std::filesystem::path audio_file;
  double tone_hz = 440.0;
  double listen_hz = 1000.0;
  std::filesystem::path record_dir;
};
int run_device(const DeviceCommandOptions& options, const std::atomic<bool>& stop);

// `carillon admin`: a CLI over the REST API. `login` keeps the portal URL, the CA file and the
// tokens in a session file (0600); every other command sends one request, refreshes the access
// token once when it has expired, prints the JSON answer and exits 0 - or prints one line
// "error: ..." and exits 1.
struct AdminSession {
  std::string url;
  std::filesystem::path ca_file;
  std::filesystem::path session_file;
};
int run_admin_login(AdminSession session, const std::string& username, const std::string& password);
// POSTs `file` as the body of `path`, streamed from disk (firmware images are hundreds of MB).
int run_admin_upload(const AdminSession& session, const std::string& path, const std::filesystem::path& file);
int run_admin_request(const AdminSession& session, const std::string& method, const std::string& path,
                      const std::string& body, const std::string& content_type = "application/json");
std::filesystem::path default_session_file();

}  // namespace carillon::apps
