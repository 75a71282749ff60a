#pragma once
// A real SMTP server for tests: Debian's python3-aiosmtpd running tests/support/smtp_server.py
// on a 127.0.0.1 port, optionally with STARTTLS (on a certificate of a CA made per test) and
// AUTH. Every message it accepts is parsed by Python's email package (independently of the
// C++ that wrote it) and kept as JSON: envelope, TLS, authentication, decoded headers and body.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"

namespace carillon::testing {

// A certificate authority and a server certificate for 127.0.0.1, made per test.
struct SmtpCertificates {
  SmtpCertificates();
  std::string ca_pem, cert_pem, key_pem;
};

struct SmtpServerOptions {
  bool tls = true;
  bool require_starttls = true;
  std::string auth;  // "user:password", "" = no AUTH
};

// The server as a child process; SIGTERM in the destructor.
class SmtpServer {
 public:
  SmtpServer(unsigned short port, const SmtpCertificates& certificates, SmtpServerOptions options);
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  void stop();
  // Every message received so far, in order.
  std::vector<nlohmann::json> messages() const;
  std::string log() const;
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

 private:
  TempDir dir_;
  unsigned short port_;
  pid_t pid_ = -1;
};

}  // namespace carillon::testing
