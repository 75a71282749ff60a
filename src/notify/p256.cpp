#include "notify/p256.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

namespace carillon::notify::p256 {

namespace {

using openssl::BignumPtr;
using openssl::PkeyCtxPtr;
using openssl::PkeyPtr;
using GroupPtr = openssl::Handle<EC_GROUP, EC_GROUP_free>;
using PointPtr = openssl::Handle<EC_POINT, EC_POINT_free>;
using BnCtxPtr = openssl::Handle<BN_CTX, BN_CTX_free>;
using ParamBldPtr = openssl::Handle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = openssl::Handle<OSSL_PARAM, OSSL_PARAM_free>;
using KdfPtr = openssl::Handle<EVP_KDF, EVP_KDF_free>;
using KdfCtxPtr = openssl::Handle<EVP_KDF_CTX, EVP_KDF_CTX_free>;
using CipherCtxPtr = openssl::Handle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;

constexpr char kGroupName[] = SN_X9_62_prime256v1;

const unsigned char* bytes(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

// Rejections of caller input must not leave OpenSSL errors behind for the next unrelated call.
tl::unexpected<Error> reject(std::string message, const std::string& field) {
  ERR_clear_error();
  return fail(Errc::invalid_argument, std::move(message), field);
}

Result<PkeyPtr> key_from_params(const OSSL_PARAM* params, int selection) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return openssl::failure("EVP_PKEY_fromdata_init");
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, selection, const_cast<OSSL_PARAM*>(params)) != 1) return nullptr;
  return PkeyPtr(key);
}

}  // namespace

bool is_valid_scalar(std::string_view scalar) {
  if (scalar.size() != kScalarSize) return false;
  GroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BignumPtr d(BN_bin2bn(bytes(scalar), static_cast<int>(scalar.size()), nullptr));
  if (!group || !d) return false;
  return !BN_is_zero(d.get()) && BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) < 0;
}

Result<PkeyPtr> public_key_from_point(std::string_view point, const std::string& field) {
  if (point.size() != kPointSize)
    return reject(field + " must be a 65-byte uncompressed P-256 point, got " + std::to_string(point.size()) +
                      " bytes",
                  field);
  if (static_cast<unsigned char>(point[0]) != 0x04)
    return reject(field + " must be an uncompressed P-256 point (first byte 0x04)", field);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(kGroupName), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<char*>(point.data()), point.size()),
      OSSL_PARAM_construct_end()};
  auto key = key_from_params(params, EVP_PKEY_PUBLIC_KEY);
  if (!key) return tl::unexpected(key.error());
  if (!*key) return reject(field + " is not a point on the P-256 curve", field);
  // fromdata decodes the point; the explicit check makes "on the curve" a stated guarantee
  // rather than a property of one OpenSSL version's decoder.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check) return openssl::failure("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_public_check(check.get()) != 1) return reject(field + " is not a point on the P-256 curve", field);
  return key;
}

Result<PkeyPtr> key_pair_from_scalar(std::string_view scalar, const std::string& field) {
  if (!is_valid_scalar(scalar)) return reject(field + " must be a P-256 private scalar (32 bytes, 1 <= d < n)", field);
  GroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BignumPtr d(BN_bin2bn(bytes(scalar), static_cast<int>(scalar.size()), nullptr));
  BnCtxPtr bn_ctx(BN_CTX_new());
  if (!group || !d || !bn_ctx) return openssl::failure("allocating P-256 objects");
  PointPtr q(EC_POINT_new(group.get()));
  if (!q || EC_POINT_mul(group.get(), q.get(), d.get(), nullptr, nullptr, bn_ctx.get()) != 1)
    return openssl::failure("EC_POINT_mul");
  unsigned char point[kPointSize];
  if (EC_POINT_point2oct(group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, point, sizeof point, bn_ctx.get()) !=
      kPointSize)
    return openssl::failure("EC_POINT_point2oct");

  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, kGroupName, 0) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) != 1)
    return openssl::failure("building EC key parameters");
  ParamPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
  if (!params) return openssl::failure("OSSL_PARAM_BLD_to_param");
  auto key = key_from_params(params.get(), EVP_PKEY_KEYPAIR);
  if (!key) return tl::unexpected(key.error());
  if (!*key) return openssl::failure("EVP_PKEY_fromdata (key pair)");
  return key;
}

Result<std::string> encode_point(EVP_PKEY* key) {
  unsigned char point[kPointSize + 1];
  std::size_t length = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof point, &length) != 1)
    return openssl::failure("reading the EC public key");
  if (length != kPointSize || point[0] != 0x04)
    return fail(Errc::internal, "EC public key is not an uncompressed P-256 point");
  return std::string(reinterpret_cast<const char*>(point), length);
}

Result<std::string> ecdh(EVP_PKEY* own, EVP_PKEY* peer) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  std::size_t length = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &length) != 1)
    return openssl::failure("ECDH");
  std::string secret(length, '\0');
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &length) != 1)
    return openssl::failure("ECDH");
  secret.resize(length);
  return secret;
}

Result<std::string> hkdf_sha256(std::string_view salt, std::string_view ikm, std::string_view info,
                                std::size_t length) {
  KdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  if (!kdf) return openssl::failure("EVP_KDF_fetch(HKDF)");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return openssl::failure("EVP_KDF_CTX_new");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(SN_sha256), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  std::string out(length, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), out.size(), params) != 1)
    return openssl::failure("HKDF-SHA-256");
  return out;
}

Result<std::string> aes128gcm_seal(std::string_view key, std::string_view nonce, std::string_view plaintext) {
  constexpr std::size_t kTagSize = 16;
  if (key.size() != 16 || nonce.size() != 12) return fail(Errc::internal, "AES-128-GCM key/nonce size");
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, bytes(key), bytes(nonce)) != 1)
    return openssl::failure("AES-128-GCM init");
  std::string out(plaintext.size() + kTagSize, '\0');
  auto* cursor = reinterpret_cast<unsigned char*>(out.data());
  int written = 0;
  if (EVP_EncryptUpdate(ctx.get(), cursor, &written, bytes(plaintext), static_cast<int>(plaintext.size())) != 1)
    return openssl::failure("AES-128-GCM encrypt");
  int final_written = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), cursor + written, &final_written) != 1)
    return openssl::failure("AES-128-GCM final");
  const std::size_t ciphertext_size = static_cast<std::size_t>(written + final_written);
  if (ciphertext_size != plaintext.size()) return fail(Errc::internal, "AES-128-GCM output size");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, cursor + ciphertext_size) != 1)
    return openssl::failure("AES-128-GCM tag");
  return out;
}

}  // namespace carillon::notify::p256
