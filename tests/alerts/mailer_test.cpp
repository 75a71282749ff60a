// The RFC 5322 rendering of alert e-mails, address and settings validation.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alerts/mailer.hpp"
#include "alerts/model.hpp"
#include "common/encoding.hpp"

namespace carillon::alerts {
namespace {

std::vector<std::string> lines_of(const std::string& message) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = message.find("\r\n", start);
    if (end == std::string::npos) {
      out.push_back(message.substr(start));
      return out;
    }
    out.push_back(message.substr(start, end - start));
    start = end + 2;
  }
}

std::string header_block(const std::string& message) { return message.substr(0, message.find("\r\n\r\n") + 2); }
std::string body_of(const std::string& message) { return message.substr(message.find("\r\n\r\n") + 4); }

// RFC 2045 decoding, written independently of the encoder.
std::string decode_qp(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '=') {
      out += text[i];
    } else if (text.compare(i, 3, "=\r\n") == 0) {
      i += 2;
    } else {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

Message sample() {
  Message m;
  m.to = {"ops@example.com", "night.shift+alerts@example.org"};
  m.subject = "[Carillon] Device offline: Front door (Main street)";
  m.body = "This device has been offline for more than 10 minutes:\n\n- Front door (Main street)\n";
  return m;
}

TEST(RenderMessage, HasTheHeadersAndCrlfLineEnds) {
  auto text = render_message(sample(), "alerts@carillon.example", 1'764'081'000, "abc123");
  ASSERT_TRUE(text) << text.error().message;
  const std::string headers = header_block(*text);
  EXPECT_NE(headers.find("Date: Tue, 25 Nov 2025 14:30:00 +0000\r\n"), std::string::npos) << headers;
  EXPECT_NE(headers.find("From: alerts@carillon.example\r\n"), std::string::npos);
  EXPECT_NE(headers.find("To: ops@example.com, night.shift+alerts@example.org\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Subject: [Carillon] Device offline: Front door (Main street)\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Message-ID: <abc123@carillon.example>\r\n"), std::string::npos);
  EXPECT_NE(headers.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Content-Transfer-Encoding: quoted-printable\r\n"), std::string::npos);
  EXPECT_NE(headers.find("Auto-Submitted: auto-generated\r\n"), std::string::npos);
  for (std::size_t i = 0; i < text->size(); ++i) {
    if ((*text)[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ((*text)[i - 1], '\r') << "bare LF at " << i;
    }
  }
  EXPECT_EQ(decode_qp(body_of(*text)),
            "This device has been offline for more than 10 minutes:\r\n\r\n- Front door (Main street)\r\n");
}

TEST(RenderMessage, FoldsALongRecipientList) {
  Message m = sample();
  m.to.clear();
  for (int i = 0; i < 12; ++i) m.to.push_back("recipient" + std::to_string(i) + "@example.com");
  auto text = render_message(m, "alerts@carillon.example", 0, "x");
  ASSERT_TRUE(text);
  for (const auto& line : lines_of(header_block(*text))) EXPECT_LE(line.size(), 78u) << line;
  EXPECT_NE(text->find("recipient11@example.com\r\n"), std::string::npos);
}

TEST(RenderMessage, EncodesANonAsciiSubjectAsEncodedWords) {
  Message m = sample();
  m.subject = "Gerät offline: Haustür Müllerstraße 12 – Eingang Nord, Aufzug und Tiefgarage";
  auto text = render_message(m, "alerts@carillon.example", 0, "x");
  ASSERT_TRUE(text);
  const std::string headers = header_block(*text);
  const std::size_t start = headers.find("Subject: ") + 9;
  const std::size_t end = headers.find("\r\nMessage-ID");
  const std::string value = headers.substr(start, end - start);
  // Folded encoded words; decoding each and concatenating gives the subject back.
  std::string decoded;
  std::size_t words = 0;
  for (std::size_t at = value.find("=?UTF-8?B?"); at != std::string::npos; at = value.find("=?UTF-8?B?", at + 1)) {
    const std::size_t close = value.find("?=", at + 10);
    ASSERT_NE(close, std::string::npos);
    EXPECT_LE(close + 2 - at, 75u);
    auto bytes = base64_decode(value.substr(at + 10, close - at - 10));
    ASSERT_TRUE(bytes);
    decoded += *bytes;
    ++words;
  }
  EXPECT_GE(words, 2u);
  EXPECT_EQ(decoded, m.subject);
  for (char c : value) EXPECT_TRUE(static_cast<unsigned char>(c) < 0x80) << value;
  EXPECT_EQ(encode_header_text("plain ASCII"), "plain ASCII");
  // "=?" would read as an encoded word, so it is encoded.
  EXPECT_EQ(encode_header_text("a =?b"), "=?UTF-8?B?" + base64_encode("a =?b") + "?=");
}

TEST(RenderMessage, RefusesHeaderInjection) {
  Message m = sample();
  m.subject = "hello\r\nBcc: victim@example.net";
  auto r = render_message(m, "alerts@carillon.example", 0, "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().field, "subject");
  m.subject = "hello\nBcc: victim@example.net";
  EXPECT_EQ(render_message(m, "alerts@carillon.example", 0, "x").error().field, "subject");

  m = sample();
  m.to = {"ops@example.com", "a@example.com\r\nBcc: victim@example.net"};
  r = render_message(m, "alerts@carillon.example", 0, "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "to/1");
  m.to = {"Ops <ops@example.com>"};
  EXPECT_EQ(render_message(m, "alerts@carillon.example", 0, "x").error().field, "to/0");
  m.to = {};
  EXPECT_EQ(render_message(m, "alerts@carillon.example", 0, "x").error().field, "to");

  m = sample();
  EXPECT_EQ(render_message(m, "alerts@carillon.example\r\nX: y", 0, "x").error().field, "from");
  EXPECT_EQ(render_message(m, "alerts@carillon.example", 0, "x>\r\nX: y").error().field, "message_id");
  m.body = "bare\rcarriage return";
  EXPECT_EQ(render_message(m, "alerts@carillon.example", 0, "x").error().field, "body");
  m.body = std::string("nul\0byte", 8);
  EXPECT_EQ(render_message(m, "alerts@carillon.example", 0, "x").error().field, "body");
  m.body = "bad utf-8 \xC3\x28";
  EXPECT_EQ(render_message(m, "alerts@carillon.example", 0, "x").error().field, "body");
}

TEST(RenderMessage, NoLineStartsWithADot) {
  Message m = sample();
  m.body = ".\n..double\n.hidden\nend.\n";
  auto text = render_message(m, "alerts@carillon.example", 0, "x");
  ASSERT_TRUE(text);
  for (const auto& line : lines_of(*text)) EXPECT_NE(line.rfind(".", 0), 0u) << line;
  EXPECT_EQ(decode_qp(body_of(*text)), ".\r\n..double\r\n.hidden\r\nend.\r\n");
}

TEST(QuotedPrintable, EncodesAndWrapsLines) {
  const std::string text = "Türöffner = 1 \n" + std::string(200, 'x') + "\ntab\t\n" + std::string(74, 'y') + ".z\n";
  const std::string qp = quoted_printable(text);
  for (const auto& line : lines_of(qp)) {
    EXPECT_LE(line.size(), 76u) << line;
    EXPECT_NE(line.rfind(".", 0), 0u) << line;
    if (!line.empty()) {
      EXPECT_NE(line.back(), ' ');
      EXPECT_NE(line.back(), '\t');
    }
    for (char c : line) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << line;
  }
  EXPECT_NE(qp.find("T=C3=BCr=C3=B6ffner =3D 1=20\r\n"), std::string::npos) << qp;
  EXPECT_NE(qp.find("tab=09\r\n"), std::string::npos);
  std::string expected = text;
  for (std::size_t at = expected.find('\n'); at != std::string::npos; at = expected.find('\n', at + 2))
    expected.insert(at, "\r");
  EXPECT_EQ(decode_qp(qp), expected);
  // CRLF input is the same as LF input; no final line end still ends with one.
  EXPECT_EQ(quoted_printable("a\r\nb\r\n"), "a\r\nb\r\n");
  EXPECT_EQ(quoted_printable("a\nb"), "a\r\nb\r\n");
  EXPECT_EQ(quoted_printable(""), "");
}

TEST(Addresses, ASaneSubsetOfRfc5321) {
  for (const char* good : {"a@b.c", "ops@example.com", "first.last+tag@sub.example.co.uk", "x_y-z@a-b.example",
                           "o'brien@example.ie", "root@[127.0.0.1]", "ALERTS@EXAMPLE.COM"}) {
    EXPECT_TRUE(validate_address(good, "to")) << good;
  }
  for (const char* bad : {"", "a@", "@b.c", "ab.c", "a b@c.d", "a@b c.d", "a@b.c\r\n", "a\n@b.c", "<a@b.c>",
                          "a@b.c>", "\"q\"@b.c", "a..b@c.d", ".a@b.c", "a.@b.c", "a@-b.c", "a@b-.c", "a@b..c",
                          "a@[1.2.3]", "a@[1.2.3.256]", "a,b@c.d", "a;b@c.d", "a@b.c,", "a@b_c.d"}) {
    auto s = validate_address(bad, "recipients/3");
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, Errc::invalid_argument);
    EXPECT_EQ(s.error().field, "recipients/3");
  }
  EXPECT_FALSE(validate_address(std::string(65, 'a') + "@example.com", "to"));
  EXPECT_TRUE(validate_address(std::string(64, 'a') + "@example.com", "to"));
  std::string long_domain;
  for (int i = 0; i < 5; ++i) long_domain += std::string(50, 'd') + ".";
  EXPECT_FALSE(validate_address("a@" + long_domain + "com", "to"));  // 257 characters
}

TEST(Settings, FieldErrors) {
  AlertSettings s;
  s.company_id = "co_1";
  s.recipients = {"a@example.com", "b@example.com"};
  EXPECT_TRUE(validate(s));
  s.recipients.push_back("A@Example.com");
  EXPECT_EQ(validate(s).error().field, "recipients/2");
  s.recipients = {"a@example.com", "not an address"};
  EXPECT_EQ(validate(s).error().field, "recipients/1");
  s.recipients.assign(kMaxRecipients + 1, "");
  for (std::size_t i = 0; i < s.recipients.size(); ++i) s.recipients[i] = "r" + std::to_string(i) + "@example.com";
  EXPECT_EQ(validate(s).error().field, "recipients");
  s.recipients = {};
  s.offline_after_minutes = 0;
  EXPECT_EQ(validate(s).error().field, "offline_after_minutes");
  s.offline_after_minutes = 1441;
  EXPECT_EQ(validate(s).error().field, "offline_after_minutes");
  s.offline_after_minutes = 1440;
  s.enabled = {AlertKind::device_online, AlertKind::device_online};
  EXPECT_EQ(validate(s).error().field, "enabled/1");
  s.enabled = {};
  EXPECT_TRUE(validate(s));
  EXPECT_FALSE(s.wants(AlertKind::device_offline));

  for (AlertKind kind : kAllAlertKinds) EXPECT_EQ(*parse_alert_kind(to_string(kind), "k"), kind);
  EXPECT_EQ(parse_alert_kind("offline", "enabled/0").error().field, "enabled/0");
}

TEST(SmtpSettings, FieldErrors) {
  SmtpSettings s;
  s.url = "smtp://127.0.0.1:2525";
  s.from = "alerts@carillon.example";
  EXPECT_TRUE(validate(s));
  s.url = "smtps://mail.example.com";
  EXPECT_TRUE(validate(s));
  for (const char* bad : {"http://mail.example.com", "smtp://", "smtp:///x", "smtp://:25", "smtp://a b", "mail.example.com"}) {
    s.url = bad;
    EXPECT_EQ(validate(s).error().field, "url") << bad;
  }
  s.url = "smtp://mail.example.com:587";
  s.from = "carillon";
  EXPECT_EQ(validate(s).error().field, "from");
  s.from = "alerts@carillon.example";
  s.timeout_ms = 0;
  EXPECT_EQ(validate(s).error().field, "timeout_ms");
  s.timeout_ms = 5000;
  s.password = "secret";
  EXPECT_EQ(validate(s).error().field, "password");
  s.username = "alerts";
  EXPECT_TRUE(validate(s));
  s.require_starttls = false;
  EXPECT_EQ(validate(s).error().field, "require_starttls");
  s.url = "smtps://mail.example.com";
  EXPECT_TRUE(validate(s));
}

}  // namespace
}  // namespace carillon::alerts
