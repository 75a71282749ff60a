// Unit tests for src/common: encodings, ids, the failure throttle, randomness helpers, files.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/encoding.hpp"
#include "common/files.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "common/throttle.hpp"
#include "support/temp_dir.hpp"

namespace carillon {
namespace {

// Every byte value once, so no encoding table entry goes untested.
std::string all_bytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// Deterministic bytes for tests that must not depend on the CSPRNG.
class CountingRandom final : public Random {
 public:
  void fill(unsigned char* out, std::size_t size) override {
    for (std::size_t i = 0; i < size; ++i) out[i] = next_++;
  }

 private:
  unsigned char next_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Encodings

TEST(Hex, KnownValuesAndLowerCase) {
  EXPECT_EQ(to_hex(""), "");
  EXPECT_EQ(to_hex(std::string("\x00\x01\x7f\x80\xff", 5)), "00017f80ff");
  EXPECT_EQ(to_hex("Carillon"), "436172696c6c6f6e");
  auto hex = to_hex(all_bytes());
  ASSERT_EQ(hex.size(), 512u);
  EXPECT_EQ(hex.substr(0, 6), "000102");
  EXPECT_EQ(hex.substr(506), "fdfeff");
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(Base64, Rfc4648TestVectors) {
  // RFC 4648 section 10.
  const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                    {"f", "Zg=="},
                                                                    {"fo", "Zm8="},
                                                                    {"foo", "Zm9v"},
                                                                    {"foob", "Zm9vYg=="},
                                                                    {"fooba", "Zm9vYmE="},
                                                                    {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded) << plain;
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, plain) << encoded;
  }
}

TEST(Base64, RoundTripsEveryLength) {
  auto bytes = all_bytes();
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    auto chunk = bytes.substr(bytes.size() - n);
    auto decoded = base64_decode(base64_encode(chunk));
    ASSERT_TRUE(decoded.has_value()) << n;
    EXPECT_EQ(*decoded, chunk) << n;
  }
}

TEST(Base64, RejectsInvalidInput) {
  EXPECT_FALSE(base64_decode("Zg=").has_value());  // length not a multiple of 4
  EXPECT_FALSE(base64_decode("Zm9").has_value());
  EXPECT_FALSE(base64_decode("Zm9!").has_value());  // not in the alphabet
  EXPECT_FALSE(base64_decode("Zm-v").has_value());  // base64url character in plain base64
  EXPECT_FALSE(base64_decode("Zm_v").has_value());
  EXPECT_FALSE(base64_decode("Zm9\x80").has_value());
}

TEST(Base64Url, KnownValuesUseUrlAlphabetWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  // 0xfb 0xff encodes to "+/8=" in plain base64.
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  auto decoded = base64url_decode("-_8");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, "\xfb\xff");
}

TEST(Base64Url, RoundTripsEveryLength) {
  auto bytes = all_bytes();
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    auto chunk = bytes.substr(0, n);
    auto encoded = base64url_encode(chunk);
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos) << n;
    auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << n;
    EXPECT_EQ(*decoded, chunk) << n;
  }
}

TEST(Base64Url, RejectsInvalidInput) {
  EXPECT_FALSE(base64url_decode("+_8").has_value());  // plain base64 alphabet
  EXPECT_FALSE(base64url_decode("-/8").has_value());
  EXPECT_FALSE(base64url_decode("Zg==").has_value());  // padding is not part of base64url here
  EXPECT_FALSE(base64url_decode("Zm9v!").has_value());
  EXPECT_FALSE(base64url_decode("Zm 9v").has_value());
}

TEST(Base64Url, RejectsALeftOverSingleCharacter) {
  EXPECT_FALSE(base64url_decode("Zm9vY").has_value());
  EXPECT_FALSE(base64url_decode("A").has_value());
}

TEST(Sha256, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(EqualSecret, ComparesContentAndLength) {
  EXPECT_TRUE(equal_secret("", ""));
  EXPECT_TRUE(equal_secret("secret", "secret"));
  EXPECT_FALSE(equal_secret("secret", "secreT"));
  EXPECT_FALSE(equal_secret("secret", "secret2"));
  EXPECT_FALSE(equal_secret("secret", ""));
  EXPECT_TRUE(equal_secret(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(equal_secret(std::string("a\0b", 3), std::string("a\0c", 3)));
}

// ---------------------------------------------------------------------------------------------
// Ids

TEST(Ids, ShapeIsPrefixUnderscoreAnd28LowerHexDigits) {
  ManualClock clock(1700000000);
  SodiumRandom random;
  IdGenerator ids(clock, random);
  for (auto prefix : {id_prefix::company, id_prefix::project, id_prefix::site, id_prefix::device, id_prefix::claim_code,
                      id_prefix::user, id_prefix::audit, id_prefix::config, id_prefix::command}) {
    auto id = ids.next(prefix);
    ASSERT_EQ(id.size(), prefix.size() + 1 + 28) << id;
    EXPECT_EQ(id.substr(0, prefix.size()), prefix);
    EXPECT_EQ(id[prefix.size()], '_');
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", prefix.size() + 1), std::string::npos) << id;
    EXPECT_TRUE(is_valid_id(id, prefix)) << id;
  }
}

TEST(Ids, TimestampIsTheLeadingPartOfTheHex) {
  ManualClock clock(0x65432100);
  SodiumRandom random;
  IdGenerator ids(clock, random);
  auto id = ids.next(id_prefix::site);
  EXPECT_EQ(id.substr(3, 12), "000065432100") << id;
}

TEST(Ids, UniqueWithinOneClockTick) {
  ManualClock clock(1700000000);
  SodiumRandom random;
  IdGenerator ids(clock, random);
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) EXPECT_TRUE(seen.insert(ids.next(id_prefix::device)).second);
}

TEST(Ids, SortByCreationTime) {
  ManualClock clock(1700000000);
  SodiumRandom random;
  IdGenerator ids(clock, random);
  std::vector<std::string> made;
  for (int i = 0; i < 300; ++i) {
    made.push_back(ids.next(id_prefix::site));
    clock.advance(1);
  }
  EXPECT_TRUE(std::is_sorted(made.begin(), made.end()));
  // Also across a change in the number of significant hex digits of the timestamp.
  ManualClock early(0xfffff);
  IdGenerator early_ids(early, random);
  auto a = early_ids.next(id_prefix::site);
  early.advance(1);
  auto b = early_ids.next(id_prefix::site);
  EXPECT_LT(a, b);
}

// Regression: ids of one second used to sort at random, so audit events of that second listed
// out of order.
TEST(Ids, SortByCreationTimeWithinOneSecond) {
  ManualClock clock(1700000000);
  SodiumRandom random;
  IdGenerator ids(clock, random);
  std::vector<std::string> made;
  for (int i = 0; i < 50; ++i) made.push_back(ids.next(id_prefix::audit));
  EXPECT_TRUE(std::is_sorted(made.begin(), made.end()));
}

TEST(Ids, IsValidIdRejectsWrongShapes) {
  const std::string good = "co_0000655b1a2b3c4d5e6f7a8b9c0d";
  ASSERT_EQ(good.size(), 31u);
  EXPECT_TRUE(is_valid_id(good, "co"));
  EXPECT_FALSE(is_valid_id(good, "pr"));  // other prefix
  EXPECT_FALSE(is_valid_id("", "co"));
  EXPECT_FALSE(is_valid_id("xyz", "co"));
  EXPECT_FALSE(is_valid_id(good.substr(0, 30), "co"));                 // too short
  EXPECT_FALSE(is_valid_id(good + "0", "co"));                         // too long
  EXPECT_FALSE(is_valid_id("co-0000655b1a2b3c4d5e6f7a8b9c0d", "co"));  // separator
  EXPECT_FALSE(is_valid_id("co_0000655B1A2B3C4D5E6F7A8B9C0D", "co"));  // upper case
  EXPECT_FALSE(is_valid_id("co_0000655b1a2b3c4d5e6f7a8b9c0g", "co"));  // not hex
  EXPECT_FALSE(is_valid_id("co_../../etc/passwd0000000000000", "co"));
  EXPECT_FALSE(is_valid_id("co_0000655b1a2b3c4d5e6f7a8b9c0'", "co"));
  EXPECT_FALSE(is_valid_id(std::string("co_0000655b1a2b3c4d5e6f7a8b9c0\0", 31), "co"));
}

// ---------------------------------------------------------------------------------------------
// FailureThrottle

TEST(FailureThrottle, ThrottlesAtTheLimitUntilTheOldestFailureLeavesTheWindow) {
  ManualClock clock(1000);
  FailureThrottle throttle(clock, 60, 3);
  EXPECT_EQ(throttle.retry_after("alice"), 0);
  throttle.record_failure("alice");  // t=1000
  clock.advance(10);
  throttle.record_failure("alice");  // t=1010
  EXPECT_EQ(throttle.retry_after("alice"), 0);
  clock.advance(10);
  throttle.record_failure("alice");              // t=1020: third failure
  EXPECT_EQ(throttle.retry_after("alice"), 40);  // the first leaves the window at 1060
  EXPECT_EQ(throttle.retry_after("bob"), 0);     // keys are independent
  clock.advance(39);
  EXPECT_EQ(throttle.retry_after("alice"), 1);
  clock.advance(1);
  EXPECT_EQ(throttle.retry_after("alice"), 0);
  // One more failure now: the failures at 1010, 1020 and 1060 are in the window again.
  throttle.record_failure("alice");
  EXPECT_EQ(throttle.retry_after("alice"), 10);
}

TEST(FailureThrottle, OldFailuresDoNotCount) {
  ManualClock clock(0);
  FailureThrottle throttle(clock, 100, 2);
  throttle.record_failure("k");
  clock.advance(100);
  throttle.record_failure("k");  // the first one is exactly one window old: gone
  EXPECT_EQ(throttle.retry_after("k"), 0);
  clock.advance(1);
  throttle.record_failure("k");
  EXPECT_EQ(throttle.retry_after("k"), 99);
}

TEST(FailureThrottle, ResetForgetsTheKey) {
  ManualClock clock(0);
  FailureThrottle throttle(clock, 100, 2);
  throttle.record_failure("k");
  throttle.record_failure("k");
  ASSERT_GT(throttle.retry_after("k"), 0);
  throttle.reset("k");
  EXPECT_EQ(throttle.retry_after("k"), 0);
  throttle.record_failure("k");
  EXPECT_EQ(throttle.retry_after("k"), 0);  // counting starts again from zero
  throttle.reset("never-seen");             // harmless
}

TEST(FailureThrottle, MaxKeysBoundsMemoryAndEvictsTheStalestKey) {
  ManualClock clock(0);
  FailureThrottle throttle(clock, 1000, 1, 3);
  throttle.record_failure("a");
  clock.advance(1);
  throttle.record_failure("b");
  clock.advance(1);
  throttle.record_failure("c");
  clock.advance(1);
  ASSERT_GT(throttle.retry_after("a"), 0);
  ASSERT_GT(throttle.retry_after("b"), 0);
  ASSERT_GT(throttle.retry_after("c"), 0);
  throttle.record_failure("d");  // a fourth key: "a" (stalest) is forgotten
  EXPECT_EQ(throttle.retry_after("a"), 0);
  EXPECT_GT(throttle.retry_after("b"), 0);
  EXPECT_GT(throttle.retry_after("c"), 0);
  EXPECT_GT(throttle.retry_after("d"), 0);
  // A fresh failure makes "b" recent again, so "c" goes next.
  clock.advance(1);
  throttle.record_failure("b");
  clock.advance(1);
  throttle.record_failure("e");
  EXPECT_EQ(throttle.retry_after("c"), 0);
  EXPECT_GT(throttle.retry_after("b"), 0);
  EXPECT_GT(throttle.retry_after("d"), 0);
  EXPECT_GT(throttle.retry_after("e"), 0);
}

TEST(FailureThrottle, ManyKeysStayBounded) {
  ManualClock clock(0);
  FailureThrottle throttle(clock, 1000, 1, 100);
  for (int i = 0; i < 5000; ++i) throttle.record_failure("key" + std::to_string(i));
  int throttled = 0;
  for (int i = 0; i < 5000; ++i) throttled += throttle.retry_after("key" + std::to_string(i)) > 0 ? 1 : 0;
  EXPECT_EQ(throttled, 100);
  EXPECT_GT(throttle.retry_after("key4999"), 0);
}

// ---------------------------------------------------------------------------------------------
// Random

TEST(Random, HexAndTokenShapes) {
  SodiumRandom random;
  auto hex = random.hex(16);
  EXPECT_EQ(hex.size(), 32u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
  auto token = random.token(32);
  EXPECT_EQ(token.size(), 43u);
  EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_NE(random.token(32), random.token(32));
}

TEST(Random, FromAlphabetUsesOnlyTheAlphabetUniformly) {
  SodiumRandom random;
  // 31 does not divide 256: plain modulo would favour the first 8 characters by 9/8.
  const std::string alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ2345678";
  ASSERT_EQ(alphabet.size(), 31u);
  const std::size_t n = 31 * 4000;
  auto text = random.from_alphabet(n, alphabet);
  ASSERT_EQ(text.size(), n);
  std::map<char, int> counts;
  for (char c : text) ++counts[c];
  ASSERT_EQ(counts.size(), alphabet.size());
  for (char c : text) ASSERT_NE(alphabet.find(c), std::string::npos);
  // Chi-square with 30 degrees of freedom: the 99.99th percentile is about 66.6.
  double expected = static_cast<double>(n) / 31.0;
  double chi2 = 0;
  for (const auto& [c, k] : counts) chi2 += (k - expected) * (k - expected) / expected;
  EXPECT_LT(chi2, 66.6);
}

TEST(Random, FromAlphabetRejectsBiasedBytes) {
  // A source that yields 255 then 0,1,2...: with a 3-letter alphabet, 255 is >= 255 (the
  // largest multiple of 3 that fits) and must be skipped rather than mapped to 'a'.
  class Scripted final : public Random {
   public:
    void fill(unsigned char* out, std::size_t size) override {
      for (std::size_t i = 0; i < size; ++i) out[i] = script_[pos_++ % script_.size()];
    }

   private:
    std::vector<unsigned char> script_{255, 1, 254, 2};
    std::size_t pos_ = 0;
  };
  Scripted random;
  EXPECT_EQ(random.from_alphabet(3, "abc"), "bcc");  // 255 skipped, 1->b, 254->c, 2->c
}

TEST(Random, FromAlphabetFullByteAlphabetAndBadAlphabets) {
  CountingRandom random;
  std::string all = all_bytes();
  EXPECT_EQ(random.from_alphabet(256, all), all);
  EXPECT_THROW(random.from_alphabet(4, ""), std::logic_error);
  EXPECT_THROW(random.from_alphabet(4, all + "x"), std::logic_error);
  EXPECT_EQ(random.from_alphabet(0, "ab"), "");
}

// ---------------------------------------------------------------------------------------------
// Files

TEST(Files, WriteFileSetsExactPermissionsDespiteUmask) {
  testing::TempDir dir;
  auto path = dir.path() / "secret.key";
  auto old_mask = ::umask(0);  // a permissive umask must not widen 0600
  auto s = write_file(path, "top secret\n", std::filesystem::perms(0600));
  ::umask(old_mask);
  ASSERT_TRUE(s) << s.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto back = read_file(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, "top secret\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "secret.key.tmp"));
}

TEST(Files, OverwritingAWiderFileNarrowsItsPermissions) {
  testing::TempDir dir;
  auto path = dir.path() / "key.pem";
  ASSERT_TRUE(write_file(path, "old", std::filesystem::perms(0644)));
  ASSERT_TRUE(write_file(path, std::string("new\0bytes", 9), std::filesystem::perms(0600)));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto back = read_file(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, std::string("new\0bytes", 9));
}

TEST(Files, DefaultPermissionsAndErrors) {
  testing::TempDir dir;
  auto path = dir.path() / "plain.txt";
  ASSERT_TRUE(write_file(path, "x"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  auto missing = read_file(dir.path() / "absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  auto bad = write_file(dir.path() / "no-such-dir" / "f", "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::internal);
}

}  // namespace
}  // namespace carillon
