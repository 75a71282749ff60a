#include "http/client.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>

#include "common/files.hpp"

namespace carillon::http {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kErrorBodyLimit = 64 * 1024;
constexpr long kStallBytesPerSecond = 1024;

// curl_global_init is not thread-safe on every build; do it exactly once before the first handle.
void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Adds one header line to `headers` (lower-case name; repeats joined with ", "). A status line
// (after 100 Continue or an interim response) starts a fresh set and returns its status code.
int parse_header_line(const std::string& line, std::map<std::string, std::string>& headers) {
  if (line.rfind("HTTP/", 0) == 0) {
    headers.clear();
    auto space = line.find(' ');
    int status = 0;
    if (space != std::string::npos) std::from_chars(line.data() + space + 1, line.data() + line.size(), status);
    return status;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return 0;
  std::string name = lower(line.substr(0, colon));
  std::string value = line.substr(colon + 1);
  auto first = value.find_first_not_of(" \t");
  auto last = value.find_last_not_of(" \t\r\n");
  value = first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
  auto [it, inserted] = headers.emplace(name, value);
  if (!inserted) it->second += ", " + value;
  return 0;
}

std::size_t write_header(char* data, std::size_t size, std::size_t count, void* user) {
  parse_header_line(std::string(data, size * count), *static_cast<std::map<std::string, std::string>*>(user));
  return size * count;
}

curl_blob blob_of(const std::string& pem) {
  return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
}

// A handle with TLS verification, the client certificate and the timeouts set. `long_transfer`:
// no overall deadline, a stall limit instead.
Result<CurlPtr> make_handle(const ClientOptions& options, const std::string& url, char* error_buffer,
                            bool long_transfer) {
  CurlPtr curl(curl_easy_init());
  if (!curl) return fail(Errc::internal, "curl_easy_init failed");
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  if (long_transfer) {
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, kStallBytesPerSecond);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, std::max(1L, options.stall_timeout_ms / 1000));
  } else {
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, options.timeout_ms);
  }
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_pem.empty()) {
    curl_blob ca = blob_of(options.ca_pem);
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    // Otherwise the system CA directory would be trusted as well.
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
    curl_easy_setopt(h, CURLOPT_CAINFO, nullptr);
  }
  if (!options.client_cert_pem.empty()) {
    curl_blob cert = blob_of(options.client_cert_pem);
    curl_blob key = blob_of(options.client_key_pem);
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (curl_easy_setopt(h, CURLOPT_URL, url.c_str()) != CURLE_OK) return fail(Errc::invalid_argument, "bad url", "url");
  return curl;
}

class HeaderList {
 public:
  bool append(const std::string& line) {
    curl_slist* next = curl_slist_append(list_.get(), line.c_str());
    if (!next) return false;
    static_cast<void>(list_.release());
    list_.reset(next);
    return true;
  }
  // The caller's headers; true in `present` for each lower-case name given.
  Status add(const std::vector<std::pair<std::string, std::string>>& headers, std::map<std::string, bool>& present) {
    for (const auto& [name, value] : headers) {
      present[lower(name)] = true;
      if (!append(value.empty() ? name + ";" : name + ": " + value)) return fail(Errc::internal, "curl_slist_append failed");
    }
    return {};
  }
  curl_slist* get() const { return list_.get(); }

 private:
  SlistPtr list_;
};

Result<void> perform(CURL* h, const char* error_buffer, const std::string& what) {
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) return {};
  std::string message = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
  if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) return fail(Errc::invalid_argument, message, "url");
  return fail(Errc::unavailable, what + ": " + message);
}

int status_of(CURL* h) {
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return static_cast<int>(status);
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// "bytes first-last/total" or "bytes */total": first (nullopt for "*") and total (0 for "*").
struct ContentRange {
  std::optional<std::uint64_t> first;
  std::uint64_t total = 0;
};
std::optional<ContentRange> parse_content_range(const std::string& value) {
  if (value.rfind("bytes ", 0) != 0) return std::nullopt;
  std::string spec = value.substr(6);
  auto slash = spec.find('/');
  if (slash == std::string::npos) return std::nullopt;
  ContentRange range;
  std::string total = spec.substr(slash + 1);
  if (total != "*") {
    auto parsed = parse_size(total);
    if (!parsed) return std::nullopt;
    range.total = *parsed;
  }
  std::string span = spec.substr(0, slash);
  if (span != "*") {
    auto dash = span.find('-');
    if (dash == std::string::npos) return std::nullopt;
    range.first = parse_size(span.substr(0, dash));
    if (!range.first) return std::nullopt;
  }
  return range;
}

fs::path etag_file_of(const fs::path& destination) {
  fs::path side = destination;
  side += ".etag";
  return side;
}

// One download attempt's state, shared with curl's callbacks.
struct Download {
  fs::path destination;
  std::uint64_t existing = 0;  // bytes already in destination when the attempt started
  const std::function<bool(const DownloadProgress&)>* on_progress = nullptr;

  int status = 0;
  std::map<std::string, std::string> headers;
  bool decided = false;  // whether the body goes to the file (decided at its first byte)
  int fd = -1;
  DownloadProgress progress{0, 0};
  std::string error_body;
  bool cancelled = false;
  std::string local_failure;  // the destination could not be written

  ~Download() { close_file(); }

  bool close_file() {
    if (fd < 0) return true;
    int rc = ::close(fd);
    fd = -1;
    return rc == 0;
  }

  bool to_file() const { return status == 200 || status == 206; }

  // Called once the final status and headers are known: opens the destination for 200 (truncated)
  // or 206 (appended) and records the validator for a later resume.
  bool open_destination() {
    decided = true;
    if (!to_file()) return true;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    if (status == 206) {
      auto range = parse_content_range(headers["content-range"]);
      if (!range || !range->first || *range->first != existing) {
        local_failure = "the server resumed at a different offset (Content-Range: " + headers["content-range"] + ")";
        return false;
      }
      progress = DownloadProgress{existing, range->total};
      flags |= O_APPEND;
    } else {
      auto length = parse_size(headers["content-length"]);
      progress = DownloadProgress{0, length.value_or(0)};
      flags |= O_TRUNC;
    }
    fd = ::open(destination.c_str(), flags, 0644);
    if (fd < 0) {
      local_failure = "cannot open " + destination.string() + ": " + errno_text(errno);
      return false;
    }
    fs::path side = etag_file_of(destination);
    auto etag = headers.find("etag");
    if (etag != headers.end() && !etag->second.empty()) {
      if (auto written = write_file(side, etag->second); !written) {
        local_failure = written.error().message;
        return false;
      }
    } else {
      std::error_code ignored;
      fs::remove(side, ignored);
    }
    return true;
  }

  std::size_t write(const char* data, std::size_t size) {
    if (!decided && !open_destination()) return 0;
    if (!to_file()) {
      error_body.append(data, std::min(size, kErrorBodyLimit - std::min(kErrorBodyLimit, error_body.size())));
      return size;
    }
    std::size_t left = size;
    while (left > 0) {
      ssize_t written = ::write(fd, data, left);
      if (written < 0) {
        if (errno == EINTR) continue;
        local_failure = "cannot write " + destination.string() + ": " + errno_text(errno);
        return 0;
      }
      data += written;
      left -= static_cast<std::size_t>(written);
    }
    progress.received += size;
    if (on_progress && *on_progress && !(*on_progress)(progress)) {
      cancelled = true;
      return 0;
    }
    return size;
  }
};

std::size_t download_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* download = static_cast<Download*>(user);
  int status = parse_header_line(std::string(data, size * count), download->headers);
  if (status != 0) download->status = status;
  return size * count;
}

std::size_t download_body(char* data, std::size_t size, std::size_t count, void* user) {
  return static_cast<Download*>(user)->write(data, size * count);
}

std::size_t read_file_body(char* buffer, std::size_t size, std::size_t count, void* user) {
  std::size_t n = std::fread(buffer, 1, size * count, static_cast<std::FILE*>(user));
  if (n == 0 && std::ferror(static_cast<std::FILE*>(user))) return CURL_READFUNC_ABORT;
  return n;
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) { ensure_curl_initialized(); }

Result<ClientResponse> Client::request(const std::string& method, const std::string& url, const std::string& body,
                                       const std::vector<std::pair<std::string, std::string>>& headers) {
  char error_buffer[CURL_ERROR_SIZE] = {0};
  auto curl = make_handle(options_, url, error_buffer, false);
  if (!curl) return tl::unexpected(curl.error());
  CURL* h = curl->get();

  if (method == "GET" && body.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body.c_str());
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  HeaderList header_list;
  std::map<std::string, bool> present;
  if (auto added = header_list.add(headers, present); !added) return tl::unexpected(added.error());
  // The 100-continue round trip only adds latency for the small bodies this client sends.
  if (!present["expect"] && !header_list.append("Expect:")) return fail(Errc::internal, "curl_slist_append failed");
  if (!present["content-type"] && !body.empty() && !header_list.append("Content-Type: application/json")) {
    return fail(Errc::internal, "curl_slist_append failed");
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());

  ClientResponse response;
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, write_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);

  if (auto done = perform(h, error_buffer, method + " " + url); !done) return tl::unexpected(done.error());
  response.status = status_of(h);
  return response;
}

Result<ClientResponse> Client::upload_file(const std::string& method, const std::string& url, const fs::path& path,
                                           const std::vector<std::pair<std::string, std::string>>& headers) {
  std::error_code ec;
  std::uint64_t size = fs::file_size(path, ec);
  std::unique_ptr<std::FILE, FileCloser> file(ec ? nullptr : std::fopen(path.c_str(), "rb"));
  if (!file) return fail(Errc::not_found, "cannot read " + path.string(), "path");

  char error_buffer[CURL_ERROR_SIZE] = {0};
  auto curl = make_handle(options_, url, error_buffer, true);
  if (!curl) return tl::unexpected(curl.error());
  CURL* h = curl->get();
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  curl_easy_setopt(h, CURLOPT_READFUNCTION, read_file_body);
  curl_easy_setopt(h, CURLOPT_READDATA, file.get());

  HeaderList header_list;
  std::map<std::string, bool> present;
  if (auto added = header_list.add(headers, present); !added) return tl::unexpected(added.error());
  if (!present["content-type"] && !header_list.append("Content-Type: application/octet-stream")) {
    return fail(Errc::internal, "curl_slist_append failed");
  }
  // Large bodies: let the server refuse (401, 413) before the body is sent.
  if (!present["expect"] && !header_list.append("Expect: 100-continue")) {
    return fail(Errc::internal, "curl_slist_append failed");
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());

  ClientResponse response;
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, write_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);

  if (auto done = perform(h, error_buffer, method + " " + url); !done) return tl::unexpected(done.error());
  response.status = status_of(h);
  return response;
}

Result<ClientResponse> Client::download(const std::string& url, const fs::path& destination,
                                        std::function<bool(const DownloadProgress&)> on_progress,
                                        const std::vector<std::pair<std::string, std::string>>& headers) {
  // A second attempt only when the local file turned out longer than the resource (416).
  for (int attempt = 0; attempt < 2; ++attempt) {
    Download download;
    download.destination = destination;
    download.on_progress = &on_progress;
    std::error_code ec;
    if (fs::is_regular_file(destination, ec)) download.existing = fs::file_size(destination, ec);
    if (ec) download.existing = 0;

    char error_buffer[CURL_ERROR_SIZE] = {0};
    auto curl = make_handle(options_, url, error_buffer, true);
    if (!curl) return tl::unexpected(curl.error());
    CURL* h = curl->get();
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);

    HeaderList header_list;
    std::map<std::string, bool> present;
    if (auto added = header_list.add(headers, present); !added) return tl::unexpected(added.error());
    if (download.existing > 0) {
      bool ok = header_list.append("Range: bytes=" + std::to_string(download.existing) + "-");
      auto etag = read_file(etag_file_of(destination));
      if (etag && !etag->empty() && etag->find_first_of("\r\n") == std::string::npos) {
        ok = ok && header_list.append("If-Range: " + *etag);
      }
      if (!ok) return fail(Errc::internal, "curl_slist_append failed");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, download_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &download);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, download_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &download);

    auto done = perform(h, error_buffer, "GET " + url);
    if (download.cancelled) {
      return fail(Errc::unavailable, "download cancelled after " + std::to_string(download.progress.received) +
                                         " bytes; the partial file is kept for a resume");
    }
    if (!download.local_failure.empty()) return fail(Errc::internal, download.local_failure);
    if (!done) return tl::unexpected(done.error());
    download.status = status_of(h);
    // An empty 200 never reaches the write callback: the destination must still be truncated.
    if (!download.decided && !download.open_destination()) return fail(Errc::internal, download.local_failure);
    if (!download.close_file()) return fail(Errc::internal, "cannot close " + destination.string());

    ClientResponse response;
    response.status = download.status;
    response.headers = std::move(download.headers);
    if (response.status == 416) {
      auto range = parse_content_range(response.headers["content-range"]);
      if (range && !range->first && download.existing > 0 && range->total == download.existing) {
        std::error_code ignored;
        fs::remove(etag_file_of(destination), ignored);
        response.status = 200;
        return response;
      }
      if (range && !range->first && download.existing > range->total && attempt == 0) {
        std::error_code ignored;
        fs::remove(destination, ignored);
        fs::remove(etag_file_of(destination), ignored);
        continue;
      }
    }
    if (download.to_file()) {
      std::error_code ignored;
      fs::remove(etag_file_of(destination), ignored);
    } else {
      response.body = std::move(download.error_body);
    }
    return response;
  }
  return fail(Errc::internal, "download did not converge");
}

}  // namespace carillon::http
