#pragma once
// HTTP byte ranges and validators for file responses (RFC 9110 sections 8.8, 13.1.5, 14). Pure
// functions so the decisions can be tested without sockets; the server applies them.

#include <chrono>
#include <cstdint>
#include <string>

namespace carillon::http {

struct RangeDecision {
  enum class Kind {
    whole,          // 200 with the whole representation
    partial,        // 206 with bytes [first, first + length)
    unsatisfiable,  // 416 with "Content-Range: bytes */size"
  };
  Kind kind = Kind::whole;
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};

// Decides how to answer a GET of a representation of `size` bytes whose strong validator is
// `etag` (quoted, e.g. "\"abc\"") and whose Last-Modified value is `last_modified`.
// `range` and `if_range` are the request's header values ("" when absent). Only a single
// "bytes=a-b", "bytes=a-" or "bytes=-n" range is served partially; several ranges, other units
// and malformed values are ignored (whole). An If-Range that does not match the current validator
// (strong comparison; a date must equal Last-Modified exactly) means whole.
RangeDecision decide_range(const std::string& range, const std::string& if_range, const std::string& etag,
                           const std::string& last_modified, std::uint64_t size);

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate), seconds precision.
std::string http_date(std::chrono::system_clock::time_point time);

// The strong entity tag the server uses when a handler gives none: size and modification time in
// nanoseconds, hex, quoted.
std::string file_etag(std::uint64_t size, std::int64_t mtime_ns);

// `value` quoted as an entity tag unless it already is one.
std::string quote_etag(const std::string& value);

}  // namespace carillon::http
