#include "http/client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace carillon::http {

namespace {

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

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::size_t write_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * count);
  // A new status line (after 100 Continue or an interim response) starts a fresh header set.
  if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();
    return size * count;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return size * count;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string value = line.substr(colon + 1);
  auto first = value.find_first_not_of(" \t");
  auto last = value.find_last_not_of(" \t\r\n");
  value = first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
  auto [it, inserted] = headers->emplace(name, value);
  if (!inserted) it->second += ", " + value;
  return size * count;
}

curl_blob blob_of(const std::string& pem) {
  return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) { ensure_curl_initialized(); }

Result<ClientResponse> Client::request(const std::string& method, const std::string& url, const std::string& body,
                                       const std::vector<std::pair<std::string, std::string>>& headers) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return fail(Errc::internal, "curl_easy_init failed");
  CURL* h = curl.get();

  ClientResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_pem.empty()) {
    curl_blob ca = blob_of(options_.ca_pem);
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    // Otherwise the system CA directory would be trusted as well.
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
    curl_easy_setopt(h, CURLOPT_CAINFO, nullptr);
  }
  if (!options_.client_cert_pem.empty()) {
    curl_blob cert = blob_of(options_.client_cert_pem);
    curl_blob key = blob_of(options_.client_key_pem);
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (curl_easy_setopt(h, CURLOPT_URL, url.c_str()) != CURLE_OK) return fail(Errc::invalid_argument, "bad url", "url");

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

  std::unique_ptr<curl_slist, SlistDeleter> header_list;
  bool has_expect = false;
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    has_expect = has_expect || lower == "expect";
    has_content_type = has_content_type || lower == "content-type";
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* next = curl_slist_append(header_list.get(), line.c_str());
    if (!next) return fail(Errc::internal, "curl_slist_append failed");
    header_list.release();
    header_list.reset(next);
  }
  auto append = [&](const char* line) -> bool {
    curl_slist* next = curl_slist_append(header_list.get(), line);
    if (!next) return false;
    header_list.release();
    header_list.reset(next);
    return true;
  };
  // The 100-continue round trip only adds latency for the small bodies this client sends.
  if (!has_expect && !append("Expect:")) return fail(Errc::internal, "curl_slist_append failed");
  if (!has_content_type && !body.empty() && !append("Content-Type: application/json")) {
    return fail(Errc::internal, "curl_slist_append failed");
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());

  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, write_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);

  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    std::string message = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
      return fail(Errc::invalid_argument, message, "url");
    }
    return fail(Errc::unavailable, method + " " + url + ": " + message);
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace carillon::http
