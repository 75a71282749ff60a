// Alert e-mail against a real SMTP server: Debian's python3-aiosmtpd (tests/support/smtp_server.py)
// on a free 127.0.0.1 port, with STARTTLS on a certificate made for the test, parsing what it
// receives with Python's email package.

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "alerts/dispatcher.hpp"
#include "alerts/engine.hpp"
#include "alerts/mailer.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "memory_repositories.hpp"
#include "pki/pki.hpp"
#include "support/smtp_server.hpp"
#include "support/temp_dir.hpp"

namespace carillon::alerts {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using carillon::testing::SmtpServer;
using TestCertificates = carillon::testing::SmtpCertificates;
using ServerOptions = carillon::testing::SmtpServerOptions;

class SmtpTest : public ::testing::Test {
 protected:
  SmtpSettings settings(const std::string& url) const {
    SmtpSettings s;
    s.url = url;
    s.from = "alerts@carillon.example";
    s.ca_pem = certificates_.ca_pem;
    s.timeout_ms = 5000;
    return s;
  }

  TestCertificates certificates_;
  SystemClock clock_;
  SodiumRandom random_;
};

TEST_F(SmtpTest, DeliversOverStartTlsWithAuthentication) {
  SmtpServer server(carillon::testing::free_port(), certificates_, {true, true, "carillon:s3cret"});
  SmtpSettings s = settings(server.url());
  s.username = "carillon";
  s.password = "s3cret";
  ASSERT_TRUE(validate(s));
  SmtpMailer mailer(s, clock_, random_);
  Message m;
  m.to = {"ops@acme.example", "night+alerts@acme.example"};
  m.subject = "[Carillon] Gerät offline: Haustür Müllerstraße";
  m.body = "Line one\n.\n.hidden\n..two dots\nÜmlaut = ok \nend\n";
  auto sent = mailer.send(m);
  ASSERT_TRUE(sent) << sent.error().message << "\n" << server.log();
  auto received = server.messages();
  ASSERT_EQ(received.size(), 1u) << server.log();
  const json& r = received[0];
  EXPECT_TRUE(r["tls"].get<bool>());
  EXPECT_TRUE(r["authenticated"].get<bool>());
  EXPECT_EQ(r["mail_from"], "alerts@carillon.example");
  EXPECT_EQ(r["rcpt_tos"], json({"ops@acme.example", "night+alerts@acme.example"}));
  EXPECT_EQ(r["from"], "alerts@carillon.example");
  EXPECT_EQ(r["to"], "ops@acme.example, night+alerts@acme.example");
  EXPECT_EQ(r["subject"], m.subject);
  EXPECT_EQ(r["content_type"], "text/plain");
  EXPECT_EQ(r["charset"], "utf-8");
  EXPECT_EQ(r["transfer_encoding"], "quoted-printable");
  EXPECT_EQ(r["auto_submitted"], "auto-generated");
  EXPECT_TRUE(r["defects"].empty()) << r["defects"];
  EXPECT_EQ(r["body"], m.body);
  const std::string message_id = r["message_id"];
  EXPECT_EQ(message_id.front(), '<');
  EXPECT_NE(message_id.find("@carillon.example>"), std::string::npos);
  EXPECT_FALSE(r["date"].get<std::string>().empty());
}

TEST_F(SmtpTest, AServerCertificateFromAnotherCaIsRefused) {
  SmtpServer server(carillon::testing::free_port(), certificates_, {});
  TestCertificates other;
  SmtpSettings s = settings(server.url());
  s.ca_pem = other.ca_pem;
  SmtpMailer mailer(s, clock_, random_);
  auto sent = mailer.send({{"ops@acme.example"}, "subject", "body\n"});
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, Errc::unavailable);
  EXPECT_TRUE(server.messages().empty());
}

TEST_F(SmtpTest, WrongCredentialsAreRefused) {
  SmtpServer server(carillon::testing::free_port(), certificates_, {true, true, "carillon:s3cret"});
  SmtpSettings s = settings(server.url());
  s.username = "carillon";
  s.password = "wrong";
  // After the refused AUTH PLAIN, curl 7.88 falls back to AUTH LOGIN, which stalls against
  // aiosmtpd until the timeout: a refusal either way, kept short here.
  s.timeout_ms = 1500;
  SmtpMailer mailer(s, clock_, random_);
  auto sent = mailer.send({{"ops@acme.example"}, "subject", "body\n"});
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, Errc::unavailable);
  EXPECT_TRUE(server.messages().empty());
}

TEST_F(SmtpTest, RequireStartTlsRefusesAServerThatDoesNotOfferIt) {
  SmtpServer server(carillon::testing::free_port(), certificates_, {false, false, ""});
  SmtpMailer strict(settings(server.url()), clock_, random_);
  auto sent = strict.send({{"ops@acme.example"}, "subject", "body\n"});
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, Errc::unavailable);
  EXPECT_NE(sent.error().message.find("STARTTLS"), std::string::npos) << sent.error().message;
  EXPECT_TRUE(server.messages().empty());

  // The same server takes the message when plain SMTP is allowed: the refusal above was STARTTLS.
  SmtpSettings relaxed = settings(server.url());
  relaxed.require_starttls = false;
  SmtpMailer mailer(relaxed, clock_, random_);
  ASSERT_TRUE(mailer.send({{"ops@acme.example"}, "subject", "body\n"}));
  auto received = server.messages();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_FALSE(received[0]["tls"].get<bool>());
}

TEST_F(SmtpTest, ServerDownThenUpDeliversEveryAlertExactlyOnce) {
  // Alerts from the engine, into the outbox, out through the dispatcher; the dispatcher's clock
  // is manual (backoff), the mailer's Date header uses it too.
  ManualClock clock(1'764'081'000);
  testing::MemorySettings settings_repo;
  AlertSettings acme;
  acme.company_id = "co_acme";
  acme.recipients = {"ops@acme.example"};
  settings_repo.settings["co_acme"] = acme;
  IdGenerator ids(clock, random_);
  AlertEngine engine(settings_repo, ids, clock);
  testing::MemoryOutbox outbox;

  const unsigned short port = carillon::testing::free_port();
  SmtpSettings s = settings("smtp://127.0.0.1:" + std::to_string(port));
  s.timeout_ms = 2000;
  SmtpMailer mailer(s, clock, random_);
  Dispatcher dispatcher(outbox, mailer, clock);

  engine.device_offline({"co_acme", "dv_1", "Front door", "Main street"}, clock.now());
  engine.device_offline({"co_acme", "dv_2", "Garage", "Main street"}, clock.now());
  clock.advance(11 * 60);
  auto messages = engine.tick();
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_TRUE(dispatcher.enqueue(messages));
  ASSERT_TRUE(dispatcher.enqueue(messages));  // reported twice: stored once

  // Nobody listens on the port: the message stays, with the error and the attempt counted.
  auto round = dispatcher.run_once();
  EXPECT_EQ(round.failed, 1);
  ASSERT_EQ(outbox.messages.size(), 1u);
  EXPECT_EQ(outbox.messages[0].attempts, 1);
  EXPECT_EQ(outbox.messages[0].sent_at, 0);
  EXPECT_FALSE(outbox.messages[0].last_error.empty());
  clock.advance(30);
  EXPECT_EQ(dispatcher.run_once().failed, 1);
  EXPECT_EQ(outbox.messages[0].attempts, 2);
  EXPECT_EQ(outbox.messages[0].next_attempt_at, clock.now() + 60);

  SmtpServer server(port, certificates_, {});
  clock.advance(30);
  EXPECT_EQ(dispatcher.run_once().sent, 0);  // not due yet (backoff 60 s)
  EXPECT_TRUE(server.messages().empty());
  clock.advance(30);
  round = dispatcher.run_once();
  EXPECT_EQ(round.sent, 1) << outbox.messages[0].last_error;
  for (int i = 0; i < 5; ++i) {
    clock.advance(900);
    EXPECT_EQ(dispatcher.run_once().sent, 0);
  }
  auto received = server.messages();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_TRUE(received[0]["tls"].get<bool>());
  EXPECT_EQ(received[0]["rcpt_tos"], json({"ops@acme.example"}));
  EXPECT_EQ(received[0]["subject"], "[Carillon] 2 devices offline");
  EXPECT_EQ(received[0]["body"],
            "These devices have been offline for more than 10 minutes:\n\n"
            "- Front door (Main street): offline since 2025-11-25 14:30 UTC\n"
            "- Garage (Main street): offline since 2025-11-25 14:30 UTC\n"
            "\n--\nYou receive this e-mail because this address is an alert recipient of your company in Carillon.\n");
  EXPECT_EQ(outbox.messages[0].attempts, 2);
  EXPECT_NE(outbox.messages[0].sent_at, 0);
}

}  // namespace
}  // namespace carillon::alerts
