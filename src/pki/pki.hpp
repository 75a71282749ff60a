#pragma once
// The platform PKI: one self-signed root CA (EC P-256) that issues the TLS server certificates of
// the platform's services, client certificates for the platform's own accounts, device
// certificates from device CSRs, and the CRL the MQTT broker checks.
//
// Every key is EC P-256 and every signature ECDSA-SHA256. PEM in, PEM out. OpenSSL failures come
// back as Errc::internal with the OpenSSL error string; bad caller input as Errc::invalid_argument
// with `field` naming the argument.
//
// Serial numbers are 128-bit random numbers from the injected Random, with the top bit set so
// every serial has exactly 32 hex digits. `serial_hex` is that number in lowercase hex; the
// same form is what crl_pem() takes (upper case is accepted too).
//
// Validity: not_before is backdated by kBackdateSeconds so a device whose clock runs slightly
// behind still accepts a fresh certificate; not_after = clock.now() + days * 86400.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"

// OpenSSL's types, declared here so this header does not pull in the OpenSSL headers.
struct x509_st;
struct evp_pkey_st;

namespace carillon::pki {

inline constexpr std::int64_t kBackdateSeconds = 300;
inline constexpr int kCaValidityDays = 3650;
// Upper bounds for the `days` arguments; larger values are rejected as invalid_argument.
inline constexpr int kMaxCertificateDays = 3650;
inline constexpr int kMaxCrlDays = 366;

struct IssuedCertificate {
  std::string cert_pem;
  std::string key_pem;  // PKCS#8 PEM of the fresh key; empty when signing a CSR (the device keeps its key)
  std::string serial_hex;
  std::int64_t not_after = 0;  // unix seconds
};

struct CertificateInfo {
  std::string common_name;  // "" when the subject has no CN
  std::string serial_hex;
  std::string issuer_cn;
  std::int64_t not_before = 0, not_after = 0;  // unix seconds
};

// A fresh EC P-256 key as unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
Result<std::string> generate_private_key_pem();

// A CSR (PKCS#10, subject = CN only, signed with the key). The key must be EC P-256 (field
// "key_pem"); the CN must satisfy is_safe_common_name (field "common_name").
Result<std::string> make_csr_pem(const std::string& key_pem, const std::string& common_name);

// Parses a PEM certificate (field "cert_pem" when it does not parse).
Result<CertificateInfo> inspect_certificate(const std::string& cert_pem);

// The CN of a CSR after checking the CSR's self-signature. Errc::invalid_argument, field "csr",
// when it does not parse, the signature is bad, or there is not exactly one CN.
// The CN is returned as is: callers that use it as an identity must check is_safe_common_name.
Result<std::string> csr_common_name(const std::string& csr_pem);

// Checks that `cert_pem` chains to the root `ca_cert_pem` and that every certificate in the chain
// is valid at the given time (the two-argument form uses the system clock). Errc::invalid_argument
// when a PEM does not parse (field "cert_pem" / "ca_cert_pem"), Errc::unauthenticated with the
// OpenSSL verification error when the chain or validity check fails.
Status verify_certificate(const std::string& cert_pem, const std::string& ca_cert_pem);
Status verify_certificate(const std::string& cert_pem, const std::string& ca_cert_pem, const Clock& clock);

// SHA-256 of the certificate's DER as lowercase hex, "" when the PEM does not parse.
std::string sha256_fingerprint_hex(const std::string& cert_pem);

// ^[A-Za-z0-9-]{1,64}$ — CNs end up in broker ACLs and topic names, so nothing else is allowed.
bool is_safe_common_name(std::string_view cn);

// The root CA. Copies share the same (immutable) key and certificate. The Clock and Random given
// to create()/load() must outlive the CA and every copy of it. Issuing is safe from several
// threads when the Random is (SodiumRandom is).
class CertificateAuthority {
 public:
  // Self-signed, valid kCaValidityDays, basicConstraints critical CA:TRUE pathlen:0, keyUsage
  // critical keyCertSign+cRLSign. `common_name` may be a display name ("Carillon Root CA"):
  // 1..64 printable ASCII characters (field "common_name").
  static Result<CertificateAuthority> create(const std::string& common_name, const Clock& clock, Random& random);
  // Loads a CA written out from cert_pem()/key_pem(). Rejects (invalid_argument) a certificate
  // that does not parse or is not a CA (field "cert_pem"), a key that does not parse, is not
  // EC P-256 or does not match the certificate (field "key_pem").
  static Result<CertificateAuthority> load(const std::string& cert_pem, const std::string& key_pem,
                                           const Clock& clock, Random& random);

  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& key_pem() const { return key_pem_; }

  // TLS server certificate with a fresh key: subjectAltName from `dns_names` (hostnames, a
  // leading "*." wildcard allowed; field "dns_names") and `ip_addresses` (IPv4 or IPv6 literals;
  // field "ip_addresses"); at least one of the two must be given. serverAuth EKU. The CN must
  // satisfy is_safe_common_name (field "common_name"); days in 1..kMaxCertificateDays (field "days").
  Result<IssuedCertificate> issue_server(const std::string& common_name, const std::vector<std::string>& dns_names,
                                         const std::vector<std::string>& ip_addresses, int days);

  // Client certificate (clientAuth EKU) with a fresh key, e.g. for the platform's own MQTT account.
  // Same CN and days rules as issue_server.
  Result<IssuedCertificate> issue_client(const std::string& common_name, int days);

  // Device certificate from a device's CSR. Errc::invalid_argument, field "csr", when the CSR does
  // not parse, its signature is bad, its key is not EC P-256, its CN is not safe, or its CN !=
  // expected_common_name. Only the CSR's public key and CN are used: the issued certificate's
  // subject is just CN = expected_common_name (the device serial), with clientAuth EKU and a
  // random 128-bit serial number; requested extensions are ignored.
  Result<IssuedCertificate> sign_device_csr(const std::string& csr_pem, const std::string& expected_common_name,
                                            int days);

  // A v2 CRL (PEM) listing the given serials (hex as in IssuedCertificate::serial_hex; duplicates
  // are listed once; field "revoked_serials" for a malformed one), lastUpdate = now, nextUpdate =
  // now + days (1..kMaxCrlDays, field "days"). The crlNumber is the clock's now(), so CRLs made
  // later carry a larger number. The revocation date of each entry is also now(): the broker
  // only needs to know that a serial is revoked, not since when.
  Result<std::string> crl_pem(const std::vector<std::string>& revoked_serials_hex, int days);

  // verify_certificate(cert_pem, this CA's certificate, this CA's clock).
  Status verify(const std::string& cert_pem) const;

 private:
  CertificateAuthority(std::shared_ptr<x509_st> cert, std::shared_ptr<evp_pkey_st> key, std::string cert_pem,
                       std::string key_pem, const Clock& clock, Random& random);

  std::shared_ptr<x509_st> cert_;
  std::shared_ptr<evp_pkey_st> key_;
  std::string cert_pem_;
  std::string key_pem_;
  const Clock* clock_;
  Random* random_;
};

}  // namespace carillon::pki
