#pragma once
// Serving the web client's files: path resolution that cannot leave the root, SPA fallback.

#include <filesystem>
#include <string>

#include "http/http.hpp"

namespace carillon::http {

// MIME type for a file name by extension ("application/octet-stream" when unknown).
std::string content_type_for(const std::filesystem::path& file);

// Answers GET/HEAD of decoded `path` from `root`: the file if it exists (a directory means its
// index.html); otherwise root/index.html for paths whose last segment has no extension (SPA
// routes), else 404. Paths with "..", "." or empty segments, backslashes, or that resolve (through
// symlinks) outside `root` get a 400/404 problem, never file contents.
// With `accepts_gzip`, a precompressed sibling "<file>.gz" (written by the web build) is sent
// instead, with Content-Encoding: gzip; responses that have one say Vary: Accept-Encoding.
Response serve_static(const std::filesystem::path& root, const std::string& path, bool accepts_gzip = false);

// Whether an Accept-Encoding header value allows gzip (a listed "gzip" without q=0).
bool accepts_gzip(const std::string& accept_encoding);

}  // namespace carillon::http
