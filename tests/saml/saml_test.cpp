// The SAML SP against an IdP played by python3-lasso (tests/saml/idp.py), fully offline. Keys and
// certificates are generated per run with the openssl CLI.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include "common/files.hpp"
#include "common/random.hpp"
#include "saml/service_provider.hpp"
#include "support/temp_dir.hpp"

namespace carillon::saml {
namespace {

namespace fs = std::filesystem;

const std::string kIdpEntityId = "https://idp.acme.test/saml/metadata";
const std::string kIdpSsoUrl = "https://idp.acme.test/saml/sso";

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs a shell command; its stdout, or a test failure with the exit status.
std::string run(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) {
    ADD_FAILURE() << "cannot run " << command;
    return {};
  }
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe.get())) out.append(buffer, n);
  int status = pclose(pipe.release());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ADD_FAILURE() << "failed (" << status << "): " << command;
  return out;
}

std::string read(const fs::path& path) {
  auto text = read_file(path);
  if (!text) ADD_FAILURE() << "cannot read " << path;
  return text ? *text : std::string();
}

std::string idp_script() { return std::string("/usr/bin/python3 ") + CARILLON_SOURCE_DIR + "/tests/saml/idp.py"; }

class SamlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    for (const char* name : {"sp", "idp", "foreign"}) {
      auto base = (dir_->path() / name).string();
      run("openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj /CN=" + std::string(name) + " -keyout " +
          quote(base + ".key") + " -out " + quote(base + ".crt") + " 2>/dev/null");
    }
    auto idp_cert = (dir_->path() / "idp.crt").string();
    std::string metadata = run(idp_script() + " metadata --entity-id " + quote(kIdpEntityId) + " --sso-url " +
                               quote(kIdpSsoUrl) + " --cert " + quote(idp_cert));
    ASSERT_TRUE(write_file(dir_->path() / "idp.xml", metadata));
    // Another company's IdP (its own entity id and key), to prove tenants cannot cross.
    std::string other = run(idp_script() + " metadata --entity-id https://idp.other.test/metadata --sso-url " +
                            "https://idp.other.test/sso --cert " + quote((dir_->path() / "foreign.crt").string()));
    ASSERT_TRUE(write_file(dir_->path() / "other-idp.xml", other));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    settings_.entity_id = "https://carillon.test/api/v1/saml/acme/metadata";
    settings_.acs_url = "https://carillon.test/api/v1/saml/acme/acs";
    settings_.cert_pem = read(dir_->path() / "sp.crt");
    settings_.key_pem = read(dir_->path() / "sp.key");
    idp_.metadata_xml = read(dir_->path() / "idp.xml");
    idp_.role_mappings = {{"groups", "intercom-admins", "admin"}, {"groups", "staff", "operator"}};
    idp_.default_role = "";
    auto metadata = sp_metadata(settings_);
    ASSERT_TRUE(metadata) << metadata.error().message;
    ASSERT_TRUE(write_file(dir_->path() / "sp.xml", *metadata));
  }

  AuthnRequest start(const std::string& relay_state = "r-portal-1") {
    auto request = start_login(settings_, idp_, relay_state, random_);
    EXPECT_TRUE(request) << request.error().message;
    return request ? *request : AuthnRequest{};
  }

  // The IdP's HTTP-POST SAMLResponse for `request`; `signer` names the key pair that signs.
  std::string respond(const AuthnRequest& request, const std::string& options = "", const std::string& signer = "idp",
                      const std::string& idp_metadata = "idp.xml") {
    auto path = [](const std::string& name) { return quote((dir_->path() / name).string()); };
    std::string out = run(idp_script() + " respond --metadata " + path(idp_metadata) + " --key " +
                          path(signer + ".key") + " --cert " + path(signer + ".crt") + " --sp-metadata " +
                          path("sp.xml") + " --request-url " + quote(request.redirect_url) +
                          " --name-id alice@acme.test --attr groups=staff --attr groups=intercom-admins"
                          " --attr department=facilities " +
                          options);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  static PendingLogin pending(const AuthnRequest& request) { return {request.request_id, request.state_dump}; }
  static std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

  Result<Assertion> finish(const AuthnRequest& request, const std::string& response, std::int64_t at = now()) {
    return finish_login(settings_, idp_, response, pending(request), replay_, at);
  }

  // The login is refused as unauthenticated with a message containing `why`.
  void expect_refused(const Result<Assertion>& result, const std::string& why) {
    ASSERT_FALSE(result) << "accepted an assertion for " << result->name_id;
    EXPECT_EQ(result.error().code, Errc::unauthenticated) << result.error().message;
    EXPECT_NE(result.error().message.find(why), std::string::npos) << result.error().message;
    EXPECT_EQ(result.error().message.find('\n'), std::string::npos);
    EXPECT_EQ(replay_.size(), 0u) << "a refused response must not be recorded";
  }

  static testing::TempDir* dir_;
  SpSettings settings_;
  IdpConfig idp_;
  MemoryReplayCache replay_;
  SodiumRandom random_;
};

testing::TempDir* SamlTest::dir_ = nullptr;

TEST_F(SamlTest, SpMetadataPublishesAcsAndSigningCertificate) {
  auto metadata = sp_metadata(settings_);
  ASSERT_TRUE(metadata);
  EXPECT_NE(metadata->find("entityID=\"" + settings_.entity_id + "\""), std::string::npos);
  EXPECT_NE(metadata->find("AuthnRequestsSigned=\"true\""), std::string::npos);
  EXPECT_NE(metadata->find("Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"" +
                           settings_.acs_url + "\""),
            std::string::npos);
  EXPECT_NE(metadata->find("<md:KeyDescriptor use=\"signing\">"), std::string::npos);
  // Every respond() below has python-lasso load this metadata and check our request signature with it.
}

TEST_F(SamlTest, SpSettingsAreValidated) {
  SpSettings other = settings_;
  other.key_pem = read(dir_->path() / "idp.key");
  auto mismatch = sp_metadata(other);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().field, "key_pem");

  other = settings_;
  other.acs_url = "javascript:alert(1)";
  ASSERT_FALSE(sp_metadata(other));
  EXPECT_EQ(sp_metadata(other).error().field, "acs_url");

  other = settings_;
  other.entity_id = "";
  EXPECT_EQ(sp_metadata(other).error().field, "entity_id");

  other = settings_;
  other.cert_pem = "not a certificate";
  EXPECT_EQ(sp_metadata(other).error().field, "cert_pem");

  other = settings_;
  other.entity_id = "urn:x with spaces";
  EXPECT_EQ(sp_metadata(other).error().field, "entity_id");
  other.entity_id = "urn:x\"><evil/>";
  auto escaped = sp_metadata(other);
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->find("<evil/>"), std::string::npos);
}

TEST_F(SamlTest, StartLoginBuildsSignedRedirect) {
  AuthnRequest request = start("r-pwa-42");
  EXPECT_EQ(request.redirect_url.rfind(kIdpSsoUrl + "?", 0), 0u) << request.redirect_url;
  EXPECT_NE(request.redirect_url.find("SAMLRequest="), std::string::npos);
  EXPECT_NE(request.redirect_url.find("RelayState=r-pwa-42"), std::string::npos);
  EXPECT_NE(request.redirect_url.find("SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"),
            std::string::npos)
      << request.redirect_url;
  EXPECT_NE(request.redirect_url.find("&Signature="), std::string::npos);
  EXPECT_EQ(request.request_id.size(), 33u) << "_ and 128 random bits in hex: " << request.request_id;
  EXPECT_NE(request.state_dump.find(request.request_id), std::string::npos);
  EXPECT_NE(start().request_id, request.request_id);

  auto too_long = start_login(settings_, idp_, std::string(81, 'r'), random_);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().field, "relay_state");
}

TEST_F(SamlTest, HappyPathGivesNameIdAttributesAndRole) {
  AuthnRequest request = start();
  std::string response = respond(request);
  auto in_response_to = response_in_response_to(response);
  ASSERT_TRUE(in_response_to) << in_response_to.error().message;
  EXPECT_EQ(*in_response_to, request.request_id);

  auto assertion = finish(request, response);
  ASSERT_TRUE(assertion) << assertion.error().message;
  EXPECT_EQ(assertion->issuer, kIdpEntityId);
  EXPECT_EQ(assertion->name_id, "alice@acme.test");
  EXPECT_EQ(assertion->name_id_format, "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
  EXPECT_FALSE(assertion->assertion_id.empty());
  EXPECT_FALSE(assertion->session_index.empty());
  EXPECT_GT(assertion->not_on_or_after, now());
  EXPECT_LE(assertion->not_on_or_after, now() + 301);
  EXPECT_EQ(assertion->attributes.count("groups"), 2u);
  auto department = assertion->attributes.find("department");
  ASSERT_NE(department, assertion->attributes.end());
  EXPECT_EQ(department->second, "facilities");
  EXPECT_EQ(replay_.size(), 1u);

  auto role = map_role(idp_, *assertion);
  ASSERT_TRUE(role) << role.error().message;
  EXPECT_EQ(*role, "admin") << "the first mapping that matches wins, not the first value";
}

TEST_F(SamlTest, TamperedNameIdIsRefused) {
  AuthnRequest request = start();
  expect_refused(finish(request, respond(request, "--tamper-name-id mallory@acme.test")), "not signed by the IdP");
}

TEST_F(SamlTest, ForeignSignerIsRefused) {
  AuthnRequest request = start();
  expect_refused(finish(request, respond(request, "", "foreign")), "not signed by the IdP");
}

TEST_F(SamlTest, AnotherCompanysIdpIsRefused) {
  AuthnRequest request = start();
  expect_refused(finish(request, respond(request, "", "foreign", "other-idp.xml")), "not this company's IdP");
}

TEST_F(SamlTest, TransientNameIdIsRefused) {
  AuthnRequest request = start();
  expect_refused(
      finish(request, respond(request, "--name-id-format urn:oasis:names:tc:SAML:2.0:nameid-format:transient")),
      "NameID is transient");
}

TEST_F(SamlTest, RequestedNameIdFormatIsConfigurable) {
  idp_.name_id_format = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
  AuthnRequest request = start();
  auto assertion =
      finish(request, respond(request,
                              "--expect-name-id-policy urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
                              " --name-id-format urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"));
  ASSERT_TRUE(assertion) << assertion.error().message;
  EXPECT_EQ(assertion->name_id_format, "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
}

TEST_F(SamlTest, UnsignedResponseIsRefused) {
  AuthnRequest request = start();
  expect_refused(finish(request, respond(request, "--strip-signatures")), "not signed by the IdP");
}

TEST_F(SamlTest, WrongAudienceIsRefused) {
  AuthnRequest request = start();
  expect_refused(finish(request, respond(request, "--audience https://other-sp.test/metadata")),
                 "Audience is not our entity id");
}

TEST_F(SamlTest, ExpiredAssertionIsRefused) {
  AuthnRequest request = start();
  expect_refused(finish(request, respond(request, "--expired")), "expired");
}

TEST_F(SamlTest, ValidityWindowUsesTheInjectedClock) {
  AuthnRequest request = start();
  std::string response = respond(request);
  expect_refused(finish(request, response, now() + 3600), "expired");
  expect_refused(finish(request, response, now() - 3600), "not yet valid");

  // The edges, from the assertion's own end (each check with a fresh replay cache).
  MemoryReplayCache first_cache;
  auto accepted = finish_login(settings_, idp_, response, pending(request), first_cache, now());
  ASSERT_TRUE(accepted) << accepted.error().message;
  const std::int64_t last = accepted->not_on_or_after + settings_.clock_skew_seconds - 1;
  MemoryReplayCache late_cache;
  auto late = finish_login(settings_, idp_, response, pending(request), late_cache, last);
  EXPECT_TRUE(late) << late.error().message;
  MemoryReplayCache too_late_cache;
  auto too_late = finish_login(settings_, idp_, response, pending(request), too_late_cache, last + 1);
  ASSERT_FALSE(too_late);
  EXPECT_NE(too_late.error().message.find("expired"), std::string::npos) << too_late.error().message;
}

TEST_F(SamlTest, WrongInResponseToIsRefused) {
  AuthnRequest request = start();
  expect_refused(finish(request, respond(request, "--in-response-to _someone-elses-request")),
                 "InResponseTo does not match");
}

TEST_F(SamlTest, ResponseToAnotherLoginIsRefused) {
  AuthnRequest first = start();
  AuthnRequest second = start();
  expect_refused(finish(second, respond(first)), "InResponseTo does not match");
}

TEST_F(SamlTest, WrongRecipientIsRefused) {
  AuthnRequest request = start();
  expect_refused(finish(request, respond(request, "--recipient https://evil.test/acs")), "not our ACS URL");
}

TEST_F(SamlTest, ReplayedResponseIsRefused) {
  AuthnRequest request = start();
  std::string response = respond(request);
  auto first = finish(request, response);
  ASSERT_TRUE(first) << first.error().message;
  auto second = finish(request, response);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::unauthenticated);
  EXPECT_NE(second.error().message.find("already used (replay)"), std::string::npos) << second.error().message;
}

TEST_F(SamlTest, IdpInitiatedAndMismatchedStateAreRefused) {
  AuthnRequest request = start();
  std::string response = respond(request);
  expect_refused(finish_login(settings_, idp_, response, std::nullopt, replay_, now()), "IdP-initiated");
  PendingLogin mixed{start().request_id, request.state_dump};
  expect_refused(finish_login(settings_, idp_, response, mixed, replay_, now()), "does not belong to request");
  expect_refused(finish_login(settings_, idp_, "", pending(request), replay_, now()), "empty");
  expect_refused(finish_login(settings_, idp_, "bm90IFhNTA==", pending(request), replay_, now()), "refused");
}

TEST_F(SamlTest, BadIdpMetadataIsRefused) {
  EXPECT_TRUE(check_idp_metadata(idp_.metadata_xml));
  auto entity_id = idp_entity_id(idp_.metadata_xml);
  ASSERT_TRUE(entity_id);
  EXPECT_EQ(*entity_id, kIdpEntityId);

  auto expect_bad = [](const std::string& xml, const std::string& why) {
    auto status = check_idp_metadata(xml);
    ASSERT_FALSE(status) << why;
    EXPECT_EQ(status.error().code, Errc::invalid_argument);
    EXPECT_EQ(status.error().field, "metadata");
    EXPECT_NE(status.error().message.find(why), std::string::npos) << status.error().message;
  };
  expect_bad("", "empty");
  expect_bad("<html>not metadata</html>", "not SAML 2.0 metadata");
  expect_bad(*sp_metadata(settings_), "no IDPSSODescriptor");

  std::string post_only = idp_.metadata_xml;
  auto binding = post_only.find("bindings:HTTP-Redirect");
  ASSERT_NE(binding, std::string::npos);
  post_only.replace(binding, 22, "bindings:HTTP-POST");
  expect_bad(post_only, "no SingleSignOnService with the HTTP-Redirect binding");

  std::string no_key = idp_.metadata_xml;
  auto begin = no_key.find("<md:KeyDescriptor");
  auto end = no_key.find("</md:KeyDescriptor>");
  ASSERT_NE(begin, std::string::npos);
  no_key.erase(begin, end + 19 - begin);
  expect_bad(no_key, "no signing certificate");

  IdpConfig broken = idp_;
  broken.metadata_xml = "<garbage";
  auto login = start_login(settings_, broken, "", random_);
  ASSERT_FALSE(login);
  EXPECT_EQ(login.error().field, "metadata");
}

TEST(SamlRoles, FirstMatchThenDefaultThenRefused) {
  IdpConfig idp;
  idp.role_mappings = {{"department", "facilities", "installer"}, {"groups", "staff", "operator"}};
  Assertion assertion;
  assertion.attributes = {{"groups", "staff"}, {"department", "facilities"}};
  EXPECT_EQ(map_role(idp, assertion).value(), "installer");
  assertion.attributes = {{"groups", "visitors"}};
  idp.default_role = "viewer";
  EXPECT_EQ(map_role(idp, assertion).value(), "viewer");
  idp.default_role.clear();
  auto refused = map_role(idp, assertion);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::forbidden);
  EXPECT_EQ(refused.error().message, "no role mapping matches");
}

TEST(SamlReplayCache, RemembersUntilExpiry) {
  MemoryReplayCache cache;
  EXPECT_TRUE(cache.first_use("idp", "_a", 1000, 900).value());
  EXPECT_FALSE(cache.first_use("idp", "_a", 1000, 950).value());
  EXPECT_TRUE(cache.first_use("other-idp", "_a", 1000, 950).value()) << "ids are per issuer";
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.first_use("idp", "_b", 2000, 1000).value());
  EXPECT_EQ(cache.size(), 1u) << "expired entries are dropped";
}

}  // namespace
}  // namespace carillon::saml
