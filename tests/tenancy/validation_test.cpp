// Unit tests for the tenancy value rules: names, labels, attributes, time zones, logos.

#include "tenancy/validation.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/images.hpp"
#include "support/temp_dir.hpp"

namespace carillon::tenancy {
namespace {

const std::string& kPng = testing::png_image();
const std::string& kJpeg = testing::jpeg_image();
const std::string& kCleanSvg = testing::svg_image();

void expect_invalid(const Status& s, const std::string& field) {
  ASSERT_FALSE(s) << "expected a rejection for field " << field;
  EXPECT_EQ(s.error().code, Errc::invalid_argument);
  EXPECT_EQ(s.error().field, field);
  EXPECT_FALSE(s.error().message.empty());
}

// ---------------------------------------------------------------------------------------------
// Names

TEST(CheckName, AcceptsOrdinaryAndHostileLookingNamesVerbatim) {
  for (std::string name : {"Acme", "a", "Main entrance, Building 7", "'; DROP TABLE companies; --", "$(rm -rf /)",
                           "`x`", "<b>bold</b>", "Zürich Hauptbahnhof", "東京タワー", "🔔 Bell", "  padded  "}) {
    EXPECT_TRUE(check_name(name)) << name;
  }
  EXPECT_TRUE(check_name(std::string(200, 'x')));
}

TEST(CheckName, RejectsEmptyBlankLongAndControlCharacters) {
  expect_invalid(check_name(""), "name");
  expect_invalid(check_name("   "), "name");
  expect_invalid(check_name(std::string(201, 'x')), "name");
  expect_invalid(check_name("line\nbreak"), "name");
  expect_invalid(check_name("tab\there"), "name");
  expect_invalid(check_name(std::string("nul\0byte", 8)), "name");
  expect_invalid(check_name("del\x7f"), "name");
  expect_invalid(check_name("escape\x1b[31m"), "name");
  expect_invalid(check_name("", "company.name"), "company.name");
}

TEST(CheckName, LimitCountsCharactersNotBytes) {
  // 200 two-byte characters (400 bytes) are 200 characters: allowed; 201 are not.
  std::string e200, e201;
  for (int i = 0; i < 200; ++i) e200 += "é";
  e201 = e200 + "é";
  EXPECT_TRUE(check_name(e200));
  expect_invalid(check_name(e201), "name");
  std::string bells;
  for (int i = 0; i < 200; ++i) bells += "🔔";  // 4 bytes each
  EXPECT_TRUE(check_name(bells));
}

// ---------------------------------------------------------------------------------------------
// Labels

TEST(CheckLabels, AcceptsValidLabels) {
  EXPECT_TRUE(check_labels({}));
  EXPECT_TRUE(check_labels({{"vip", "#1e90ff"}, {"Night shift", "#FFAA00"}, {"x", "#000000"}}));
  std::vector<Label> twenty;
  for (int i = 0; i < 20; ++i) twenty.push_back({"l" + std::to_string(i), "#123abc"});
  EXPECT_TRUE(check_labels(twenty));
  EXPECT_TRUE(check_labels({{std::string(40, 'n'), "#abcdef"}}));
}

TEST(CheckLabels, RejectsBadColoursNamesDuplicatesAndTooMany) {
  expect_invalid(check_labels({{"vip", "red"}}), "labels[0].color");
  expect_invalid(check_labels({{"a", "#1e90ff"}, {"vip", "#1e90f"}}), "labels[1].color");
  expect_invalid(check_labels({{"vip", "#1e90fff"}}), "labels[0].color");
  expect_invalid(check_labels({{"vip", "#gggggg"}}), "labels[0].color");
  expect_invalid(check_labels({{"vip", "1e90ff"}}), "labels[0].color");
  expect_invalid(check_labels({{"vip", "#1e90ff\n"}}), "labels[0].color");
  expect_invalid(check_labels({{"vip", "#1e90ff; background:url(x)"}}), "labels[0].color");
  expect_invalid(check_labels({{"", "#1e90ff"}}), "labels[0].name");
  expect_invalid(check_labels({{std::string(41, 'n'), "#1e90ff"}}), "labels[0].name");
  expect_invalid(check_labels({{"a\tb", "#1e90ff"}}), "labels[0].name");
  expect_invalid(check_labels({{"vip", "#1e90ff"}, {"vip", "#000000"}}), "labels[1].name");
  std::vector<Label> many;
  for (int i = 0; i < 21; ++i) many.push_back({"l" + std::to_string(i), "#123abc"});
  expect_invalid(check_labels(many), "labels");
  expect_invalid(check_labels({{"vip", "red"}}, "site.labels"), "site.labels[0].color");
}

// ---------------------------------------------------------------------------------------------
// Attributes

TEST(CheckAttributes, AcceptsValidKeysAndValues) {
  EXPECT_TRUE(check_attributes({}));
  EXPECT_TRUE(check_attributes({{"floor", "3"}, {"building.wing-A_2", "north"}, {"empty", ""}}));
  EXPECT_TRUE(check_attributes({{std::string(64, 'k'), std::string(1000, 'v')}}));
  EXPECT_TRUE(check_attributes({{"sql", "'; DROP TABLE nodes; --"}, {"unicode", "Grüße 🔔"}}));
  Attributes fifty;
  for (int i = 0; i < 50; ++i) fifty["k" + std::to_string(i)] = "v";
  EXPECT_TRUE(check_attributes(fifty));
}

TEST(CheckAttributes, RejectsBadKeysLongValuesAndTooMany) {
  expect_invalid(check_attributes({{"bad key", "v"}}), "attributes.bad key");
  expect_invalid(check_attributes({{"", "v"}}), "attributes.");
  expect_invalid(check_attributes({{std::string(65, 'k'), "v"}}), "attributes." + std::string(65, 'k'));
  expect_invalid(check_attributes({{"k/../x", "v"}}), "attributes.k/../x");
  expect_invalid(check_attributes({{"k", std::string(1001, 'v')}}), "attributes.k");
  Attributes many;
  for (int i = 0; i < 51; ++i) many["k" + std::to_string(i)] = "v";
  expect_invalid(check_attributes(many), "attributes");
}

// ---------------------------------------------------------------------------------------------
// Time zones

TEST(CheckTimeZone, AcceptsIanaNamesFromTheSystemDatabase) {
  for (const char* zone : {"Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires",
                           "Asia/Kolkata", "Pacific/Auckland"}) {
    EXPECT_TRUE(check_time_zone(zone)) << zone;
  }
}

TEST(CheckTimeZone, RejectsUnknownMalformedAndPathTricks) {
  for (const char* zone :
       {"Mars/Base", "../etc/passwd", "", "Europe", "Europe/", "/etc/passwd", "Europe//Berlin",
        "Europe/Berlin/../../../../etc/passwd", "Europe/Berlin\n", "Europe/Berlin ", " Europe/Berlin", "Europe\\Berlin",
        "zone.tab", "Europe/Berlin/Mitte/Extra", "europe/berlin%00"}) {
    expect_invalid(check_time_zone(zone), "time_zone");
  }
  expect_invalid(check_time_zone("Mars/Base", "/usr/share/zoneinfo", "site.time_zone"), "site.time_zone");
}

TEST(CheckTimeZone, OnlyTzifFilesCount) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "Test");
  std::ofstream(dir.path() / "Test" / "Real", std::ios::binary) << "TZif2\0\0\0";
  std::ofstream(dir.path() / "Test" / "Fake", std::ios::binary) << "not a zone file";
  std::ofstream(dir.path() / "Short", std::ios::binary) << "TZ";
  EXPECT_TRUE(check_time_zone("Test/Real", dir.path()));
  expect_invalid(check_time_zone("Test/Fake", dir.path()), "time_zone");
  expect_invalid(check_time_zone("Short", dir.path()), "time_zone");
  expect_invalid(check_time_zone("Test", dir.path()), "time_zone");  // a directory
  expect_invalid(check_time_zone("Europe/Berlin", dir.path()), "time_zone");
}

// ---------------------------------------------------------------------------------------------
// Logos

void expect_type(std::string_view bytes, const std::string& type) {
  auto r = detect_logo_type(bytes);
  ASSERT_TRUE(r) << r.error().message << " for: " << std::string(bytes.substr(0, 120));
  EXPECT_EQ(*r, type);
}

void expect_rejected(std::string_view bytes, Errc code = Errc::invalid_argument) {
  auto r = detect_logo_type(bytes);
  ASSERT_FALSE(r) << "accepted: " << std::string(bytes.substr(0, 200));
  EXPECT_EQ(r.error().code, code);
  EXPECT_EQ(r.error().field, "logo");
}

TEST(DetectLogoType, DetectsPngJpegAndCleanSvgFromTheBytes) {
  expect_type(kPng, "image/png");
  expect_type(kJpeg, "image/jpeg");
  expect_type(kCleanSvg, "image/svg+xml");
  expect_type("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + kCleanSvg, "image/svg+xml");
  expect_type("\xef\xbb\xbf" + kCleanSvg, "image/svg+xml");  // UTF-8 byte order mark
  expect_type("<!-- Acme logo -->\n" + kCleanSvg, "image/svg+xml");
  expect_type("<SVG xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"4\"/></SVG>", "image/svg+xml");
  // References inside the document are not external links.
  expect_type(R"~(<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">)~"
              R"~(<defs><circle id="c" r="2"/></defs><use href="#c"/><use xlink:href="#c"/>)~"
              R"~(<use href = '#c'/></svg>)~",
              "image/svg+xml");
  // Attribute names that merely start with "on" inside a word are fine.
  expect_type(
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><text font-family="Montserrat" opacity="0.5">Bonjour</text></svg>)~",
      "image/svg+xml");
}

TEST(DetectLogoType, RejectsWhatIsNotAnImage) {
  expect_rejected("");
  expect_rejected("just some text renamed to logo.png\n");
  expect_rejected("GIF89a\x01\x00\x01\x00");
  expect_rejected("<html><body><svg></svg></body></html>");
  expect_rejected("<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/>");  // never closed
  expect_rejected(std::string("<svg>\0</svg>", 12));
  expect_rejected("\x89PNX\r\n\x1a\n");  // almost PNG
  expect_rejected("\xff\xd8");           // truncated JPEG magic
}

TEST(DetectLogoType, RejectsScriptableSvg) {
  const std::vector<std::string> hostile = {
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><SCRIPT type="text/ecmascript">alert(1)</SCRIPT></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><rect ONCLICK = "alert(1)"/></svg>)~",
      "<svg xmlns=\"http://www.w3.org/2000/svg\"\nonload=\"alert(1)\"></svg>",
      "<svg xmlns=\"http://www.w3.org/2000/svg\"\tonmouseover='alert(1)'></svg>",
      // No whitespace before the handler: HTML parsers accept "/" as an attribute separator.
      R"~(<svg/onload=alert(1)></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><a xlink:href="JavaScript:alert(1)"><rect/></a></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/track.png"/></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><use xlink:href="http://evil.example/x.svg#a"/></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><use href = "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4="/></svg>)~",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><image href=//evil.example/x.png /></svg>)~",
      "<?xml version=\"1.0\"?>\n<!DOCTYPE svg [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>)~",
      "<!DOCTYPE svg [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><svg>&lol2;</svg>",
      R"~(<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><iframe src="x"/></foreignObject></svg>)~",
  };
  for (const auto& svg : hostile) expect_rejected(svg);
}

TEST(DetectLogoType, SizeLimit) {
  std::string big = kPng + std::string(kMaxLogoBytes - kPng.size(), '\0');
  ASSERT_EQ(big.size(), kMaxLogoBytes);
  expect_type(big, "image/png");
  big.push_back('\0');
  expect_rejected(big, Errc::too_large);
  expect_rejected(std::string(600 * 1024, 'x'), Errc::too_large);
}

}  // namespace
}  // namespace carillon::tenancy
