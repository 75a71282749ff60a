#pragma once
// Web Push message encryption (RFC 8291) in the "aes128gcm" content coding (RFC 8188).
//
// The body is one record:
//   salt (16) || rs (4, big-endian, 4096) || idlen (1, = 65) || keyid (sender's ephemeral public
//   key, 65) || AES-128-GCM(plaintext || 0x02) with its 16-byte tag.
// Keys: ECDH(ephemeral private, p256dh) -> IKM via HKDF(auth, "WebPush: info\0" || ua_public ||
// as_public) -> PRK = HKDF-Extract(salt, IKM) -> CEK (16) and NONCE (12).
// A fresh ephemeral key and salt are used per message; tests pin them with EncryptionSecrets.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/random.hpp"
#include "common/result.hpp"

namespace carillon::notify {

inline constexpr std::uint32_t kRecordSize = 4096;
// RFC 8291 Section 4: a push service need not accept a body over 4096 bytes; minus the 86-byte
// header, the 16-byte tag and the 1-byte delimiter that leaves 3993 bytes of plaintext.
inline constexpr std::size_t kMaxPlaintextSize = 3993;
inline constexpr std::size_t kAuthSecretSize = 16;
inline constexpr std::size_t kSaltSize = 16;

// The user agent's keys from PushSubscription.toJSON().keys, unpadded base64url as browsers give
// them (trailing '=' padding is tolerated).
struct SubscriptionKeys {
  std::string p256dh;  // 65-byte uncompressed P-256 point
  std::string auth;    // 16-byte authentication secret
};

// What one encryption draws at random.
struct EncryptionSecrets {
  std::string sender_private_key;  // raw P-256 scalar, 32 bytes big-endian, 1 <= d < n
  std::string salt;                // 16 bytes
};

// A fresh ephemeral scalar (rejection-sampled from `random`) and salt. Errc::internal when
// `random` keeps producing invalid scalars (a broken generator, never a real one).
Result<EncryptionSecrets> random_encryption_secrets(Random& random);

// Checks the subscription keys: Errc::invalid_argument, field "keys.p256dh" when it is not
// base64url of an uncompressed point on P-256, field "keys.auth" when it is not base64url of
// exactly 16 bytes.
Status validate_subscription_keys(const SubscriptionKeys& keys);

// The encrypted body for `plaintext`. Errors: the key errors above; Errc::too_large, field
// "payload", when plaintext is longer than kMaxPlaintextSize; Errc::invalid_argument, field
// "sender_private_key" / "salt", for malformed secrets; Errc::internal for OpenSSL failures.
Result<std::string> encrypt_payload(std::string_view plaintext, const SubscriptionKeys& keys, Random& random);
Result<std::string> encrypt_payload(std::string_view plaintext, const SubscriptionKeys& keys,
                                    const EncryptionSecrets& secrets);

}  // namespace carillon::notify
