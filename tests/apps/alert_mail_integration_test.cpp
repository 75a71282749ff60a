// Issue 5 end to end: the real `carillon up` with alert e-mail to a real SMTP server (aiosmtpd,
// STARTTLS required, tests/support/smtp_server.hpp). A company with a recipient hears about new
// firmware for its devices, and when a device is killed it gets the offline e-mail once the
// device has been gone for longer than the company's threshold (1 minute: the shortest allowed).

#include <gtest/gtest.h>

#include "apps/platform_helpers.hpp"
#include "common/files.hpp"
#include "support/smtp_server.hpp"
#include "support/temp_dir.hpp"

namespace carillon::apps {
namespace {

using testing::SmtpCertificates;
using testing::SmtpServer;
using testing::TempDir;

// The first received message whose subject contains `text`, or null.
json mail_with(const SmtpServer& server, const std::string& text) {
  for (const auto& m : server.messages()) {
    if (m.value("subject", std::string()).find(text) != std::string::npos) return m;
  }
  return nullptr;
}

TEST(AlertMail, NewFirmwareAndAKilledDeviceAreMailedToTheCompany) {
  TempDir dir;
  SmtpCertificates certificates;
  ASSERT_TRUE(write_file(dir.path() / "smtp-ca.pem", certificates.ca_pem));
  SmtpServer server(testing::free_port(), certificates, {true, true, ""});
  Platform p({"--smtp-url", server.url(), "--smtp-from", "alerts@carillon.test", "--smtp-ca-file",
              (dir.path() / "smtp-ca.pem").string(), "--alert-group-seconds", "2"});
  SodiumRandom random;
  auto token = p.admin_token();
  auto tenant = make_tenant(p, token, "Alarm GmbH");

  // Bad settings are refused with the field, and nothing is stored.
  auto bad = p.call("PUT", "/api/v1/companies/" + tenant.company + "/alert-settings", token,
                    json{{"recipients", {"ops@acme.example", "not an address"}}});
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_EQ(first_error_field(bad), "recipients[1]");
  auto unchanged = p.call("GET", "/api/v1/companies/" + tenant.company + "/alert-settings", token);
  EXPECT_TRUE(unchanged.body["recipients"].empty()) << unchanged.raw;

  auto put = p.call("PUT", "/api/v1/companies/" + tenant.company + "/alert-settings", token,
                    json{{"recipients", {"ops@acme.example"}}, {"offline_after_minutes", 1}});
  ASSERT_EQ(put.status, 200) << put.raw;

  auto device = start_device(p, dir.path() / "door", make_claim_code(p, token, tenant.site), random, "ALARM-DOOR-1");
  ASSERT_TRUE(eventually([&] {
    auto d = device_by_serial(p, token, "ALARM-DOOR-1");
    return !d.is_null() && d["online"].get<bool>();
  }, 20s));

  // G2: a new image for the company's devices is announced.
  std::string image(8192, 'x');
  auto uploaded = p.call("POST", "/api/v1/firmware-images?family=MX&version=3.1.0&security_critical=true", token,
                         image, "application/octet-stream");
  ASSERT_EQ(uploaded.status, 201) << uploaded.raw;
  ASSERT_TRUE(eventually([&] { return !mail_with(server, "3.1.0").is_null(); }, 30s, 200ms)) << server.log();
  auto firmware_mail = mail_with(server, "3.1.0");
  EXPECT_EQ(firmware_mail["rcpt_tos"], json({"ops@acme.example"}));
  EXPECT_TRUE(firmware_mail["tls"].get<bool>());

  // Killed: no goodbye, the broker's will tells the platform.
  device.reset();
  ASSERT_TRUE(eventually([&] { return !device_by_serial(p, token, "ALARM-DOOR-1")["online"].get<bool>(); }, 30s));
  ASSERT_TRUE(eventually([&] { return !mail_with(server, "offline").is_null(); }, 120s, 500ms)) << server.log();
  auto offline_mail = mail_with(server, "offline");
  EXPECT_EQ(offline_mail["rcpt_tos"], json({"ops@acme.example"}));
  EXPECT_TRUE(offline_mail["tls"].get<bool>());
  EXPECT_NE(offline_mail["body"].get<std::string>().find("ALARM-DOOR-1"), std::string::npos) << offline_mail["body"];

  auto outbox = p.call("GET", "/api/v1/companies/" + tenant.company + "/alert-messages", token);
  ASSERT_EQ(outbox.status, 200) << outbox.raw;
  ASSERT_GE(outbox.body["items"].size(), 2u);
  for (const auto& m : outbox.body["items"]) EXPECT_FALSE(m["sent_at"].is_null()) << m.dump();
}

}  // namespace
}  // namespace carillon::apps
