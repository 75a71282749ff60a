#include "common/result.hpp"

namespace carillon {

const char* to_string(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return "invalid-argument";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::forbidden: return "forbidden";
    case Errc::not_found: return "not-found";
    case Errc::conflict: return "conflict";
    case Errc::too_large: return "too-large";
    case Errc::throttled: return "throttled";
    case Errc::unavailable: return "unavailable";
    case Errc::internal: return "internal";
  }
  return "internal";
}

}  // namespace carillon
