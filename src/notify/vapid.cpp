#include "notify/vapid.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

#include "common/encoding.hpp"
#include "notify/p256.hpp"

namespace carillon::notify {

namespace {

using openssl::PkeyPtr;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lower(text.substr(0, prefix.size())) == prefix;
}

bool valid_host(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    return std::all_of(host.begin() + 1, host.end() - 1,
                       [](unsigned char c) { return std::isxdigit(c) || c == ':' || c == '.'; });
  }
  return std::all_of(host.begin(), host.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; });
}

}  // namespace

VapidKey::VapidKey(std::shared_ptr<evp_pkey_st> key, std::string private_key_pem, std::string public_key)
    : key_(std::move(key)), private_key_pem_(std::move(private_key_pem)), public_key_(std::move(public_key)) {}

Result<VapidKey> VapidKey::generate() {
  auto key = openssl::generate_p256_key();
  if (!key) return tl::unexpected(key.error());
  auto pem = openssl::write_private_key(key->get());
  if (!pem) return tl::unexpected(pem.error());
  return from_pem(*pem);
}

Result<VapidKey> VapidKey::from_pem(std::string_view pem) {
  PkeyPtr key = openssl::read_private_key(pem);
  if (!key || !openssl::is_p256(key.get())) {
    ERR_clear_error();
    return fail(Errc::invalid_argument, "VAPID private key must be an unencrypted EC P-256 PEM private key",
                "vapid_private_key");
  }
  auto point = p256::encode_point(key.get());
  if (!point) return tl::unexpected(point.error());
  auto normalised = openssl::write_private_key(key.get());
  if (!normalised) return tl::unexpected(normalised.error());
  return VapidKey(std::shared_ptr<evp_pkey_st>(key.release(), EVP_PKEY_free), std::move(*normalised),
                  std::move(*point));
}

std::string VapidKey::public_key_base64url() const { return base64url_encode(public_key_); }

Result<std::string> VapidKey::sign_es256(std::string_view signing_input) const {
  openssl::MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1)
    return openssl::failure("ES256 sign init");
  std::size_t der_size = 0;
  const auto* input = reinterpret_cast<const unsigned char*>(signing_input.data());
  if (EVP_DigestSign(md.get(), nullptr, &der_size, input, signing_input.size()) != 1)
    return openssl::failure("ES256 sign size");
  std::string der(der_size, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(der.data()), &der_size, input,
                     signing_input.size()) != 1)
    return openssl::failure("ES256 sign");
  // OpenSSL produces an ASN.1 ECDSA-Sig-Value; JWS (RFC 7518 Section 3.4) wants r and s as two
  // fixed 32-byte big-endian integers.
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  openssl::EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der_size)));
  if (!sig) return openssl::failure("decoding the ECDSA signature");
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32) != 32)
    return openssl::failure("encoding the ES256 signature");
  return raw;
}

Result<std::string> push_endpoint_origin(std::string_view endpoint) {
  constexpr std::string_view kScheme = "https://";
  if (!starts_with_ci(endpoint, kScheme))
    return fail(Errc::invalid_argument, "push endpoint must be an https:// URL", "endpoint");
  std::string_view rest = endpoint.substr(kScheme.size());
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return fail(Errc::invalid_argument, "push endpoint must not carry user information", "endpoint");
  std::string_view host = authority;
  int port = 443;
  const std::size_t bracket = authority.rfind(']');
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    const std::string_view digits = authority.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 ||
        !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); }))
      return fail(Errc::invalid_argument, "push endpoint has an invalid port", "endpoint");
    port = std::stoi(std::string(digits));
    if (port == 0 || port > 65535) return fail(Errc::invalid_argument, "push endpoint has an invalid port", "endpoint");
  }
  if (!valid_host(host)) return fail(Errc::invalid_argument, "push endpoint has no valid host", "endpoint");
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for "literal" + string&&.
  std::string origin = "https://";
  origin += lower(host);
  // The origin serialisation leaves out the scheme's default port (RFC 6454 Section 6.2).
  if (port != 443) {
    origin += ':';
    origin += std::to_string(port);
  }
  return origin;
}

Result<std::string> vapid_jwt(const VapidKey& key, std::string_view endpoint, std::string_view subject,
                              const Clock& clock, std::int64_t lifetime_seconds) {
  auto audience = push_endpoint_origin(endpoint);
  if (!audience) return tl::unexpected(audience.error());
  if (!starts_with_ci(subject, "mailto:") && !starts_with_ci(subject, "https:"))
    return fail(Errc::invalid_argument, "VAPID subject must be a mailto: or https: URI", "subject");
  if (subject.size() <= 7 || std::any_of(subject.begin(), subject.end(),
                                         [](unsigned char c) { return c <= 0x20 || c >= 0x7f; }))
    return fail(Errc::invalid_argument, "VAPID subject must be a non-empty URI without spaces", "subject");
  if (lifetime_seconds <= 0 || lifetime_seconds > kMaxVapidLifetimeSeconds)
    return fail(Errc::invalid_argument, "VAPID token lifetime must be 1 s .. 24 h", "lifetime_seconds");

  const nlohmann::json header = {{"typ", "JWT"}, {"alg", "ES256"}};
  const nlohmann::json claims = {
      {"aud", *audience}, {"exp", clock.now() + lifetime_seconds}, {"sub", std::string(subject)}};
  std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  auto signature = key.sign_es256(signing_input);
  if (!signature) return tl::unexpected(signature.error());
  return signing_input + "." + base64url_encode(*signature);
}

Result<std::string> vapid_authorization(const VapidKey& key, std::string_view endpoint, std::string_view subject,
                                        const Clock& clock, std::int64_t lifetime_seconds) {
  auto jwt = vapid_jwt(key, endpoint, subject, clock, lifetime_seconds);
  if (!jwt) return tl::unexpected(jwt.error());
  return "vapid t=" + *jwt + ", k=" + key.public_key_base64url();
}

}  // namespace carillon::notify
