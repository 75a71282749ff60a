#include "http/static_files.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <system_error>

#include "common/files.hpp"
#include "http/problem.hpp"

namespace carillon::http {

namespace fs = std::filesystem;

std::string content_type_for(const fs::path& file) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".txt", "text/plain; charset=utf-8"},
      {".xml", "application/xml"},
      {".yaml", "application/yaml"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".ttf", "font/ttf"},
      {".wasm", "application/wasm"},
      {".pdf", "application/pdf"},
      {".mp3", "audio/mpeg"},
      {".wav", "audio/wav"},
      {".ogg", "audio/ogg"},
  };
  std::string extension = file.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto it = kTypes.find(extension);
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

namespace {

Response not_found(const std::string& path) {
  return problem(Error{Errc::not_found, "no such file: " + path, ""});
}

// Canonical `candidate` if it is a regular file inside `root` (after resolving symlinks).
std::optional<fs::path> inside_root(const fs::path& root, const fs::path& candidate) {
  std::error_code ec;
  fs::path real = fs::canonical(candidate, ec);
  if (ec) return std::nullopt;
  if (fs::is_directory(real, ec)) {
    real = fs::canonical(real / "index.html", ec);
    if (ec) return std::nullopt;
  }
  if (!fs::is_regular_file(real, ec)) return std::nullopt;
  auto rel = real.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return std::nullopt;
  return real;
}

Response file_response(const fs::path& root, const fs::path& file, bool gzip) {
  std::error_code ec;
  fs::path compressed = file;
  compressed += ".gz";
  bool has_gzip = inside_root(root, compressed).has_value() && fs::is_regular_file(compressed, ec);
  auto content = read_file(gzip && has_gzip ? compressed : file);
  if (!content) return problem(content.error());
  Response response;
  response.status = 200;
  response.content_type = content_type_for(file);
  response.body = std::move(*content);
  if (has_gzip) {
    if (gzip) response.headers.emplace_back("Content-Encoding", "gzip");
    response.headers.emplace_back("Vary", "Accept-Encoding");
  }
  // index.html must be re-fetched so a new deployment takes effect; hashed assets may be cached.
  response.headers.emplace_back("Cache-Control", file.filename() == "index.html" ? "no-cache" : "public, max-age=300");
  return response;
}

}  // namespace

bool accepts_gzip(const std::string& accept_encoding) {
  std::string value = accept_encoding;
  std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  value.erase(std::remove(value.begin(), value.end(), ' '), value.end());
  std::size_t start = 0;
  while (start < value.size()) {
    auto comma = value.find(',', start);
    auto item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto semicolon = item.find(';');
    auto coding = item.substr(0, semicolon);
    // "q=0", "q=0.0", "q=0.000" refuse; any other weight accepts.
    bool refused = semicolon != std::string::npos && item.find("q=0", semicolon) != std::string::npos &&
                   item.find_first_of("123456789", semicolon) == std::string::npos;
    if ((coding == "gzip" || coding == "*") && !refused) return true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return false;
}

Response serve_static(const fs::path& root_in, const std::string& path, bool gzip) {
  std::error_code ec;
  fs::path root = fs::canonical(root_in, ec);
  if (ec) return not_found(path);
  if (path.empty() || path.front() != '/' || path.find('\\') != std::string::npos ||
      path.find('\0') != std::string::npos) {
    return problem(Error{Errc::invalid_argument, "malformed path", ""});
  }
  // Validate every segment: no "." / ".." / empty segments (except a trailing slash).
  fs::path relative;
  std::string last;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    std::string segment = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    bool trailing = slash == std::string::npos;
    if (segment == "." || segment == "..") return problem(Error{Errc::invalid_argument, "malformed path", ""});
    if (segment.empty() && !trailing) return problem(Error{Errc::invalid_argument, "malformed path", ""});
    if (!segment.empty()) {
      relative /= segment;
      last = segment;
    }
    if (trailing) break;
    start = slash + 1;
  }

  if (auto file = inside_root(root, root / relative)) return file_response(root, *file, gzip);
  // Only extension-less paths are client-side routes; a missing asset stays a 404.
  if (last.find('.') != std::string::npos) return not_found(path);
  if (auto index = inside_root(root, root / "index.html")) return file_response(root, *index, gzip);
  return not_found(path);
}

}  // namespace carillon::http
