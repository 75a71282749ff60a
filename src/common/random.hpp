#pragma once
// Randomness is injected; the real one is libsodium's CSPRNG.

#include <cstddef>
#include <string>
#include <vector>

namespace carillon {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(unsigned char* out, std::size_t size) = 0;

  std::vector<unsigned char> bytes(std::size_t size);
  // `size` random bytes as lowercase hex (2*size characters).
  std::string hex(std::size_t size);
  // URL-safe base64 without padding of `size` random bytes.
  std::string token(std::size_t size);
  // `length` characters from `alphabet`, uniformly (rejection sampling).
  std::string from_alphabet(std::size_t length, const std::string& alphabet);
};

class SodiumRandom final : public Random {
 public:
  SodiumRandom();
  void fill(unsigned char* out, std::size_t size) override;
};

}  // namespace carillon
