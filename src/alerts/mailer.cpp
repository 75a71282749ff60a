#include "alerts/mailer.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include <curl/curl.h>

#include "alerts/model.hpp"
#include "common/encoding.hpp"

namespace carillon::alerts {

namespace {

constexpr std::size_t kMaxSubjectBytes = 500;
constexpr std::size_t kMaxBodyBytes = 1 << 20;

bool is_printable_ascii(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// Length of the UTF-8 sequence starting at text[i], 0 when it is not a valid one.
std::size_t utf8_length(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) {
    length = 2;
    code = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    code = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3f);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  static constexpr std::array<std::uint32_t, 5> kMinimum{0, 0, 0x80, 0x800, 0x10000};
  if (code < kMinimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

bool valid_utf8(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_length(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

Status check_subject(const std::string& subject) {
  if (subject.size() > kMaxSubjectBytes)
    return fail(Errc::invalid_argument, "at most " + std::to_string(kMaxSubjectBytes) + " bytes", "subject");
  for (char c : subject) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      return fail(Errc::invalid_argument, "a subject is one line without control characters", "subject");
  }
  if (!valid_utf8(subject)) return fail(Errc::invalid_argument, "not valid UTF-8", "subject");
  return {};
}

Status check_body(const std::string& body) {
  if (body.size() > kMaxBodyBytes) return fail(Errc::invalid_argument, "at most 1 MiB", "body");
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\0') return fail(Errc::invalid_argument, "contains a NUL byte", "body");
    if (body[i] == '\r' && (i + 1 == body.size() || body[i + 1] != '\n'))
      return fail(Errc::invalid_argument, "contains a carriage return outside a CRLF line end", "body");
  }
  if (!valid_utf8(body)) return fail(Errc::invalid_argument, "not valid UTF-8", "body");
  return {};
}

std::string rfc5322_date(std::int64_t now) {
  static constexpr std::array<const char*, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return text.data();
}

// "To: a@x, b@y" folded before an address when the line would pass 78 characters.
std::string address_list_header(const std::string& name, const std::vector<std::string>& addresses) {
  std::string out = name + ":";
  std::size_t line = out.size();
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    const std::string item = addresses[i] + (i + 1 < addresses.size() ? "," : "");
    if (i > 0 && line + 1 + item.size() > 78) {
      out += "\r\n";
      line = 0;
    }
    out += " " + item;
    line += 1 + item.size();
  }
  return out + "\r\n";
}

void curl_global_once() {
  // curl_global_init is not thread-safe; the first mailer of the process does it.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Upload {
  const std::string* data = nullptr;
  std::size_t offset = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const std::size_t n = std::min(size * count, upload->data->size() - upload->offset);
  std::memcpy(buffer, upload->data->data() + upload->offset, n);
  upload->offset += n;
  return n;
}

struct CurlHandle {
  CURL* curl = curl_easy_init();
  curl_slist* recipients = nullptr;
  ~CurlHandle() {
    curl_slist_free_all(recipients);
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

}  // namespace

std::string encode_header_text(const std::string& text) {
  // "=?" in plain text would read as the start of an encoded word.
  if (is_printable_ascii(text) && text.find("=?") == std::string::npos) return text;
  // 75 characters per word: "=?UTF-8?B?" + "?=" leave 63 for base64, i.e. 45 bytes of text.
  constexpr std::size_t kChunk = 45;
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = i;
    while (end < text.size()) {
      const std::size_t n = std::max<std::size_t>(utf8_length(text, end), 1);
      if (end + n - i > kChunk) break;
      end += n;
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64_encode(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string quoted_printable(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    const bool last = end == std::string::npos;
    if (last) end = text.size();
    std::size_t content_end = end;
    if (content_end > start && text[content_end - 1] == '\r') --content_end;
    if (last && start == content_end) break;  // nothing after the final line end
    std::size_t column = 0;
    for (std::size_t i = start; i < content_end; ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      const bool at_line_end = i + 1 == content_end;
      std::string token;
      if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end)) {
        token.assign(1, static_cast<char>(c));
      } else {
        token = {'=', kHex[c >> 4], kHex[c & 0x0f]};
      }
      // Keep every line at most 76 characters, the soft break '=' included.
      if (column + token.size() > 75) {
        out += "=\r\n";
        column = 0;
      }
      // No output line may start with '.': it could end the SMTP DATA.
      if (column == 0 && token == ".") token = "=2E";
      out += token;
      column += token.size();
    }
    out += "\r\n";
    if (last) break;
    start = end + 1;
  }
  return out;
}

Result<std::string> render_message(const Message& message, const std::string& from, std::int64_t now,
                                   const std::string& message_id_local) {
  if (auto s = validate_address(from, "from"); !s) return tl::unexpected(s.error());
  if (message.to.empty()) return fail(Errc::invalid_argument, "at least one recipient", "to");
  if (message.to.size() > kMaxRecipients)
    return fail(Errc::invalid_argument, "at most " + std::to_string(kMaxRecipients) + " recipients", "to");
  for (std::size_t i = 0; i < message.to.size(); ++i) {
    if (auto s = validate_address(message.to[i], "to/" + std::to_string(i)); !s) return tl::unexpected(s.error());
  }
  if (auto s = check_subject(message.subject); !s) return tl::unexpected(s.error());
  if (auto s = check_body(message.body); !s) return tl::unexpected(s.error());
  if (message_id_local.empty() || !std::all_of(message_id_local.begin(), message_id_local.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-';
      }))
    return fail(Errc::invalid_argument, "a Message-ID's left part is [A-Za-z0-9.-]+", "message_id");

  const std::string domain = from.substr(from.rfind('@') + 1);
  std::string out;
  out += "Date: " + rfc5322_date(now) + "\r\n";
  out += "From: " + from + "\r\n";
  out += address_list_header("To", message.to);
  out += "Subject: " + encode_header_text(message.subject) + "\r\n";
  out += "Message-ID: <" + message_id_local + "@" + domain + ">\r\n";
  // RFC 3834: vacation responders and the like must not answer an alert.
  out += "Auto-Submitted: auto-generated\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n";
  out += "\r\n";
  out += quoted_printable(message.body);
  return out;
}

Status validate(const SmtpSettings& settings) {
  const bool smtp = settings.url.rfind("smtp://", 0) == 0;
  const bool smtps = settings.url.rfind("smtps://", 0) == 0;
  const std::size_t host_start = smtp ? 7 : 8;
  if ((!smtp && !smtps) || settings.url.size() <= host_start || settings.url[host_start] == '/' ||
      settings.url[host_start] == ':')
    return fail(Errc::invalid_argument, "smtp://host:port (STARTTLS) or smtps://host:port", "url");
  for (char c : settings.url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return fail(Errc::invalid_argument, "no spaces or control characters", "url");
  }
  if (auto s = validate_address(settings.from, "from"); !s) return s;
  if (settings.timeout_ms < 1 || settings.timeout_ms > 600000)
    return fail(Errc::invalid_argument, "between 1 and 600000 ms", "timeout_ms");
  if (!settings.password.empty() && settings.username.empty())
    return fail(Errc::invalid_argument, "a password needs a username", "password");
  // Otherwise a server without STARTTLS would be handed the password in clear text.
  if (!settings.username.empty() && smtp && !settings.require_starttls)
    return fail(Errc::invalid_argument, "credentials are only sent over TLS: keep require_starttls or use smtps://",
                "require_starttls");
  return {};
}

SmtpMailer::SmtpMailer(SmtpSettings settings, const Clock& clock, Random& random)
    : settings_(std::move(settings)), clock_(clock), random_(random) {
  curl_global_once();
}

Status SmtpMailer::send(const Message& message) {
  auto rendered = render_message(message, settings_.from, clock_.now(), random_.hex(16));
  if (!rendered) return tl::unexpected(rendered.error());

  CurlHandle handle;
  if (handle.curl == nullptr) return fail(Errc::internal, "curl_easy_init failed");
  CURL* curl = handle.curl;
  for (const auto& to : message.to) {
    curl_slist* next = curl_slist_append(handle.recipients, ("<" + to + ">").c_str());
    if (next == nullptr) return fail(Errc::internal, "out of memory");
    handle.recipients = next;
  }
  Upload upload{&*rendered, 0};
  std::array<char, CURL_ERROR_SIZE> error{};
  const std::string mail_from = "<" + settings_.from + ">";
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error.data());
  curl_easy_setopt(curl, CURLOPT_URL, settings_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, settings_.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, settings_.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_USE_SSL, settings_.require_starttls ? static_cast<long>(CURLUSESSL_ALL)
                                                                      : static_cast<long>(CURLUSESSL_TRY));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_blob ca{};
  if (!settings_.ca_pem.empty()) {
    ca.data = const_cast<char*>(settings_.ca_pem.data());
    ca.len = settings_.ca_pem.size();
    ca.flags = CURL_BLOB_COPY;
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
    // Only the configured anchor: not also the system's directory of CAs.
    curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  }
  if (!settings_.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, settings_.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, settings_.password.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, handle.recipients);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(rendered->size()));

  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) return {};
  long reply = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply);
  std::string reason = error[0] != '\0' ? std::string(error.data()) : std::string(curl_easy_strerror(code));
  if (code == CURLE_USE_SSL_FAILED) reason = "the server does not offer STARTTLS (" + reason + ")";
  if (reply != 0) reason += " (last reply " + std::to_string(reply) + ")";
  return fail(Errc::unavailable, "smtp: " + reason);
}

}  // namespace carillon::alerts
