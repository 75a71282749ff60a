#include "firmware/signing.hpp"

#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "common/encoding.hpp"
#include "common/files.hpp"
#include "common/openssl.hpp"

namespace carillon::firmware {

namespace {

constexpr std::size_t kEd25519SignatureSize = 64;
constexpr std::size_t kHashChunk = 64 * 1024;

const char* key_type_name(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: return "RSA";
    case EVP_PKEY_EC: return "EC";
    case EVP_PKEY_ED448: return "Ed448";
    case EVP_PKEY_X25519: return "X25519";
    default: return "unsupported";
  }
}

std::shared_ptr<evp_pkey_st> share(openssl::PkeyPtr key) { return {key.release(), EVP_PKEY_free}; }

}  // namespace

Result<FirmwareSigner> FirmwareSigner::load_or_create(const std::filesystem::path& key_pem_path) {
  std::error_code ec;
  if (std::filesystem::exists(key_pem_path, ec)) {
    auto pem = read_file(key_pem_path);
    if (!pem) return tl::unexpected(pem.error());
    openssl::PkeyPtr key = openssl::read_private_key(*pem);
    if (!key) {
      openssl::take_errors();
      return fail(Errc::invalid_argument, key_pem_path.string() + " holds no unencrypted PEM private key");
    }
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
      return fail(Errc::invalid_argument, key_pem_path.string() + " holds an " + std::string(key_type_name(key.get())) +
                                              " key; the firmware key must be Ed25519");
    return FirmwareSigner(share(std::move(key)));
  }

  openssl::PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return openssl::failure("generating the Ed25519 firmware key");
  auto pem = openssl::write_private_key(key.get());
  if (!pem) return tl::unexpected(pem.error());
  if (key_pem_path.has_parent_path()) {
    std::filesystem::create_directories(key_pem_path.parent_path(), ec);
    if (ec) return fail(Errc::internal, "cannot create " + key_pem_path.parent_path().string() + ": " + ec.message());
  }
  if (auto written = write_file(key_pem_path, *pem, std::filesystem::perms(0600)); !written)
    return tl::unexpected(written.error());
  return FirmwareSigner(share(std::move(key)));
}

std::string FirmwareSigner::public_key_pem() const {
  openssl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1)
    throw std::runtime_error("writing the firmware public key: " + openssl::take_errors());
  auto pem = openssl::bio_contents(bio.get());
  if (!pem) throw std::runtime_error(pem.error().message);
  return *pem;
}

std::string FirmwareSigner::sign(const Manifest& manifest) const {
  const std::string payload = signing_payload(manifest);
  openssl::MdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char signature[kEd25519SignatureSize];
  std::size_t length = sizeof signature;
  // Ed25519 is a one-shot scheme: no digest is named and the whole payload goes in at once.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature, &length, reinterpret_cast<const unsigned char*>(payload.data()),
                     payload.size()) != 1)
    throw std::runtime_error("signing a firmware manifest: " + openssl::take_errors());
  return base64_encode(std::string_view(reinterpret_cast<const char*>(signature), length));
}

Status verify_manifest(const std::string& public_key_pem, const Manifest& manifest, const std::string& signature_b64) {
  openssl::BioPtr bio = openssl::memory_bio(public_key_pem);
  openssl::PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    openssl::take_errors();
    return fail(Errc::invalid_argument, "the firmware public key is not a PEM public key", "public_key");
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
    return fail(Errc::invalid_argument,
                "the firmware public key is " + std::string(key_type_name(key.get())) + ", not Ed25519", "public_key");

  auto signature = base64_decode(signature_b64);
  if (!signature || signature->size() != kEd25519SignatureSize)
    return fail(Errc::invalid_argument, "the signature must be base64 of 64 bytes (Ed25519)", "signature");

  const std::string payload = signing_payload(manifest);
  openssl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
    return openssl::failure("EVP_DigestVerifyInit");
  int verdict = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
                                 reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
  openssl::take_errors();  // a failed verification leaves errors behind; they are not news
  if (verdict != 1)
    return fail(Errc::invalid_argument,
                "the firmware signature does not match the manifest (altered manifest or signature, or another key)",
                "signature");
  return {};
}

Result<std::string> sha256_file_hex(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::not_found, "cannot read " + path.string() + ": " + std::strerror(errno));
  openssl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return openssl::failure("EVP_DigestInit_ex");
  std::vector<char> buffer(kHashChunk);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0 && EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(in.gcount())) != 1)
      return openssl::failure("EVP_DigestUpdate");
  }
  if (in.bad()) return fail(Errc::internal, "error reading " + path.string());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) return openssl::failure("EVP_DigestFinal_ex");
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace carillon::firmware
