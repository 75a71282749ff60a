#pragma once
// Real Mosquitto brokers for tests: a throwaway PKI made with the `openssl` CLI, the production
// config from mqtt::write_broker_config on free ports, and the two broker processes (main and
// claim, see mqtt/broker_config.hpp) started in the constructor and stopped in the destructor.
// Binaries that use this must link carillon_mqtt.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "mqtt/broker_config.hpp"
#include "support/temp_dir.hpp"

namespace carillon::testing {

struct TlsIdentity {
  std::filesystem::path cert;
  std::filesystem::path key;
};

class MosquittoServer {
 public:
  // Generates the PKI and config under dir/mqtt, starts both brokers, waits until every port
  // accepts connections and the claim bridge is connected. Throws std::runtime_error on failure.
  explicit MosquittoServer(const TempDir& dir);
  ~MosquittoServer();
  MosquittoServer(const MosquittoServer&) = delete;
  MosquittoServer& operator=(const MosquittoServer&) = delete;

  const mqtt::BrokerConfig& config() const { return config_; }
  // CA that clients use to verify the brokers (also the device CA).
  const std::filesystem::path& ca_file() const { return config_.ca_file; }
  // Client certificate of the platform (CN carillon-platform), for the platform listener.
  const TlsIdentity& platform_identity() const { return platform_; }

  // A device certificate with CN = serial from the device CA.
  TlsIdentity issue_device(const std::string& serial);
  // A certificate with CN = serial from an unrelated CA.
  TlsIdentity issue_foreign(const std::string& serial);
  // Adds the certificate to the CRL file (takes effect on reload()).
  void revoke(const TlsIdentity& identity);

  // SIGHUP to both brokers (CRL, ACLs, certificates are re-read).
  void reload();
  // Stops both brokers and starts them again on the same ports.
  void restart();
  void stop();
  void start();

 private:
  // A fresh P-256 key and a certificate for CN=serial signed by pki/<ca>.pem (files named <kind>-N).
  TlsIdentity issue(const std::string& serial, const std::string& ca, const std::string& kind);
  std::filesystem::path dir_;
  std::filesystem::path pki_;
  mqtt::BrokerConfig config_;
  TlsIdentity platform_;
  pid_t main_pid_ = -1;
  pid_t claim_pid_ = -1;
  int issued_ = 0;
};

}  // namespace carillon::testing
