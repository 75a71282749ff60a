#pragma once
// SAML 2.0 Web Browser SSO, service-provider side, for one company's IdP at a time: our metadata,
// the signed HTTP-Redirect AuthnRequest, and the checked HTTP-POST Response. The same flow serves
// the portal, the web client and the mobile PWA: they differ only in the relay state the caller
// chooses. lasso (and glib/libxml2) stay inside the .cpp files; no HTTP here, the api module
// routes /api/v1/saml/{company}/metadata, /login and /acs to these functions.
//
// Every refusal of a response is Errc::unauthenticated (the message says which check failed, in
// one line). Configuration problems are Errc::invalid_argument with `field` set.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/random.hpp"
#include "common/result.hpp"

namespace carillon::saml {

// The platform as a service provider (per company the entity id and ACS URL usually differ, e.g.
// https://host/api/v1/saml/{company}/metadata and .../acs).
struct SpSettings {
  std::string entity_id;  // absolute URI; the Audience every assertion must name
  std::string acs_url;    // absolute http(s) URL of the HTTP-POST AssertionConsumerService
  std::string cert_pem;   // X.509 certificate of key_pem, published in our metadata
  std::string key_pem;    // RSA private key (PEM, unencrypted) that signs our AuthnRequests
  // Tolerated clock difference with the IdP when checking NotBefore/NotOnOrAfter.
  std::int64_t clock_skew_seconds = 120;
};

// "If the assertion has attribute `attribute` with value `value`, the user gets role `role`."
struct RoleMapping {
  std::string attribute;  // SAML Attribute Name, compared exactly
  std::string value;      // one of its values, compared exactly
  std::string role;
};

// One company's IdP.
struct IdpConfig {
  std::string metadata_xml;                // the IdP's SAML metadata (check_idp_metadata on upload)
  std::vector<RoleMapping> role_mappings;  // evaluated in order, first match wins
  std::string default_role;                // when no mapping matches; empty = refuse the login
  // NameID format asked for, e.g. "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
  // empty = unspecified (whatever the IdP is configured to send). Transient NameIDs are refused.
  std::string name_id_format;
};

// What start_login hands back. Send the browser to redirect_url; keep request_id and state_dump
// server-side (never in the browser: the dump is what the response is checked against) until the
// IdP's response arrives, a few minutes at most, and use them once.
struct AuthnRequest {
  std::string redirect_url;  // IdP SSO endpoint + SAMLRequest, RelayState, SigAlg, Signature
  std::string request_id;    // the AuthnRequest ID; the response's InResponseTo must equal it
  std::string state_dump;    // lasso's login state (XML, a few KB)
};

// What the caller kept from start_login.
struct PendingLogin {
  std::string request_id;
  std::string state_dump;
};

// The verified outcome of a login.
struct Assertion {
  std::string issuer;  // the IdP entity id
  std::string assertion_id;
  std::string name_id;                                 // the user's identifier at the IdP, never a transient one
  std::string name_id_format;                          // empty when the IdP sent none
  std::string session_index;                           // empty when the IdP sent none (needed for single logout)
  std::multimap<std::string, std::string> attributes;  // attribute Name -> each text value
  std::int64_t not_on_or_after = 0;                    // the assertion is no longer usable from then (Unix seconds)
  std::int64_t session_not_on_or_after = 0;            // IdP-imposed session end, 0 when none
};

// Remembers assertion ids so that one response cannot log in twice. Implementations must make
// first_use atomic (a database does it with a unique key and INSERT ... ON CONFLICT DO NOTHING).
class ReplayCache {
 public:
  virtual ~ReplayCache() = default;
  // Records (issuer, assertion_id) until `expires_at`. true: first use; false: already recorded
  // and not yet expired at `now`, i.e. a replay. Errors only when the store itself fails.
  virtual Result<bool> first_use(const std::string& issuer, const std::string& assertion_id, std::int64_t expires_at,
                                 std::int64_t now) = 0;
};

// In-process ReplayCache; entries are dropped once expired. Thread-safe.
class MemoryReplayCache final : public ReplayCache {
 public:
  Result<bool> first_use(const std::string& issuer, const std::string& assertion_id, std::int64_t expires_at,
                         std::int64_t now) override;
  std::size_t size() const;

 private:
  using Key = std::pair<std::string, std::string>;
  void purge(std::int64_t now);

  mutable std::mutex mutex_;
  std::map<Key, std::int64_t> expiry_;
  std::set<std::pair<std::int64_t, Key>> by_expiry_;
};

// Our SAML metadata: SPSSODescriptor with the signing certificate, signed AuthnRequests, wanted
// signed assertions, one HTTP-POST AssertionConsumerService. invalid_argument (field entity_id,
// acs_url, cert_pem or key_pem) when the settings are unusable, e.g. the key does not match.
Result<std::string> sp_metadata(const SpSettings& settings);

// Checks an uploaded IdP metadata document: lasso must read it as SAML 2.0 metadata with an
// IDPSSODescriptor, an HTTP-Redirect SingleSignOnService and a signing certificate.
// invalid_argument, field "metadata", saying what is missing.
Status check_idp_metadata(const std::string& xml);

// The IdP's entity id from its metadata (same errors as check_idp_metadata).
Result<std::string> idp_entity_id(const std::string& metadata_xml);

// Builds a signed (RSA-SHA256) AuthnRequest for the HTTP-Redirect binding asking for an HTTP-POST
// response; its ID is 128 bits from `random`. relay_state goes back and forth unchanged (at most 80
// bytes, SAML bindings 3.4.3): make it an opaque key of server-side data such as the client kind
// and return path, not a URL.
Result<AuthnRequest> start_login(const SpSettings& settings, const IdpConfig& idp, const std::string& relay_state,
                                 Random& random);

// The InResponseTo of a response, NOT verified: only for finding the PendingLogin to pass to
// finish_login (the ACS POST is cross-site, so SameSite cookies do not come with it).
// unauthenticated when the form field is not a SAML response; empty for IdP-initiated ones.
Result<std::string> response_in_response_to(const std::string& saml_response_b64);

// Verifies the HTTP-POST SAMLResponse form field against the login started with `pending`:
// status Success; exactly one assertion, signed (itself or the whole response) by a key in the
// IdP metadata; Issuer = the IdP; Audience = our entity id; Destination and Recipient = our ACS
// URL; InResponseTo = pending.request_id; NotBefore/NotOnOrAfter around `now` (Unix seconds,
// +- clock_skew_seconds); the assertion id seen for the first time (recorded in `replay` only when
// every other check passed). No pending login (IdP-initiated SSO) is refused. The caller must
// delete its pending login whatever the outcome. Refusals are unauthenticated; invalid_argument
// means our settings or the stored IdP metadata are unusable; the replay store's own errors pass
// through.
Result<Assertion> finish_login(const SpSettings& settings, const IdpConfig& idp, const std::string& saml_response_b64,
                               const std::optional<PendingLogin>& pending, ReplayCache& replay, std::int64_t now);

// The role for a verified assertion: the first mapping whose attribute has the value, else
// default_role; forbidden "no role mapping matches" when neither gives one.
Result<std::string> map_role(const IdpConfig& idp, const Assertion& assertion);

}  // namespace carillon::saml
