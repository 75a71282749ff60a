#include "pki/pki.hpp"

#include <arpa/inet.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/encoding.hpp"
#include "pki/openssl_support.hpp"
#include "support/temp_dir.hpp"

namespace carillon::pki {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kStart = 1'767'225'600;  // 2026-01-01T00:00:00Z

// Deterministic bytes so tests can check that serial numbers come from the injected Random.
class CountingRandom final : public Random {
 public:
  void fill(unsigned char* out, std::size_t size) override {
    for (std::size_t i = 0; i < size; ++i) out[i] = next_++;
  }

 private:
  unsigned char next_ = 1;
};

class PkiTest : public ::testing::Test {
 protected:
  CertificateAuthority make_ca(const std::string& name = "Carillon Test Root") {
    auto ca = CertificateAuthority::create(name, clock_, random_);
    EXPECT_TRUE(ca) << ca.error().message;
    return std::move(*ca);
  }

  ManualClock clock_{kStart};
  SodiumRandom random_;
};

ossl::X509Ptr parse(const std::string& pem) {
  ossl::X509Ptr cert = ossl::read_cert(pem);
  EXPECT_TRUE(cert) << "does not parse: " << pem;
  return cert;
}

std::string der_to_pem(const std::string& der, const std::string& label) {
  std::string b64 = base64_encode(der);
  std::string pem = "-----BEGIN " + label + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  return pem + "-----END " + label + "-----\n";
}

std::string csr_der(const std::string& csr_pem) {
  ossl::ReqPtr req = ossl::read_csr(csr_pem);
  EXPECT_TRUE(req);
  unsigned char* der = nullptr;
  int length = i2d_X509_REQ(req.get(), &der);
  EXPECT_GT(length, 0);
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return out;
}

// A CSR built with OpenSSL directly, so tests can make the ones make_csr_pem refuses to make.
std::string raw_csr(EVP_PKEY* key, const std::string& common_name) {
  ossl::ReqPtr req(X509_REQ_new());
  ossl::NamePtr name(X509_NAME_new());
  // A plain string type (not MBSTRING_*) skips OpenSSL's length limits, so empty and over-long
  // CNs can be made too.
  EXPECT_EQ(X509_NAME_add_entry_by_NID(name.get(), NID_commonName, V_ASN1_UTF8STRING,
                                       reinterpret_cast<const unsigned char*>(common_name.data()),
                                       static_cast<int>(common_name.size()), -1, 0),
            1);
  EXPECT_EQ(X509_REQ_set_subject_name(req.get(), name.get()), 1);
  EXPECT_EQ(X509_REQ_set_pubkey(req.get(), key), 1);
  EXPECT_GT(X509_REQ_sign(req.get(), key, EVP_sha256()), 0);
  auto pem = ossl::write_csr(req.get());
  EXPECT_TRUE(pem);
  return pem.value_or("");
}

ossl::PkeyPtr p256_key() {
  auto key = ossl::generate_p256_key();
  EXPECT_TRUE(key);
  return std::move(*key);
}

std::set<std::string> alt_names(X509* cert) {
  std::set<std::string> out;
  ossl::GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      out.insert("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                                      static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName))));
    } else if (name->type == GEN_IPADD) {
      char text[INET6_ADDRSTRLEN] = {};
      int family = ASN1_STRING_length(name->d.iPAddress) == 4 ? AF_INET : AF_INET6;
      EXPECT_NE(inet_ntop(family, ASN1_STRING_get0_data(name->d.iPAddress), text, sizeof text), nullptr);
      out.insert(std::string("IP:") + text);
    }
  }
  return out;
}

// `reason` is a piece of the expected message, so each case proves which check caught it.
void expect_csr_rejected(const Result<IssuedCertificate>& result, const std::string& why, const std::string& reason) {
  ASSERT_FALSE(result) << why << ": accepted";
  EXPECT_EQ(result.error().code, Errc::invalid_argument) << why;
  EXPECT_EQ(result.error().field, "csr") << why;
  EXPECT_NE(result.error().message.find(reason), std::string::npos) << why << ": " << result.error().message;
}

void write(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good());
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs a shell command, returns its exit status; output goes to `log`.
int run(const std::string& command, const fs::path& log) {
  int status = std::system((command + " >" + log.string() + " 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(SafeCommonName, AcceptsOnlyLettersDigitsAndDashes) {
  EXPECT_TRUE(is_safe_common_name("a"));
  EXPECT_TRUE(is_safe_common_name("CAR-0001-abc"));
  EXPECT_TRUE(is_safe_common_name(std::string(64, 'x')));
  EXPECT_FALSE(is_safe_common_name(""));
  EXPECT_FALSE(is_safe_common_name(std::string(65, 'x')));
  for (std::string bad : {"a/b", "x+y", "../", "a b", "a.b", "a_b", "#", "a\nb", "caf\xc3\xa9"}) {
    EXPECT_FALSE(is_safe_common_name(bad)) << bad;
  }
  EXPECT_FALSE(is_safe_common_name(std::string_view("ab\0c", 4)));
}

TEST(PrivateKey, IsPkcs8P256) {
  auto pem = generate_private_key_pem();
  ASSERT_TRUE(pem) << pem.error().message;
  EXPECT_TRUE(pem->starts_with("-----BEGIN PRIVATE KEY-----\n")) << *pem;
  ossl::PkeyPtr key = ossl::read_private_key(*pem);
  ASSERT_TRUE(key);
  EXPECT_TRUE(ossl::is_p256(key.get()));
  EXPECT_NE(*pem, generate_private_key_pem().value_or(""));
}

TEST(Csr, RoundTripsTheCommonName) {
  auto key = generate_private_key_pem();
  ASSERT_TRUE(key);
  auto csr = make_csr_pem(*key, "DEV-42");
  ASSERT_TRUE(csr) << csr.error().message;
  EXPECT_TRUE(csr->starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
  auto cn = csr_common_name(*csr);
  ASSERT_TRUE(cn) << cn.error().message;
  EXPECT_EQ(*cn, "DEV-42");
}

TEST(Csr, MakeRejectsBadKeysAndNames) {
  auto key = generate_private_key_pem();
  ASSERT_TRUE(key);
  auto unsafe = make_csr_pem(*key, "a/b");
  ASSERT_FALSE(unsafe);
  EXPECT_EQ(unsafe.error().field, "common_name");

  auto garbage = make_csr_pem("not a key", "dev");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().field, "key_pem");

  ossl::PkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_TRUE(rsa);
  auto rsa_pem = ossl::write_private_key(rsa.get());
  ASSERT_TRUE(rsa_pem);
  auto not_ec = make_csr_pem(*rsa_pem, "dev");
  ASSERT_FALSE(not_ec);
  EXPECT_EQ(not_ec.error().field, "key_pem");
}

TEST(Csr, CommonNameChecksTheSignature) {
  ossl::PkeyPtr key = p256_key();
  std::string der = csr_der(raw_csr(key.get(), "dev-0001"));
  auto at = der.find("dev-0001");
  ASSERT_NE(at, std::string::npos);
  der.replace(at, 8, "dev-0002");
  auto cn = csr_common_name(der_to_pem(der, "CERTIFICATE REQUEST"));
  ASSERT_FALSE(cn) << *cn;
  EXPECT_EQ(cn.error().code, Errc::invalid_argument);
  EXPECT_EQ(cn.error().field, "csr");
  EXPECT_FALSE(csr_common_name(""));
  EXPECT_FALSE(csr_common_name("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"));
}

TEST_F(PkiTest, CaCreateAndLoadRoundTrip) {
  CertificateAuthority ca = make_ca();
  EXPECT_TRUE(ca.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));

  auto info = inspect_certificate(ca.cert_pem());
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->common_name, "Carillon Test Root");
  EXPECT_EQ(info->issuer_cn, "Carillon Test Root");
  EXPECT_EQ(info->not_before, kStart - kBackdateSeconds);
  EXPECT_EQ(info->not_after, kStart + std::int64_t{kCaValidityDays} * 86400);
  EXPECT_EQ(info->serial_hex.size(), 32u);

  ossl::X509Ptr cert = parse(ca.cert_pem());
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_self_signed(cert.get(), 1), 1);
  EXPECT_TRUE(verify_certificate(ca.cert_pem(), ca.cert_pem(), clock_));

  auto loaded = CertificateAuthority::load(ca.cert_pem(), ca.key_pem(), clock_, random_);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->cert_pem(), ca.cert_pem());
  EXPECT_EQ(loaded->key_pem(), ca.key_pem());
  // The loaded CA signs with the same key: its certificates verify against the original.
  auto client = loaded->issue_client("after-load", 10);
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_TRUE(verify_certificate(client->cert_pem, ca.cert_pem(), clock_));
  auto issuer = inspect_certificate(client->cert_pem);
  ASSERT_TRUE(issuer);
  EXPECT_EQ(issuer->issuer_cn, "Carillon Test Root");
}

TEST_F(PkiTest, LoadRejectsMismatchesAndNonCas) {
  CertificateAuthority ca = make_ca();
  CertificateAuthority other = make_ca("Other Root");

  auto wrong_key = CertificateAuthority::load(ca.cert_pem(), other.key_pem(), clock_, random_);
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().field, "key_pem");

  auto leaf = ca.issue_client("leaf", 10);
  ASSERT_TRUE(leaf);
  auto not_ca = CertificateAuthority::load(leaf->cert_pem, leaf->key_pem, clock_, random_);
  ASSERT_FALSE(not_ca);
  EXPECT_EQ(not_ca.error().field, "cert_pem");

  auto garbage = CertificateAuthority::load("garbage", ca.key_pem(), clock_, random_);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().field, "cert_pem");

  ossl::PkeyPtr rsa(EVP_RSA_gen(2048));
  auto rsa_pem = ossl::write_private_key(rsa.get());
  ASSERT_TRUE(rsa_pem);
  auto rsa_key = CertificateAuthority::load(ca.cert_pem(), *rsa_pem, clock_, random_);
  ASSERT_FALSE(rsa_key);
  EXPECT_EQ(rsa_key.error().field, "key_pem");

  auto bad_name = CertificateAuthority::create("", clock_, random_);
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().field, "common_name");
}

TEST_F(PkiTest, ServerCertificateVerifiesAndCarriesTheSans) {
  CertificateAuthority ca = make_ca();
  auto server = ca.issue_server("mqtt-broker", {"localhost", "broker.carillon.test", "*.edge.carillon.test"},
                                {"127.0.0.1", "::1"}, 90);
  ASSERT_TRUE(server) << server.error().message;
  EXPECT_TRUE(verify_certificate(server->cert_pem, ca.cert_pem(), clock_));
  EXPECT_EQ(server->not_after, kStart + 90 * 86400);

  ossl::X509Ptr cert = parse(server->cert_pem);
  EXPECT_EQ(alt_names(cert.get()),
            (std::set<std::string>{"DNS:localhost", "DNS:broker.carillon.test", "DNS:*.edge.carillon.test",
                                   "IP:127.0.0.1", "IP:::1"}));
  EXPECT_EQ(X509_check_host(cert.get(), "broker.carillon.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "evil.test", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<std::uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);

  ossl::PkeyPtr key = ossl::read_private_key(server->key_pem);
  ASSERT_TRUE(key);
  EXPECT_TRUE(ossl::is_p256(key.get()));
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

TEST_F(PkiTest, ServerRejectsBadNamesAndDays) {
  CertificateAuthority ca = make_ca();
  struct Case {
    std::string cn;
    std::vector<std::string> dns;
    std::vector<std::string> ips;
    int days;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{{"srv", {}, {}, 10, "dns_names"},
                                         {"srv", {"bad name"}, {}, 10, "dns_names"},
                                         {"srv", {"a,IP:1.2.3.4"}, {}, 10, "dns_names"},
                                         {"srv", {"-lead.example"}, {}, 10, "dns_names"},
                                         {"srv", {}, {"1.2.3"}, 10, "ip_addresses"},
                                         {"srv", {}, {"localhost"}, 10, "ip_addresses"},
                                         {"a/b", {"localhost"}, {}, 10, "common_name"},
                                         {"srv", {"localhost"}, {}, 0, "days"},
                                         {"srv", {"localhost"}, {}, kMaxCertificateDays + 1, "days"}}) {
    auto result = ca.issue_server(c.cn, c.dns, c.ips, c.days);
    ASSERT_FALSE(result) << c.field;
    EXPECT_EQ(result.error().code, Errc::invalid_argument);
    EXPECT_EQ(result.error().field, c.field);
  }
}

TEST_F(PkiTest, ClientCertificateHasClientAuth) {
  CertificateAuthority ca = make_ca();
  auto client = ca.issue_client("carillon-serve", 30);
  ASSERT_TRUE(client) << client.error().message;
  EXPECT_TRUE(verify_certificate(client->cert_pem, ca.cert_pem(), clock_));
  ossl::X509Ptr cert = parse(client->cert_pem);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<std::uint32_t>(XKU_SSL_CLIENT));
  EXPECT_FALSE(ca.issue_client("x+y", 30));
}

TEST_F(PkiTest, DeviceCsrIsSignedWithCnEkuAndOnlyCn) {
  CertificateAuthority ca = make_ca();
  auto key_pem = generate_private_key_pem();
  ASSERT_TRUE(key_pem);
  auto csr = make_csr_pem(*key_pem, "CAR-00042");
  ASSERT_TRUE(csr);

  auto device = ca.sign_device_csr(*csr, "CAR-00042", 365);
  ASSERT_TRUE(device) << device.error().message;
  EXPECT_TRUE(device->key_pem.empty());
  EXPECT_EQ(device->not_after, kStart + 365 * 86400);
  EXPECT_TRUE(verify_certificate(device->cert_pem, ca.cert_pem(), clock_));
  EXPECT_TRUE(ca.verify(device->cert_pem));

  auto info = inspect_certificate(device->cert_pem);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->common_name, "CAR-00042");
  EXPECT_EQ(info->issuer_cn, "Carillon Test Root");
  EXPECT_EQ(info->serial_hex, device->serial_hex);
  EXPECT_EQ(info->serial_hex.size(), 32u);
  EXPECT_EQ(info->not_after, device->not_after);

  ossl::X509Ptr cert = parse(device->cert_pem);
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(cert.get())), 1);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<std::uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  // The certificate is for the device's own key.
  ossl::PkeyPtr key = ossl::read_private_key(*key_pem);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);

  auto again = ca.sign_device_csr(*csr, "CAR-00042", 365);
  ASSERT_TRUE(again);
  EXPECT_NE(again->serial_hex, device->serial_hex);
}

TEST_F(PkiTest, DeviceCsrExtraSubjectFieldsAreDropped) {
  CertificateAuthority ca = make_ca();
  ossl::PkeyPtr key = p256_key();
  ossl::ReqPtr req(X509_REQ_new());
  ossl::NamePtr name(X509_NAME_new());
  const auto* org = reinterpret_cast<const unsigned char*>("Evil Corp");
  const auto* cn = reinterpret_cast<const unsigned char*>("dev-7");
  ASSERT_EQ(X509_NAME_add_entry_by_NID(name.get(), NID_organizationName, MBSTRING_ASC, org, -1, -1, 0), 1);
  ASSERT_EQ(X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_ASC, cn, -1, -1, 0), 1);
  ASSERT_EQ(X509_REQ_set_subject_name(req.get(), name.get()), 1);
  ASSERT_EQ(X509_REQ_set_pubkey(req.get(), key.get()), 1);
  ASSERT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
  auto pem = ossl::write_csr(req.get());
  ASSERT_TRUE(pem);

  auto device = ca.sign_device_csr(*pem, "dev-7", 30);
  ASSERT_TRUE(device) << device.error().message;
  ossl::X509Ptr cert = parse(device->cert_pem);
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(cert.get())), 1);
}

TEST_F(PkiTest, SerialNumbersComeFromTheInjectedRandom) {
  CountingRandom counting;
  auto ca = CertificateAuthority::create("Root", clock_, counting);
  ASSERT_TRUE(ca);
  // Bytes 01..10 with the top bit forced on.
  EXPECT_EQ(inspect_certificate(ca->cert_pem())->serial_hex, "8102030405060708090a0b0c0d0e0f10");
  auto client = ca->issue_client("c", 1);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->serial_hex, "9112131415161718191a1b1c1d1e1f20");
}

TEST_F(PkiTest, DeviceCsrRejections) {
  CertificateAuthority ca = make_ca();
  ossl::PkeyPtr key = p256_key();

  expect_csr_rejected(ca.sign_device_csr(raw_csr(key.get(), "dev-0001"), "dev-0002", 30), "mismatching CN", "expected");
  expect_csr_rejected(ca.sign_device_csr(raw_csr(key.get(), "dev-0001"), "DEV-0001", 30), "CN differs in case", "expected");
  for (const std::string& unsafe : {std::string("a/b"), std::string("x+y"), std::string("../"), std::string(),
                                    std::string(65, 'a'), std::string("dev 1"), std::string("dev\n1")}) {
    expect_csr_rejected(ca.sign_device_csr(raw_csr(key.get(), unsafe), unsafe, 30), "unsafe CN '" + unsafe + "'", "must match");
  }

  // Tampered: the CN bytes changed to the expected serial, so only the signature can catch it.
  std::string der = csr_der(raw_csr(key.get(), "dev-0001"));
  std::string tampered_cn = der;
  tampered_cn.replace(tampered_cn.find("dev-0001"), 8, "dev-0002");
  expect_csr_rejected(ca.sign_device_csr(der_to_pem(tampered_cn, "CERTIFICATE REQUEST"), "dev-0002", 30),
                      "tampered CN", "signature");
  std::string tampered_signature = der;
  tampered_signature.back() = static_cast<char>(tampered_signature.back() ^ 0x01);
  expect_csr_rejected(ca.sign_device_csr(der_to_pem(tampered_signature, "CERTIFICATE REQUEST"), "dev-0001", 30),
                      "tampered signature", "signature");
  // The untampered one is fine: the rejections above are about the changes.
  EXPECT_TRUE(ca.sign_device_csr(der_to_pem(der, "CERTIFICATE REQUEST"), "dev-0001", 30));

  ossl::PkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_TRUE(rsa);
  expect_csr_rejected(ca.sign_device_csr(raw_csr(rsa.get(), "dev-rsa"), "dev-rsa", 30), "RSA key", "EC P-256");
  ossl::PkeyPtr p384(EVP_EC_gen("P-384"));
  ASSERT_TRUE(p384);
  expect_csr_rejected(ca.sign_device_csr(raw_csr(p384.get(), "dev-384"), "dev-384", 30), "P-384 key", "EC P-256");

  expect_csr_rejected(ca.sign_device_csr("", "dev", 30), "empty", "not a PEM");
  expect_csr_rejected(ca.sign_device_csr("garbage", "dev", 30), "garbage", "not a PEM");
  expect_csr_rejected(ca.sign_device_csr(ca.cert_pem(), "dev", 30), "a certificate, not a CSR", "not a PEM");

  auto bad_days = ca.sign_device_csr(raw_csr(key.get(), "dev-0001"), "dev-0001", 0);
  ASSERT_FALSE(bad_days);
  EXPECT_EQ(bad_days.error().field, "days");
}

TEST_F(PkiTest, ForeignCaCertificateFailsVerification) {
  CertificateAuthority ca = make_ca();
  CertificateAuthority foreign = make_ca("Carillon Test Root");  // same name, different key
  auto csr = make_csr_pem(generate_private_key_pem().value(), "dev-1");
  ASSERT_TRUE(csr);
  auto device = foreign.sign_device_csr(*csr, "dev-1", 30);
  ASSERT_TRUE(device);
  EXPECT_TRUE(verify_certificate(device->cert_pem, foreign.cert_pem(), clock_));
  auto status = verify_certificate(device->cert_pem, ca.cert_pem(), clock_);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::unauthenticated);
  EXPECT_FALSE(ca.verify(device->cert_pem));

  auto garbage = verify_certificate("garbage", ca.cert_pem(), clock_);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().field, "cert_pem");
  auto bad_ca = verify_certificate(device->cert_pem, "garbage", clock_);
  ASSERT_FALSE(bad_ca);
  EXPECT_EQ(bad_ca.error().field, "ca_cert_pem");
}

TEST_F(PkiTest, ExpiredCertificateFailsVerification) {
  CertificateAuthority ca = make_ca();
  auto client = ca.issue_client("short-lived", 1);
  ASSERT_TRUE(client);
  EXPECT_TRUE(verify_certificate(client->cert_pem, ca.cert_pem(), clock_));

  clock_.advance(86400 - 1);
  EXPECT_TRUE(verify_certificate(client->cert_pem, ca.cert_pem(), clock_));
  clock_.advance(2);
  auto status = verify_certificate(client->cert_pem, ca.cert_pem(), clock_);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::unauthenticated);
  EXPECT_NE(status.error().message.find("expired"), std::string::npos) << status.error().message;
  EXPECT_FALSE(ca.verify(client->cert_pem));
}

TEST_F(PkiTest, SystemClockFormChecksValidityToo) {
  // Issued by a clock 20 years ahead: not yet valid by the system clock.
  ManualClock future(SystemClock().now() + 20 * 365 * 86400);
  auto ca = CertificateAuthority::create("Future Root", future, random_);
  ASSERT_TRUE(ca);
  auto client = ca->issue_client("from-the-future", 30);
  ASSERT_TRUE(client);
  EXPECT_TRUE(verify_certificate(client->cert_pem, ca->cert_pem(), future));
  EXPECT_FALSE(verify_certificate(client->cert_pem, ca->cert_pem()));
}

TEST_F(PkiTest, LeafNeverOutlivesTheCa) {
  CertificateAuthority ca = make_ca();
  clock_.advance(std::int64_t{kCaValidityDays - 10} * 86400);
  auto client = ca.issue_client("late", 365);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->not_after, kStart + std::int64_t{kCaValidityDays} * 86400);
  clock_.advance(20 * 86400);
  auto expired = ca.issue_client("too-late", 1);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, Errc::unavailable);
}

TEST_F(PkiTest, CrlListsTheRevokedSerials) {
  CertificateAuthority ca = make_ca();
  auto a = ca.issue_client("dev-a", 30);
  auto b = ca.issue_client("dev-b", 30);
  auto c = ca.issue_client("dev-c", 30);
  ASSERT_TRUE(a && b && c);
  std::string b_upper = b->serial_hex;
  std::transform(b_upper.begin(), b_upper.end(), b_upper.begin(), [](char ch) { return std::toupper(ch); });

  auto pem = ca.crl_pem({a->serial_hex, b->serial_hex, b_upper}, 7);
  ASSERT_TRUE(pem) << pem.error().message;

  ossl::BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  ossl::CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(crl);
  ossl::X509Ptr ca_cert = parse(ca.cert_pem());
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca_cert.get())), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca_cert.get())), 0);
  EXPECT_EQ(ossl::unix_seconds(X509_CRL_get0_lastUpdate(crl.get())), kStart);
  EXPECT_EQ(ossl::unix_seconds(X509_CRL_get0_nextUpdate(crl.get())), kStart + 7 * 86400);

  std::set<std::string> listed;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    listed.insert(ossl::serial_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  }
  EXPECT_EQ(listed, (std::set<std::string>{a->serial_hex, b->serial_hex}));
  EXPECT_EQ(sk_X509_REVOKED_num(revoked), 2);

  // OpenSSL's own lookup agrees, per certificate.
  X509_REVOKED* entry = nullptr;
  EXPECT_EQ(X509_CRL_get0_by_cert(crl.get(), &entry, parse(a->cert_pem).get()), 1);
  EXPECT_EQ(X509_CRL_get0_by_cert(crl.get(), &entry, parse(c->cert_pem).get()), 0);

  auto empty = ca.crl_pem({}, 1);
  ASSERT_TRUE(empty) << empty.error().message;
  auto bad = ca.crl_pem({"zz12"}, 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "revoked_serials");
  auto bad_days = ca.crl_pem({}, 0);
  ASSERT_FALSE(bad_days);
  EXPECT_EQ(bad_days.error().field, "days");
}

TEST(Fingerprint, IsSha256OfTheDer) {
  SystemClock clock;
  SodiumRandom random;
  auto ca = CertificateAuthority::create("Root", clock, random);
  ASSERT_TRUE(ca);
  ossl::X509Ptr cert = ossl::read_cert(ca->cert_pem());
  unsigned char* der = nullptr;
  int length = i2d_X509(cert.get(), &der);
  ASSERT_GT(length, 0);
  std::string expected = sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length)));
  OPENSSL_free(der);
  EXPECT_EQ(sha256_fingerprint_hex(ca->cert_pem()), expected);
  EXPECT_EQ(expected.size(), 64u);
  EXPECT_EQ(sha256_fingerprint_hex("garbage"), "");
  EXPECT_EQ(sha256_fingerprint_hex(""), "");
}

// The openssl command line as an independent judge of what this module produces.
TEST(OpensslCli, AgreesOnChainsPurposesRevocationAndFingerprint) {
  testing::TempDir dir;
  SystemClock clock;
  SodiumRandom random;
  auto ca = CertificateAuthority::create("Cli Root", clock, random);
  auto foreign = CertificateAuthority::create("Cli Root", clock, random);
  ASSERT_TRUE(ca && foreign);
  auto server = ca->issue_server("broker", {"localhost"}, {"127.0.0.1"}, 30);
  auto key = generate_private_key_pem();
  ASSERT_TRUE(server && key);
  auto device = ca->sign_device_csr(make_csr_pem(*key, "dev-cli").value(), "dev-cli", 30);
  auto revoked = ca->sign_device_csr(make_csr_pem(*key, "dev-revoked").value(), "dev-revoked", 30);
  auto stranger = foreign->issue_client("stranger", 30);
  ASSERT_TRUE(device && revoked && stranger);
  auto crl = ca->crl_pem({revoked->serial_hex}, 7);
  ASSERT_TRUE(crl);

  const fs::path& d = dir.path();
  write(d / "ca.pem", ca->cert_pem());
  write(d / "server.pem", server->cert_pem);
  write(d / "device.pem", device->cert_pem);
  write(d / "revoked.pem", revoked->cert_pem);
  write(d / "stranger.pem", stranger->cert_pem);
  write(d / "crl.pem", *crl);
  const fs::path log = d / "log";
  const std::string verify = "openssl verify -x509_strict -CAfile " + (d / "ca.pem").string();

  EXPECT_EQ(run(verify + " -purpose sslserver -verify_hostname localhost " + (d / "server.pem").string(), log), 0)
      << slurp(log);
  EXPECT_EQ(run(verify + " -purpose sslclient " + (d / "device.pem").string(), log), 0) << slurp(log);
  // EKUs are enforced: a device certificate is no server certificate.
  EXPECT_NE(run(verify + " -purpose sslserver " + (d / "device.pem").string(), log), 0) << slurp(log);
  EXPECT_NE(run(verify + " " + (d / "stranger.pem").string(), log), 0) << slurp(log);

  const std::string crl_check = verify + " -crl_check -CRLfile " + (d / "crl.pem").string() + " ";
  EXPECT_EQ(run(crl_check + (d / "device.pem").string(), log), 0) << slurp(log);
  EXPECT_NE(run(crl_check + (d / "revoked.pem").string(), log), 0) << slurp(log);
  EXPECT_NE(slurp(log).find("revoked"), std::string::npos) << slurp(log);

  ASSERT_EQ(run("openssl x509 -noout -fingerprint -sha256 -in " + (d / "device.pem").string(), log), 0);
  std::string fingerprint = slurp(log);
  std::string hex;
  for (char ch : fingerprint.substr(fingerprint.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(ch))) hex += static_cast<char>(std::tolower(ch));
  }
  EXPECT_EQ(hex, sha256_fingerprint_hex(device->cert_pem));
}

}  // namespace
}  // namespace carillon::pki
