#include "sip/edge_settings.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "sip/templates.hpp"

namespace carillon::sip {
namespace {

EdgeSettings valid_settings() {
  EdgeSettings s;
  s.tls_cert_file = "/state/sip/server.pem";
  s.tls_key_file = "/state/sip/server.key";
  s.tls_ca_file = "/state/pki/ca.pem";
  s.run_dir = "/state/run";
  return s;
}

TEST(EdgeSettings, RendersEveryPlaceholderOfTheEmbeddedTemplate) {
  auto s = valid_settings();
  s.tls_port = 15061;
  s.loop_port = 15070;
  s.max_call_seconds = 42;
  auto config = render_kamailio_config(s);
  ASSERT_TRUE(config) << config.error().message << " " << config.error().field;
  EXPECT_EQ(config->find("${"), std::string::npos);
  EXPECT_NE(config->find("listen=tls:127.0.0.1:15061"), std::string::npos);
  EXPECT_NE(config->find("listen=udp:127.0.0.1:15070"), std::string::npos);
  EXPECT_NE(config->find("modparam(\"dialog\", \"default_timeout\", 42)"), std::string::npos);
  EXPECT_NE(config->find("alias=\"carillon.local\""), std::string::npos);
  // No plain device listener unless asked for.
  EXPECT_EQ(config->find("listen=udp:127.0.0.1:0"), std::string::npos);
  EXPECT_NE(config->find("# no plain device listener"), std::string::npos);
  s.device_udp_port = 15060;
  auto with_udp = render_kamailio_config(s);
  ASSERT_TRUE(with_udp);
  EXPECT_NE(with_udp->find("listen=udp:127.0.0.1:15060"), std::string::npos);
}

TEST(EdgeSettings, TemplateUsesOnlyKnownPlaceholders) {
  auto values = kamailio_template_values(valid_settings());
  auto rendered = render_template(kamailio_config_template(), values);
  ASSERT_TRUE(rendered) << rendered.error().message;
  // Every value is used: a stale setting would be a silent no-op.
  for (const auto& [name, value] : values) {
    EXPECT_NE(kamailio_config_template().find("${" + name + "}"), std::string_view::npos) << name;
  }
}

TEST(EdgeSettings, RenderTemplateRejectsUnknownAndUnclosedPlaceholders) {
  auto unknown = render_template("a ${nope} b", {{"x", "1"}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::invalid_argument);
  EXPECT_EQ(unknown.error().field, "nope");
  auto unclosed = render_template("a ${x\n}", {{"x", "1"}});
  ASSERT_FALSE(unclosed);
  EXPECT_EQ(unclosed.error().code, Errc::invalid_argument);
  auto ok = render_template("$var(x) ${x}${x} $(ru{s.len})", {{"x", "1"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, "$var(x) 11 $(ru{s.len})");
}

TEST(EdgeSettings, ValidationNamesTheBadField) {
  auto expect_field = [](EdgeSettings s, const std::string& field) {
    auto r = render_kamailio_config(s);
    ASSERT_FALSE(r) << field;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_EQ(r.error().field, field);
  };
  auto s = valid_settings();
  s.sip_domain = "bad\"domain";
  expect_field(s, "sip_domain");
  s = valid_settings();
  s.listen_ip = "300.1.1.1";
  expect_field(s, "listen_ip");
  s = valid_settings();
  s.wss_port = s.tls_port;
  expect_field(s, "wss_port");
  s = valid_settings();
  s.evapi_port = 0;
  expect_field(s, "evapi_port");
  s = valid_settings();
  s.jsonrpc_port = s.rtp_port_min;
  expect_field(s, "jsonrpc_port");
  s = valid_settings();
  s.tls_key_file = "/x\"\nloadmodule \"evil.so";
  expect_field(s, "tls_key_file");
  s = valid_settings();
  s.run_dir.clear();
  expect_field(s, "run_dir");
  s = valid_settings();
  s.max_call_seconds = 0;
  expect_field(s, "max_call_seconds");
  s = valid_settings();
  s.rtp_port_max = s.rtp_port_min;
  expect_field(s, "rtp_port_min");
}

TEST(EdgeSettings, ProcessArguments) {
  auto s = valid_settings();
  auto k = kamailio_arguments(s, "/state/kamailio.cfg");
  ASSERT_FALSE(k.empty());
  EXPECT_EQ(k[0], "kamailio");
  EXPECT_NE(std::find(k.begin(), k.end(), "-DD"), k.end());
  EXPECT_NE(std::find(k.begin(), k.end(), "/state/kamailio.cfg"), k.end());
  EXPECT_NE(std::find(k.begin(), k.end(), "/state/run"), k.end());
  auto r = rtpengine_arguments(s);
  EXPECT_EQ(r[0], "rtpengine");
  EXPECT_NE(std::find(r.begin(), r.end(), "--table=-1"), r.end());
  EXPECT_NE(std::find(r.begin(), r.end(), "--listen-ng=127.0.0.1:2223"), r.end());
  EXPECT_NE(std::find(r.begin(), r.end(), "--port-min=30000"), r.end());
}

}  // namespace
}  // namespace carillon::sip
