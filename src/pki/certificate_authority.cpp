#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki/openssl_support.hpp"
#include "pki/pki.hpp"

namespace carillon::pki {
namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::size_t kSerialBytes = 16;

// What distinguishes one kind of certificate from another; everything else is shared.
struct Profile {
  bool ca = false;
  const char* extended_key_usage = nullptr;  // nullptr: none
  GENERAL_NAMES* alt_names = nullptr;        // borrowed
};

struct Built {
  ossl::X509Ptr cert;
  std::string serial_hex;
  std::int64_t not_after = 0;
};

Result<ossl::IntegerPtr> random_serial(Random& random) {
  unsigned char bytes[kSerialBytes];
  random.fill(bytes, sizeof bytes);
  // Top bit set: always exactly 128 bits (32 hex digits), never zero.
  bytes[0] |= 0x80;
  ossl::BignumPtr number(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!number) return ossl::failure("BN_bin2bn");
  ossl::IntegerPtr serial(BN_to_ASN1_INTEGER(number.get(), nullptr));
  if (!serial) return ossl::failure("BN_to_ASN1_INTEGER");
  return serial;
}

Status add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ossl::ExtensionPtr extension(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    return ossl::failure(std::string("adding extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
  return {};
}

ossl::TimePtr asn1_time(std::int64_t unix_seconds) {
  return ossl::TimePtr(ASN1_TIME_set(nullptr, static_cast<time_t>(unix_seconds)));
}

// Builds and signs a certificate. `issuer` is nullptr for the self-signed root, then
// `signing_key` must be the key of `subject_key`.
Result<Built> build_certificate(const std::string& common_name, EVP_PKEY* subject_key, X509* issuer,
                                EVP_PKEY* signing_key, std::int64_t now, std::int64_t not_after,
                                const Profile& profile, Random& random) {
  ossl::X509Ptr cert(X509_new());
  if (!cert) return ossl::failure("X509_new");
  auto serial = random_serial(random);
  if (!serial) return tl::unexpected(serial.error());

  ossl::NamePtr subject(X509_NAME_new());
  if (!subject) return ossl::failure("X509_NAME_new");
  if (X509_NAME_add_entry_by_NID(subject.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1) {
    return ossl::failure("setting the subject CN");
  }
  ossl::TimePtr begin = asn1_time(now - kBackdateSeconds);
  ossl::TimePtr end = asn1_time(not_after);
  if (!begin || !end) return ossl::failure("ASN1_TIME_set");

  X509* self = cert.get();
  if (X509_set_version(self, X509_VERSION_3) != 1 || X509_set_serialNumber(self, serial->get()) != 1 ||
      X509_set_subject_name(self, subject.get()) != 1 ||
      X509_set_issuer_name(self, issuer != nullptr ? X509_get_subject_name(issuer) : subject.get()) != 1 ||
      X509_set1_notBefore(self, begin.get()) != 1 || X509_set1_notAfter(self, end.get()) != 1 ||
      X509_set_pubkey(self, subject_key) != 1) {
    return ossl::failure("filling in the certificate");
  }

  X509* signer = issuer != nullptr ? issuer : self;
  // The subject key identifier must exist before the authority key identifier of a
  // self-signed certificate can refer to it.
  Status status = profile.ca
                      ? add_extension(self, signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
                      : add_extension(self, signer, NID_basic_constraints, "critical,CA:FALSE");
  if (status) {
    status = profile.ca ? add_extension(self, signer, NID_key_usage, "critical,keyCertSign,cRLSign")
                        : add_extension(self, signer, NID_key_usage, "critical,digitalSignature");
  }
  if (status && profile.extended_key_usage != nullptr) {
    status = add_extension(self, signer, NID_ext_key_usage, profile.extended_key_usage);
  }
  if (status) status = add_extension(self, signer, NID_subject_key_identifier, "hash");
  if (status) status = add_extension(self, signer, NID_authority_key_identifier, "keyid:always");
  if (!status) return tl::unexpected(status.error());
  if (profile.alt_names != nullptr &&
      X509_add1_ext_i2d(self, NID_subject_alt_name, profile.alt_names, 0, X509V3_ADD_DEFAULT) != 1) {
    return ossl::failure("adding subjectAltName");
  }

  if (X509_sign(self, signing_key, EVP_sha256()) <= 0) return ossl::failure("signing the certificate");
  std::string serial_hex = ossl::serial_hex(serial->get());
  return Built{std::move(cert), std::move(serial_hex), not_after};
}

bool is_printable_ascii_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

bool is_dns_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);
  while (true) {
    std::size_t dot = name.find('.');
    if (!is_dns_label(name.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

Result<ossl::GeneralNamesPtr> alt_names(const std::vector<std::string>& dns_names,
                                        const std::vector<std::string>& ip_addresses) {
  if (dns_names.empty() && ip_addresses.empty()) {
    return ossl::rejected("a server certificate needs at least one DNS name or IP address", "dns_names");
  }
  ossl::GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return ossl::failure("sk_GENERAL_NAME_new_null");
  auto push = [&](int type, ASN1_STRING* value) -> Status {
    ossl::GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) {
      ASN1_STRING_free(value);
      return ossl::failure("GENERAL_NAME_new");
    }
    GENERAL_NAME_set0_value(name.get(), type, value);
    if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) return ossl::failure("sk_GENERAL_NAME_push");
    name.release();  // owned by the stack now
    return {};
  };
  for (const auto& dns : dns_names) {
    if (!is_dns_name(dns)) return ossl::rejected("not a valid DNS name: " + dns, "dns_names");
    ASN1_IA5STRING* value = ASN1_IA5STRING_new();
    if (value == nullptr || ASN1_STRING_set(value, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(value);
      return ossl::failure("ASN1_STRING_set");
    }
    if (auto status = push(GEN_DNS, value); !status) return tl::unexpected(status.error());
  }
  for (const auto& ip : ip_addresses) {
    ASN1_OCTET_STRING* value = a2i_IPADDRESS(ip.c_str());
    if (value == nullptr) return ossl::rejected("not an IPv4 or IPv6 address: " + ip, "ip_addresses");
    if (auto status = push(GEN_IPADD, value); !status) return tl::unexpected(status.error());
  }
  return names;
}

Result<IssuedCertificate> to_issued(Built built, std::string key_pem) {
  auto cert_pem = ossl::write_cert(built.cert.get());
  if (!cert_pem) return tl::unexpected(cert_pem.error());
  return IssuedCertificate{std::move(*cert_pem), std::move(key_pem), std::move(built.serial_hex), built.not_after};
}

}  // namespace

CertificateAuthority::CertificateAuthority(std::shared_ptr<x509_st> cert, std::shared_ptr<evp_pkey_st> key,
                                           std::string cert_pem, std::string key_pem, const Clock& clock,
                                           Random& random)
    : cert_(std::move(cert)),
      key_(std::move(key)),
      cert_pem_(std::move(cert_pem)),
      key_pem_(std::move(key_pem)),
      clock_(&clock),
      random_(&random) {}

Result<CertificateAuthority> CertificateAuthority::create(const std::string& common_name, const Clock& clock,
                                                          Random& random) {
  if (!is_printable_ascii_name(common_name)) {
    return ossl::rejected("the CA name must be 1..64 printable ASCII characters", "common_name");
  }
  auto key = ossl::generate_p256_key();
  if (!key) return tl::unexpected(key.error());
  std::int64_t now = clock.now();
  auto built = build_certificate(common_name, key->get(), nullptr, key->get(), now, now + kCaValidityDays * kDay,
                                 Profile{.ca = true}, random);
  if (!built) return tl::unexpected(built.error());
  auto cert_pem = ossl::write_cert(built->cert.get());
  if (!cert_pem) return tl::unexpected(cert_pem.error());
  auto key_pem = ossl::write_private_key(key->get());
  if (!key_pem) return tl::unexpected(key_pem.error());
  return CertificateAuthority(std::shared_ptr<x509_st>(built->cert.release(), X509_free),
                              std::shared_ptr<evp_pkey_st>(key->release(), EVP_PKEY_free), std::move(*cert_pem),
                              std::move(*key_pem), clock, random);
}

Result<CertificateAuthority> CertificateAuthority::load(const std::string& cert_pem, const std::string& key_pem,
                                                        const Clock& clock, Random& random) {
  ossl::X509Ptr cert = ossl::read_cert(cert_pem);
  if (!cert) return ossl::rejected("not a PEM certificate", "cert_pem");
  if (X509_check_ca(cert.get()) != 1 || X509_self_signed(cert.get(), 1) != 1) {
    return ossl::rejected("not a self-signed CA certificate", "cert_pem");
  }
  ossl::PkeyPtr key = ossl::read_private_key(key_pem);
  if (!key) return ossl::rejected("not an unencrypted PEM private key", "key_pem");
  if (!ossl::is_p256(key.get())) return ossl::rejected("the CA key must be EC P-256", "key_pem");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return ossl::rejected("the key does not belong to the certificate", "key_pem");
  }
  return CertificateAuthority(std::shared_ptr<x509_st>(cert.release(), X509_free),
                              std::shared_ptr<evp_pkey_st>(key.release(), EVP_PKEY_free), cert_pem, key_pem, clock,
                              random);
}

namespace {

// Leaf validity: `days` from now, but never past the CA's own expiry (a chain is only as valid
// as its root).
Result<std::int64_t> leaf_not_after(X509* ca, std::int64_t now, int days) {
  if (days < 1 || days > kMaxCertificateDays) {
    return ossl::rejected("days must be in 1.." + std::to_string(kMaxCertificateDays), "days");
  }
  auto ca_not_after = ossl::unix_seconds(X509_get0_notAfter(ca));
  if (!ca_not_after) return ossl::failure("reading the CA's notAfter");
  if (*ca_not_after <= now) return fail(Errc::unavailable, "the CA certificate has expired");
  return std::min(now + days * kDay, *ca_not_after);
}

}  // namespace

Result<IssuedCertificate> CertificateAuthority::issue_server(const std::string& common_name,
                                                             const std::vector<std::string>& dns_names,
                                                             const std::vector<std::string>& ip_addresses, int days) {
  if (!is_safe_common_name(common_name)) {
    return ossl::rejected("common name must match ^[A-Za-z0-9-]{1,64}$", "common_name");
  }
  std::int64_t now = clock_->now();
  auto not_after = leaf_not_after(cert_.get(), now, days);
  if (!not_after) return tl::unexpected(not_after.error());
  auto names = alt_names(dns_names, ip_addresses);
  if (!names) return tl::unexpected(names.error());
  auto key = ossl::generate_p256_key();
  if (!key) return tl::unexpected(key.error());
  auto key_pem = ossl::write_private_key(key->get());
  if (!key_pem) return tl::unexpected(key_pem.error());
  auto built = build_certificate(common_name, key->get(), cert_.get(), key_.get(), now, *not_after,
                                 Profile{.extended_key_usage = "serverAuth", .alt_names = names->get()}, *random_);
  if (!built) return tl::unexpected(built.error());
  return to_issued(std::move(*built), std::move(*key_pem));
}

Result<IssuedCertificate> CertificateAuthority::issue_client(const std::string& common_name, int days) {
  if (!is_safe_common_name(common_name)) {
    return ossl::rejected("common name must match ^[A-Za-z0-9-]{1,64}$", "common_name");
  }
  std::int64_t now = clock_->now();
  auto not_after = leaf_not_after(cert_.get(), now, days);
  if (!not_after) return tl::unexpected(not_after.error());
  auto key = ossl::generate_p256_key();
  if (!key) return tl::unexpected(key.error());
  auto key_pem = ossl::write_private_key(key->get());
  if (!key_pem) return tl::unexpected(key_pem.error());
  auto built = build_certificate(common_name, key->get(), cert_.get(), key_.get(), now, *not_after,
                                 Profile{.extended_key_usage = "clientAuth"}, *random_);
  if (!built) return tl::unexpected(built.error());
  return to_issued(std::move(*built), std::move(*key_pem));
}

Result<IssuedCertificate> CertificateAuthority::sign_device_csr(const std::string& csr_pem,
                                                                const std::string& expected_common_name, int days) {
  ossl::ReqPtr req = ossl::read_csr(csr_pem);
  if (!req) return ossl::rejected("not a PEM certificate request", "csr");
  EVP_PKEY* device_key = X509_REQ_get0_pubkey(req.get());
  if (device_key == nullptr || X509_REQ_verify(req.get(), device_key) != 1) {
    return ossl::rejected("the CSR's signature does not verify", "csr");
  }
  if (!ossl::is_p256(device_key)) return ossl::rejected("the CSR's key must be EC P-256", "csr");
  auto cn = ossl::common_name(X509_REQ_get_subject_name(req.get()));
  if (!cn) return ossl::rejected("the CSR's subject must have exactly one CN", "csr");
  if (!is_safe_common_name(*cn)) return ossl::rejected("the CSR's CN must match ^[A-Za-z0-9-]{1,64}$", "csr");
  if (*cn != expected_common_name) {
    return ossl::rejected("the CSR's CN is not the expected device serial", "csr");
  }

  std::int64_t now = clock_->now();
  auto not_after = leaf_not_after(cert_.get(), now, days);
  if (!not_after) return tl::unexpected(not_after.error());
  auto built = build_certificate(*cn, device_key, cert_.get(), key_.get(), now, *not_after,
                                 Profile{.extended_key_usage = "clientAuth"}, *random_);
  if (!built) return tl::unexpected(built.error());
  return to_issued(std::move(*built), std::string());
}

Result<std::string> CertificateAuthority::crl_pem(const std::vector<std::string>& revoked_serials_hex, int days) {
  if (days < 1 || days > kMaxCrlDays) return ossl::rejected("days must be in 1.." + std::to_string(kMaxCrlDays), "days");

  // Normalised through BIGNUM so "00AB" and "ab" are one entry.
  std::set<std::string> serials;
  for (const auto& hex : revoked_serials_hex) {
    bool well_formed = !hex.empty() && hex.size() <= 40 &&
                       std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    BIGNUM* raw = nullptr;
    if (!well_formed || BN_hex2bn(&raw, hex.c_str()) != static_cast<int>(hex.size())) {
      BN_free(raw);
      return ossl::rejected("not a hex serial number: " + hex, "revoked_serials");
    }
    ossl::BignumPtr number(raw);
    ossl::IntegerPtr integer(BN_to_ASN1_INTEGER(number.get(), nullptr));
    if (!integer) return ossl::failure("BN_to_ASN1_INTEGER");
    serials.insert(ossl::serial_hex(integer.get()));
  }

  std::int64_t now = clock_->now();
  ossl::TimePtr this_update = asn1_time(now);
  ossl::TimePtr next_update = asn1_time(now + days * kDay);
  if (!this_update || !next_update) return ossl::failure("ASN1_TIME_set");

  ossl::CrlPtr crl(X509_CRL_new());
  if (!crl) return ossl::failure("X509_CRL_new");
  if (X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(cert_.get())) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return ossl::failure("filling in the CRL");
  }

  for (const auto& hex : serials) {
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, hex.c_str()) == 0) return ossl::failure("BN_hex2bn");
    ossl::BignumPtr number(raw);
    ossl::IntegerPtr serial(BN_to_ASN1_INTEGER(number.get(), nullptr));
    ossl::RevokedPtr entry(X509_REVOKED_new());
    if (!serial || !entry || X509_REVOKED_set_serialNumber(entry.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), this_update.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) {
      return ossl::failure("adding a revoked serial");
    }
    entry.release();  // owned by the CRL now
  }

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert_.get(), nullptr, nullptr, crl.get(), 0);
  ossl::ExtensionPtr authority_key_id(X509V3_EXT_nconf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!authority_key_id || X509_CRL_add_ext(crl.get(), authority_key_id.get(), -1) != 1) {
    return ossl::failure("adding the CRL's authorityKeyIdentifier");
  }
  ossl::IntegerPtr crl_number(ASN1_INTEGER_new());
  if (!crl_number || ASN1_INTEGER_set_int64(crl_number.get(), now) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crl_number.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return ossl::failure("adding the CRL number");
  }

  if (X509_CRL_sort(crl.get()) != 1) return ossl::failure("X509_CRL_sort");
  if (X509_CRL_sign(crl.get(), key_.get(), EVP_sha256()) <= 0) return ossl::failure("signing the CRL");
  return ossl::write_crl(crl.get());
}

Status CertificateAuthority::verify(const std::string& cert_pem) const {
  return verify_certificate(cert_pem, cert_pem_, *clock_);
}

}  // namespace carillon::pki
