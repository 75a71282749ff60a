#pragma once
// Owning handles for OpenSSL objects and the conversions several modules need (pki for
// certificates, identity for token keys). Only .cpp files include this; public headers of
// modules stay free of OpenSSL.

#include <memory>
#include <string>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/result.hpp"

namespace carillon::openssl {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};

template <class T, void (*Free)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

using BioPtr = Handle<BIO, BIO_free_all>;
using BignumPtr = Handle<BIGNUM, BN_free>;
using PkeyPtr = Handle<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Handle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = Handle<EVP_MD_CTX, EVP_MD_CTX_free>;
using EcdsaSigPtr = Handle<ECDSA_SIG, ECDSA_SIG_free>;

// Drains this thread's OpenSSL error queue into one line ("" when empty).
std::string take_errors();
// Errc::internal "<what>: <OpenSSL errors>"; drains the queue.
tl::unexpected<Error> failure(std::string_view what);

// A read-only memory BIO over `pem`; nullptr when empty or larger than any legitimate PEM (64 KiB).
BioPtr memory_bio(std::string_view pem);
Result<std::string> bio_contents(BIO* bio);

// PKCS#8 PEM private keys. read: nullptr when the text holds none (never prompts for a passphrase).
PkeyPtr read_private_key(std::string_view pem);
Result<std::string> write_private_key(EVP_PKEY* key);  // unencrypted

// True for an EC key on P-256 (prime256v1).
bool is_p256(EVP_PKEY* key);
Result<PkeyPtr> generate_p256_key();

}  // namespace carillon::openssl
