// Issue 3 end to end: the real `carillon up` (Kamailio, rtpengine, Mosquitto, serve) with two
// emulated devices in this process - a receiving station and a door station. The door station's
// call button rings a ring group; the receiving station answers; audio crosses SRTP both ways
// through rtpengine; the answering side sends the door code by DTMF; the call record shows who
// answered, the door opening and the snapshot.
#include <gtest/gtest.h>

#include "apps/platform_helpers.hpp"
#include "common/files.hpp"
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

TEST(Calls, DoorStationCallsARingGroupTheReceiverAnswersAudioFlowsAndTheDoorOpens) {
  Platform p;
  auto token = p.admin_token();
  SodiumRandom random;
  TempDir dir;
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

}  // namespace
}  // namespace carillon::apps
