#include "emulator/station.hpp"

#include <cmath>

#include "common/log.hpp"

namespace carillon::emulator {

using nlohmann::json;

namespace {

// "sip:127.0.0.1:5061;transport=tls" -> "127.0.0.1": the name the edge's certificate must carry.
std::string host_of(const std::string& uri) {
  auto start = uri.find(':');
  if (start == std::string::npos) return {};
  auto rest = uri.substr(start + 1);
  if (auto at = rest.find('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest[0] == '[') return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.find_first_of(":;>"));
}

// Sends a frame to several sinks (detector, level meter, recording).
class FanOut final : public media::AudioSink {
 public:
  explicit FanOut(std::vector<std::shared_ptr<media::AudioSink>> sinks) : sinks_(std::move(sinks)) {}
  void write(std::span<const std::int16_t> frame) override {
    for (auto& s : sinks_) s->write(frame);
  }

 private:
  std::vector<std::shared_ptr<media::AudioSink>> sinks_;
};

}  // namespace

void LevelMeter::write(std::span<const std::int16_t> frame) {
  double sum = 0;
  for (auto s : frame) sum += static_cast<double>(s) * s;
  double rms = frame.empty() ? 0 : std::sqrt(sum / static_cast<double>(frame.size()));
  frames_++;
  if (rms >= 100.0) loud_++;
}

Station::Station(StationOptions options, const Clock& clock, Emit emit, Upload upload)
    : options_(std::move(options)), clock_(clock), emit_(std::move(emit)), upload_(std::move(upload)), doors_(clock) {
  if (!options_.recordings_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options_.recordings_dir, ec);
  }
}

Station::~Station() {
  {
    std::lock_guard lock(agent_mutex_);
    current_ = nullptr;
    agent_.reset();  // hangs up and joins the media thread: no callback runs after this
  }
  std::vector<std::thread> uploads;
  {
    std::lock_guard lock(mutex_);
    uploads.swap(uploads_);
  }
  for (auto& t : uploads) t.join();
}

Status Station::apply(const json& config) {
  json sip;
  {
    std::lock_guard lock(mutex_);
    buttons_ = config.value("call_buttons", json::array());
    auto_answer_ = config.value("auto_answer", false);
    doors_.configure(config.value("door_openers", json::array()));
    if (config.contains("platform") && config["platform"].is_object()) sip = config["platform"].value("sip", json());
  }
  if (!sip.is_object()) return {};  // not provisioned (yet): no SIP
  media::Account account;
  account.registrar = sip.value("registrar", "");
  account.domain = sip.value("domain", "");
  account.username = sip.value("username", "");
  account.password = sip.value("password", "");
  account.display_name = config.value("name", "");
  if (account.registrar.empty() || account.username.empty() || account.password.empty())
    return fail(Errc::invalid_argument, "the SIP account in the config is incomplete", "platform.sip");
  auto key = account.registrar + "|" + account.username + "|" + account.password;
  std::lock_guard agent_lock(agent_mutex_);
  if (key == account_key_ && agent_) return {};

  current_ = nullptr;
  agent_.reset();
  registered_ = false;
  media::UaSettings settings;
  settings.listen_ip = "127.0.0.1";
  settings.tls.ca_file = options_.ca_file.string();
  settings.tls.cert_file = options_.cert_file.string();
  settings.tls.key_file = options_.key_file.string();
  settings.tls.verify_host = host_of(account.registrar);
  settings.codecs = options_.codecs;
  settings.rtp_port_min = options_.rtp_port_min;
  settings.rtp_port_max = options_.rtp_port_max;
  settings.user_agent = "carillon-device";
  media::Handlers handlers;
  handlers.on_registration = [this](bool ok, int code, std::string reason) {
    registered_ = ok;
    emit_({{"type", "sip.registration"}, {"registered", ok}, {"code", code}, {"reason", reason}});
  };
  handlers.on_incoming = [this](const media::CallInfo& info) { on_incoming(info); };
  handlers.on_call_state = [this](const media::CallInfo& info) { on_call_state(info); };
  handlers.on_dtmf = [this](media::CallId call, char digit) { on_dtmf(call, digit); };
  handlers.on_transfer = [this](media::CallId transferred, const media::CallInfo& next) { on_transfer(transferred, next); };
  auto agent = media::UserAgent::start(settings, handlers);
  if (!agent) return tl::unexpected(agent.error());
  agent_ = std::move(*agent);
  current_ = agent_.get();
  {
    std::lock_guard lock(mutex_);
    domain_ = account.domain;
  }
  if (auto s = agent_->register_account(account); !s) return s;
  account_key_ = key;
  return {};
}

Result<media::CallId> Station::press(const std::string& button_id) {
  std::string target;
  std::string domain;
  {
    std::lock_guard lock(mutex_);
    for (const auto& b : buttons_) {
      if (b.value("id", "") == button_id) target = b.value("target", "");
    }
    domain = domain_;
  }
  if (target.empty()) return fail(Errc::not_found, "no call button '" + button_id + "' with a target", "button");
  std::lock_guard agent_lock(agent_mutex_);
  if (!agent_) return fail(Errc::unavailable, "no SIP account provisioned yet");
  auto call = agent_->call("sip:" + target + "@" + domain);
  if (!call) return call;
  auto info = agent_->info(*call);
  auto sip_call_id = info ? info->sip_call_id : std::string();
  attach_audio(*agent_, *call, sip_call_id, false);
  emit_({{"type", "button.pressed"}, {"button", button_id}, {"target", target}, {"call_id", sip_call_id}});
  // The door camera's picture goes with the call from its start.
  if (!sip_call_id.empty()) upload_later(sip_call_id);
  return call;
}

void Station::upload_later(const std::string& sip_call_id) {
  if (!upload_) return;
  std::lock_guard lock(mutex_);
  uploads_.emplace_back([this, sip_call_id] {
    if (auto s = upload_(sip_call_id); !s)
      log::get("device")->warn("snapshot for call {} not uploaded: {}", sip_call_id, s.error().message);
  });
}

void Station::attach_audio(media::UserAgent& agent, media::CallId call, const std::string& sip_call_id, bool incoming) {
  CallAudio audio;
  audio.tone = std::make_shared<media::ToneDetector>(options_.listen_hz);
  audio.level = std::make_shared<LevelMeter>();
  audio.sip_call_id = sip_call_id;
  audio.incoming = incoming;
  std::vector<std::shared_ptr<media::AudioSink>> sinks{audio.tone, audio.level};
  if (!options_.recordings_dir.empty()) {
    auto file = options_.recordings_dir / ("call-" + std::to_string(call) + ".wav");
    if (auto wav = media::WavFileSink::open(file)) sinks.push_back(*wav);
  }
  std::shared_ptr<media::AudioSource> source;
  if (!options_.audio_file.empty()) {
    if (auto wav = media::WavFileSource::open(options_.audio_file, true)) source = *wav;
  }
  if (!source) source = std::make_shared<media::ToneSource>(options_.tone_hz);
  (void)agent.set_source(call, source);
  (void)agent.set_sink(call, std::make_shared<FanOut>(std::move(sinks)));
  std::lock_guard lock(mutex_);
  audio_[call] = std::move(audio);
}

void Station::on_incoming(const media::CallInfo& info) {
  bool auto_answer = false;
  {
    std::lock_guard lock(mutex_);
    call_list_.add({info.id, info.peer, clock_.now(), false, 0});
    auto_answer = auto_answer_;
  }
  // On the media thread, inside the agent's own handler: the agent is alive (or being shut
  // down, then current_ is null and the call goes away with it).
  auto* agent = current_.load();
  if (agent == nullptr) return;
  attach_audio(*agent, info.id, info.sip_call_id, true);
  emit_({{"type", "call.incoming"}, {"from", info.peer}, {"call_id", info.sip_call_id}});
  if (auto_answer) (void)agent->answer(info.id);
}

void Station::on_call_state(const media::CallInfo& info) {
  std::string sip_call_id = info.sip_call_id;
  {
    std::lock_guard lock(mutex_);
    if (info.state == media::CallState::established) call_list_.answered(info.id);
    if (info.state == media::CallState::closed) {
      call_list_.ended(info.id, clock_.now());
      doors_.end_call(info.id);
      auto it = audio_.find(info.id);
      if (it != audio_.end()) {
        finished_.push_back({{"call_id", it->second.sip_call_id},
                             {"incoming", it->second.incoming},
                             {"heard_tone_frames", it->second.tone->tone_frames()},
                             {"heard_loud_frames", it->second.level->loud_frames()},
                             {"close_code", info.close_code},
                             {"close_reason", info.close_reason}});
        if (finished_.size() > 20) finished_.erase(finished_.begin());
        audio_.erase(it);
      }
    }
  }
  emit_({{"type", "call.state"},
         {"state", std::string(media::to_string(info.state))},
         {"call_id", sip_call_id},
         {"code", info.close_code}});
}

void Station::on_transfer(media::CallId transferred, const media::CallInfo& next) {
  std::string from;
  {
    std::lock_guard lock(mutex_);
    if (auto it = audio_.find(transferred); it != audio_.end()) from = it->second.sip_call_id;
  }
  // On the media thread, inside the agent's handler (see on_incoming).
  auto* agent = current_.load();
  if (agent == nullptr) return;
  attach_audio(*agent, next.id, next.sip_call_id, false);
  emit_({{"type", "call.transferred"}, {"from_call_id", from}, {"call_id", next.sip_call_id}, {"target", next.peer}});
}

void Station::on_dtmf(media::CallId call, char digit) {
  std::optional<DoorOpened> opened;
  std::string sip_call_id;
  {
    std::lock_guard lock(mutex_);
    opened = doors_.on_digit(call, digit);
    auto it = audio_.find(call);
    if (it != audio_.end()) sip_call_id = it->second.sip_call_id;
  }
  if (!opened) {
    log::get("device")->debug("dtmf '{}' on call {}: no door code complete", digit, sip_call_id);
    return;
  }
  log::get("device")->info("door {} ({}) opened by DTMF on call {}", opened->id, opened->name, sip_call_id);
  emit_({{"type", "door.opened"},
         {"door", opened->id},
         {"name", opened->name},
         {"output", opened->output},
         {"call_id", sip_call_id},
         {"at", opened->at * 1000}});
}

std::optional<media::CallId> Station::pick(media::UserAgent& agent, std::optional<media::CallId> call,
                                          media::CallState state) const {
  if (call) return call;
  std::optional<media::CallId> best;
  for (const auto& c : agent.calls()) {
    if (c.state == state && (!best || c.id < *best)) best = c.id;
  }
  return best;
}

Status Station::answer(std::optional<media::CallId> call) {
  std::lock_guard agent_lock(agent_mutex_);
  if (!agent_) return fail(Errc::not_found, "no ringing call");
  auto id = pick(*agent_, call, media::CallState::ringing);
  if (!id) return fail(Errc::not_found, "no ringing call");
  return agent_->answer(*id);
}

Status Station::hangup(std::optional<media::CallId> call) {
  std::lock_guard agent_lock(agent_mutex_);
  if (!agent_) return fail(Errc::not_found, "no call");
  if (call) return agent_->hangup(*call);
  auto calls = agent_->calls();
  if (calls.empty()) return fail(Errc::not_found, "no call");
  for (const auto& c : calls) (void)agent_->hangup(c.id);
  return {};
}

Status Station::send_dtmf(const std::string& digits, std::optional<media::CallId> call) {
  std::lock_guard agent_lock(agent_mutex_);
  if (!agent_) return fail(Errc::not_found, "no established call");
  auto id = pick(*agent_, call, media::CallState::established);
  if (!id) return fail(Errc::not_found, "no established call");
  return agent_->send_dtmf(*id, digits);
}

json Station::status() {
  json calls = json::array();
  std::lock_guard agent_lock(agent_mutex_);
  if (agent_) {
    for (const auto& c : agent_->calls()) {
      json item{{"id", c.id},
                {"call_id", c.sip_call_id},
                {"incoming", c.incoming},
                {"peer", c.peer},
                {"state", std::string(media::to_string(c.state))},
                {"srtp", c.srtp},
                {"held", c.held}};
      if (c.transferred_from != 0) item["transferred_from"] = c.transferred_from;
      if (c.codec) item["codec"] = std::string(media::to_string(*c.codec));
      if (auto stats = agent_->stats(c.id)) {
        item["rtp"] = {{"packets_sent", stats->packets_sent},
                       {"packets_received", stats->packets_received},
                       {"bytes_sent", stats->bytes_sent},
                       {"bytes_received", stats->bytes_received},
                       {"packets_lost", stats->packets_lost},
                       {"jitter_ms", stats->jitter_ms}};
      }
      std::lock_guard lock(mutex_);
      auto it = audio_.find(c.id);
      if (it != audio_.end()) {
        item["heard_tone_frames"] = it->second.tone->tone_frames();
        item["heard_loud_frames"] = it->second.level->loud_frames();
      }
      calls.push_back(std::move(item));
    }
  }
  std::lock_guard lock(mutex_);
  json doors = json::array();
  for (const auto& d : doors_.openers()) {
    doors.push_back({{"id", d.id}, {"name", d.name}, {"output", d.output}, {"active", doors_.output_active(d.output)}});
  }
  return {{"registered", registered_.load()}, {"calls", calls},       {"finished_calls", finished_},
          {"call_list", call_list_.to_json()},  {"door_openers", doors}, {"door_openings", doors_.openings()}};
}

}  // namespace carillon::emulator
