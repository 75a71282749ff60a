#include "sip/event_stream.hpp"

#include <gtest/gtest.h>

namespace carillon::sip {
namespace {

TEST(NetstringDecoder, SplitsFramesAcrossReads) {
  NetstringDecoder d;
  d.feed("5:hel");
  auto partial = d.next();
  ASSERT_TRUE(partial);
  EXPECT_FALSE(*partial);
  d.feed("lo,0:,3:abc,");
  EXPECT_EQ(**d.next(), "hello");
  EXPECT_EQ(**d.next(), "");
  EXPECT_EQ(**d.next(), "abc");
  EXPECT_FALSE(*d.next());
}

TEST(NetstringDecoder, RejectsBrokenFraming) {
  for (const char* bad : {"x:abc,", "3:abcd", ":abc,", "12345678901234567890123:", "-1:a,"}) {
    NetstringDecoder d;
    d.feed(bad);
    auto r = d.next();
    EXPECT_FALSE(r) << bad;
  }
  NetstringDecoder small(4);
  small.feed("5:hello,");
  EXPECT_FALSE(small.next());
}

TEST(EdgeEvents, ParsesEveryKind) {
  auto reg = parse_edge_event(
      R"({"ts":1700000000123,"event":"register","user":"alice","contact":"sip:alice@1.2.3.4:5060","expires":300,"ua":"x","src":"1.2.3.4"})");
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->kind, EdgeEventKind::registered);
  EXPECT_EQ(reg->ts, 1700000000123);
  EXPECT_EQ(reg->user, "alice");
  EXPECT_EQ(reg->expires, 300);
  EXPECT_EQ(reg->source, "1.2.3.4");
  auto start = parse_edge_event(
      R"({"ts":1,"event":"call.start","call_id":"c","caller":"a","target":"door","company":"co"})");
  ASSERT_TRUE(start);
  EXPECT_EQ(start->kind, EdgeEventKind::call_start);
  EXPECT_EQ(start->company, "co");
  auto failed = parse_edge_event(R"({"ts":1,"event":"leg.failed","call_id":"c","member":"m","code":486,"reason":"Busy"})");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->kind, EdgeEventKind::leg_failed);
  EXPECT_EQ(failed->code, 486);
  for (auto kind : {"leg.ringing", "leg.answered", "call.answered", "call.end"}) {
    auto e = parse_edge_event(std::string(R"({"ts":1,"event":")") + kind + R"("})");
    ASSERT_TRUE(e) << kind;
    EXPECT_EQ(to_string(e->kind), kind);
  }
}

TEST(EdgeEvents, RejectsBadInput) {
  for (const char* bad : {"", "[]", "{", R"({"ts":1})", R"({"ts":1,"event":"dtmf"})", R"({"event":"register"})",
                          R"({"ts":"1","event":"register"})", R"({"ts":1,"event":"register","expires":"300"})",
                          R"({"ts":1,"event":"call.end","code":"x"})", R"({"ts":1,"event":7})"}) {
    auto e = parse_edge_event(bad);
    EXPECT_FALSE(e) << bad;
    if (!e) {
      EXPECT_EQ(e.error().code, Errc::invalid_argument);
    }
  }
}

}  // namespace
}  // namespace carillon::sip
