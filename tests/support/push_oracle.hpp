#pragma once
// The independent Web Push side for tests (tests/notify/oracle/oracle.js, with http_ece - the
// reference RFC 8188 implementation - and node's crypto): browsers' keys, decryption, VAPID
// checks, and a push service on 127.0.0.1. Installed with `npm ci` from the committed lock file
// once per test binary, in a temp dir (the source tree stays clean).

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pki/pki.hpp"
#include "support/temp_dir.hpp"

namespace carillon::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult run_shell(const std::string& command);

class Oracle {
 public:
  static Oracle& instance();
  bool installed() const { return installed_; }
  const std::string& install_log() const { return install_log_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  // `node oracle.js <command> <request.json>`; the request is written to a fresh file.
  CommandResult call(const std::string& command, const nlohmann::json& request = nullptr);

 private:
  Oracle();
  TempDir dir_;
  bool installed_ = false;
  std::string install_log_;
  int requests_ = 0;
};

// `oracle.js serve`: HTTPS on a free port, checks VAPID against `vapid_k` (the subscription's
// application server key), decrypts for the browser `ua` ({p256dh, auth, private_key} from
// `oracle.js subscribe`) and logs each request as JSON. Throws when it does not start.
class PushService {
 public:
  // Its certificate is issued by `ca` (e.g. a platform's CA, loaded from its state directory).
  PushService(Oracle& oracle, const nlohmann::json& ua, const std::string& vapid_k, pki::CertificateAuthority& ca);
  // With a CA of its own (ca_pem()).
  PushService(Oracle& oracle, const nlohmann::json& ua, const std::string& vapid_k);
  ~PushService();  // SIGTERM
  PushService(const PushService&) = delete;
  PushService& operator=(const PushService&) = delete;

  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& origin() const { return origin_; }  // "https://127.0.0.1:<port>"
  // Every request so far: {method, path, headers, status, vapid?, plaintext? (base64url), error?}.
  std::vector<nlohmann::json> requests() const;

 private:
  void start(Oracle& oracle, const nlohmann::json& ua, const std::string& vapid_k, pki::CertificateAuthority& ca);

  TempDir dir_;
  std::filesystem::path log_;
  std::string ca_pem_;
  std::string origin_;
  pid_t pid_ = -1;
};

}  // namespace carillon::testing
