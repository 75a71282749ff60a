#pragma once
// Internal to the pki module (tests may use it too): owning handles for OpenSSL objects and the
// few conversions every part of the module needs. Not for other modules — they use pki.hpp.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/openssl.hpp"
#include "common/result.hpp"

namespace carillon::pki::ossl {

// The generic handles and key helpers are shared with other modules (common/openssl.hpp).
using openssl::BignumPtr;
using openssl::BioPtr;
using openssl::failure;
using openssl::generate_p256_key;
using openssl::Handle;
using openssl::is_p256;
using openssl::PkeyCtxPtr;
using openssl::PkeyPtr;
using openssl::read_private_key;
using openssl::take_errors;
using openssl::write_private_key;

using X509Ptr = Handle<X509, X509_free>;
using ReqPtr = Handle<X509_REQ, X509_REQ_free>;
using CrlPtr = Handle<X509_CRL, X509_CRL_free>;
using RevokedPtr = Handle<X509_REVOKED, X509_REVOKED_free>;
using NamePtr = Handle<X509_NAME, X509_NAME_free>;
using ExtensionPtr = Handle<X509_EXTENSION, X509_EXTENSION_free>;
using StorePtr = Handle<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = Handle<X509_STORE_CTX, X509_STORE_CTX_free>;
using IntegerPtr = Handle<ASN1_INTEGER, ASN1_INTEGER_free>;
using TimePtr = Handle<ASN1_TIME, ASN1_TIME_free>;
using OctetStringPtr = Handle<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using GeneralNamePtr = Handle<GENERAL_NAME, GENERAL_NAME_free>;
using GeneralNamesPtr = Handle<GENERAL_NAMES, GENERAL_NAMES_free>;

// Errc::invalid_argument for bad caller input; drains the queue so stale errors do not end up
// in a later, unrelated message.
tl::unexpected<Error> rejected(std::string message, std::string field);

// Parsing PEM. nullptr when the text holds no such object.
X509Ptr read_cert(std::string_view pem);
ReqPtr read_csr(std::string_view pem);

Result<std::string> write_cert(X509* cert);
Result<std::string> write_csr(X509_REQ* req);
Result<std::string> write_crl(X509_CRL* crl);

// The single CN of a name as UTF-8; nullopt when there is none or more than one.
std::optional<std::string> common_name(const X509_NAME* name);
// Lowercase hex of a positive serial number.
std::string serial_hex(const ASN1_INTEGER* serial);
// Seconds since the epoch; nullopt when the time does not parse.
std::optional<std::int64_t> unix_seconds(const ASN1_TIME* time);

}  // namespace carillon::pki::ossl
