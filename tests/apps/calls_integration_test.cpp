// Issue 3 end to end: the real `carillon up` (Kamailio, rtpengine, Mosquitto, serve) with two
// emulated devices in this process - a receiving station and a door station. The door station's
// call button rings a ring group; the receiving station answers; audio crosses SRTP both ways
// through rtpengine; the answering side sends the door code by DTMF; the call record shows who
// answered, the door opening and the snapshot.
#include <signal.h>

#include <gtest/gtest.h>

#include "apps/platform_helpers.hpp"
#include "common/clock.hpp"
#include "common/files.hpp"
#include "media/user_agent.hpp"
#include "pki/pki.hpp"
#include "support/temp_dir.hpp"

namespace carillon::apps {
namespace {

using testing::TempDir;

json station_status(emulator::EmulatedDevice& device) { return device.station()->status(); }

// A device claimed with `role` and `config`, online, its config applied, SIP registered.
struct Station {
  std::unique_ptr<emulator::EmulatedDevice> device;
  std::string id;
};

Station claim_station(const Platform& p, const std::string& token, const std::string& site, const std::string& role,
                      const json& config, const fs::path& state, Random& random, emulator::StationOptions audio) {
  Station s;
  auto code = make_claim_code(p, token, site, config, role);
  s.device = start_device(p, state, code, random, "", std::move(audio));
  json found;
  bool ready = eventually([&] {
    found = device_by_serial(p, token, s.device->serial());
    return found.is_object() && found["online"] == true && found["config"]["state"] == "applied" &&
           found["sip"]["registered"] == true;
  }, 20s, 100ms);
  if (!ready) throw std::runtime_error("station not online and registered: " + found.dump());
  s.id = found["id"];
  return s;
}

// One platform for the suite: starting Kamailio, rtpengine and the brokers takes seconds.
class Calls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { platform_ = new Platform(); }
  static void TearDownTestSuite() {
    delete platform_;
    platform_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(platform_, nullptr); }

  std::string ring_group(const std::string& token, const std::string& site, const json& members) {
    auto group = platform_->call("POST", "/api/v1/ring-groups", token,
                                 json{{"name", "Group"}, {"site_id", site}, {"members", members}, {"ring_seconds", 20}});
    if (group.status != 201) throw std::runtime_error("ring group: " + group.raw);
    return group.body["id"];
  }

  static Platform* platform_;
  SystemClock clock_;
  SodiumRandom random_;
  TempDir dir_;
};

Platform* Calls::platform_ = nullptr;

emulator::StationOptions audio(double speaks, double listens, int port_base, std::vector<media::Codec> codecs = {}) {
  emulator::StationOptions o;
  o.tone_hz = speaks;
  o.listen_hz = listens;
  o.rtp_port_min = port_base;
  o.rtp_port_max = port_base + 199;
  if (!codecs.empty()) o.codecs = std::move(codecs);
  return o;
}

// Waits until the station has exactly one established call in which it heard its tone.
bool hears(emulator::EmulatedDevice& device, json& status) {
  return eventually([&] {
    status = station_status(device);
    return status["calls"].size() == 1 && status["calls"][0]["state"] == "established" &&
           status["calls"][0].value("heard_tone_frames", 0) > 25;
  }, 20s, 100ms);
}

TEST_F(Calls, DoorStationCallsARingGroupTheReceiverAnswersAudioFlowsAndTheDoorOpens) {
  auto& p = *platform_;
  auto token = p.admin_token();
  auto& random = random_;
  auto& dir = dir_;
  auto tenant = make_tenant(p, token, "Call GmbH");

  emulator::StationOptions receiver_audio;
  receiver_audio.tone_hz = 1000;  // the receiver speaks 1 kHz and listens for the door's 440 Hz
  receiver_audio.listen_hz = 440;
  receiver_audio.rtp_port_min = 41000;
  receiver_audio.rtp_port_max = 41199;
  auto receiver = claim_station(p, token, tenant.site, "receiving-station", json{{"auto_answer", true}},
                                dir.path() / "receiver", random, receiver_audio);

  auto group = p.call("POST", "/api/v1/ring-groups", token,
                      json{{"name", "Reception"},
                           {"site_id", tenant.site},
                           {"members", json::array({{{"kind", "device"}, {"id", receiver.id}}})},
                           {"ring_seconds", 20}});
  ASSERT_EQ(group.status, 201) << group.raw;
  std::string group_id = group.body["id"];

  emulator::StationOptions door_audio;
  door_audio.tone_hz = 440;
  door_audio.listen_hz = 1000;
  door_audio.rtp_port_min = 41200;
  door_audio.rtp_port_max = 41399;
  json door_config{{"door_openers", json::array({{{"id", 1}, {"name", "Main door"}, {"dtmf", "*1"}, {"output", 1}}})},
                   {"call_buttons", json::array({{{"id", "b1"}, {"label", "Reception"}, {"target", group_id}}})}};
  auto door = claim_station(p, token, tenant.site, "door-station", door_config, dir.path() / "door", random, door_audio);

  auto call = door.device->station()->press("b1");
  ASSERT_TRUE(call) << call.error().message;

  // Both sides established, each hearing the other's tone.
  json door_status, receiver_status;
  bool audio_both_ways = eventually([&] {
    door_status = station_status(*door.device);
    receiver_status = station_status(*receiver.device);
    auto heard = [](const json& s) {
      return s["calls"].size() == 1 && s["calls"][0]["state"] == "established" &&
             s["calls"][0].value("heard_tone_frames", 0) > 25;
    };
    return heard(door_status) && heard(receiver_status);
  }, 20s, 100ms);
  ASSERT_TRUE(audio_both_ways) << "door: " << door_status.dump() << "\nreceiver: " << receiver_status.dump()
                               << "\nlog: " << read_file(p.log_file()).value_or("");
  EXPECT_EQ(door_status["calls"][0]["srtp"], true);
  EXPECT_EQ(receiver_status["calls"][0]["srtp"], true);
  EXPECT_GT(door_status["calls"][0]["rtp"]["packets_received"].get<int>(), 25);

  // The answering side sends the door code; the door station switches output 1.
  ASSERT_TRUE(receiver.device->station()->send_dtmf("*1"));
  ASSERT_TRUE(eventually([&] { return station_status(*door.device)["door_openings"] == 1; }, 10s));
  EXPECT_EQ(station_status(*door.device)["door_openers"][0]["active"], true);

  ASSERT_TRUE(door.device->station()->hangup());
  json record;
  bool recorded = eventually([&] {
    auto r = p.call("GET", "/api/v1/calls?ring_group_id=" + group_id, token);
    if (r.status != 200 || r.body["items"].empty()) return false;
    record = r.body["items"][0];
    return record["status"] == "answered" && !record["ended_at"].is_null() && !record["door_events"].empty() &&
           record["has_snapshot"] == true;
  }, 15s, 200ms);
  ASSERT_TRUE(recorded) << record.dump();
  EXPECT_EQ(record["answered_by"], receiver.id);
  EXPECT_EQ(record["caller"]["id"], door.id);
  EXPECT_EQ(record["door_events"][0]["device_id"], door.id);
  auto snapshot = p.call("GET", "/api/v1/calls/" + record["id"].get<std::string>() + "/snapshot", token);
  EXPECT_EQ(snapshot.status, 200);
  ASSERT_GT(snapshot.raw.size(), 1000u);
  EXPECT_EQ(static_cast<unsigned char>(snapshot.raw[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(snapshot.raw[1]), 0xD8);

  // The receiving station keeps the call in its list.
  auto list = station_status(*receiver.device)["call_list"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["answered"], true);
}

// The edge holds its decisions: with the control plane frozen (SIGSTOP on `carillon up`, which
// runs serve), a door station still reaches the ring group with audio both ways; the call's
// events wait in the event stream and the record is complete once serve runs again.
TEST_F(Calls, CallsKeepFlowingWhileTheControlPlaneIsFrozen) {
  auto& p = *platform_;
  auto token = p.admin_token();
  auto tenant = make_tenant(p, token, "Frozen Oy");
  auto receiver = claim_station(p, token, tenant.site, "receiving-station", json{{"auto_answer", true}},
                                dir_.path() / "frozen-receiver", random_, audio(1000, 440, 44000));
  auto door = claim_station(p, token, tenant.site, "door-station", json::object(), dir_.path() / "frozen-door",
                            random_, audio(440, 1000, 44200));
  // Made after both stations: nothing but the ring group's own change makes serve push its route.
  auto group = ring_group(token, tenant.site, json::array({{{"kind", "device"}, {"id", receiver.id}}}));
  auto button = p.call("PATCH", "/api/v1/devices/" + door.id + "/config", token,
                       json{{"call_buttons", json::array({{{"id", "b1"}, {"label", "Desk"}, {"target", group}}})}});
  ASSERT_EQ(button.status, 200) << button.raw;
  ASSERT_TRUE(eventually([&] { return device_by_id(p, token, door.id)["config"]["state"] == "applied"; }, 10s));
  // Serve pushes the new group's routes at once; give that push a moment before freezing serve.
  std::this_thread::sleep_for(500ms);

  ASSERT_EQ(::kill(p.pid(), SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{p.pid()};
  ASSERT_TRUE(door.device->station()->press("b1"));
  json door_status, receiver_status;
  EXPECT_TRUE(hears(*door.device, door_status)) << door_status.dump();
  EXPECT_TRUE(hears(*receiver.device, receiver_status)) << receiver_status.dump();
  ASSERT_TRUE(door.device->station()->hangup());
  ASSERT_EQ(::kill(p.pid(), SIGCONT), 0);

  json record;
  EXPECT_TRUE(eventually([&] {
    auto r = p.call("GET", "/api/v1/calls?ring_group_id=" + group, token);
    if (r.status != 200 || r.body["items"].empty()) return false;
    record = r.body["items"][0];
    return record["status"] == "answered" && !record["ended_at"].is_null();
  }, 20s, 200ms)) << record.dump();
  EXPECT_EQ(record["answered_by"], receiver.id);
}

// The answering side hangs up: its BYE goes back through both forking stages to the door.
TEST_F(Calls, TheAnsweringSideHangsUp) {
  auto& p = *platform_;
  auto token = p.admin_token();
  auto tenant = make_tenant(p, token, "Hangup Kft");
  auto receiver = claim_station(p, token, tenant.site, "receiving-station", json{{"auto_answer", true}},
                                dir_.path() / "hangup-receiver", random_, audio(1000, 440, 44400));
  auto group = ring_group(token, tenant.site, json::array({{{"kind", "device"}, {"id", receiver.id}}}));
  json door_config{{"call_buttons", json::array({{{"id", "b1"}, {"label", "Desk"}, {"target", group}}})}};
  auto door = claim_station(p, token, tenant.site, "door-station", door_config, dir_.path() / "hangup-door", random_,
                            audio(440, 1000, 44600));
  ASSERT_TRUE(door.device->station()->press("b1"));
  json door_status, receiver_status;
  ASSERT_TRUE(hears(*door.device, door_status)) << door_status.dump();
  ASSERT_TRUE(hears(*receiver.device, receiver_status)) << receiver_status.dump();
  ASSERT_TRUE(receiver.device->station()->hangup());
  EXPECT_TRUE(eventually([&] { return station_status(*door.device)["calls"].empty(); }, 10s))
      << station_status(*door.device).dump();
  json record;
  EXPECT_TRUE(eventually([&] {
    auto r = p.call("GET", "/api/v1/calls?ring_group_id=" + group, token);
    if (r.status != 200 || r.body["items"].empty()) return false;
    record = r.body["items"][0];
    return record["status"] == "answered" && !record["ended_at"].is_null();
  }, 10s, 200ms)) << record.dump() << "\n" << read_file(p.state_dir() / "logs" / "kamailio.out").value_or("");
}

// C5: the highest audio bandwidth both ends support wins, rtpengine transcodes otherwise.
TEST_F(Calls, CodecsAreNegotiatedByBandwidthAndTranscodedWhenNothingIsShared) {
  auto& p = *platform_;
  auto token = p.admin_token();
  auto tenant = make_tenant(p, token, "Codec AG");
  struct Case {
    std::vector<media::Codec> door, receiver;
    const char* door_codec;
    const char* receiver_codec;
  };
  using media::Codec;
  int n = 0;
  for (const auto& c : {Case{{Codec::opus}, {Codec::pcma}, "opus", "pcma"},
                        Case{{Codec::opus, Codec::g722}, {Codec::g722, Codec::pcma}, "g722", "g722"}}) {
    SCOPED_TRACE(std::string(c.door_codec) + " <-> " + c.receiver_codec);
    auto base = 42000 + n * 400;
    auto receiver = claim_station(p, token, tenant.site, "receiving-station", json{{"auto_answer", true}},
                                  dir_.path() / ("codec-receiver-" + std::to_string(n)), random_,
                                  audio(1000, 440, base, c.receiver));
    auto group = ring_group(token, tenant.site, json::array({{{"kind", "device"}, {"id", receiver.id}}}));
    json door_config{{"call_buttons", json::array({{{"id", "b1"}, {"label", "Codec"}, {"target", group}}})}};
    auto door = claim_station(p, token, tenant.site, "door-station", door_config,
                              dir_.path() / ("codec-door-" + std::to_string(n)), random_, audio(440, 1000, base + 200, c.door));
    ASSERT_TRUE(door.device->station()->press("b1"));
    json door_status, receiver_status;
    ASSERT_TRUE(hears(*door.device, door_status)) << door_status.dump();
    ASSERT_TRUE(hears(*receiver.device, receiver_status)) << receiver_status.dump();
    EXPECT_EQ(door_status["calls"][0]["codec"], c.door_codec);
    EXPECT_EQ(receiver_status["calls"][0]["codec"], c.receiver_codec);
    ASSERT_TRUE(door.device->station()->hangup());
    ++n;
  }
}

// A web-client user is a ring group member: short-lived credentials from the API, registered
// under a per-session name that maps to the user's account; the door station's call rings it.
TEST_F(Calls, WebClientUserRegistersWithShortLivedCredentialsAndIsRung) {
  auto& p = *platform_;
  auto token = p.admin_token();
  auto tenant = make_tenant(p, token, "Client SARL");
  auto user = p.call("POST", "/api/v1/users", token,
                     json{{"username", "operator-1"}, {"password", "correct horse battery 1"}, {"role", "viewer"},
                          {"company_id", tenant.company}});
  ASSERT_EQ(user.status, 201) << user.raw;
  std::string user_id = user.body["id"];
  auto user_token = p.login("operator-1", "correct horse battery 1");
  auto credentials = p.call("POST", "/api/v1/sip/credentials", user_token);
  ASSERT_EQ(credentials.status, 201) << credentials.raw;
  EXPECT_NE(credentials.body["auth_user"], user_id);
  EXPECT_EQ(credentials.body["aor"], "sip:" + user_id + "@carillon.local");
  // The platform admin has no company, hence no SIP account.
  EXPECT_EQ(p.call("POST", "/api/v1/sip/credentials", token).status, 403);

  // The client: a SIP UA over TLS (libre needs a certificate of its own; the edge checks it
  // against the platform CA when one is presented).
  auto ca = pki::CertificateAuthority::load(read_file(p.state_dir() / "pki" / "ca.pem").value(),
                                            read_file(p.state_dir() / "pki" / "ca.key").value(), clock_, random_);
  ASSERT_TRUE(ca);
  auto client_cert = ca->issue_client("web-client-test", 1);
  ASSERT_TRUE(client_cert);
  ASSERT_TRUE(write_file(dir_.path() / "client.pem", client_cert->cert_pem));
  ASSERT_TRUE(write_file(dir_.path() / "client.key", client_cert->key_pem));
  media::UaSettings settings;
  settings.tls = {p.ca_file().string(), (dir_.path() / "client.pem").string(), (dir_.path() / "client.key").string(),
                  "127.0.0.1"};
  settings.rtp_port_min = 43000;
  settings.rtp_port_max = 43199;
  std::atomic<bool> registered{false};
  std::atomic<media::CallId> incoming{0};
  media::Handlers handlers;
  handlers.on_registration = [&](bool ok, int, std::string) { registered = ok; };
  handlers.on_incoming = [&](const media::CallInfo& info) { incoming = info.id; };
  auto client = media::UserAgent::start(settings, handlers);
  ASSERT_TRUE(client) << client.error().message;
  media::Account account;
  account.registrar = "sip:127.0.0.1:" + std::to_string(5061 + p.port_offset()) + ";transport=tls";
  account.domain = credentials.body["realm"];
  account.username = user_id;
  account.auth_user = credentials.body["auth_user"];
  account.password = credentials.body["password"];
  ASSERT_TRUE((*client)->register_account(account));
  ASSERT_TRUE(eventually([&] { return registered.load(); }, 10s));
  ASSERT_TRUE(eventually([&] {
    return p.call("GET", "/api/v1/sip/registrations/" + user_id, user_token).body["registered"] == true;
  }, 10s));

  auto group = ring_group(token, tenant.site, json::array({{{"kind", "user"}, {"id", user_id}}}));
  json door_config{{"call_buttons", json::array({{{"id", "b1"}, {"label", "Operator"}, {"target", group}}})}};
  auto door = claim_station(p, token, tenant.site, "door-station", door_config, dir_.path() / "client-door", random_,
                            audio(440, 1000, 43200));
  ASSERT_TRUE(door.device->station()->press("b1"));
  ASSERT_TRUE(eventually([&] { return incoming.load() != 0; }, 10s));
  auto heard = std::make_shared<media::ToneDetector>(440);
  ASSERT_TRUE((*client)->set_sink(incoming, heard));
  ASSERT_TRUE((*client)->set_source(incoming, std::make_shared<media::ToneSource>(1000)));
  ASSERT_TRUE((*client)->answer(incoming));
  json door_status;
  ASSERT_TRUE(hears(*door.device, door_status)) << door_status.dump();
  ASSERT_TRUE(eventually([&] { return heard->tone_frames() > 25; }, 10s));
  ASSERT_TRUE(door.device->station()->hangup());
  json record;
  ASSERT_TRUE(eventually([&] {
    auto r = p.call("GET", "/api/v1/calls?ring_group_id=" + group, token);
    if (r.status != 200 || r.body["items"].empty()) return false;
    record = r.body["items"][0];
    return record["status"] == "answered" && !record["ended_at"].is_null();
  }, 10s, 200ms)) << record.dump();
  EXPECT_EQ(record["answered_by"], user_id);

  // A stranger with a made-up session name does not get in.
  media::Account forged = account;
  forged.auth_user = user_id + ".0000";
  forged.password = "guess";
  registered = true;
  ASSERT_TRUE((*client)->register_account(forged));
  EXPECT_TRUE(eventually([&] { return !registered.load(); }, 10s));
}

}  // namespace
}  // namespace carillon::apps
