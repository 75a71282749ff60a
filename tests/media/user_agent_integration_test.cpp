// Two (or more) UserAgents in one process calling each other directly over SIP/TLS with SRTP.

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <fstream>
#include <thread>

#include "media/ua_fixture.hpp"

namespace carillon::media {
namespace {

using namespace std::chrono_literals;
using test::Peer;
using test::TestPki;

struct Audio {
  std::shared_ptr<ToneDetector> hears_440 = std::make_shared<ToneDetector>(440);
  std::shared_ptr<ToneDetector> hears_1000 = std::make_shared<ToneDetector>(1000);
};

// Caller plays 440 Hz and listens for 1000 Hz; callee the other way round.
void connect_tones(UserAgent& caller, CallId out, UserAgent& callee, CallId in, Audio& caller_audio, Audio& callee_audio) {
  ASSERT_TRUE(caller.set_source(out, std::make_shared<ToneSource>(440)));
  ASSERT_TRUE(caller.set_sink(out, caller_audio.hears_1000));
  ASSERT_TRUE(callee.set_source(in, std::make_shared<ToneSource>(1000)));
  ASSERT_TRUE(callee.set_sink(in, callee_audio.hears_440));
}

// Polls until `pred` holds (audio tests wait for enough tone instead of sleeping a fixed time,
// so that a loaded machine slows them down rather than failing them).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 8s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

class UserAgentTest : public ::testing::Test {
 protected:
  TestPki pki_;
};

TEST_F(UserAgentTest, EachCodecCarriesTonesBothWaysOverSrtp) {
  for (Codec codec : {Codec::opus, Codec::g722, Codec::pcma, Codec::pcmu}) {
    SCOPED_TRACE(std::string(to_string(codec)));
    Peer a(pki_, {codec});
    Peer b(pki_);
    auto id = a.ua().call(b.uri());
    ASSERT_TRUE(id) << id.error().message;
    ASSERT_TRUE(b.wait_incoming(1));
    const CallId in = b.incoming()[0];
    Audio audio_a, audio_b;
    connect_tones(a.ua(), *id, b.ua(), in, audio_a, audio_b);
    ASSERT_TRUE(a.wait_state(*id, CallState::established));
    EXPECT_TRUE(eventually([&] {
      return audio_b.hears_440->tone_frames() > 40 && audio_a.hears_1000->tone_frames() > 40;
    }));

    const CallInfo info_a = a.last(*id), info_b = b.last(in);
    EXPECT_EQ(info_a.codec, codec);
    EXPECT_EQ(info_b.codec, codec);
    EXPECT_TRUE(info_a.srtp);
    EXPECT_TRUE(info_b.srtp);
    EXPECT_EQ(info_a.sip_call_id, info_b.sip_call_id);
    EXPECT_GT(audio_b.hears_440->tone_frames(), 40u) << "ratio " << audio_b.hears_440->mean_ratio();
    EXPECT_GT(audio_a.hears_1000->tone_frames(), 40u) << "ratio " << audio_a.hears_1000->mean_ratio();
    // Nothing of the wrong tone.
    EXPECT_EQ(audio_a.hears_440->tone_frames(), 0u);

    auto stats = a.ua().stats(*id);
    ASSERT_TRUE(stats);
    EXPECT_GT(stats->packets_sent, 30u);
    EXPECT_GT(stats->packets_received, 30u);
    EXPECT_GT(stats->bytes_received, 0u);
    EXPECT_EQ(stats->srtp_failures, 0u);
    EXPECT_LT(stats->packets_lost, 3u);
    EXPECT_LT(stats->jitter_ms, 20.0);

    ASSERT_TRUE(a.ua().hangup(*id));
    ASSERT_TRUE(b.wait_state(in, CallState::closed));
    EXPECT_EQ(b.last(in).close_reason, "remote hangup");
    EXPECT_TRUE(a.wait([&] { return a.ua().calls().empty(); }));
  }
}

TEST_F(UserAgentTest, AnswererPicksTheHighestBandwidthCommonCodec) {
  Peer a(pki_, {Codec::pcmu, Codec::pcma, Codec::g722});
  Peer b(pki_, {Codec::pcma, Codec::opus, Codec::g722});
  auto id = a.ua().call(b.uri());
  ASSERT_TRUE(id);
  ASSERT_TRUE(a.wait_state(*id, CallState::established));
  EXPECT_EQ(a.last(*id).codec, Codec::g722);
}

TEST_F(UserAgentTest, NoCommonCodecFailsWith488) {
  Peer a(pki_, {Codec::opus});
  Peer b(pki_, {Codec::pcma});
  auto id = a.ua().call(b.uri());
  ASSERT_TRUE(id);
  ASSERT_TRUE(a.wait_state(*id, CallState::closed));
  EXPECT_EQ(a.last(*id).close_code, 488);
  EXPECT_TRUE(b.incoming().empty());
}

TEST_F(UserAgentTest, DtmfArrivesInOrder) {
  for (Codec codec : {Codec::opus, Codec::pcma}) {
    SCOPED_TRACE(std::string(to_string(codec)));
    Peer a(pki_, {codec});
    Peer b(pki_);
    auto id = a.ua().call(b.uri());
    ASSERT_TRUE(id);
    ASSERT_TRUE(a.wait_state(*id, CallState::established));
    const CallId in = b.incoming().at(0);
    ASSERT_TRUE(a.ua().send_dtmf(*id, "1234#"));
    EXPECT_TRUE(b.wait([&] { return b.digits(in) == "1234#"; }, 3s)) << b.digits(in);
    EXPECT_FALSE(a.ua().send_dtmf(*id, "12x"));
    // And back.
    ASSERT_TRUE(b.ua().send_dtmf(in, "*9"));
    EXPECT_TRUE(a.wait([&] { return a.digits(*id) == "*9"; }, 3s)) << a.digits(*id);
  }
}

TEST_F(UserAgentTest, RejectedCallsReportTheCode) {
  for (int code : {486, 603}) {
    Peer a(pki_);
    Peer b(pki_, {Codec::opus}, /*auto_answer=*/false);
    auto id = a.ua().call(b.uri());
    ASSERT_TRUE(id);
    ASSERT_TRUE(b.wait_incoming(1));
    ASSERT_TRUE(a.wait_state(*id, CallState::ringing));
    ASSERT_TRUE(b.ua().reject(b.incoming()[0], code));
    ASSERT_TRUE(a.wait_state(*id, CallState::closed));
    EXPECT_EQ(a.last(*id).close_code, code);
  }
}

TEST_F(UserAgentTest, RemoteHangupAndCancel) {
  Peer a(pki_);
  Peer b(pki_, {Codec::opus}, /*auto_answer=*/false);
  // Callee hangs up an established call.
  auto id = a.ua().call(b.uri());
  ASSERT_TRUE(id);
  ASSERT_TRUE(b.wait_incoming(1));
  const CallId in = b.incoming()[0];
  ASSERT_TRUE(b.ua().answer(in));
  ASSERT_TRUE(a.wait_state(*id, CallState::established));
  ASSERT_TRUE(b.ua().hangup(in));
  ASSERT_TRUE(a.wait_state(*id, CallState::closed));
  EXPECT_EQ(a.last(*id).close_reason, "remote hangup");
  EXPECT_FALSE(a.ua().answer(*id));

  // Caller gives up while it rings: CANCEL.
  auto id2 = a.ua().call(b.uri());
  ASSERT_TRUE(id2);
  ASSERT_TRUE(b.wait_incoming(2));
  const CallId in2 = b.incoming()[1];
  ASSERT_TRUE(a.wait_state(*id2, CallState::ringing));
  ASSERT_TRUE(a.ua().hangup(*id2));
  ASSERT_TRUE(b.wait_state(in2, CallState::closed));
  EXPECT_FALSE(b.ua().answer(in2));
}

TEST_F(UserAgentTest, UnansweredCallsTimeOut) {
  UaSettings quick;
  quick.no_answer_timeout_s = 1;
  Peer a(pki_, {Codec::opus}, true, quick);
  Peer b(pki_, {Codec::opus}, /*auto_answer=*/false);
  auto id = a.ua().call(b.uri());
  ASSERT_TRUE(id);
  ASSERT_TRUE(a.wait_state(*id, CallState::closed, 4s));
  EXPECT_EQ(a.last(*id).close_code, 408);
  ASSERT_TRUE(b.wait_incoming(1));
  EXPECT_TRUE(b.wait_state(b.incoming()[0], CallState::closed));
}

TEST_F(UserAgentTest, ServerCertificateIsVerified) {
  Peer b(pki_);
  for (const std::string which : {"wrong-ca", "wrong-host"}) {
    SCOPED_TRACE(which);
    UaSettings settings;
    settings.tls = pki_.tls();
    if (which == "wrong-ca") settings.tls.ca_file = pki_.other_ca;
    else settings.tls.verify_host = "127.0.0.2";
    std::mutex m;
    std::condition_variable cv;
    std::optional<CallInfo> closed;
    Handlers handlers;
    handlers.on_call_state = [&](const CallInfo& info) {
      if (info.state != CallState::closed) return;
      std::lock_guard lock(m);
      closed = info;
      cv.notify_all();
    };
    auto a = UserAgent::start(settings, handlers);
    ASSERT_TRUE(a) << a.error().message;
    auto id = (*a)->call(b.uri());
    ASSERT_TRUE(id);
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return closed.has_value(); }));
    EXPECT_NE(closed->state, CallState::established);
    lock.unlock();
    EXPECT_TRUE(b.incoming().empty());
  }
}

TEST_F(UserAgentTest, StartFailsOnBadTlsFiles) {
  UaSettings settings;
  settings.tls = pki_.tls();
  settings.tls.key_file = pki_.other_ca;  // not a key
  auto ua = UserAgent::start(settings, {});
  ASSERT_FALSE(ua);
  EXPECT_EQ(ua.error().code, Errc::invalid_argument);
  settings.tls = {};
  EXPECT_FALSE(UserAgent::start(settings, {}));
}

TEST_F(UserAgentTest, FiveConcurrentCallsEachWithAudio) {
  Peer a(pki_, {Codec::opus});
  Peer b(pki_);
  constexpr int kCalls = 5;
  std::vector<CallId> out;
  for (int i = 0; i < kCalls; ++i) {
    auto id = a.ua().call(b.uri());
    ASSERT_TRUE(id);
    out.push_back(*id);
  }
  ASSERT_TRUE(b.wait_incoming(kCalls));
  const auto in = b.incoming();
  // Each call its own pair of frequencies, so crossed streams would show.
  std::vector<std::shared_ptr<ToneDetector>> at_b, at_a;
  for (int i = 0; i < kCalls; ++i) {
    const double f_ab = 400 + 100 * i, f_ba = 1200 + 150 * i;
    ASSERT_TRUE(a.wait_state(out[i], CallState::established));
    ASSERT_TRUE(a.ua().set_source(out[i], std::make_shared<ToneSource>(f_ab)));
    ASSERT_TRUE(b.ua().set_source(in[i], std::make_shared<ToneSource>(f_ba)));
    at_b.push_back(std::make_shared<ToneDetector>(f_ab));
    at_a.push_back(std::make_shared<ToneDetector>(f_ba));
    ASSERT_TRUE(b.ua().set_sink(in[i], at_b.back()));
    ASSERT_TRUE(a.ua().set_sink(out[i], at_a.back()));
  }
  EXPECT_EQ(a.ua().calls().size(), static_cast<std::size_t>(kCalls));
  EXPECT_TRUE(eventually([&] {
    for (int i = 0; i < kCalls; ++i)
      if (at_b[i]->tone_frames() <= 40 || at_a[i]->tone_frames() <= 40) return false;
    return true;
  }));
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_GT(at_b[i]->tone_frames(), 40u) << i << " frames " << at_b[i]->frames() << " ratio " << at_b[i]->mean_ratio();
    EXPECT_GT(at_a[i]->tone_frames(), 40u) << i;
  }
}

TEST_F(UserAgentTest, RecordsTheCallToAWavFile) {
  testing::TempDir dir;
  Peer a(pki_, {Codec::g722});
  Peer b(pki_);
  auto id = a.ua().call(b.uri());
  ASSERT_TRUE(id);
  ASSERT_TRUE(b.wait_incoming(1));
  const CallId in = b.incoming()[0];
  const auto path = dir.path() / "call.wav";
  {
    auto sink = WavFileSink::open(path);
    ASSERT_TRUE(sink);
    ASSERT_TRUE(b.ua().set_sink(in, *sink));
    ASSERT_TRUE(a.ua().set_source(*id, std::make_shared<ToneSource>(440)));
    EXPECT_TRUE(eventually([&] { return (*sink)->samples_written() >= 50 * kFrameSamples; }));
    ASSERT_TRUE(a.ua().hangup(*id));
    ASSERT_TRUE(b.wait_state(in, CallState::closed));
    EXPECT_TRUE(a.wait([&] { return a.ua().calls().empty() && b.ua().calls().empty(); }));
  }
  // The sink was released with the call; the file is complete.
  auto source = WavFileSource::open(path, false);
  ASSERT_TRUE(source) << source.error().message;
  ToneDetector detector(440);
  std::vector<std::int16_t> frame(kFrameSamples);
  while (!(*source)->finished()) {
    (*source)->read(frame);
    detector.write(frame);
  }
  EXPECT_GT(detector.frames(), 40u);
  EXPECT_GT(detector.tone_frames(), 30u);
}

TEST_F(UserAgentTest, RelaxedSrtpStillNegotiatesSrtpBetweenCarillonAgents) {
  // Both sides offer RTP/SAVP (with RTP/AVP as an alternative); SRTP wins.
  UaSettings relaxed;
  relaxed.require_srtp = false;
  Peer a(pki_, {Codec::opus}, true, relaxed);
  Peer b(pki_, {Codec::opus}, true, relaxed);
  auto id = a.ua().call(b.uri());
  ASSERT_TRUE(id);
  ASSERT_TRUE(a.wait_state(*id, CallState::established));
  EXPECT_TRUE(a.last(*id).srtp);
}

// Cost of concurrent Opus calls (both ends in this process): printed for BENCHMARKS.md.
TEST_F(UserAgentTest, ConcurrentOpusCallsCost) {
  for (int calls : {5, 10}) {
    Peer a(pki_, {Codec::opus});
    Peer b(pki_);
    std::vector<CallId> out;
    for (int i = 0; i < calls; ++i) {
      auto id = a.ua().call(b.uri());
      ASSERT_TRUE(id);
      out.push_back(*id);
    }
    ASSERT_TRUE(b.wait_incoming(static_cast<std::size_t>(calls)));
    std::vector<std::shared_ptr<ToneDetector>> detectors;
    const auto in = b.incoming();
    for (int i = 0; i < calls; ++i) {
      ASSERT_TRUE(a.wait_state(out[i], CallState::established));
      ASSERT_TRUE(a.ua().set_source(out[i], std::make_shared<ToneSource>(440)));
      ASSERT_TRUE(b.ua().set_source(in[i], std::make_shared<ToneSource>(1000)));
      detectors.push_back(std::make_shared<ToneDetector>(440));
      ASSERT_TRUE(b.ua().set_sink(in[i], detectors.back()));
    }
    std::this_thread::sleep_for(500ms);
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    const auto start = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(3s);
    getrusage(RUSAGE_SELF, &after);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto cpu = [](const rusage& r) {
      return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
             static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
    };
    std::string rss;
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmRSS:", 0) == 0) rss = line.substr(6);
    std::printf("[bench] %d concurrent Opus SRTP calls (both ends in-process, %d endpoints): CPU %.1f %% of one core, RSS%s\n",
                calls, 2 * calls, 100.0 * (cpu(after) - cpu(before)) / wall, rss.c_str());
    for (const auto& d : detectors) EXPECT_GT(d->tone_frames(), 50u);
  }
}

}  // namespace
}  // namespace carillon::media
