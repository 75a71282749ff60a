#pragma once
// The OpenSSL primitives Web Push is built from (P-256 points and keys, ECDH, HKDF-SHA-256,
// AES-128-GCM). Internal to the notify module: only its .cpp files include this.

#include <string>
#include <string_view>

#include "common/openssl.hpp"
#include "common/result.hpp"

namespace carillon::notify::p256 {

inline constexpr std::size_t kPointSize = 65;   // 0x04 || X || Y
inline constexpr std::size_t kScalarSize = 32;

// A public key from an uncompressed point. Errc::invalid_argument with `field` when the bytes are
// not 65 long, not uncompressed, or not a point on P-256.
Result<openssl::PkeyPtr> public_key_from_point(std::string_view point, const std::string& field);

// A key pair from a private scalar (32 bytes big-endian, 1 <= d < n); the public point is
// computed. Errc::invalid_argument with `field` when the scalar is out of range.
Result<openssl::PkeyPtr> key_pair_from_scalar(std::string_view scalar, const std::string& field);

// The uncompressed point of an EC P-256 key.
Result<std::string> encode_point(EVP_PKEY* key);

// The x-coordinate shared secret (32 bytes).
Result<std::string> ecdh(EVP_PKEY* own, EVP_PKEY* peer);

// RFC 5869 HKDF-SHA-256 (extract then expand).
Result<std::string> hkdf_sha256(std::string_view salt, std::string_view ikm, std::string_view info,
                                std::size_t length);

// AES-128-GCM with a 12-byte nonce and no AAD: ciphertext || 16-byte tag.
Result<std::string> aes128gcm_seal(std::string_view key, std::string_view nonce, std::string_view plaintext);

// Whether `scalar` (32 bytes big-endian) is a valid P-256 private key (1 <= d < n).
bool is_valid_scalar(std::string_view scalar);

}  // namespace carillon::notify::p256
