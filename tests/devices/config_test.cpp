#include "devices/config.hpp"

#include <gtest/gtest.h>

#include "devices/model.hpp"
#include "devices/protocol.hpp"

namespace carillon::devices {
namespace {

using nlohmann::json;

std::string field_of(const Status& s) { return s ? std::string("<ok>") : s.error().field; }

TEST(DeviceConfig, DefaultIsValidForEveryRole) {
  for (const char* role : kRoles) EXPECT_TRUE(validate_config(default_config("Door", role))) << role;
}

TEST(DeviceConfig, MergePatchChangesOnlyWhatItNames) {
  auto base = default_config("Door", "door-station");
  auto merged = merge_config(base, json{{"screen", {{"brightness", 40}}}});
  ASSERT_TRUE(merged);
  EXPECT_EQ((*merged)["screen"]["brightness"], 40);
  EXPECT_EQ((*merged)["screen"]["timeout_s"], base["screen"]["timeout_s"]);
  EXPECT_EQ((*merged)["audio"], base["audio"]);
}

TEST(DeviceConfig, RejectsWithTheFieldNamed) {
  auto base = default_config("Door", "door-station");
  struct Case {
    json patch;
    std::string field;
  };
  std::vector<Case> cases = {
      {{{"screen", {{"brightness", 200}}}}, "screen.brightness"},
      {{{"screen", {{"brightness", "40"}}}}, "screen.brightness"},
      {{{"screen", {{"contrast", 1}}}}, "screen.contrast"},
      {{{"colour", "red"}}, "colour"},
      {{{"language", "xx"}}, "language"},
      {{{"role", "toaster"}}, "role"},
      {{{"audio", {{"preset", "stadium"}}}}, "audio.preset"},
      {{{"name", ""}}, "name"},
      {{{"door_openers", json::array({{{"id", 1}, {"name", "a"}, {"dtmf", "1"}, {"output", 1}},
                                      {{"id", 2}, {"name", "b"}, {"dtmf", "2"}, {"output", 2}},
                                      {{"id", 3}, {"name", "c"}, {"dtmf", "3"}, {"output", 1}}})}},
       "door_openers"},
      {{{"door_openers", json::array({{{"id", 1}, {"name", "a"}, {"dtmf", "12x"}, {"output", 1}}})}}, "door_openers[0].dtmf"},
      {{{"door_openers", json::array({{{"id", 1}, {"name", "a"}, {"dtmf", "1"}, {"output", 1}},
                                      {{"id", 2}, {"name", "b"}, {"dtmf", "1"}, {"output", 2}}})}},
       "door_openers[1].dtmf"},
      {{{"call_buttons", json::array({{{"id", "b 1"}, {"label", "x"}}})}}, "call_buttons[0].id"},
  };
  for (const auto& c : cases) {
    auto merged = merge_config(base, c.patch);
    ASSERT_FALSE(merged) << c.patch.dump();
    EXPECT_EQ(merged.error().field, c.field) << c.patch.dump();
    EXPECT_EQ(merged.error().code, Errc::invalid_argument);
  }
}

TEST(DeviceConfig, VersionAndSchemaAreNotPatchable) {
  auto base = default_config("Door", "door-station");
  EXPECT_EQ(merge_config(base, json{{"version", 9}}).error().field, "version");
  EXPECT_EQ(merge_config(base, json{{"schema", 2}}).error().field, "schema");
}

TEST(DeviceConfig, OnlyDoorStationsHaveDoorOpeners) {
  auto base = default_config("Panel", "receiving-station");
  auto merged = merge_config(base, json{{"door_openers", json::array({{{"id", 1}, {"name", "a"}, {"dtmf", "1"}, {"output", 1}}})}});
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error().field, "door_openers");
}

TEST(DeviceConfig, ValidateNeedsAnObject) { EXPECT_EQ(field_of(validate_config(json::array())), "config"); }

TEST(DeviceProtocol, TopicsRoundTrip) {
  auto t = protocol::device_topic("SN-1", "config/ack");
  EXPECT_EQ(t, "carillon/v1/devices/SN-1/config/ack");
  auto parsed = protocol::parse_topic(t);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->claim);
  EXPECT_EQ(parsed->id, "SN-1");
  EXPECT_EQ(parsed->leaf, "config/ack");
  auto claim = protocol::parse_topic(protocol::claim_topic("claim-abc", "request"));
  ASSERT_TRUE(claim);
  EXPECT_TRUE(claim->claim);
  EXPECT_FALSE(protocol::parse_topic("carillon/v1/devices/SN-1"));
  EXPECT_FALSE(protocol::parse_topic("other/topic/x/y"));
}

TEST(DeviceProtocol, ClaimClientIds) {
  EXPECT_TRUE(protocol::is_valid_claim_client_id("claim-0af3"));
  EXPECT_FALSE(protocol::is_valid_claim_client_id("SN-1"));
  EXPECT_FALSE(protocol::is_valid_claim_client_id("claim-"));
  EXPECT_FALSE(protocol::is_valid_claim_client_id("claim-a/b"));
}

}  // namespace
}  // namespace carillon::devices
