#pragma once
// Password hashing (Argon2id via libsodium) and the password policy.

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace carillon::identity {

// Argon2id cost: t=3 passes over m=64 MiB, p=1 (libsodium's crypto_pwhash_str_alg).
// Measured on the development machine (2 shared cores, Debian 12, libsodium 1.0.18, idle):
//   t=2 m=64MiB ~50 ms (libsodium's OPSLIMIT/MEMLIMIT_INTERACTIVE), t=3 m=64MiB ~65 ms,
//   t=3 m=32MiB ~26 ms, t=2 m=19MiB ~11 ms.
// t=3/64MiB sits in the 50-100 ms budget per login and matches RFC 9106's second recommended
// setting (except p=1: libsodium is single-threaded). Every concurrent hash holds 64 MiB, so the
// API layer should bound concurrent logins.
inline constexpr unsigned long long kPasswordOpsLimit = 3;
inline constexpr std::size_t kPasswordMemLimit = 64u * 1024u * 1024u;

inline constexpr std::size_t kPasswordMinLength = 12;
inline constexpr std::size_t kPasswordMaxLength = 256;

// The libsodium encoded string ("$argon2id$v=19$m=65536,t=3,p=1$salt$hash"), which carries
// its own salt and parameters. Errc::internal if libsodium cannot allocate the memory.
Result<std::string> hash_password(std::string_view password);

// Constant-time check of `password` against an encoded hash; false for a malformed hash.
// Costs what the parameters inside `hash` say.
bool verify_password(std::string_view hash, std::string_view password);

// True when `hash` was made with other parameters than the current ones (rehash at next login).
bool password_needs_rehash(std::string_view hash);

// Length in bytes 12..256 (a UTF-8 passphrase of any characters is fine; no composition rules,
// per NIST SP 800-63B), not a single character repeated. Errc::invalid_argument, field "password".
Status check_password_policy(std::string_view password);

}  // namespace carillon::identity
