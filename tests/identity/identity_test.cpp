#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <jwt/jwt.hpp>
#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "common/encoding.hpp"
#include "identity/auth_service.hpp"
#include "identity/model.hpp"
#include "identity/password.hpp"
#include "identity/tokens.hpp"

namespace carillon::identity {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Test doubles and independent crypto helpers (deliberately not the code under test).

class MemoryUsers final : public UserRepository {
 public:
  Status insert(const User& user, const AuditEvent& audit) override {
    for (const auto& [id, existing] : users) {
      if (existing.username == user.username) return fail(Errc::conflict, "duplicate username");
    }
    users[user.id] = user;
    audit_events.push_back(audit);
    return {};
  }
  Result<User> find(const std::string& id) override {
    auto it = users.find(id);
    if (it == users.end()) return fail(Errc::not_found, "no such user");
    return it->second;
  }
  Result<User> find_by_username(const std::string& username) override {
    for (const auto& [id, user] : users) {
      if (user.username == username) return user;
    }
    return fail(Errc::not_found, "no such user");
  }
  Result<Page<User>> list(const std::string& company_id, const PageRequest& page) override {
    Page<User> out;
    for (const auto& [id, user] : users) {
      if (id > page.after && (company_id.empty() || user.company_id == company_id)) out.items.push_back(user);
    }
    return out;
  }
  Result<std::int64_t> count() override { return static_cast<std::int64_t>(users.size()); }

  Status insert_refresh(const RefreshToken& token) override {
    refresh[token.token_hash] = token;
    return {};
  }
  Result<RefreshToken> use_refresh(const std::string& token_hash, std::int64_t now) override {
    auto it = refresh.find(token_hash);
    if (it == refresh.end()) return fail(Errc::unauthenticated, "unknown");
    if (it->second.used_at != 0) return fail(Errc::conflict, "already used");
    if (it->second.revoked || it->second.expires_at <= now) return fail(Errc::unauthenticated, "expired");
    it->second.used_at = now;
    return it->second;
  }
  Status revoke_family(const std::string& family_id) override {
    for (auto& [hash, token] : refresh) {
      if (token.family_id == family_id) token.revoked = true;
    }
    return {};
  }
  Result<RefreshToken> find_refresh(const std::string& token_hash) override {
    auto it = refresh.find(token_hash);
    if (it == refresh.end()) return fail(Errc::not_found, "unknown");
    return it->second;
  }

  std::map<std::string, User> users;
  std::map<std::string, RefreshToken> refresh;
  std::vector<AuditEvent> audit_events;  // those passed with insert()
};

class MemoryAudit final : public AuditLog {
 public:
  Status append(const AuditEvent& event) override {
    if (broken) return fail(Errc::unavailable, "audit store down");
    events.push_back(event);
    return {};
  }
  Result<Page<AuditEvent>> list(const AuditFilter&) override { return Page<AuditEvent>{events, ""}; }

  std::vector<const AuditEvent*> with_action(const std::string& action) const {
    std::vector<const AuditEvent*> out;
    for (const auto& e : events) {
      if (e.action == action) out.push_back(&e);
    }
    return out;
  }

  bool broken = false;
  std::vector<AuditEvent> events;
};

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey read_private(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return Pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

Pkey read_public(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return Pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

std::string pem_of(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// DER signature over `input` with SHA-256 (ECDSA or RSA PKCS#1 v1.5, by key type).
std::string sign_der(EVP_PKEY* key, const std::string& input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  std::size_t size = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &size, in, input.size()), 1);
  std::string out(size, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &size, in, input.size()), 1);
  out.resize(size);
  return out;
}

std::string der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(sig, nullptr);
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

std::string raw_to_der(const std::string& raw) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(bytes, 32, nullptr), BN_bin2bn(bytes + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int size = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

bool openssl_verify(const std::string& public_pem, const std::string& input, const std::string& der) {
  Pkey key = read_public(public_pem);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

std::string hmac_sha256(const std::string& key, const std::string& input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), out, &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

std::string b64(const std::string& s) { return base64url_encode(s); }

struct Parts {
  std::string header, payload, signature;  // still encoded
};

Parts split(const std::string& token) {
  auto a = token.find('.');
  auto b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

json decode_part(const std::string& encoded) { return json::parse(*base64url_decode(encoded)); }

constexpr std::int64_t kStart = 1'750'000'000;
constexpr const char* kIssuer = "https://carillon.test";
constexpr const char* kAudience = "carillon-api";

const std::string& test_key() {
  static const std::string key = *TokenSigner::generate_key_pem();
  return key;
}

// ---------------------------------------------------------------------------------------------
// Roles

TEST(Role, TextFormsRoundTrip) {
  EXPECT_STREQ(to_string(Role::platform_admin), "platform-admin");
  EXPECT_STREQ(to_string(Role::company_admin), "company-admin");
  EXPECT_STREQ(to_string(Role::viewer), "viewer");
  for (Role role : {Role::platform_admin, Role::company_admin, Role::viewer}) {
    EXPECT_EQ(parse_role(to_string(role)).value(), role);
  }
}

TEST(Role, UnknownTextIsInvalidArgumentOnFieldRole) {
  for (const char* text : {"admin", "", "Viewer", "platform_admin", "viewer "}) {
    auto role = parse_role(text);
    ASSERT_FALSE(role) << text;
    EXPECT_EQ(role.error().code, Errc::invalid_argument);
    EXPECT_EQ(role.error().field, "role");
  }
}

// ---------------------------------------------------------------------------------------------
// Passwords

TEST(Password, HashIsArgon2idWithTheChosenCostAndVerifies) {
  auto hash = hash_password("correct horse battery staple");
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=65536,t=3,p=1$", 0), 0u) << *hash;
  EXPECT_TRUE(verify_password(*hash, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(*hash, "correct horse battery stapl"));
  EXPECT_FALSE(verify_password(*hash, ""));
  EXPECT_FALSE(password_needs_rehash(*hash));
}

TEST(Password, SaltMakesEveryHashDifferent) {
  auto a = hash_password("same password here");
  auto b = hash_password("same password here");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(verify_password(*b, "same password here"));
}

TEST(Password, MalformedOrWeakerHashes) {
  EXPECT_FALSE(verify_password("", "x"));
  EXPECT_FALSE(verify_password("not a hash", "not a hash"));
  EXPECT_FALSE(verify_password(std::string(500, '$'), "x"));
  ASSERT_GE(sodium_init(), 0);
  char weak[crypto_pwhash_STRBYTES];
  ASSERT_EQ(crypto_pwhash_str_alg(weak, "pw", 2, 1, 8u * 1024 * 1024, crypto_pwhash_ALG_ARGON2ID13), 0);
  EXPECT_TRUE(verify_password(weak, "pw"));  // old hashes keep working...
  EXPECT_TRUE(password_needs_rehash(weak));  // ...and are flagged for an upgrade
}

TEST(Password, Policy) {
  EXPECT_TRUE(check_password_policy("abcdefghijkl"));              // 12, one character class is fine
  EXPECT_TRUE(check_password_policy(std::string(255, 'a') + "b"));  // 256
  EXPECT_TRUE(check_password_policy("Zürich Bahnhof 8001"));
  for (const std::string& bad : {std::string("abcdefghijk"), std::string(""), std::string(257, 'x') + "y",
                                 std::string(12, 'a'), std::string(40, '1')}) {
    auto status = check_password_policy(bad);
    ASSERT_FALSE(status) << bad;
    EXPECT_EQ(status.error().code, Errc::invalid_argument);
    EXPECT_EQ(status.error().field, "password");
  }
}

// ---------------------------------------------------------------------------------------------
// Access tokens

class Tokens : public ::testing::Test {
 protected:
  AccessClaims alice() const {
    AccessClaims c;
    c.user_id = "us_0000000000010123456789abcdef";
    c.username = "alice";
    c.role = Role::company_admin;
    c.company_id = "co_000000000001fedcba9876543210";
    return c;
  }

  void expect_rejected(const std::string& token, const std::string& reason) {
    auto claims = signer.verify(token);
    ASSERT_FALSE(claims) << "accepted: " << token;
    EXPECT_EQ(claims.error().code, Errc::unauthenticated);
    EXPECT_EQ(claims.error().message, reason) << token;
  }

  // A token with any header and payload, ES256-signed with the test key by OpenSSL directly.
  std::string forge_es256(const json& header, const json& payload, EVP_PKEY* key = nullptr) {
    std::string input = b64(header.dump()) + "." + b64(payload.dump());
    return input + "." + b64(der_to_raw(sign_der(key ? key : private_key.get(), input)));
  }

  json valid_header() const { return {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", signer.key_id()}}; }
  json valid_payload() const {
    return {{"iss", kIssuer}, {"aud", kAudience}, {"sub", "us_1"}, {"role", "viewer"},
            {"iat", kStart},  {"nbf", kStart},    {"exp", kStart + 900}};
  }

  ManualClock clock{kStart};
  SodiumRandom random;
  TokenSigner signer{test_key(), kIssuer, kAudience, clock, random};
  Pkey private_key = read_private(test_key());
};

TEST_F(Tokens, GeneratedKeyIsPkcs8P256) {
  auto pem = TokenSigner::generate_key_pem();
  ASSERT_TRUE(pem);
  EXPECT_EQ(pem->rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  Pkey key = read_private(*pem);
  ASSERT_TRUE(key);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);
  EXPECT_NE(*pem, test_key());
}

TEST_F(Tokens, IssueAndVerifyRoundTrip) {
  auto token = signer.issue(alice());
  ASSERT_TRUE(token) << token.error().message;
  auto claims = signer.verify(*token);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->user_id, alice().user_id);
  EXPECT_EQ(claims->username, "alice");
  EXPECT_EQ(claims->role, Role::company_admin);
  EXPECT_EQ(claims->company_id, alice().company_id);
  EXPECT_EQ(claims->issued_at, kStart);
  EXPECT_EQ(claims->expires_at, kStart + 15 * 60);
  EXPECT_FALSE(claims->token_id.empty());

  auto parts = split(*token);
  json header = decode_part(parts.header);
  EXPECT_EQ(header, (json{{"alg", "ES256"}, {"typ", "JWT"}, {"kid", signer.key_id()}}));
  json payload = decode_part(parts.payload);
  EXPECT_EQ(payload["iss"], kIssuer);
  EXPECT_EQ(payload["aud"], kAudience);
  EXPECT_EQ(payload["sub"], alice().user_id);

  auto other = signer.issue(alice());
  ASSERT_TRUE(other);
  EXPECT_NE(signer.verify(*other)->token_id, claims->token_id);
}

TEST_F(Tokens, IssueNeedsAUserId) {
  auto token = signer.issue(AccessClaims{});
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, Errc::invalid_argument);
}

TEST_F(Tokens, SignatureIsRawRAndSAndVerifiesWithOpenSslIndependently) {
  auto token = signer.issue(alice());
  ASSERT_TRUE(token);
  auto parts = split(*token);
  auto raw = base64url_decode(parts.signature);
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->size(), 64u);  // RFC 7518 §3.4: R||S, 32 bytes each, not DER
  const std::string input = parts.header + "." + parts.payload;
  EXPECT_TRUE(openssl_verify(signer.public_key_pem(), input, raw_to_der(*raw)));

  std::string flipped = *raw;
  flipped[10] = static_cast<char>(flipped[10] ^ 0x01);
  EXPECT_FALSE(openssl_verify(signer.public_key_pem(), input, raw_to_der(flipped)));
  EXPECT_FALSE(openssl_verify(signer.public_key_pem(), input + "x", raw_to_der(*raw)));
}

TEST_F(Tokens, KeyIdIsTheJwkThumbprint) {
  const json& jwk = signer.public_jwk();
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["crv"], "P-256");
  EXPECT_EQ(jwk["kid"], signer.key_id());
  std::string canonical = json{{"crv", "P-256"}, {"kty", "EC"}, {"x", jwk["x"]}, {"y", jwk["y"]}}.dump();
  unsigned char digest[32];
  unsigned int size = 0;
  ASSERT_EQ(EVP_Digest(canonical.data(), canonical.size(), digest, &size, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(signer.key_id(), base64url_encode(std::string(reinterpret_cast<char*>(digest), size)));
}

TEST_F(Tokens, InteroperatesWithCppJwtBothWays) {
  // cpp-jwt reads the system clock, so this test runs at the real time.
  ManualClock now_clock{SystemClock().now()};
  TokenSigner real_time{test_key(), kIssuer, kAudience, now_clock, random};
  auto ours = real_time.issue(alice());
  ASSERT_TRUE(ours);
  std::error_code ec;
  auto decoded = jwt::decode(*ours, jwt::params::algorithms({"ES256"}), ec,
                             jwt::params::secret(real_time.public_key_pem()), jwt::params::issuer(kIssuer),
                             jwt::params::aud(kAudience), jwt::params::verify(true));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(decoded.payload().get_claim_value<std::string>("sub"), alice().user_id);

  jwt::jwt_object theirs{jwt::params::algorithm("ES256"), jwt::params::secret(test_key()),
                         jwt::params::headers({{"kid", real_time.key_id()}})};
  const auto now = now_clock.now();
  theirs.add_claim("iss", kIssuer)
      .add_claim("aud", kAudience)
      .add_claim("sub", "us_theirs")
      .add_claim("role", "viewer")
      .add_claim("iat", now)
      .add_claim("exp", now + 600);
  std::string token = theirs.signature(ec);
  ASSERT_FALSE(ec) << ec.message();
  auto claims = real_time.verify(token);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->user_id, "us_theirs");
  EXPECT_EQ(claims->role, Role::viewer);
}

TEST_F(Tokens, ForgedValidTokenIsAcceptedSoTheRejectionsBelowMeanSomething) {
  auto claims = signer.verify(forge_es256(valid_header(), valid_payload()));
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->user_id, "us_1");
  EXPECT_EQ(claims->username, "");
}

TEST_F(Tokens, ExpiredTokenIsRejected) {
  auto token = signer.issue(alice());
  ASSERT_TRUE(token);
  clock.advance(15 * 60 - 1);
  EXPECT_TRUE(signer.verify(*token));
  clock.advance(1 + kClockLeeway);
  expect_rejected(*token, "token expired");
}

TEST_F(Tokens, NotBeforeInTheFutureIsRejected) {
  json payload = valid_payload();
  payload["nbf"] = kStart + 3600;
  payload["exp"] = kStart + 7200;
  expect_rejected(forge_es256(valid_header(), payload), "token not yet valid");
  clock.advance(3600);
  EXPECT_TRUE(signer.verify(forge_es256(valid_header(), payload)));
}

TEST_F(Tokens, WrongIssuerOrAudienceIsRejected) {
  TokenSigner other_issuer{test_key(), "https://evil.test", kAudience, clock, random};
  expect_rejected(*other_issuer.issue(alice()), "wrong issuer");
  TokenSigner other_audience{test_key(), kIssuer, "other-api", clock, random};
  expect_rejected(*other_audience.issue(alice()), "wrong audience");

  json payload = valid_payload();
  payload.erase("iss");
  expect_rejected(forge_es256(valid_header(), payload), "wrong issuer");
  payload = valid_payload();
  payload["aud"] = json::array({"other", kAudience});
  EXPECT_TRUE(signer.verify(forge_es256(valid_header(), payload)));
  payload["aud"] = json::array({"other"});
  expect_rejected(forge_es256(valid_header(), payload), "wrong audience");
}

TEST_F(Tokens, AlgNoneIsRejected) {
  const std::string payload = b64(valid_payload().dump());
  for (const char* alg : {"none", "None", "NONE"}) {
    json header = {{"alg", alg}, {"typ", "JWT"}, {"kid", signer.key_id()}};
    expect_rejected(b64(header.dump()) + "." + payload + ".", "algorithm not allowed");
    // Even with a valid ES256 signature on the same input.
    expect_rejected(forge_es256(header, valid_payload()), "algorithm not allowed");
  }
}

TEST_F(Tokens, MissingOrOtherAlgIsRejected) {
  json header = valid_header();
  header.erase("alg");
  expect_rejected(forge_es256(header, valid_payload()), "algorithm not allowed");
  for (const json& alg : {json("es256"), json("ES384"), json("ES256K"), json("PS256"), json(7), json::array({"ES256"})}) {
    header["alg"] = alg;
    expect_rejected(forge_es256(header, valid_payload()), "algorithm not allowed");
  }
}

TEST_F(Tokens, Hs256KeyedWithThePublicKeyPemIsRejected) {
  // The classic confusion: a verifier that lets the token pick the algorithm would use the
  // public key PEM (known to everyone) as the HMAC secret.
  json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", signer.key_id()}};
  std::string input = b64(header.dump()) + "." + b64(valid_payload().dump());
  std::string token = input + "." + b64(hmac_sha256(signer.public_key_pem(), input));
  expect_rejected(token, "algorithm not allowed");
  // The same with the kid dropped and with the PEM minus its trailing newline.
  header.erase("kid");
  input = b64(header.dump()) + "." + b64(valid_payload().dump());
  std::string pem = signer.public_key_pem();
  expect_rejected(input + "." + b64(hmac_sha256(pem, input)), "algorithm not allowed");
  pem.pop_back();
  expect_rejected(input + "." + b64(hmac_sha256(pem, input)), "algorithm not allowed");
}

TEST_F(Tokens, Rs256IsRejected) {
  Pkey rsa(EVP_RSA_gen(2048));
  ASSERT_TRUE(rsa);
  json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", signer.key_id()}};
  std::string input = b64(header.dump()) + "." + b64(valid_payload().dump());
  expect_rejected(input + "." + b64(sign_der(rsa.get(), input)), "algorithm not allowed");
}

TEST_F(Tokens, TamperedPayloadIsRejected) {
  auto token = signer.issue(alice());
  ASSERT_TRUE(token);
  auto parts = split(*token);
  json payload = decode_part(parts.payload);
  payload["role"] = "platform-admin";
  payload["company_id"] = "";
  expect_rejected(parts.header + "." + b64(payload.dump()) + "." + parts.signature, "bad signature");

  std::string one_bit = parts.payload;
  one_bit[5] = one_bit[5] == 'A' ? 'B' : 'A';
  expect_rejected(parts.header + "." + one_bit + "." + parts.signature, "bad signature");
}

TEST_F(Tokens, TokenFromAnotherKeyIsRejected) {
  auto other_pem = TokenSigner::generate_key_pem();
  ASSERT_TRUE(other_pem);
  TokenSigner other{*other_pem, kIssuer, kAudience, clock, random};
  auto token = other.issue(alice());
  ASSERT_TRUE(token);
  expect_rejected(*token, "unknown key");

  // Same token claiming our key id: the signature does not match our key.
  auto parts = split(*token);
  expect_rejected(b64(valid_header().dump()) + "." + parts.payload + "." + parts.signature, "bad signature");
  Pkey other_key = read_private(*other_pem);
  expect_rejected(forge_es256(valid_header(), valid_payload(), other_key.get()), "bad signature");
}

TEST_F(Tokens, DerOrTruncatedSignatureIsRejected) {
  std::string input = b64(valid_header().dump()) + "." + b64(valid_payload().dump());
  std::string der = sign_der(private_key.get(), input);
  expect_rejected(input + "." + b64(der), "bad signature");  // DER (70-72 bytes) is not JWS
  std::string raw = der_to_raw(der);
  EXPECT_TRUE(signer.verify(input + "." + b64(raw)));
  expect_rejected(input + "." + b64(raw.substr(0, 63)), "bad signature");
  expect_rejected(input + "." + b64(raw + "x"), "bad signature");
  expect_rejected(input + "." + b64(std::string(64, '\0')), "bad signature");
  expect_rejected(input + ".", "bad signature");
  expect_rejected(input + ".!!!!", "bad signature");
}

TEST_F(Tokens, MalformedTokensAreRejected) {
  for (const std::string& token : {std::string(""), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
                                   std::string(".."), std::string("!!.e30.x"), b64("[1]") + ".e30.x",
                                   b64("not json") + ".e30.x", std::string(kMaxTokenSize + 1, 'a')}) {
    expect_rejected(token, "malformed token");
  }
  json crit = valid_header();
  crit["crit"] = json::array({"exp"});
  expect_rejected(forge_es256(crit, valid_payload()), "malformed token");
  json typ = valid_header();
  typ["typ"] = "refresh+jwt";
  expect_rejected(forge_es256(typ, valid_payload()), "malformed token");
}

TEST_F(Tokens, MalformedClaimsAreRejected) {
  json payload = valid_payload();
  payload["exp"] = std::to_string(kStart + 900);
  expect_rejected(forge_es256(valid_header(), payload), "malformed claims");
  payload = valid_payload();
  payload.erase("exp");
  expect_rejected(forge_es256(valid_header(), payload), "malformed claims");
  payload = valid_payload();
  payload["role"] = "root";
  expect_rejected(forge_es256(valid_header(), payload), "malformed claims");
  payload = valid_payload();
  payload["sub"] = "";
  expect_rejected(forge_es256(valid_header(), payload), "malformed claims");
  payload = valid_payload();
  payload["exp"] = std::numeric_limits<std::int64_t>::max();  // no overflow in the comparison
  EXPECT_TRUE(signer.verify(forge_es256(valid_header(), payload)));
  std::string input = b64(valid_header().dump()) + "." + b64("[]");
  expect_rejected(input + "." + b64(der_to_raw(sign_der(private_key.get(), input))), "malformed claims");
}

TEST(TokenSignerKey, OnlyP256PrivateKeysAreAccepted) {
  ManualClock clock{kStart};
  SodiumRandom random;
  Pkey rsa(EVP_RSA_gen(1024));
  Pkey p384(EVP_EC_gen("P-384"));
  for (const std::string& pem : {std::string("garbage"), std::string(""), pem_of(rsa.get()), pem_of(p384.get())}) {
    EXPECT_THROW(TokenSigner(pem, kIssuer, kAudience, clock, random), std::invalid_argument);
  }
  EXPECT_THROW(TokenSigner(test_key(), "", kAudience, clock, random), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// AuthService

class Auth : public ::testing::Test {
 protected:
  void SetUp() override {
    auto user = auth.create_user("alice", kPassword, Role::company_admin, kCompany, "us_admin");
    ASSERT_TRUE(user) << user.error().message;
    alice_id = user->id;
  }

  void expect_error(const Status& status, Errc code, const std::string& message) {
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, code);
    EXPECT_EQ(status.error().message, message);
  }
  template <class T>
  void expect_error(const Result<T>& result, Errc code, const std::string& message) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, code) << result.error().message;
    EXPECT_EQ(result.error().message, message);
  }

  static constexpr const char* kPassword = "a long enough passphrase";
  static constexpr const char* kCompany = "co_000000000001fedcba9876543210";

  ManualClock clock{kStart};
  SodiumRandom random;
  IdGenerator ids{clock, random};
  MemoryUsers users;
  MemoryAudit audit;
  TokenSigner signer{test_key(), kIssuer, kAudience, clock, random};
  AuthService auth{users, audit, signer, clock, random, ids};
  std::string alice_id;
};

TEST_F(Auth, LoginIssuesTokensAndAuditsIt) {
  auto tokens = auth.login("alice", kPassword, "192.0.2.1");
  ASSERT_TRUE(tokens) << tokens.error().message;
  EXPECT_EQ(tokens->expires_in, 900);
  EXPECT_EQ(tokens->refresh_token.size(), 43u);  // 32 bytes base64url
  auto claims = auth.authenticate(tokens->access_token);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->user_id, alice_id);
  EXPECT_EQ(claims->username, "alice");
  EXPECT_EQ(claims->role, Role::company_admin);
  EXPECT_EQ(claims->company_id, kCompany);

  // Only the hash of the refresh token is stored.
  ASSERT_EQ(users.refresh.size(), 1u);
  const RefreshToken& stored = users.refresh.begin()->second;
  EXPECT_EQ(stored.token_hash, sha256_hex(tokens->refresh_token));
  EXPECT_EQ(stored.user_id, alice_id);
  EXPECT_EQ(stored.expires_at, kStart + 30 * 24 * 3600);
  EXPECT_EQ(stored.family_id.rfind("rf_", 0), 0u);

  auto logins = audit.with_action("auth.login");
  ASSERT_EQ(logins.size(), 1u);
  EXPECT_EQ(logins[0]->actor, alice_id);
  EXPECT_EQ(logins[0]->target_id, alice_id);
  EXPECT_EQ(logins[0]->company_id, kCompany);
  EXPECT_EQ(logins[0]->source, "192.0.2.1");
  EXPECT_EQ(logins[0]->at, kStart);
  EXPECT_TRUE(is_valid_id(logins[0]->id, id_prefix::audit));
}

TEST_F(Auth, WrongPasswordUnknownUserAndDisabledUserLookTheSame) {
  auto wrong = auth.login("alice", "a long wrong passphrase", "192.0.2.1");
  expect_error(wrong, Errc::unauthenticated, "invalid username or password");

  auto started = std::chrono::steady_clock::now();
  auto unknown = auth.login("bob", kPassword, "192.0.2.1");
  auto unknown_cost = std::chrono::steady_clock::now() - started;
  expect_error(unknown, Errc::unauthenticated, "invalid username or password");
  // The unknown user was checked against the dummy Argon2 hash (tens of ms), not skipped.
  EXPECT_GE(unknown_cost, std::chrono::milliseconds(10));

  started = std::chrono::steady_clock::now();
  auto impossible = auth.login("no spaces allowed", kPassword, "192.0.2.1");
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(10));
  expect_error(impossible, Errc::unauthenticated, "invalid username or password");

  users.users[alice_id].disabled = true;
  expect_error(auth.login("alice", kPassword, "192.0.2.1"), Errc::unauthenticated, "invalid username or password");

  auto failed = audit.with_action("auth.login_failed");
  ASSERT_EQ(failed.size(), 4u);
  EXPECT_EQ(failed[0]->details["reason"], "wrong password");
  EXPECT_EQ(failed[0]->target_id, alice_id);
  EXPECT_EQ(failed[1]->details["reason"], "unknown user");
  EXPECT_EQ(failed[1]->details["username"], "bob");
  EXPECT_EQ(failed[1]->actor, "anonymous");
  EXPECT_EQ(failed[3]->details["reason"], "disabled");
  EXPECT_TRUE(audit.with_action("auth.login").empty());
}

TEST_F(Auth, FiveFailuresThrottleTheUsernameForTheWindow) {
  for (int i = 0; i < 5; ++i) {
    expect_error(auth.login("alice", "a long wrong passphrase", "192.0.2." + std::to_string(i)),
                 Errc::unauthenticated, "invalid username or password");
    clock.advance(10);
  }
  // Now even the right password from a fresh address is refused, without an audit event.
  auto throttled = auth.login("alice", kPassword, "198.51.100.7");
  ASSERT_FALSE(throttled);
  EXPECT_EQ(throttled.error().code, Errc::throttled);
  EXPECT_EQ(audit.events.size(), 5u);
  // Another user is not affected.
  ASSERT_TRUE(auth.create_user("carol", kPassword, Role::viewer, kCompany, "us_admin"));
  EXPECT_TRUE(auth.login("carol", kPassword, "198.51.100.7"));

  clock.advance(15 * 60 - 50);  // the first failure leaves the window
  EXPECT_TRUE(auth.login("alice", kPassword, "198.51.100.7"));
}

TEST_F(Auth, UnknownUsernamesAreThrottledLikeKnownOnes) {
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(auth.login("mallory", "whatever password", "192.0.2.1"));
  auto throttled = auth.login("mallory", "whatever password", "192.0.2.2");
  ASSERT_FALSE(throttled);
  EXPECT_EQ(throttled.error().code, Errc::throttled);
}

TEST_F(Auth, TwentyFailuresThrottleTheSourceAddress) {
  for (int i = 0; i < 20; ++i) {
    expect_error(auth.login("user" + std::to_string(i), "some wrong password", "203.0.113.9"), Errc::unauthenticated,
                 "invalid username or password");
  }
  auto throttled = auth.login("alice", kPassword, "203.0.113.9");
  ASSERT_FALSE(throttled);
  EXPECT_EQ(throttled.error().code, Errc::throttled);
  EXPECT_TRUE(auth.login("alice", kPassword, "203.0.113.10"));
  clock.advance(15 * 60);
  EXPECT_TRUE(auth.login("alice", kPassword, "203.0.113.9"));
}

TEST_F(Auth, SuccessfulLoginClearsTheUsernameFailures) {
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(auth.login("alice", "a long wrong passphrase", "192.0.2.1"));
  ASSERT_TRUE(auth.login("alice", kPassword, "192.0.2.1"));
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(auth.login("alice", "a long wrong passphrase", "192.0.2.1"));
  EXPECT_TRUE(auth.login("alice", kPassword, "192.0.2.1"));
}

TEST_F(Auth, RefreshRotatesWithinTheFamily) {
  auto first = auth.login("alice", kPassword, "192.0.2.1");
  ASSERT_TRUE(first);
  clock.advance(29 * 24 * 3600);
  auto second = auth.refresh(first->refresh_token);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_NE(second->refresh_token, first->refresh_token);
  EXPECT_NE(second->access_token, first->access_token);
  ASSERT_TRUE(auth.authenticate(second->access_token));
  EXPECT_EQ(auth.authenticate(second->access_token)->user_id, alice_id);

  const RefreshToken& old_token = users.refresh.at(sha256_hex(first->refresh_token));
  const RefreshToken& new_token = users.refresh.at(sha256_hex(second->refresh_token));
  EXPECT_EQ(new_token.family_id, old_token.family_id);
  EXPECT_EQ(old_token.used_at, clock.now());
  EXPECT_EQ(new_token.expires_at, clock.now() + 30 * 24 * 3600);  // 30 days from the rotation

  clock.advance(2 * 24 * 3600);  // past the first token's expiry, within the second's
  auto third = auth.refresh(second->refresh_token);
  ASSERT_TRUE(third) << third.error().message;
  clock.advance(30 * 24 * 3600 + 1);
  expect_error(auth.refresh(third->refresh_token), Errc::unauthenticated, "invalid refresh token");
}

TEST_F(Auth, ReusedRefreshTokenRevokesTheFamily) {
  auto first = auth.login("alice", kPassword, "192.0.2.1");
  auto other_session = auth.login("alice", kPassword, "192.0.2.2");
  ASSERT_TRUE(first && other_session);
  auto second = auth.refresh(first->refresh_token);
  ASSERT_TRUE(second);

  expect_error(auth.refresh(first->refresh_token), Errc::unauthenticated, "refresh token reused");
  // The legitimate-looking newest token of that family is dead too.
  expect_error(auth.refresh(second->refresh_token), Errc::unauthenticated, "invalid refresh token");
  EXPECT_TRUE(users.refresh.at(sha256_hex(second->refresh_token)).revoked);
  // Another login's family is untouched.
  EXPECT_TRUE(auth.refresh(other_session->refresh_token));

  auto reused = audit.with_action("auth.refresh_reused");
  ASSERT_EQ(reused.size(), 1u);
  EXPECT_EQ(reused[0]->actor, alice_id);
}

TEST_F(Auth, UnknownRefreshTokensAreRejected) {
  expect_error(auth.refresh(""), Errc::unauthenticated, "invalid refresh token");
  expect_error(auth.refresh(random.token(32)), Errc::unauthenticated, "invalid refresh token");
  expect_error(auth.refresh(std::string(10000, 'a')), Errc::unauthenticated, "invalid refresh token");
}

TEST_F(Auth, RefreshFailsForDisabledOrDeletedUsers) {
  auto tokens = auth.login("alice", kPassword, "192.0.2.1");
  ASSERT_TRUE(tokens);
  users.users[alice_id].disabled = true;
  expect_error(auth.refresh(tokens->refresh_token), Errc::unauthenticated, "invalid refresh token");
  expect_error(auth.authenticate(tokens->access_token), Errc::unauthenticated, "user disabled");
  users.users.erase(alice_id);
  expect_error(auth.authenticate(tokens->access_token), Errc::unauthenticated, "unknown user");
}

TEST_F(Auth, LogoutRevokesTheFamily) {
  auto first = auth.login("alice", kPassword, "192.0.2.1");
  ASSERT_TRUE(first);
  auto second = auth.refresh(first->refresh_token);
  ASSERT_TRUE(second);
  ASSERT_TRUE(auth.logout(second->refresh_token));
  expect_error(auth.refresh(second->refresh_token), Errc::unauthenticated, "invalid refresh token");
  EXPECT_EQ(audit.with_action("auth.logout").size(), 1u);
  EXPECT_EQ(audit.with_action("auth.logout")[0]->company_id, kCompany);
  expect_error(auth.logout(random.token(32)), Errc::unauthenticated, "invalid refresh token");
}

TEST_F(Auth, AuthenticateUsesTheCurrentUserRecord) {
  auto tokens = auth.login("alice", kPassword, "192.0.2.1");
  ASSERT_TRUE(tokens);
  users.users[alice_id].role = Role::viewer;
  auto claims = auth.authenticate(tokens->access_token);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->role, Role::viewer);
  expect_error(auth.authenticate("Bearer " + tokens->access_token), Errc::unauthenticated, "malformed token");
  clock.advance(16 * 60);
  expect_error(auth.authenticate(tokens->access_token), Errc::unauthenticated, "token expired");
}

TEST_F(Auth, CreateUserValidatesAndAudits) {
  auto bob = auth.create_user("bob.smith@example.com", kPassword, Role::viewer, kCompany, "us_admin");
  ASSERT_TRUE(bob) << bob.error().message;
  EXPECT_TRUE(is_valid_id(bob->id, id_prefix::user));
  EXPECT_TRUE(bob->password_hash.empty());
  EXPECT_EQ(bob->created_at, kStart);
  EXPECT_TRUE(verify_password(users.users.at(bob->id).password_hash, kPassword));
  ASSERT_EQ(users.audit_events.size(), 2u);
  const AuditEvent& event = users.audit_events.back();
  EXPECT_EQ(event.action, "user.create");
  EXPECT_EQ(event.actor, "us_admin");
  EXPECT_EQ(event.target_id, bob->id);
  EXPECT_EQ(event.company_id, kCompany);
  EXPECT_EQ(event.details["role"], "viewer");
  EXPECT_FALSE(event.details.dump().find("argon2") != std::string::npos);

  auto root = auth.create_user("root", kPassword, Role::platform_admin, "", "system");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->company_id, "");

  struct Case {
    std::string username, password;
    Role role;
    std::string company, field;
    Errc code = Errc::invalid_argument;
  };
  for (const Case& c : std::vector<Case>{
           {"ab", kPassword, Role::viewer, kCompany, "username"},
           {std::string(65, 'a'), kPassword, Role::viewer, kCompany, "username"},
           {"bad name", kPassword, Role::viewer, kCompany, "username"},
           {"bad/name", kPassword, Role::viewer, kCompany, "username"},
           {"dave", "short", Role::viewer, kCompany, "password"},
           {"dave", kPassword, Role::platform_admin, kCompany, "company_id"},
           {"dave", kPassword, Role::company_admin, "", "company_id"},
           {"dave", kPassword, Role::viewer, "", "company_id"},
           {"alice", kPassword, Role::viewer, kCompany, "username", Errc::conflict},
       }) {
    auto result = auth.create_user(c.username, c.password, c.role, c.company, "us_admin");
    ASSERT_FALSE(result) << c.username;
    EXPECT_EQ(result.error().code, c.code) << c.username;
    EXPECT_EQ(result.error().field, c.field) << c.username;
  }
  EXPECT_EQ(users.users.size(), 3u);
  EXPECT_TRUE(validate_username(std::string(64, 'a')));
  EXPECT_TRUE(validate_username("A-z_0.9@x"));
}

TEST_F(Auth, AuditOutageFailsLoginsButNotRefusals) {
  audit.broken = true;
  expect_error(auth.login("alice", "a long wrong passphrase", "192.0.2.1"), Errc::unauthenticated,
               "invalid username or password");
  auto login = auth.login("alice", kPassword, "192.0.2.1");
  ASSERT_FALSE(login);
  EXPECT_EQ(login.error().code, Errc::unavailable);
  // The session created before the audit failed was revoked.
  ASSERT_EQ(users.refresh.size(), 1u);
  EXPECT_TRUE(users.refresh.begin()->second.revoked);
}

}  // namespace
}  // namespace carillon::identity
