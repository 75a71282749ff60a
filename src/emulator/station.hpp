#pragma once
// The SIP side of an emulated device (issue 3, C2, S6): registers over TLS with the account the
// platform provisioned in its config, places a call when a call button is pressed, rings and
// (optionally) answers as a receiving station, keeps the last 20 incoming calls, plays a tone or
// a WAV file and listens to what comes back, and switches its door-opener outputs when the
// answering party sends the right DTMF code. When the answering party forwards the call (blind
// transfer, REFER), the station calls the new target itself, like a real door station.
//
// Threading: media callbacks run on the media thread; press/answer/hangup/dtmf may be called
// from any thread (the control channel, tests). Events go out through `emit` (the device's MQTT
// `events` topic); snapshots are uploaded through `upload` on a separate thread.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "emulator/call_list.hpp"
#include "emulator/door_openers.hpp"
#include "media/user_agent.hpp"

namespace carillon::emulator {

struct StationOptions {
  // TLS identity: the device's certificate and key, and the platform CA it trusts.
  std::filesystem::path cert_file, key_file, ca_file;
  double tone_hz = 440.0;                // what the station "says" when no WAV is given
  std::filesystem::path audio_file;      // optional WAV played into every call
  double listen_hz = 1000.0;             // a tone the station reports when it hears it
  std::filesystem::path recordings_dir;  // if set, every call's received audio as WAV
  // Audio codecs in order of preference (a real station supports a subset).
  std::vector<media::Codec> codecs{media::Codec::opus, media::Codec::g722, media::Codec::pcma, media::Codec::pcmu};
  int rtp_port_min = 40000;
  int rtp_port_max = 49999;
};

// Frames that carried sound (rms above a floor): proves that the other side's audio arrived
// without knowing what it was (a browser's fake microphone, a person).
class LevelMeter final : public media::AudioSink {
 public:
  void write(std::span<const std::int16_t> frame) override;
  std::uint64_t frames() const { return frames_.load(); }
  std::uint64_t loud_frames() const { return loud_.load(); }

 private:
  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> loud_{0};
};

class Station {
 public:
  using Emit = std::function<void(const nlohmann::json& event)>;
  // Uploads a snapshot for the call with this SIP Call-ID; runs on a worker thread.
  using Upload = std::function<Status(const std::string& sip_call_id)>;

  Station(StationOptions options, const Clock& clock, Emit emit, Upload upload);
  ~Station();  // hangs up, unregisters
  Station(const Station&) = delete;
  Station& operator=(const Station&) = delete;

  // Takes a (new) config document: buttons, door openers, auto-answer and, from its
  // "platform.sip" section, the account. Registers (again) when the account changed.
  Status apply(const nlohmann::json& config);

  // Calls the target of call button `button_id`; returns the media call id.
  Result<media::CallId> press(const std::string& button_id);
  // Answers the ringing call (the oldest if several; or `call`).
  Status answer(std::optional<media::CallId> call = std::nullopt);
  // Hangs up every call (or `call`).
  Status hangup(std::optional<media::CallId> call = std::nullopt);
  Status send_dtmf(const std::string& digits, std::optional<media::CallId> call = std::nullopt);

  bool registered() const { return registered_.load(); }
  // Registration, calls with codec and RTP statistics, what was heard, door outputs, call list.
  nlohmann::json status();

 private:
  struct CallAudio {
    std::shared_ptr<media::ToneDetector> tone;
    std::shared_ptr<LevelMeter> level;
    std::string sip_call_id;
    bool incoming = false;
  };
  void on_incoming(const media::CallInfo& info);
  void on_call_state(const media::CallInfo& info);
  void on_dtmf(media::CallId call, char digit);
  void on_transfer(media::CallId transferred, const media::CallInfo& next);
  void attach_audio(media::UserAgent& agent, media::CallId call, const std::string& sip_call_id, bool incoming);
  std::optional<media::CallId> pick(media::UserAgent& agent, std::optional<media::CallId> call, media::CallState state) const;
  void upload_later(const std::string& sip_call_id);

  StationOptions options_;
  const Clock& clock_;
  Emit emit_;
  Upload upload_;
  // agent_ is replaced only under agent_mutex_, which the control methods hold while they use
  // it. Media handlers never take agent_mutex_ (the agent's destructor joins their thread); they
  // use current_, which is cleared before an agent is destroyed.
  std::mutex agent_mutex_;
  std::unique_ptr<media::UserAgent> agent_;
  std::atomic<media::UserAgent*> current_{nullptr};
  std::string account_key_;  // registrar|user|password the agent registered with
  std::atomic<bool> registered_{false};

  mutable std::mutex mutex_;
  nlohmann::json buttons_ = nlohmann::json::array();
  std::string domain_;
  bool auto_answer_ = false;
  DoorOpeners doors_;
  CallList call_list_;
  std::map<media::CallId, CallAudio> audio_;
  // The last finished calls' audio figures, for status() after hang-up.
  std::vector<nlohmann::json> finished_;
  std::vector<std::thread> uploads_;
};

}  // namespace carillon::emulator
