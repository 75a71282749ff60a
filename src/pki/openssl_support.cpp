#include "pki/openssl_support.hpp"

#include <cctype>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

namespace carillon::pki::ossl {
namespace {

using openssl::bio_contents;
using openssl::memory_bio;


template <class Write>
Result<std::string> write_pem(std::string_view what, Write&& write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return failure("BIO_new");
  if (write(bio.get()) != 1) return failure(what);
  return bio_contents(bio.get());
}

}  // namespace


tl::unexpected<Error> rejected(std::string message, std::string field) {
  ERR_clear_error();
  return fail(Errc::invalid_argument, std::move(message), std::move(field));
}

X509Ptr read_cert(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  if (!bio) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

ReqPtr read_csr(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  if (!bio) return nullptr;
  return ReqPtr(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
}


Result<std::string> write_cert(X509* cert) {
  return write_pem("PEM_write_bio_X509", [&](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

Result<std::string> write_csr(X509_REQ* req) {
  return write_pem("PEM_write_bio_X509_REQ", [&](BIO* bio) { return PEM_write_bio_X509_REQ(bio, req); });
}

Result<std::string> write_crl(X509_CRL* crl) {
  return write_pem("PEM_write_bio_X509_CRL", [&](BIO* bio) { return PEM_write_bio_X509_CRL(bio, crl); });
}



std::optional<std::string> common_name(const X509_NAME* name) {
  if (name == nullptr) return std::nullopt;
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return std::nullopt;
  if (X509_NAME_get_index_by_NID(name, NID_commonName, index) >= 0) return std::nullopt;
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

std::string serial_hex(const ASN1_INTEGER* serial) {
  BignumPtr number(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!number) {
    ERR_clear_error();
    return {};
  }
  char* hex = BN_bn2hex(number.get());
  if (hex == nullptr) {
    ERR_clear_error();
    return {};
  }
  std::string out(hex);
  OPENSSL_free(hex);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::int64_t> unix_seconds(const ASN1_TIME* time) {
  if (time == nullptr) return std::nullopt;
  TimePtr epoch(ASN1_TIME_set(nullptr, 0));
  if (!epoch) {
    ERR_clear_error();
    return std::nullopt;
  }
  int days = 0;
  int seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, epoch.get(), time) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return std::int64_t{days} * 86400 + seconds;
}

}  // namespace carillon::pki::ossl
