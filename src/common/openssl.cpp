#include "common/openssl.hpp"

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

namespace carillon::openssl {

namespace {
constexpr std::size_t kMaxPemSize = 64 * 1024;
}  // namespace

std::string take_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out;
}

tl::unexpected<Error> failure(std::string_view what) {
  std::string errors = take_errors();
  std::string message(what);
  message += ": ";
  message += errors.empty() ? "unknown OpenSSL error" : errors;
  return fail(Errc::internal, std::move(message));
}

BioPtr memory_bio(std::string_view pem) {
  if (pem.empty() || pem.size() > kMaxPemSize) return nullptr;
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

Result<std::string> bio_contents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size < 0 || (size > 0 && data == nullptr)) return failure("reading memory BIO");
  return std::string(data, static_cast<std::size_t>(size));
}

PkeyPtr read_private_key(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  if (!bio) return nullptr;
  // A passphrase callback that gives nothing makes an encrypted key fail instead of prompting.
  static constexpr auto no_passphrase = [](char*, int, int, void*) { return 0; };
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
}

Result<std::string> write_private_key(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return failure("BIO_new");
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return failure("PEM_write_bio_PrivateKey");
  return bio_contents(bio.get());
}

bool is_p256(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  char group[64] = {};
  std::size_t length = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) != 1) {
    ERR_clear_error();
    return false;
  }
  return std::string_view(group, length) == SN_X9_62_prime256v1;
}

Result<PkeyPtr> generate_p256_key() {
  PkeyPtr key(EVP_EC_gen(SN_X9_62_prime256v1));
  if (!key) return failure("generating an EC P-256 key");
  return key;
}

}  // namespace carillon::openssl
