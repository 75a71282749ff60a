#include <gtest/gtest.h>

#include "common/clock.hpp"
#include "emulator/call_list.hpp"
#include "emulator/door_openers.hpp"
#include "emulator/snapshot.hpp"

namespace carillon::emulator {
namespace {

nlohmann::json two_openers() {
  return nlohmann::json::parse(R"([
    {"id":1,"name":"Front door","dtmf":"1234","output":1,"pulse_ms":3000},
    {"id":2,"name":"Gate","dtmf":"#9","output":2}])");
}

TEST(DoorOpeners, CodeCompletesAfterAnyPrefix) {
  ManualClock clock(1'700'000'000);
  DoorOpeners doors(clock);
  doors.configure(two_openers());
  EXPECT_FALSE(doors.on_digit(1, '9'));
  EXPECT_FALSE(doors.on_digit(1, '1'));
  EXPECT_FALSE(doors.on_digit(1, '2'));
  EXPECT_FALSE(doors.on_digit(1, '3'));
  auto opened = doors.on_digit(1, '4');
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->id, 1);
  EXPECT_EQ(opened->name, "Front door");
  EXPECT_TRUE(doors.output_active(1));
  EXPECT_FALSE(doors.output_active(2));
  clock.advance(4);
  EXPECT_FALSE(doors.output_active(1));
}

TEST(DoorOpeners, WrongCodeDoesNothingAndCallsAreSeparate) {
  ManualClock clock(1'700'000'000);
  DoorOpeners doors(clock);
  doors.configure(two_openers());
  for (char c : std::string("1235")) EXPECT_FALSE(doors.on_digit(1, c));
  // Digits of another call do not combine with call 1's.
  EXPECT_FALSE(doors.on_digit(2, '#'));
  EXPECT_FALSE(doors.on_digit(1, '9'));
  EXPECT_EQ(doors.openings(), 0u);
  auto gate = doors.on_digit(2, '9');
  ASSERT_TRUE(gate);
  EXPECT_EQ(gate->id, 2);
  EXPECT_EQ(doors.openings(), 1u);
}

TEST(DoorOpeners, ALongPauseStartsOver) {
  ManualClock clock(1'700'000'000);
  DoorOpeners doors(clock);
  doors.configure(two_openers());
  doors.on_digit(1, '1');
  doors.on_digit(1, '2');
  clock.advance(DoorOpeners::kInterDigitTimeoutSeconds + 1);
  doors.on_digit(1, '3');
  EXPECT_FALSE(doors.on_digit(1, '4'));
}

TEST(CallList, KeepsTheNewestTwenty) {
  CallList list;
  for (std::uint64_t i = 1; i <= 25; ++i) list.add({i, "sip:u" + std::to_string(i), static_cast<std::int64_t>(i), false, 0});
  ASSERT_EQ(list.entries().size(), 20u);
  EXPECT_EQ(list.entries().front().call, 25u);
  EXPECT_EQ(list.entries().back().call, 6u);
  list.answered(25);
  list.ended(25, 99);
  EXPECT_TRUE(list.entries().front().answered);
  EXPECT_EQ(list.to_json()[0]["ended"], 99);
  EXPECT_FALSE(list.to_json()[1]["answered"]);
}

TEST(Snapshot, IsAJpeg) {
  auto jpeg = make_snapshot_jpeg(1'764'000'000);
  ASSERT_TRUE(jpeg);
  ASSERT_GT(jpeg->size(), 1000u);
  EXPECT_EQ(static_cast<unsigned char>((*jpeg)[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>((*jpeg)[1]), 0xD8);
  EXPECT_EQ(static_cast<unsigned char>((*jpeg)[jpeg->size() - 2]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>((*jpeg)[jpeg->size() - 1]), 0xD9);
  // Different times give different pictures.
  EXPECT_NE(*jpeg, *make_snapshot_jpeg(1'764'000'001));
}

}  // namespace
}  // namespace carillon::emulator
