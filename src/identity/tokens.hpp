#pragma once
// Access tokens: JWS compact serialisation (RFC 7515) signed with ES256 (RFC 7518 §3.4:
// ECDSA P-256 + SHA-256, the signature being the 64-byte R||S, not DER).
//
// Implemented on OpenSSL directly rather than with cpp-jwt 1.4: cpp-jwt reads the system clock
// for exp/nbf (the Clock could not be injected) and reports errors by exceptions. cpp-jwt is
// used in the tests as an independent implementation to check interoperability both ways.
//
// Verification is pinned to ES256 and to this signer's key id: alg "none", HS256 (also when
// keyed with the public key PEM), RS256 or anything else is rejected before any key is used.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"
#include "identity/model.hpp"

namespace carillon::identity {

inline constexpr std::int64_t kAccessTokenLifetime = 15 * 60;  // seconds
// Tolerated clock difference between the node that issued a token and the one checking it.
inline constexpr std::int64_t kClockLeeway = 30;  // seconds
// Longer tokens are refused unparsed (ours are ~500 bytes).
inline constexpr std::size_t kMaxTokenSize = 8192;

struct AccessClaims {
  std::string user_id;     // "sub"
  std::string username;    // "preferred_username"
  Role role = Role::viewer;
  std::string company_id;  // "" for platform admins
  std::int64_t issued_at = 0, expires_at = 0;  // "iat", "exp" (unix seconds)
  std::string token_id;    // "jti"
};

class TokenSigner {
 public:
  // `private_key_pem`: an EC P-256 private key (PKCS#8 or SEC1 PEM). Throws std::invalid_argument
  // for anything else: a bad key is a start-up failure. The Clock and Random must outlive this.
  TokenSigner(std::string private_key_pem, std::string issuer, std::string audience, const Clock& clock,
              Random& random);
  ~TokenSigner();
  TokenSigner(const TokenSigner&) = delete;
  TokenSigner& operator=(const TokenSigner&) = delete;

  // A new P-256 key as unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). Errc::internal on
  // an OpenSSL failure.
  static Result<std::string> generate_key_pem();

  // Signs a token for `claims.user_id` (must not be empty, else Errc::invalid_argument).
  // issued_at, expires_at (now + kAccessTokenLifetime) and token_id (random) are set here; the
  // values passed in for them are ignored.
  Result<std::string> issue(const AccessClaims& claims) const;

  // Errc::unauthenticated with a short reason: "malformed token", "algorithm not allowed",
  // "unknown key", "bad signature", "wrong issuer", "wrong audience", "token expired",
  // "token not yet valid", "malformed claims". Safe to call from several threads.
  Result<AccessClaims> verify(std::string_view token) const;

  // RFC 7638 JWK thumbprint of the public key; the "kid" header of every token.
  const std::string& key_id() const { return key_id_; }
  // The public key as SubjectPublicKeyInfo PEM and as a JWK (for a JWKS document).
  const std::string& public_key_pem() const { return public_key_pem_; }
  const nlohmann::json& public_jwk() const { return public_jwk_; }
  std::int64_t lifetime() const { return kAccessTokenLifetime; }

 private:
  struct Key;
  std::unique_ptr<Key> key_;
  std::string issuer_;
  std::string audience_;
  const Clock& clock_;
  Random& random_;
  std::string key_id_;
  std::string public_key_pem_;
  nlohmann::json public_jwk_;
};

}  // namespace carillon::identity
