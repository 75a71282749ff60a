#include "pki/pki.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/encoding.hpp"
#include "pki/openssl_support.hpp"

namespace carillon::pki {

bool is_safe_common_name(std::string_view cn) {
  if (cn.empty() || cn.size() > 64) return false;
  for (char c : cn) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> generate_private_key_pem() {
  auto key = ossl::generate_p256_key();
  if (!key) return tl::unexpected(key.error());
  return ossl::write_private_key(key->get());
}

Result<std::string> make_csr_pem(const std::string& key_pem, const std::string& common_name) {
  if (!is_safe_common_name(common_name)) {
    return ossl::rejected("common name must match ^[A-Za-z0-9-]{1,64}$", "common_name");
  }
  ossl::PkeyPtr key = ossl::read_private_key(key_pem);
  if (!key) return ossl::rejected("not a PEM private key", "key_pem");
  if (!ossl::is_p256(key.get())) return ossl::rejected("the key must be EC P-256", "key_pem");

  ossl::ReqPtr req(X509_REQ_new());
  if (!req) return ossl::failure("X509_REQ_new");
  ossl::NamePtr subject(X509_NAME_new());
  if (!subject) return ossl::failure("X509_NAME_new");
  if (X509_NAME_add_entry_by_NID(subject.get(), NID_commonName, MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1 ||
      X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 || X509_REQ_set_subject_name(req.get(), subject.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return ossl::failure("building the CSR");
  }
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) return ossl::failure("signing the CSR");
  return ossl::write_csr(req.get());
}

Result<CertificateInfo> inspect_certificate(const std::string& cert_pem) {
  ossl::X509Ptr cert = ossl::read_cert(cert_pem);
  if (!cert) return ossl::rejected("not a PEM certificate", "cert_pem");
  CertificateInfo info;
  info.common_name = ossl::common_name(X509_get_subject_name(cert.get())).value_or("");
  info.issuer_cn = ossl::common_name(X509_get_issuer_name(cert.get())).value_or("");
  info.serial_hex = ossl::serial_hex(X509_get0_serialNumber(cert.get()));
  auto not_before = ossl::unix_seconds(X509_get0_notBefore(cert.get()));
  auto not_after = ossl::unix_seconds(X509_get0_notAfter(cert.get()));
  if (!not_before || !not_after) return ossl::rejected("the certificate's validity does not parse", "cert_pem");
  info.not_before = *not_before;
  info.not_after = *not_after;
  return info;
}

Result<std::string> csr_common_name(const std::string& csr_pem) {
  ossl::ReqPtr req = ossl::read_csr(csr_pem);
  if (!req) return ossl::rejected("not a PEM certificate request", "csr");
  // get0: the key stays owned by the request.
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr || X509_REQ_verify(req.get(), key) != 1) {
    return ossl::rejected("the CSR's signature does not verify", "csr");
  }
  auto cn = ossl::common_name(X509_REQ_get_subject_name(req.get()));
  if (!cn) return ossl::rejected("the CSR's subject must have exactly one CN", "csr");
  return *cn;
}

Status verify_certificate(const std::string& cert_pem, const std::string& ca_cert_pem) {
  return verify_certificate(cert_pem, ca_cert_pem, SystemClock());
}

Status verify_certificate(const std::string& cert_pem, const std::string& ca_cert_pem, const Clock& clock) {
  ossl::X509Ptr cert = ossl::read_cert(cert_pem);
  if (!cert) return ossl::rejected("not a PEM certificate", "cert_pem");
  ossl::X509Ptr ca = ossl::read_cert(ca_cert_pem);
  if (!ca) return ossl::rejected("not a PEM certificate", "ca_cert_pem");

  ossl::StorePtr store(X509_STORE_new());
  if (!store || X509_STORE_add_cert(store.get(), ca.get()) != 1) return ossl::failure("building the trust store");
  ossl::StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return ossl::failure("X509_STORE_CTX_init");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(clock.now()));
  // X509_STRICT also rejects malformed certificates OpenSSL would otherwise tolerate.
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) != 1) {
    int code = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return fail(Errc::unauthenticated, std::string("certificate does not verify: ") + X509_verify_cert_error_string(code),
                "cert_pem");
  }
  return {};
}

std::string sha256_fingerprint_hex(const std::string& cert_pem) {
  ossl::X509Ptr cert = ossl::read_cert(cert_pem);
  if (!cert) {
    ossl::take_errors();
    return {};
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &length) != 1) {
    ossl::take_errors();
    return {};
  }
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace carillon::pki
