#include "common/random.hpp"

#include <stdexcept>

#include <sodium.h>

#include "common/encoding.hpp"

namespace carillon {

std::vector<unsigned char> Random::bytes(std::size_t size) {
  std::vector<unsigned char> out(size);
  fill(out.data(), out.size());
  return out;
}

std::string Random::hex(std::size_t size) {
  auto b = bytes(size);
  return to_hex(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::string Random::token(std::size_t size) {
  auto b = bytes(size);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::string Random::from_alphabet(std::size_t length, const std::string& alphabet) {
  if (alphabet.empty() || alphabet.size() > 256) throw std::logic_error("bad alphabet");
  // Largest multiple of the alphabet size that fits a byte: values above it are rejected
  // so every character is equally likely.
  const unsigned limit = 256 - (256 % alphabet.size());
  std::string out;
  out.reserve(length);
  while (out.size() < length) {
    unsigned char c = 0;
    fill(&c, 1);
    if (c < limit) out.push_back(alphabet[c % alphabet.size()]);
  }
  return out;
}

SodiumRandom::SodiumRandom() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

void SodiumRandom::fill(unsigned char* out, std::size_t size) { randombytes_buf(out, size); }

}  // namespace carillon
