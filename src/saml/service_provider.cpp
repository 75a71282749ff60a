#include "saml/service_provider.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>

// glib-object.h and libxml2 must come first: lasso's headers use GObject types without including
// them, and include libxml2 (which pulls in ICU's C++ templates) inside their extern "C" block.
// clang-format off
#include <glib-object.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <lasso/key.h>
#include <lasso/lasso.h>
#include <lasso/xml/misc_text_node.h>
#include <lasso/xml/saml-2.0/saml2_assertion.h>
#include <lasso/xml/saml-2.0/saml2_attribute.h>
#include <lasso/xml/saml-2.0/saml2_attribute_statement.h>
#include <lasso/xml/saml-2.0/saml2_attribute_value.h>
#include <lasso/xml/saml-2.0/saml2_audience_restriction.h>
#include <lasso/xml/saml-2.0/saml2_authn_statement.h>
#include <lasso/xml/saml-2.0/saml2_conditions.h>
#include <lasso/xml/saml-2.0/saml2_name_id.h>
#include <lasso/xml/saml-2.0/saml2_subject.h>
#include <lasso/xml/saml-2.0/saml2_subject_confirmation.h>
#include <lasso/xml/saml-2.0/saml2_subject_confirmation_data.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_name_id_policy.h>
#include <lasso/xml/saml-2.0/samlp2_response.h>
// clang-format on
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/encoding.hpp"
#include "common/openssl.hpp"

namespace carillon::saml {
namespace {

constexpr std::size_t kMaxMetadataBytes = 1024 * 1024;
constexpr std::size_t kMaxResponseBytes = 512 * 1024;
constexpr std::size_t kMaxRelayStateBytes = 80;  // SAML bindings 3.4.3 / 3.5.3
constexpr std::size_t kMaxIdentifierBytes = 1024;
constexpr const char* kBearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

struct GFree {
  void operator()(void* p) const { g_free(p); }
};
using GCharPtr = std::unique_ptr<char, GFree>;
struct ServerFree {
  void operator()(LassoServer* server) const { lasso_server_destroy(server); }
};
using ServerPtr = std::unique_ptr<LassoServer, ServerFree>;
struct LoginFree {
  void operator()(LassoLogin* login) const { lasso_login_destroy(login); }
};
using LoginPtr = std::unique_ptr<LassoLogin, LoginFree>;
struct ObjectUnref {
  void operator()(void* object) const { g_object_unref(object); }
};
using ProviderPtr = std::unique_ptr<LassoProvider, ObjectUnref>;
using X509Ptr = openssl::Handle<X509, X509_free>;
struct XmlFree {
  void operator()(xmlChar* text) const { xmlFree(text); }
};
struct XmlDocFree {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
struct XPathContextFree {
  void operator()(xmlXPathContext* context) const { xmlXPathFreeContext(context); }
};
struct XPathObjectFree {
  void operator()(xmlXPathObject* object) const { xmlXPathFreeObject(object); }
};

// lasso_init sets up libxml2, xmlsec and its crypto backend for the whole process and has no
// per-object equivalent, so it runs once, on first use.
bool lasso_ready() {
  static const bool ready = lasso_init() == 0;
  return ready;
}

Status require_lasso() {
  if (!lasso_ready()) return fail(Errc::internal, "lasso (SAML library) failed to initialise");
  return {};
}

std::string str(const char* text) { return text ? std::string(text) : std::string(); }

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

bool has_space_or_control(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c));
  });
}

std::string without_whitespace(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  }
  return out;
}

Result<X509Ptr> read_certificate(const std::string& pem) {
  auto bio = openssl::memory_bio(pem);
  if (!bio) return fail(Errc::invalid_argument, "cert_pem: no PEM certificate", "cert_pem");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    openssl::take_errors();
    return fail(Errc::invalid_argument, "cert_pem: no PEM certificate", "cert_pem");
  }
  return cert;
}

std::string der_base64(X509* cert) {
  int size = i2d_X509(cert, nullptr);
  if (size <= 0) return {};
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509(cert, &out);
  return base64_encode(der);
}

Status check_settings(const SpSettings& settings) {
  if (settings.entity_id.empty() || settings.entity_id.size() > kMaxIdentifierBytes ||
      has_space_or_control(settings.entity_id))
    return fail(Errc::invalid_argument, "entity_id: must be a URI without spaces", "entity_id");
  const auto& acs = settings.acs_url;
  if (!(acs.starts_with("https://") || acs.starts_with("http://")) || acs.size() > kMaxIdentifierBytes ||
      has_space_or_control(acs))
    return fail(Errc::invalid_argument, "acs_url: must be an absolute http(s) URL", "acs_url");
  if (settings.clock_skew_seconds < 0 || settings.clock_skew_seconds > 600)
    return fail(Errc::invalid_argument, "clock_skew_seconds: must be 0..600", "clock_skew_seconds");
  return {};
}

// Parses xs:dateTime as SAML uses it (UTC, "Z" or an offset, optional fraction) to Unix seconds.
std::optional<std::int64_t> parse_instant(const char* text) {
  if (!text) return std::nullopt;
  std::string_view s(text);
  auto number = [&](std::size_t pos, std::size_t digits) -> std::optional<int> {
    if (pos + digits > s.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + digits; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
      value = value * 10 + (s[i] - '0');
    }
    return value;
  };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos == start) return std::nullopt;
  }
  std::int64_t offset = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = number(pos + 1, 2), om = number(pos + 4, 2);
    if (!oh || !om || pos + 3 >= s.size() || s[pos + 3] != ':') return std::nullopt;
    offset = (s[pos] == '+' ? 1 : -1) * (*oh * 3600 + *om * 60);
    pos += 6;
  } else {
    return std::nullopt;  // no zone: SAML requires UTC, a local time is ambiguous
  }
  if (pos != s.size()) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(*month)),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  return days * 86400 + *hour * 3600 + *minute * 60 + *second - offset;
}

Error metadata_error(std::string what) {
  return Error{Errc::invalid_argument, "metadata: " + std::move(what), "metadata"};
}

bool is_signing_certificate(xmlNode* node) {
  std::unique_ptr<xmlChar, XmlFree> text(xmlNodeGetContent(node));
  if (!text) return false;
  auto der = base64_decode(without_whitespace(reinterpret_cast<const char*>(text.get())));
  if (!der) return false;
  const auto* in = reinterpret_cast<const unsigned char*>(der->data());
  X509Ptr cert(d2i_X509(nullptr, &in, static_cast<long>(der->size())));
  openssl::take_errors();
  return cert != nullptr;
}

// The structure lasso does not report on: lasso has no public accessor for the keys it loaded,
// and it only says "cannot load" for a document that is not IdP metadata at all.
Status check_idp_document(const std::string& xml) {
  if (xml.empty()) return tl::unexpected(metadata_error("is empty"));
  if (xml.size() > kMaxMetadataBytes) return tl::unexpected(metadata_error("is larger than 1 MiB"));
  std::unique_ptr<xmlDoc, XmlDocFree> doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                                                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) return tl::unexpected(metadata_error("is not well-formed XML"));
  std::unique_ptr<xmlXPathContext, XPathContextFree> context(xmlXPathNewContext(doc.get()));
  if (!context) return fail(Errc::internal, "libxml2 cannot allocate an XPath context");
  xmlXPathRegisterNs(context.get(), BAD_CAST "md", BAD_CAST "urn:oasis:names:tc:SAML:2.0:metadata");
  xmlXPathRegisterNs(context.get(), BAD_CAST "ds", BAD_CAST "http://www.w3.org/2000/09/xmldsig#");
  auto select = [&](const char* path) {
    return std::unique_ptr<xmlXPathObject, XPathObjectFree>(xmlXPathEvalExpression(BAD_CAST path, context.get()));
  };
  auto count = [](const std::unique_ptr<xmlXPathObject, XPathObjectFree>& found) {
    return found && found->nodesetval ? found->nodesetval->nodeNr : 0;
  };
  if (count(select("/md:EntityDescriptor")) != 1)
    return tl::unexpected(metadata_error("is not SAML 2.0 metadata (the root must be one md:EntityDescriptor)"));
  if (count(select("/md:EntityDescriptor/md:IDPSSODescriptor")) == 0)
    return tl::unexpected(metadata_error("has no IDPSSODescriptor"));
  auto certificates = select(
      "/md:EntityDescriptor/md:IDPSSODescriptor/md:KeyDescriptor[not(@use) or @use='signing']"
      "/ds:KeyInfo/ds:X509Data/ds:X509Certificate");
  for (int i = 0; i < count(certificates); ++i) {
    if (is_signing_certificate(certificates->nodesetval->nodeTab[i])) return {};
  }
  return tl::unexpected(metadata_error("has no signing certificate (KeyDescriptor with an X509Certificate)"));
}

// What the login flow needs from the IdP as lasso loaded it; returns its entity id.
Result<std::string> check_idp_provider(LassoProvider* provider) {
  if (lasso_provider_get_protocol_conformance(provider) != LASSO_PROTOCOL_SAML_2_0)
    return tl::unexpected(metadata_error("is not SAML 2.0 metadata"));
  std::string entity_id = str(provider->ProviderID);
  if (entity_id.empty() || entity_id.size() > kMaxIdentifierBytes)
    return tl::unexpected(metadata_error("has no usable entityID"));
  if ((lasso_provider_get_roles(provider) & LASSO_PROVIDER_ROLE_IDP) == 0)
    return tl::unexpected(metadata_error("has no IDPSSODescriptor"));
  GCharPtr sso(
      lasso_provider_get_metadata_one_for_role(provider, LASSO_PROVIDER_ROLE_IDP, "SingleSignOnService HTTP-Redirect"));
  std::string_view location = sso ? std::string_view(sso.get()) : std::string_view();
  if (!(location.starts_with("https://") || location.starts_with("http://")))
    return tl::unexpected(metadata_error("has no SingleSignOnService with the HTTP-Redirect binding"));
  return entity_id;
}

Result<std::string> inspect_idp_metadata(const std::string& xml) {
  if (auto ready = require_lasso(); !ready) return tl::unexpected(ready.error());
  if (auto document = check_idp_document(xml); !document) return tl::unexpected(document.error());
  ProviderPtr provider(lasso_provider_new_from_buffer(LASSO_PROVIDER_ROLE_IDP, xml.c_str(), nullptr, nullptr));
  if (!provider) return tl::unexpected(metadata_error("is not SAML 2.0 IdP metadata lasso can read"));
  return check_idp_provider(provider.get());
}

struct SpContext {
  ServerPtr server;
  std::string idp_entity_id;
};

// A lasso server for this SP with the one IdP loaded. Built per call so no state lives between
// requests; the cost is dominated by xmlsec, which parses the system CA bundle for every key
// manager it creates (each loaded provider), so this creates as few as it can.
Result<SpContext> make_context(const SpSettings& settings, const IdpConfig& idp) {
  if (auto ready = require_lasso(); !ready) return tl::unexpected(ready.error());
  if (auto document = check_idp_document(idp.metadata_xml); !document) return tl::unexpected(document.error());
  auto metadata = sp_metadata(settings);
  if (!metadata) return tl::unexpected(metadata.error());
  SpContext context;
  // No certificate for lasso: we only sign HTTP-Redirect queries, which carry no KeyInfo, and
  // xmlsec 1.2.37 leaks a BIO each time it is handed a certificate as a buffer (it tries it as a
  // file name first). The certificate reaches the IdP through our metadata.
  context.server.reset(lasso_server_new_from_buffers(metadata->c_str(), settings.key_pem.c_str(), nullptr, nullptr));
  if (!context.server) return fail(Errc::invalid_argument, "key_pem: lasso cannot load the SP key", "key_pem");
  // lasso signs with RSA-SHA1 unless told otherwise (its default setter is not exported).
  std::unique_ptr<LassoKey, ObjectUnref> key(lasso_key_new_for_signature_from_memory(
      settings.key_pem.data(), settings.key_pem.size(), nullptr, LASSO_SIGNATURE_METHOD_RSA_SHA256, nullptr));
  if (!key) return fail(Errc::invalid_argument, "key_pem: lasso cannot load the SP key", "key_pem");
  if (lasso_provider_set_server_signing_key(LASSO_PROVIDER(context.server.get()), key.get()) != 0)
    return fail(Errc::internal, "lasso refused the SP signing key");
  context.server->signature_method = LASSO_SIGNATURE_METHOD_RSA_SHA256;
  int rc = lasso_server_add_provider_from_buffer(context.server.get(), LASSO_PROVIDER_ROLE_IDP,
                                                 idp.metadata_xml.c_str(), nullptr, nullptr);
  if (rc != 0) return tl::unexpected(metadata_error(std::string("lasso cannot load it: ") + lasso_strerror(rc)));
  if (g_hash_table_size(context.server->providers) != 1) return fail(Errc::internal, "lasso loaded no IdP");
  GHashTableIter iter;
  gpointer entity_id = nullptr;
  gpointer provider = nullptr;
  g_hash_table_iter_init(&iter, context.server->providers);
  g_hash_table_iter_next(&iter, &entity_id, &provider);
  auto idp_id = check_idp_provider(LASSO_PROVIDER(provider));
  if (!idp_id) return tl::unexpected(idp_id.error());
  context.idp_entity_id = *idp_id;
  return context;
}

tl::unexpected<Error> refuse(const std::string& why) {
  return fail(Errc::unauthenticated, "SAML response refused: " + why);
}

std::string lasso_refusal(int rc) {
  switch (rc) {
    case LASSO_PROFILE_ERROR_CANNOT_VERIFY_SIGNATURE:
    case LASSO_DS_ERROR_SIGNATURE_NOT_FOUND:
    case LASSO_DS_ERROR_INVALID_SIGNATURE:
    case LASSO_DS_ERROR_SIGNATURE_VERIFICATION_FAILED:
      return "not signed by the IdP's metadata certificate (" + str(lasso_strerror(rc)) + ")";
    case LASSO_LOGIN_ERROR_ASSERTION_DOES_NOT_MATCH_REQUEST_ID:
      return "InResponseTo does not match the login request";
    case LASSO_SERVER_ERROR_PROVIDER_NOT_FOUND:
    case LASSO_PROFILE_ERROR_UNKNOWN_PROVIDER:
    case LASSO_PROFILE_ERROR_MISSING_ISSUER:
      return "issued by an unknown party, not this company's IdP";
    case LASSO_LOGIN_ERROR_REQUEST_DENIED:
    case LASSO_LOGIN_ERROR_STATUS_NOT_SUCCESS:
    case LASSO_LOGIN_ERROR_UNKNOWN_PRINCIPAL:
    case LASSO_LOGIN_ERROR_FEDERATION_NOT_FOUND:
      return "the IdP did not authenticate the user (" + str(lasso_strerror(rc)) + ")";
    case LASSO_PROFILE_ERROR_UNSUPPORTED_PROFILE:
    case LASSO_PROFILE_ERROR_INVALID_MSG:
    case LASSO_PROFILE_ERROR_INVALID_POST_MSG:
      return "SAMLResponse is not an HTTP-POST SAML 2.0 Response";
    default:
      return str(lasso_strerror(rc));
  }
}

template <class T>
T* first_of(GList* list) {
  return list ? static_cast<T*>(list->data) : nullptr;
}

}  // namespace

Result<bool> MemoryReplayCache::first_use(const std::string& issuer, const std::string& assertion_id,
                                          std::int64_t expires_at, std::int64_t now) {
  std::lock_guard lock(mutex_);
  purge(now);
  Key key{issuer, assertion_id};
  if (expiry_.contains(key)) return false;
  expiry_.emplace(key, expires_at);
  by_expiry_.emplace(expires_at, std::move(key));
  return true;
}

std::size_t MemoryReplayCache::size() const {
  std::lock_guard lock(mutex_);
  return expiry_.size();
}

void MemoryReplayCache::purge(std::int64_t now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    expiry_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

Result<std::string> sp_metadata(const SpSettings& settings) {
  if (auto ok = check_settings(settings); !ok) return tl::unexpected(ok.error());
  auto cert = read_certificate(settings.cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  auto key = openssl::read_private_key(settings.key_pem);
  if (!key) {
    openssl::take_errors();
    return fail(Errc::invalid_argument, "key_pem: no unencrypted PEM private key", "key_pem");
  }
  if (!EVP_PKEY_is_a(key.get(), "RSA"))
    return fail(Errc::invalid_argument, "key_pem: must be an RSA key (SAML IdPs expect RSA-SHA256)", "key_pem");
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    openssl::take_errors();
    return fail(Errc::invalid_argument, "key_pem: does not match cert_pem", "key_pem");
  }
  std::string certificate = der_base64(cert->get());
  if (certificate.empty()) return openssl::failure("encoding the SP certificate");
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
         "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"" +
         xml_escape(settings.entity_id) +
         "\">\n"
         "  <md:SPSSODescriptor AuthnRequestsSigned=\"true\" WantAssertionsSigned=\"true\" "
         "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n"
         "    <md:KeyDescriptor use=\"signing\">\n"
         "      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>" +
         certificate +
         "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\n"
         "    </md:KeyDescriptor>\n"
         "    <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"" +
         xml_escape(settings.acs_url) +
         "\" index=\"0\" isDefault=\"true\"/>\n"
         "  </md:SPSSODescriptor>\n"
         "</md:EntityDescriptor>\n";
}

Status check_idp_metadata(const std::string& xml) {
  auto entity_id = inspect_idp_metadata(xml);
  if (!entity_id) return tl::unexpected(entity_id.error());
  return {};
}

Result<std::string> idp_entity_id(const std::string& metadata_xml) { return inspect_idp_metadata(metadata_xml); }

Result<AuthnRequest> start_login(const SpSettings& settings, const IdpConfig& idp, const std::string& relay_state,
                                 Random& random) {
  if (relay_state.size() > kMaxRelayStateBytes)
    return fail(Errc::invalid_argument, "relay_state: at most 80 bytes", "relay_state");
  auto context = make_context(settings, idp);
  if (!context) return tl::unexpected(context.error());
  LoginPtr login(lasso_login_new(context->server.get()));
  if (!login) return fail(Errc::internal, "lasso_login_new failed");
  LassoProfile* profile = LASSO_PROFILE(login.get());
  int rc = lasso_login_init_authn_request(login.get(), context->idp_entity_id.data(), LASSO_HTTP_METHOD_REDIRECT);
  if (rc != 0) return fail(Errc::internal, std::string("building the SAML AuthnRequest: ") + lasso_strerror(rc));
  auto* request = LASSO_SAMLP2_AUTHN_REQUEST(profile->request);
  request->ForceAuthn = FALSE;
  request->IsPassive = FALSE;
  g_free(request->ProtocolBinding);
  request->ProtocolBinding = g_strdup(LASSO_SAML2_METADATA_BINDING_POST);
  // lasso asks for a transient NameID, which changes at every login and so cannot find the user
  // again; by default leave the choice to the IdP's configuration.
  if (!request->NameIDPolicy) request->NameIDPolicy = LASSO_SAMLP2_NAME_ID_POLICY(lasso_samlp2_name_id_policy_new());
  g_free(request->NameIDPolicy->Format);
  request->NameIDPolicy->Format = g_strdup(idp.name_id_format.empty() ? LASSO_SAML2_NAME_IDENTIFIER_FORMAT_UNSPECIFIED
                                                                      : idp.name_id_format.c_str());
  request->NameIDPolicy->AllowCreate = TRUE;
  if (!relay_state.empty()) {
    g_free(profile->msg_relayState);
    profile->msg_relayState = g_strdup(relay_state.c_str());
  }
  // lasso draws IDs from glib's Mersenne Twister, which whoever sees enough of them can predict,
  // and the ID is what binds the IdP's answer to this login: use our own.
  const std::string lasso_id = str(LASSO_SAMLP2_REQUEST_ABSTRACT(request)->ID);
  const std::string request_id = "_" + random.hex(16);
  g_free(LASSO_SAMLP2_REQUEST_ABSTRACT(request)->ID);
  LASSO_SAMLP2_REQUEST_ABSTRACT(request)->ID = g_strdup(request_id.c_str());
  lasso_profile_set_signature_hint(profile, LASSO_PROFILE_SIGNATURE_HINT_FORCE);
  rc = lasso_login_build_authn_request_msg(login.get());
  if (rc != 0) return fail(Errc::internal, std::string("signing the SAML AuthnRequest: ") + lasso_strerror(rc));
  AuthnRequest out;
  out.redirect_url = str(profile->msg_url);
  out.request_id = str(LASSO_SAMLP2_REQUEST_ABSTRACT(profile->request)->ID);
  GCharPtr dump(lasso_login_dump(login.get()));
  out.state_dump = str(dump.get());
  // lasso also keeps the ID it chose in private state, reachable only through the dump, and checks
  // InResponseTo against it: swap it there too (32 random hex digits, so each occurrence is it).
  int replaced = 0;
  for (auto at = out.state_dump.find(lasso_id); !lasso_id.empty() && at != std::string::npos;
       at = out.state_dump.find(lasso_id, at + request_id.size())) {
    out.state_dump.replace(at, lasso_id.size(), request_id);
    ++replaced;
  }
  if (replaced == 0 || out.redirect_url.empty() || out.request_id != request_id)
    return fail(Errc::internal, "lasso returned an unexpected SAML AuthnRequest or login dump");
  return out;
}

Result<std::string> response_in_response_to(const std::string& saml_response_b64) {
  if (auto ready = require_lasso(); !ready) return tl::unexpected(ready.error());
  if (saml_response_b64.empty() || saml_response_b64.size() > kMaxResponseBytes)
    return refuse("SAMLResponse is empty or too large");
  auto xml = base64_decode(without_whitespace(saml_response_b64));
  if (!xml || xml->find('\0') != std::string::npos) return refuse("SAMLResponse is not base64 XML");
  GCharPtr value(lasso_profile_get_in_response_to(xml->c_str()));
  return str(value.get());
}

Result<Assertion> finish_login(const SpSettings& settings, const IdpConfig& idp, const std::string& saml_response_b64,
                               const std::optional<PendingLogin>& pending, ReplayCache& replay, std::int64_t now) {
  if (!pending) return refuse("no login was started here for it (IdP-initiated SSO is not accepted)");
  if (saml_response_b64.empty() || saml_response_b64.size() > kMaxResponseBytes)
    return refuse("SAMLResponse is empty or too large");
  auto context = make_context(settings, idp);
  if (!context) return tl::unexpected(context.error());
  const std::string& idp_id = context->idp_entity_id;
  const std::int64_t skew = settings.clock_skew_seconds;

  LoginPtr login(lasso_login_new_from_dump(context->server.get(), pending->state_dump.c_str()));
  if (!login) return refuse("the saved login state is unreadable");
  LassoProfile* profile = LASSO_PROFILE(login.get());
  if (!LASSO_IS_SAMLP2_AUTHN_REQUEST(profile->request) ||
      str(LASSO_SAMLP2_REQUEST_ABSTRACT(profile->request)->ID) != pending->request_id || pending->request_id.empty())
    return refuse("the saved login state does not belong to request " + pending->request_id);
  const std::string& request_id = pending->request_id;

  std::string message = saml_response_b64;  // lasso takes a mutable buffer
  int rc = lasso_login_process_authn_response_msg(login.get(), message.data());
  if (rc != 0) return refuse(lasso_refusal(rc));
  // Belt and braces over lasso's logic: the last signature it checked (the response's, or the
  // assertion's when the response is unsigned) must have verified.
  if (lasso_profile_get_signature_status(profile) != 0)
    return refuse(lasso_refusal(LASSO_PROFILE_ERROR_CANNOT_VERIFY_SIGNATURE));
  if (!LASSO_IS_SAMLP2_RESPONSE(profile->response)) return refuse("not a SAML 2.0 Response");
  auto* response = LASSO_SAMLP2_RESPONSE(profile->response);
  auto* status_response = LASSO_SAMLP2_STATUS_RESPONSE(profile->response);

  if (response->EncryptedAssertion) return refuse("encrypted assertions are not supported");
  if (g_list_length(response->Assertion) != 1) return refuse("it must carry exactly one assertion");
  auto* assertion = first_of<LassoSaml2Assertion>(response->Assertion);
  if (!LASSO_IS_SAML2_ASSERTION(assertion) || str(assertion->ID).empty()) return refuse("the assertion has no ID");

  if (status_response->Issuer && str(status_response->Issuer->content) != idp_id)
    return refuse("the response Issuer is not this company's IdP");
  if (!assertion->Issuer || str(assertion->Issuer->content) != idp_id)
    return refuse("the assertion Issuer is not this company's IdP");
  if (status_response->Destination && str(status_response->Destination) != settings.acs_url)
    return refuse("Destination is not our ACS URL");
  if (status_response->InResponseTo && str(status_response->InResponseTo) != request_id)
    return refuse("InResponseTo does not match the login request");

  LassoSaml2Subject* subject = assertion->Subject;
  if (!subject || !subject->NameID || str(subject->NameID->content).empty())
    return refuse("the assertion has no NameID");
  if (str(subject->NameID->Format) == LASSO_SAML2_NAME_IDENTIFIER_FORMAT_TRANSIENT)
    return refuse(
        "the NameID is transient, so the user could not be recognised next time (configure the IdP "
        "to send a persistent or e-mail identifier)");
  LassoSaml2SubjectConfirmation* confirmation = subject->SubjectConfirmation;
  if (!confirmation || str(confirmation->Method) != kBearer || !confirmation->SubjectConfirmationData)
    return refuse("the assertion has no bearer SubjectConfirmation");
  LassoSaml2SubjectConfirmationData* data = confirmation->SubjectConfirmationData;
  if (str(data->Recipient) != settings.acs_url) return refuse("Recipient is not our ACS URL");
  if (str(data->InResponseTo) != request_id) return refuse("InResponseTo does not match the login request");
  auto confirmation_end = parse_instant(data->NotOnOrAfter);
  if (!confirmation_end) return refuse("SubjectConfirmationData has no valid NotOnOrAfter");
  if (now >= *confirmation_end + skew)
    return refuse("the assertion has expired (SubjectConfirmationData NotOnOrAfter)");
  if (data->NotBefore) {
    auto start = parse_instant(data->NotBefore);
    if (!start || now + skew < *start)
      return refuse("the assertion is not yet valid (SubjectConfirmationData NotBefore)");
  }

  LassoSaml2Conditions* conditions = assertion->Conditions;
  if (!conditions || !conditions->AudienceRestriction) return refuse("the assertion has no AudienceRestriction");
  for (GList* it = conditions->AudienceRestriction; it; it = it->next) {
    auto* restriction = static_cast<LassoSaml2AudienceRestriction*>(it->data);
    if (!LASSO_IS_SAML2_AUDIENCE_RESTRICTION(restriction) || str(restriction->Audience) != settings.entity_id)
      return refuse("Audience is not our entity id");
  }
  std::int64_t not_on_or_after = *confirmation_end;
  if (conditions->NotBefore) {
    auto start = parse_instant(conditions->NotBefore);
    if (!start || now + skew < *start) return refuse("the assertion is not yet valid (Conditions NotBefore)");
  }
  if (conditions->NotOnOrAfter) {
    auto end = parse_instant(conditions->NotOnOrAfter);
    if (!end || now >= *end + skew) return refuse("the assertion has expired (Conditions NotOnOrAfter)");
    not_on_or_after = std::min(not_on_or_after, *end);
  }

  auto* authn = first_of<LassoSaml2AuthnStatement>(assertion->AuthnStatement);
  if (!LASSO_IS_SAML2_AUTHN_STATEMENT(authn)) return refuse("the assertion has no AuthnStatement");

  Assertion out;
  out.issuer = idp_id;
  out.assertion_id = str(assertion->ID);
  out.name_id = str(subject->NameID->content);
  out.name_id_format = str(subject->NameID->Format);
  out.session_index = str(authn->SessionIndex);
  out.not_on_or_after = not_on_or_after;
  if (authn->SessionNotOnOrAfter) {
    auto end = parse_instant(authn->SessionNotOnOrAfter);
    if (!end) return refuse("SessionNotOnOrAfter is not a valid time");
    out.session_not_on_or_after = *end;
  }
  for (GList* s = assertion->AttributeStatement; s; s = s->next) {
    if (!LASSO_IS_SAML2_ATTRIBUTE_STATEMENT(s->data)) continue;
    for (GList* a = LASSO_SAML2_ATTRIBUTE_STATEMENT(s->data)->Attribute; a; a = a->next) {
      if (!LASSO_IS_SAML2_ATTRIBUTE(a->data)) continue;
      auto* attribute = LASSO_SAML2_ATTRIBUTE(a->data);
      if (str(attribute->Name).empty()) continue;
      for (GList* v = attribute->AttributeValue; v; v = v->next) {
        if (!LASSO_IS_SAML2_ATTRIBUTE_VALUE(v->data)) continue;
        std::string text;
        for (GList* n = LASSO_SAML2_ATTRIBUTE_VALUE(v->data)->any; n; n = n->next) {
          if (LASSO_IS_MISC_TEXT_NODE(n->data) && LASSO_MISC_TEXT_NODE(n->data)->text_child)
            text += str(LASSO_MISC_TEXT_NODE(n->data)->content);
        }
        out.attributes.emplace(attribute->Name, std::move(text));
      }
    }
  }

  // Last, so that a refused response does not burn its id.
  auto first = replay.first_use(idp_id, out.assertion_id, not_on_or_after + skew, now);
  if (!first) return tl::unexpected(first.error());
  if (!*first) return refuse("assertion " + out.assertion_id + " was already used (replay)");
  return out;
}

Result<std::string> map_role(const IdpConfig& idp, const Assertion& assertion) {
  for (const auto& mapping : idp.role_mappings) {
    auto [begin, end] = assertion.attributes.equal_range(mapping.attribute);
    for (auto it = begin; it != end; ++it) {
      if (it->second == mapping.value) return mapping.role;
    }
  }
  if (!idp.default_role.empty()) return idp.default_role;
  return fail(Errc::forbidden, "no role mapping matches");
}

}  // namespace carillon::saml
