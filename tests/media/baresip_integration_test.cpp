// Against baresip 1.0 as a real, independent peer: SIP/TLS, SDES-SRTP, audio both ways.

#include <gtest/gtest.h>

#include <thread>

#include "media/ua_fixture.hpp"
#include "support/baresip_peer.hpp"

namespace carillon::media {
namespace {

using namespace std::chrono_literals;

TEST(BaresipInterop, CallWithSrtpCarriesAudioBothWays) {
  test::TestPki pki;
  testing::TempDir dir;
  for (Codec codec : {Codec::opus, Codec::g722, Codec::pcma}) {
    SCOPED_TRACE(std::string(to_string(codec)));
    testing::BaresipPeer::Options options;
    options.ca_file = pki.ca;
    options.cert_key_file = pki.combined;
    options.tone_hz = 1000;
    testing::BaresipPeer baresip(dir.path() / std::string(to_string(codec)), options);

    test::Peer us(pki, {codec});
    auto id = us.ua().call(baresip.uri());
    ASSERT_TRUE(id) << id.error().message;
    auto heard = std::make_shared<ToneDetector>(1000);
    ASSERT_TRUE(us.ua().set_sink(*id, heard));
    ASSERT_TRUE(us.ua().set_source(*id, std::make_shared<ToneSource>(440)));
    ASSERT_TRUE(us.wait_state(*id, CallState::established, 8s)) << baresip.log();
    const CallInfo info = us.last(*id);
    EXPECT_EQ(info.codec, codec);
    EXPECT_TRUE(info.srtp);
    const auto deadline = std::chrono::steady_clock::now() + 8s;
    while (heard->tone_frames() < 50 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    EXPECT_GE(heard->tone_frames(), 50u) << "ratio " << heard->mean_ratio() << "\n" << baresip.log();
    auto stats = us.ua().stats(*id);
    ASSERT_TRUE(stats);
    EXPECT_GT(stats->packets_received, 50u);
    EXPECT_EQ(stats->srtp_failures, 0u);

    ASSERT_TRUE(us.ua().hangup(*id));
    std::this_thread::sleep_for(200ms);
    baresip.stop();
    // What baresip heard (and recorded) from us.
    auto recording = WavFileSource::open(baresip.recording(), false);
    ASSERT_TRUE(recording) << recording.error().message << "\n" << baresip.log();
    ToneDetector detector(440);
    std::vector<std::int16_t> frame(kFrameSamples);
    while (!(*recording)->finished()) {
      (*recording)->read(frame);
      detector.write(frame);
    }
    EXPECT_GE(detector.tone_frames(), 25u) << "frames " << detector.frames() << " ratio " << detector.mean_ratio();
  }
}

// baresip without media encryption cannot do RTP/SAVP: the call must not come up on plain RTP.
TEST(BaresipInterop, PeerWithoutSrtpIsRefused) {
  test::TestPki pki;
  testing::TempDir dir;
  testing::BaresipPeer::Options options;
  options.ca_file = pki.ca;
  options.cert_key_file = pki.combined;
  options.mediaenc = "";
  testing::BaresipPeer baresip(dir.path(), options);
  test::Peer us(pki, {Codec::opus});
  auto id = us.ua().call(baresip.uri());
  ASSERT_TRUE(id);
  ASSERT_TRUE(us.wait_state(*id, CallState::closed, 8s)) << baresip.log();
  const CallInfo info = us.last(*id);
  EXPECT_EQ(info.close_code, 488) << info.close_reason << "\n" << baresip.log();
}

}  // namespace
}  // namespace carillon::media
