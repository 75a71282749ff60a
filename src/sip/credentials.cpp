#include "sip/credentials.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <stdexcept>

#include "common/encoding.hpp"

namespace carillon::sip {

std::string ha1(std::string_view username, std::string_view realm, std::string_view password) {
  std::string input;
  input.append(username).append(":").append(realm).append(":").append(password);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  // MD5 is what SIP digest (RFC 2617/3261) and every SIP peer speak; it is not used for anything else.
  if (EVP_Digest(input.data(), input.size(), digest.data(), &size, EVP_md5(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest(md5) failed");
  }
  return to_hex({reinterpret_cast<const char*>(digest.data()), size});
}

std::string derive_password(std::string_view secret, std::string_view username) {
  std::string message = "device-sip:";
  message.append(username);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &size) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return base64url_encode({reinterpret_cast<const char*>(mac.data()), size});
}

}  // namespace carillon::sip
