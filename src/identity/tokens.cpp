#include "identity/tokens.hpp"

#include <array>
#include <optional>
#include <stdexcept>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "common/encoding.hpp"
#include "common/openssl.hpp"

namespace carillon::identity {

namespace {

using openssl::bio_contents;
using openssl::BignumPtr;
using openssl::BioPtr;
using openssl::EcdsaSigPtr;
using openssl::is_p256;
using openssl::MdCtxPtr;
using openssl::PkeyPtr;

constexpr std::size_t kCoordinateSize = 32;  // P-256: R and S are 32 bytes each
constexpr std::string_view kAlgorithm = "ES256";


tl::unexpected<Error> openssl_failure(std::string_view what) { return openssl::failure(what); }

tl::unexpected<Error> rejected(std::string reason) {
  // Failed parses and verifications leave entries in the thread's queue; drop them so they do
  // not end up in a later, unrelated error message.
  ERR_clear_error();
  return fail(Errc::unauthenticated, std::move(reason));
}

std::string_view as_chars(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}



std::string coordinate(EVP_PKEY* pkey, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) throw std::invalid_argument("EC key without public point");
  BignumPtr bn(raw);
  std::array<unsigned char, kCoordinateSize> out{};
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(out.size())) < 0) {
    throw std::invalid_argument("EC coordinate too large");
  }
  return std::string(as_chars(out.data(), out.size()));
}

// DER ECDSA-Sig-Value (what OpenSSL produces) -> JWS R||S (RFC 7518 §3.4).
std::optional<std::string> der_to_raw(const unsigned char* der, std::size_t size) {
  const unsigned char* p = der;
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(size)));
  if (!sig) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::array<unsigned char, 2 * kCoordinateSize> out{};
  if (BN_bn2binpad(r, out.data(), kCoordinateSize) < 0 ||
      BN_bn2binpad(s, out.data() + kCoordinateSize, kCoordinateSize) < 0) {
    return std::nullopt;
  }
  return std::string(as_chars(out.data(), out.size()));
}

// JWS R||S -> DER, for EVP_DigestVerify. nullopt unless exactly 64 bytes.
std::optional<std::string> raw_to_der(std::string_view raw) {
  if (raw.size() != 2 * kCoordinateSize) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BignumPtr r(BN_bin2bn(bytes, kCoordinateSize, nullptr));
  BignumPtr s(BN_bin2bn(bytes + kCoordinateSize, kCoordinateSize, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return std::nullopt;
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  (void)r.release();  // owned by sig now
  (void)s.release();
  int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != size) return std::nullopt;
  return der;
}

nlohmann::json parse_object(std::string_view encoded) {
  auto decoded = base64url_decode(encoded);
  if (!decoded) return nlohmann::json();
  auto parsed = nlohmann::json::parse(*decoded, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return nlohmann::json();
  return parsed;
}

const nlohmann::json* member(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

bool audience_matches(const nlohmann::json* aud, const std::string& audience) {
  if (aud == nullptr) return false;
  if (aud->is_string()) return aud->get_ref<const std::string&>() == audience;
  if (aud->is_array()) {
    for (const auto& entry : *aud) {
      if (entry.is_string() && entry.get_ref<const std::string&>() == audience) return true;
    }
  }
  return false;
}

}  // namespace

struct TokenSigner::Key {
  PkeyPtr pkey;
};

TokenSigner::TokenSigner(std::string private_key_pem, std::string issuer, std::string audience, const Clock& clock,
                         Random& random)
    : key_(std::make_unique<Key>()),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      clock_(clock),
      random_(random) {
  key_->pkey = openssl::read_private_key(private_key_pem);
  ERR_clear_error();
  if (!key_->pkey) throw std::invalid_argument("token signing key: not a PEM private key");
  if (!is_p256(key_->pkey.get())) throw std::invalid_argument("token signing key: not an EC P-256 key");
  if (issuer_.empty() || audience_.empty()) throw std::invalid_argument("token issuer and audience are required");

  std::string x = base64url_encode(coordinate(key_->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X));
  std::string y = base64url_encode(coordinate(key_->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y));
  // RFC 7638: the required members in lexicographic order, no whitespace.
  std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" + x + R"(","y":")" + y + R"("})";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  key_id_ = base64url_encode(as_chars(digest, sizeof digest));
  public_jwk_ = {{"kty", "EC"}, {"crv", "P-256"}, {"x", x},           {"y", y},
                 {"use", "sig"}, {"alg", kAlgorithm}, {"kid", key_id_}};

  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key_->pkey.get()) != 1) {
    throw std::runtime_error("writing the public key failed: " + openssl::take_errors());
  }
  auto pem = bio_contents(out.get());
  if (!pem) throw std::runtime_error(pem.error().message);
  public_key_pem_ = std::move(*pem);
}

TokenSigner::~TokenSigner() = default;

Result<std::string> TokenSigner::generate_key_pem() {
  auto key = openssl::generate_p256_key();
  if (!key) return tl::unexpected(key.error());
  return openssl::write_private_key(key->get());
}

Result<std::string> TokenSigner::issue(const AccessClaims& claims) const {
  if (claims.user_id.empty()) return fail(Errc::invalid_argument, "access token needs a user id", "user_id");
  const std::int64_t now = clock_.now();
  nlohmann::json header = {{"alg", kAlgorithm}, {"typ", "JWT"}, {"kid", key_id_}};
  nlohmann::json payload = {
      {"iss", issuer_},
      {"aud", audience_},
      {"sub", claims.user_id},
      {"preferred_username", claims.username},
      {"role", to_string(claims.role)},
      {"company_id", claims.company_id},
      {"iat", now},
      {"nbf", now},
      {"exp", now + kAccessTokenLifetime},
      {"jti", random_.token(16)},
  };
  std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());

  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return openssl_failure("EVP_MD_CTX_new");
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1) {
    return openssl_failure("EVP_DigestSignInit");
  }
  const auto* input = reinterpret_cast<const unsigned char*>(signing_input.data());
  std::size_t der_size = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &der_size, input, signing_input.size()) != 1) {
    return openssl_failure("EVP_DigestSign (size)");
  }
  std::string der(der_size, '\0');
  auto* der_bytes = reinterpret_cast<unsigned char*>(der.data());
  if (EVP_DigestSign(ctx.get(), der_bytes, &der_size, input, signing_input.size()) != 1) {
    return openssl_failure("EVP_DigestSign");
  }
  auto raw = der_to_raw(der_bytes, der_size);
  if (!raw) return openssl_failure("converting the ECDSA signature");
  return signing_input + "." + base64url_encode(*raw);
}

Result<AccessClaims> TokenSigner::verify(std::string_view token) const {
  if (token.size() > kMaxTokenSize) return rejected("malformed token");
  const auto first = token.find('.');
  if (first == std::string_view::npos) return rejected("malformed token");
  const auto second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return rejected("malformed token");
  }
  const std::string_view encoded_header = token.substr(0, first);
  const std::string_view encoded_payload = token.substr(first + 1, second - first - 1);
  const std::string_view encoded_signature = token.substr(second + 1);

  // The header is untrusted until the signature is checked; it is read only to refuse every
  // algorithm and key but ours before any cryptography runs.
  const nlohmann::json header = parse_object(encoded_header);
  if (!header.is_object()) return rejected("malformed token");
  const auto* alg = member(header, "alg");
  if (alg == nullptr || !alg->is_string() || alg->get_ref<const std::string&>() != kAlgorithm) {
    return rejected("algorithm not allowed");
  }
  // RFC 7515 §4.1.11: extensions marked critical must be understood; we understand none.
  if (member(header, "crit") != nullptr) return rejected("malformed token");
  if (const auto* typ = member(header, "typ");
      typ != nullptr && (!typ->is_string() || strcasecmp(typ->get_ref<const std::string&>().c_str(), "JWT") != 0)) {
    return rejected("malformed token");
  }
  const auto* kid = member(header, "kid");
  if (kid == nullptr || !kid->is_string() || kid->get_ref<const std::string&>() != key_id_) {
    return rejected("unknown key");
  }

  auto raw_signature = base64url_decode(encoded_signature);
  if (!raw_signature) return rejected("bad signature");
  auto der = raw_to_der(*raw_signature);
  if (!der) return rejected("bad signature");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return openssl_failure("EVP_MD_CTX_new");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1) {
    return openssl_failure("EVP_DigestVerifyInit");
  }
  const std::string_view signing_input = token.substr(0, second);
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der->data()), der->size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1) {
    return rejected("bad signature");
  }

  const nlohmann::json payload = parse_object(encoded_payload);
  if (!payload.is_object()) return rejected("malformed claims");
  const auto* iss = member(payload, "iss");
  if (iss == nullptr || !iss->is_string() || iss->get_ref<const std::string&>() != issuer_) {
    return rejected("wrong issuer");
  }
  if (!audience_matches(member(payload, "aud"), audience_)) return rejected("wrong audience");

  const auto* exp = member(payload, "exp");
  const auto* iat = member(payload, "iat");
  const auto* nbf = member(payload, "nbf");
  if (exp == nullptr || !exp->is_number_integer() || iat == nullptr || !iat->is_number_integer() ||
      (nbf != nullptr && !nbf->is_number_integer())) {
    return rejected("malformed claims");
  }
  const std::int64_t now = clock_.now();
  // Subtracting from `now` (a sane value) cannot overflow; adding to a hostile exp could.
  if (now - kClockLeeway >= exp->get<std::int64_t>()) return rejected("token expired");
  if (nbf != nullptr && now + kClockLeeway < nbf->get<std::int64_t>()) return rejected("token not yet valid");

  auto string_claim = [&](const char* name, bool required) -> std::optional<std::string> {
    const auto* value = member(payload, name);
    if (value == nullptr) return required ? std::nullopt : std::optional<std::string>(std::string());
    if (!value->is_string()) return std::nullopt;
    return value->get<std::string>();
  };
  auto sub = string_claim("sub", true);
  auto role_text = string_claim("role", true);
  auto username = string_claim("preferred_username", false);
  auto company = string_claim("company_id", false);
  auto jti = string_claim("jti", false);
  if (!sub || sub->empty() || !role_text || !username || !company || !jti) return rejected("malformed claims");
  auto role = parse_role(*role_text);
  if (!role) return rejected("malformed claims");

  AccessClaims claims;
  claims.user_id = std::move(*sub);
  claims.username = std::move(*username);
  claims.role = *role;
  claims.company_id = std::move(*company);
  claims.issued_at = iat->get<std::int64_t>();
  claims.expires_at = exp->get<std::int64_t>();
  claims.token_id = std::move(*jti);
  return claims;
}

}  // namespace carillon::identity
