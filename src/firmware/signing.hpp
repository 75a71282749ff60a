#pragma once
// The platform's firmware key: an Ed25519 key in a PEM file on the server (pki/firmware-key.pem)
// that signs manifests (model.hpp). Devices and the server verify with the public key only.

#include <filesystem>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "firmware/model.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY; this header stays free of OpenSSL includes

namespace carillon::firmware {

class FirmwareSigner {
 public:
  // Reads the PKCS#8 PEM key at `key_pem_path`, or creates a new Ed25519 key there (mode 0600,
  // parent directories created) when the file does not exist. invalid_argument when the file
  // holds no private key or a key that is not Ed25519; internal on I/O or OpenSSL failures.
  static Result<FirmwareSigner> load_or_create(const std::filesystem::path& key_pem_path);

  // SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"), what devices are given.
  std::string public_key_pem() const;
  // Standard base64 (with padding) of the 64-byte Ed25519 signature over signing_payload().
  // Throws std::runtime_error only if OpenSSL fails on a key it loaded (a broken invariant).
  std::string sign(const Manifest& manifest) const;

 private:
  explicit FirmwareSigner(std::shared_ptr<evp_pkey_st> key) : key_(std::move(key)) {}
  std::shared_ptr<evp_pkey_st> key_;  // immutable after loading; shared by copies
};

// Checks `signature_b64` over signing_payload(manifest) with an Ed25519 public key (PEM).
// invalid_argument with field "public_key" for a key that does not parse or is not Ed25519
// (RSA and EC keys are refused, never tried), field "signature" for a signature that is not
// base64 of 64 bytes or does not verify (altered manifest, altered signature, foreign key).
Status verify_manifest(const std::string& public_key_pem, const Manifest& manifest, const std::string& signature_b64);

// Lower-case hex SHA-256 of a file, read in chunks (images are too large to hold in memory).
// not_found when the file cannot be opened, internal on read errors.
Result<std::string> sha256_file_hex(const std::filesystem::path& path);

}  // namespace carillon::firmware
