#pragma once
// Mosquitto 2.0 configuration for Carillon: two broker processes sharing one directory.
//
// Main broker (broker_config_path):
//   - devices listener: mutual TLS, CRL checked, client id forced to the certificate CN (the
//     serial), ACL `pattern readwrite carillon/v1/devices/%u/#`.
//   - platform listener: mutual TLS against a SEPARATE client CA (platform_client_ca_file) for
//     the platform (CN "carillon-platform", readwrite carillon/#) and the claim bridge
//     (CN "carillon-claim-bridge", readwrite carillon/v1/claims/#).
// Claim broker (claim_broker_config_path):
//   - claim listener: server-auth TLS, anonymous, ACL limited to carillon/v1/claims/%c/request
//     (write) and carillon/v1/claims/%c/response (read); bridged into the main broker's platform
//     listener for exactly those two topic patterns.
//
// Why two processes: Mosquitto has ONE client-id namespace per process and a new CONNECT with a
// taken id disconnects the older session, whatever listener either is on (2.0.11
// connect__on_authorised). An anonymous claim client could otherwise connect with a device's
// serial as client id and kick that device. `clientid_prefixes` is global (and deprecated), so it
// cannot confine only the claim listener, and it would also forbid cut_session() (mqtt/client.hpp),
// which relies on exactly that takeover from the platform listener. On its own process the claim
// listener has its own id namespace.
//
// Why a separate platform client CA: the platform listener cannot force client ids (cut_session
// needs to pick one), so a device certificate accepted there could kick any device.
//
// There is no plaintext listener. TLS 1.2 is the minimum.

#include <filesystem>
#include <string>

#include "common/result.hpp"

namespace carillon::mqtt {

inline constexpr const char* kPlatformIdentity = "carillon-platform";
inline constexpr const char* kClaimBridgeIdentity = "carillon-claim-bridge";

struct BrokerConfig {
  // Holds the generated conf and ACL files, logs and pid files. Must exist and be enterable by
  // user mosquitto.
  std::filesystem::path dir;
  // Address the listeners bind to. The claim bridge dials the platform listener on this address
  // (127.0.0.1 when it is a wildcard), so the server certificate must name it.
  std::string bind_address = "127.0.0.1";
  unsigned short claim_port = 0;
  unsigned short device_port = 0;
  unsigned short platform_port = 0;
  // Device CA: verifies device client certificates; clients verify the server with it too.
  std::filesystem::path ca_file;
  std::filesystem::path server_cert_file;
  std::filesystem::path server_key_file;
  // PEM CRL of the device CA. Re-read on SIGHUP (new connects of revoked certs fail; live
  // sessions must be cut with cut_session()).
  std::filesystem::path crl_file;
  // CA that signs ONLY the platform's and the claim bridge's client certificates.
  std::filesystem::path platform_client_ca_file;
  // The claim broker's client certificate (CN kClaimBridgeIdentity) for the platform listener.
  std::filesystem::path bridge_cert_file;
  std::filesystem::path bridge_key_file;
  // Per-client queue above the in-flight window; Mosquitto's default (1000) drops messages
  // under bursts (notes/security-parts.md).
  int max_queued_messages = 10000;
  int max_inflight_messages = 100;
};

// Main broker config file: dir/mosquitto.conf.
std::filesystem::path broker_config_path(const BrokerConfig& config);
// Claim broker config file: dir/mosquitto-claim.conf.
std::filesystem::path claim_broker_config_path(const BrokerConfig& config);
// Log files written by the brokers (log_dest file).
std::filesystem::path broker_log_path(const BrokerConfig& config);
std::filesystem::path claim_broker_log_path(const BrokerConfig& config);

// Writes both config files and the three ACL files (devices.acl, platform.acl, claim.acl) and
// pre-creates the log and pid files. When running as root (Mosquitto then drops to user
// mosquitto) the generated files are chowned to mosquitto, and the server and bridge keys get
// group mosquitto with mode 0640 so the broker can read them after dropping privileges.
// Errors: invalid_argument (missing field, file not found, path with whitespace),
// internal (write/chown failed), not_found (no user mosquitto while running as root).
Status write_broker_config(const BrokerConfig& config);

}  // namespace carillon::mqtt
