#pragma once
// Sending e-mail: the Mailer interface and SmtpMailer, an SMTP client on libcurl that insists on
// STARTTLS (or smtps://) by default and verifies the server's certificate.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "common/result.hpp"

namespace carillon::alerts {

// One plain-text e-mail. Addresses must pass validate_address(); subject and body are UTF-8.
struct Message {
  std::vector<std::string> to;  // 1..kMaxRecipients (model.hpp) addresses
  std::string subject;          // one line: no CR, LF or other control characters
  std::string body;             // lines end in '\n' (or "\r\n"); no NUL or bare CR
};

// The RFC 5322 message as it goes after DATA: CRLF line ends; headers Date (`now`, UTC), From,
// To, Subject (RFC 2047 "=?UTF-8?B?...?=" encoded words when not plain ASCII), Message-ID
// ("<message_id_local@domain of from>"), MIME-Version, Content-Type text/plain; charset=utf-8,
// Content-Transfer-Encoding quoted-printable. The body is quoted-printable (RFC 2045) with a
// leading '.' encoded as "=2E", so no line of the message starts with '.' and the SMTP end-of-
// data marker cannot appear whatever the client does about dot-stuffing.
// invalid_argument with field "from", "to", "to/<i>", "subject" or "body" for bad input (header
// injection through CR/LF is one of them); `message_id_local` must be [A-Za-z0-9.-]+.
Result<std::string> render_message(const Message& message, const std::string& from, std::int64_t now,
                                   const std::string& message_id_local);

// Encodes `text` as RFC 2047 B encoded words of at most 75 characters each, split on UTF-8
// character boundaries, joined by CRLF SP (folding); `text` unchanged when it is printable ASCII.
std::string encode_header_text(const std::string& text);
// RFC 2045 quoted-printable of a text body with CRLF line ends, lines of at most 76 characters.
std::string quoted_printable(const std::string& text);

class Mailer {
 public:
  virtual ~Mailer() = default;
  // Delivers `message` to the SMTP server (accepted for every recipient) or says why not:
  // invalid_argument for a message that cannot be sent as it is, unavailable for everything
  // on the way (connection, TLS, authentication, the server's refusal) - worth a retry later.
  virtual Status send(const Message& message) = 0;
};

struct SmtpSettings {
  std::string url;        // "smtp://host:port" (STARTTLS) or "smtps://host:port" (TLS from the start)
  std::string from;       // envelope sender and From: header; validate_address()
  std::string username;   // optional: AUTH when set
  std::string password;
  bool require_starttls = true;  // smtp://: refuse to send unless the server switches to TLS (else
                                 // TLS is only used when offered, and a bad certificate still fails)
  std::string ca_pem;     // trust anchors for the server certificate (PEM); empty = the system's
  long timeout_ms = 10000;  // for the whole conversation, connecting included
};

// Field errors: "url" (not smtp:// or smtps:// with a host), "from", "timeout_ms" (1..600000),
// "password" (set without username), "require_starttls" (false with smtp:// and a username).
Status validate(const SmtpSettings& settings);

class SmtpMailer final : public Mailer {
 public:
  // `random` makes the Message-IDs; it and `clock` must outlive the mailer. The settings must be valid.
  SmtpMailer(SmtpSettings settings, const Clock& clock, Random& random);
  Status send(const Message& message) override;

 private:
  SmtpSettings settings_;
  const Clock& clock_;
  Random& random_;
};

}  // namespace carillon::alerts
