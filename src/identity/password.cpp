#include "identity/password.hpp"

#include <algorithm>
#include <stdexcept>

#include <sodium.h>

namespace carillon::identity {

namespace {

void ensure_sodium() {
  // sodium_init is idempotent and thread-safe; it picks the fastest Argon2 implementation.
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

Result<std::string> hash_password(std::string_view password) {
  ensure_sodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kPasswordOpsLimit, kPasswordMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return fail(Errc::internal, "password hashing failed (out of memory)");
  }
  return std::string(out);
}

bool verify_password(std::string_view hash, std::string_view password) {
  ensure_sodium();
  // libsodium wants a NUL-terminated string that fits its fixed buffer.
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  if (hash.find('\0') != std::string_view::npos) return false;
  std::string encoded(hash);
  return crypto_pwhash_str_verify(encoded.c_str(), password.data(), password.size()) == 0;
}

bool password_needs_rehash(std::string_view hash) {
  ensure_sodium();
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return true;
  std::string encoded(hash);
  return crypto_pwhash_str_needs_rehash(encoded.c_str(), kPasswordOpsLimit, kPasswordMemLimit) != 0;
}

Status check_password_policy(std::string_view password) {
  if (password.size() < kPasswordMinLength) {
    return fail(Errc::invalid_argument, "password must be at least 12 characters", "password");
  }
  if (password.size() > kPasswordMaxLength) {
    return fail(Errc::invalid_argument, "password must be at most 256 characters", "password");
  }
  if (std::all_of(password.begin(), password.end(), [&](char c) { return c == password.front(); })) {
    return fail(Errc::invalid_argument, "password must not be one repeated character", "password");
  }
  return {};
}

}  // namespace carillon::identity
