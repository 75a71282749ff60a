#pragma once
// The error type used at every module boundary. Exceptions are for bugs and start-up failures.

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace carillon {

enum class Errc {
  invalid_argument,  // 400/422: the caller sent something wrong; `field` names it
  unauthenticated,   // 401
  forbidden,         // 403
  not_found,         // 404: also used for other tenants' objects (no existence leak)
  conflict,          // 409
  too_large,         // 413
  throttled,         // 429
  unavailable,       // 503: a dependency is down
  internal,          // 500: a bug or an unexpected library failure
};

struct Error {
  Errc code = Errc::internal;
  std::string message;
  std::string field;  // JSON pointer-ish name of the offending field, empty if none
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> fail(Errc code, std::string message, std::string field = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::move(field)});
}

const char* to_string(Errc code);

}  // namespace carillon
