#pragma once
// VAPID (RFC 8292): the application server's identity towards Web Push services.
//
// The server has one EC P-256 key pair. Browsers subscribe with its public key
// (`applicationServerKey`), and every push request carries
//   Authorization: vapid t=<JWT>, k=<base64url uncompressed public key>
// where the JWT is signed with ES256 (and only ES256: the header is fixed, not negotiated) and
// claims {"aud": origin of the push endpoint, "exp": now + lifetime, "sub": contact}.
// The signature is the JWS form, raw r||s (64 bytes), not DER.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/result.hpp"

struct evp_pkey_st;

namespace carillon::notify {

// RFC 8292 Section 2: a push service may reject an "exp" more than 24 hours ahead.
inline constexpr std::int64_t kMaxVapidLifetimeSeconds = 24 * 3600;
inline constexpr std::int64_t kDefaultVapidLifetimeSeconds = 12 * 3600;

// An application server key pair. Immutable; copies share the key. Thread-safe.
class VapidKey {
 public:
  // A fresh key (OpenSSL's CSPRNG: the key is long-lived and written out with private_key_pem()).
  static Result<VapidKey> generate();
  // From an unencrypted PKCS#8 (or traditional EC) PEM private key. Errc::invalid_argument,
  // field "vapid_private_key", when it does not parse or is not on P-256.
  static Result<VapidKey> from_pem(std::string_view pem);

  // Unencrypted PKCS#8 PEM, to keep in the state directory.
  const std::string& private_key_pem() const { return private_key_pem_; }
  // The 65-byte uncompressed point (0x04 || X || Y).
  const std::string& public_key() const { return public_key_; }
  // public_key() as unpadded base64url: the browser's `applicationServerKey` and the "k" parameter.
  std::string public_key_base64url() const;

  // ES256 over `signing_input`: SHA-256, ECDSA P-256, signature as raw r||s (32 bytes each).
  Result<std::string> sign_es256(std::string_view signing_input) const;

 private:
  VapidKey(std::shared_ptr<evp_pkey_st> key, std::string private_key_pem, std::string public_key);

  std::shared_ptr<evp_pkey_st> key_;
  std::string private_key_pem_;
  std::string public_key_;
};

// The ASCII serialisation of an https URL's origin ("https://host[:port]", lower case, port 443
// left out). Errc::invalid_argument, field "endpoint", for anything but an absolute https URL
// with a host.
Result<std::string> push_endpoint_origin(std::string_view endpoint);

// The signed JWT for one push service. `subject` must be a "mailto:" or "https:" URI (field
// "subject"); `lifetime_seconds` in 1..kMaxVapidLifetimeSeconds (field "lifetime_seconds");
// `endpoint` as for push_endpoint_origin.
Result<std::string> vapid_jwt(const VapidKey& key, std::string_view endpoint, std::string_view subject,
                              const Clock& clock, std::int64_t lifetime_seconds = kDefaultVapidLifetimeSeconds);

// "vapid t=<vapid_jwt(...)>, k=<key.public_key_base64url()>" — the Authorization header value.
Result<std::string> vapid_authorization(const VapidKey& key, std::string_view endpoint, std::string_view subject,
                                        const Clock& clock,
                                        std::int64_t lifetime_seconds = kDefaultVapidLifetimeSeconds);

}  // namespace carillon::notify
