#include "notify/encryption.hpp"

#include <optional>

#include "common/encoding.hpp"
#include "notify/p256.hpp"

namespace carillon::notify {

namespace {

std::optional<std::string> decode_key(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  return base64url_decode(text);
}

struct DecodedKeys {
  openssl::PkeyPtr ua_public;
  std::string ua_point;
  std::string auth;
};

Result<DecodedKeys> decode_keys(const SubscriptionKeys& keys) {
  auto point = decode_key(keys.p256dh);
  if (!point) return fail(Errc::invalid_argument, "keys.p256dh is not base64url", "keys.p256dh");
  auto ua_public = p256::public_key_from_point(*point, "keys.p256dh");
  if (!ua_public) return tl::unexpected(ua_public.error());
  auto auth = decode_key(keys.auth);
  if (!auth) return fail(Errc::invalid_argument, "keys.auth is not base64url", "keys.auth");
  if (auth->size() != kAuthSecretSize)
    return fail(Errc::invalid_argument,
                "keys.auth must be a 16-byte secret, got " + std::to_string(auth->size()) + " bytes", "keys.auth");
  return DecodedKeys{std::move(*ua_public), std::move(*point), std::move(*auth)};
}

std::string big_endian32(std::uint32_t value) {
  std::string out(4, '\0');
  for (int i = 3; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

}  // namespace

Result<EncryptionSecrets> random_encryption_secrets(Random& random) {
  // All but about 2^-32 of 32-byte strings are valid scalars (n is just below 2^256), so a few
  // redraws suffice; many failures in a row mean the generator is broken.
  constexpr int kMaxDraws = 16;
  EncryptionSecrets secrets;
  secrets.sender_private_key.resize(p256::kScalarSize);
  int draws = 0;
  do {
    if (++draws > kMaxDraws) return fail(Errc::internal, "random generator keeps producing invalid P-256 scalars");
    random.fill(reinterpret_cast<unsigned char*>(secrets.sender_private_key.data()), p256::kScalarSize);
  } while (!p256::is_valid_scalar(secrets.sender_private_key));
  secrets.salt.resize(kSaltSize);
  random.fill(reinterpret_cast<unsigned char*>(secrets.salt.data()), kSaltSize);
  return secrets;
}

Status validate_subscription_keys(const SubscriptionKeys& keys) {
  auto decoded = decode_keys(keys);
  if (!decoded) return tl::unexpected(decoded.error());
  return {};
}

Result<std::string> encrypt_payload(std::string_view plaintext, const SubscriptionKeys& keys, Random& random) {
  auto secrets = random_encryption_secrets(random);
  if (!secrets) return tl::unexpected(secrets.error());
  return encrypt_payload(plaintext, keys, *secrets);
}

Result<std::string> encrypt_payload(std::string_view plaintext, const SubscriptionKeys& keys,
                                    const EncryptionSecrets& secrets) {
  auto decoded = decode_keys(keys);
  if (!decoded) return tl::unexpected(decoded.error());
  if (plaintext.size() > kMaxPlaintextSize)
    return fail(Errc::too_large,
                "payload is " + std::to_string(plaintext.size()) + " bytes; one Web Push record holds at most " +
                    std::to_string(kMaxPlaintextSize),
                "payload");
  if (secrets.salt.size() != kSaltSize)
    return fail(Errc::invalid_argument, "salt must be 16 bytes", "salt");
  auto sender = p256::key_pair_from_scalar(secrets.sender_private_key, "sender_private_key");
  if (!sender) return tl::unexpected(sender.error());
  auto as_point = p256::encode_point(sender->get());
  if (!as_point) return tl::unexpected(as_point.error());

  auto ecdh_secret = p256::ecdh(sender->get(), decoded->ua_public.get());
  if (!ecdh_secret) return tl::unexpected(ecdh_secret.error());
  std::string key_info("WebPush: info\0", 14);
  key_info += decoded->ua_point;
  key_info += *as_point;
  auto ikm = p256::hkdf_sha256(decoded->auth, *ecdh_secret, key_info, 32);
  if (!ikm) return tl::unexpected(ikm.error());
  auto cek = p256::hkdf_sha256(secrets.salt, *ikm, std::string_view("Content-Encoding: aes128gcm\0", 28), 16);
  if (!cek) return tl::unexpected(cek.error());
  // A single record has sequence number 0, so the nonce is NONCE itself (RFC 8188 Section 2.3).
  auto nonce = p256::hkdf_sha256(secrets.salt, *ikm, std::string_view("Content-Encoding: nonce\0", 24), 12);
  if (!nonce) return tl::unexpected(nonce.error());

  std::string record(plaintext);
  record.push_back('\x02');  // delimiter of the last (only) record, no further padding
  auto sealed = p256::aes128gcm_seal(*cek, *nonce, record);
  if (!sealed) return tl::unexpected(sealed.error());

  std::string body = secrets.salt;
  body += big_endian32(kRecordSize);
  body.push_back(static_cast<char>(as_point->size()));
  body += *as_point;
  body += *sealed;
  return body;
}

}  // namespace carillon::notify
