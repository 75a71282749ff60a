// Against real Mosquitto brokers with the production config (support/mosquitto_server.hpp).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "mqtt/broker_config.hpp"
#include "mqtt/client.hpp"
#include "support/mosquitto_server.hpp"
#include "support/temp_dir.hpp"

namespace carillon::mqtt {
namespace {

using namespace std::chrono_literals;
using testing::MosquittoServer;
using testing::TempDir;
using testing::TlsIdentity;

struct Message {
  std::string topic;
  std::string payload;
  bool retained = false;
};

// Collects what a client receives; waits are bounded.
class Inbox {
 public:
  Client::MessageHandler handler() {
    return [this](const std::string& t, const std::string& p, bool r) {
      std::lock_guard lock(mutex_);
      messages_.push_back({t, p, r});
      changed_.notify_all();
    };
  }
  std::optional<Message> wait_for(const std::string& topic, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<Message> found;
    changed_.wait_for(lock, timeout, [&] {
      for (const auto& m : messages_) {
        if (m.topic == topic) found = m;
      }
      return found.has_value();
    });
    return found;
  }
  std::size_t count(const std::string& topic) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& m : messages_) n += m.topic == topic ? 1 : 0;
    return n;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Message> messages_;
};

class MqttIntegration : public ::testing::Test {
 protected:
  ClientOptions device_options(const TlsIdentity& id, const std::string& serial) {
    ClientOptions o;
    o.port = server_.config().device_port;
    o.client_id = serial;
    o.ca_pem_file = server_.ca_file().string();
    o.cert_file = id.cert.string();
    o.key_file = id.key.string();
    o.keepalive_seconds = 5;
    o.ack_timeout = 5s;
    return o;
  }
  ClientOptions platform_options(const std::string& client_id = "platform-test") {
    ClientOptions o;
    o.port = server_.config().platform_port;
    o.client_id = client_id;
    o.ca_pem_file = server_.ca_file().string();
    o.cert_file = server_.platform_identity().cert.string();
    o.key_file = server_.platform_identity().key.string();
    o.keepalive_seconds = 5;
    o.ack_timeout = 5s;
    return o;
  }
  ClientOptions claim_options(const std::string& client_id) {
    ClientOptions o;
    o.port = server_.config().claim_port;
    o.client_id = client_id;
    o.ca_pem_file = server_.ca_file().string();
    o.ack_timeout = 5s;
    return o;
  }
  static std::string topic(const std::string& serial, const std::string& leaf) {
    return "carillon/v1/devices/" + serial + "/" + leaf;
  }

  Library library_;
  TempDir tmp_;
  MosquittoServer server_{tmp_};
};

TEST_F(MqttIntegration, GeneratedConfigHasNoPlainListenerAndConfinesEachListener) {
  auto conf = read_file(broker_config_path(server_.config()));
  ASSERT_TRUE(conf);
  EXPECT_NE(conf->find("use_username_as_clientid true"), std::string::npos);
  EXPECT_NE(conf->find("crlfile "), std::string::npos);
  EXPECT_EQ(conf->find("allow_anonymous true"), std::string::npos);
  auto claim = read_file(claim_broker_config_path(server_.config()));
  ASSERT_TRUE(claim);
  // Every listener of both brokers carries TLS: as many certfile lines as listeners.
  for (const std::string* text : {&*conf, &*claim}) {
    std::size_t listeners = 0, certs = 0;
    for (std::size_t p = 0; (p = text->find("\nlistener ", p)) != std::string::npos; ++p) ++listeners;
    for (std::size_t p = 0; (p = text->find("\ncertfile ", p)) != std::string::npos; ++p) ++certs;
    EXPECT_GT(listeners, 0u);
    EXPECT_EQ(listeners, certs);
  }
}

TEST_F(MqttIntegration, WriteBrokerConfigRejectsMissingFiles) {
  BrokerConfig bad = server_.config();
  bad.crl_file = tmp_.path() / "missing.pem";
  auto s = write_broker_config(bad);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::invalid_argument);
  EXPECT_EQ(s.error().field, "crl_file");
}

TEST_F(MqttIntegration, DevicePublishesAndReceivesInItsOwnSubtree) {
  auto id = server_.issue_device("SN-A1");
  Inbox device_inbox, platform_inbox;
  Client platform(platform_options());
  platform.on_message(platform_inbox.handler());
  ASSERT_TRUE(platform.connect());
  ASSERT_TRUE(platform.wait_connected(5s));
  ASSERT_TRUE(platform.subscribe("carillon/v1/devices/+/state"));

  Client device(device_options(id, "SN-A1"));
  device.on_message(device_inbox.handler());
  ASSERT_TRUE(device.connect());
  ASSERT_TRUE(device.wait_connected(5s));
  ASSERT_TRUE(device.subscribe(topic("SN-A1", "commands")));

  ASSERT_TRUE(device.publish(topic("SN-A1", "state"), R"({"online":true})", 1, true));
  auto state = platform_inbox.wait_for(topic("SN-A1", "state"), 5s);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->payload, R"({"online":true})");

  ASSERT_TRUE(platform.publish(topic("SN-A1", "commands"), R"({"cmd":"open"})"));
  auto command = device_inbox.wait_for(topic("SN-A1", "commands"), 5s);
  ASSERT_TRUE(command);
  EXPECT_EQ(command->payload, R"({"cmd":"open"})");
}

TEST_F(MqttIntegration, PublishManyGivesOneStatusPerMessageAndDeliversThemAll) {
  auto id = server_.issue_device("SN-PM");
  Inbox inbox;
  Client device(device_options(id, "SN-PM"));
  device.on_message(inbox.handler());
  ASSERT_TRUE(device.connect());
  ASSERT_TRUE(device.wait_connected(5s));
  ASSERT_TRUE(device.subscribe(topic("SN-PM", "commands")));
  Client platform(platform_options());
  ASSERT_TRUE(platform.connect());
  ASSERT_TRUE(platform.wait_connected(5s));

  // More than the broker's in-flight window (20), one QoS 0 and one invalid QoS among them.
  std::vector<Client::Message> messages;
  for (int i = 0; i < 100; ++i) messages.push_back({topic("SN-PM", "commands"), std::to_string(i), 1, false});
  messages.insert(messages.begin() + 50, Client::Message{topic("SN-PM", "commands"), "qos0", 0, false});
  messages.insert(messages.begin() + 10, Client::Message{topic("SN-PM", "commands"), "bad", 3, false});
  auto statuses = platform.publish_many(messages);
  ASSERT_EQ(statuses.size(), messages.size());
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (i == 10) {
      ASSERT_FALSE(statuses[i]);
      EXPECT_EQ(statuses[i].error().code, Errc::invalid_argument);
    } else {
      EXPECT_TRUE(statuses[i]) << i << ": " << statuses[i].error().message;
    }
  }
  for (int wait = 0; wait < 100 && inbox.count(topic("SN-PM", "commands")) < 101; ++wait) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(inbox.count(topic("SN-PM", "commands")), 101u);

  // The broker's refusal is reported per message.
  auto mixed = device.publish_many({{topic("SN-PM", "state"), "mine", 1, false}, {topic("SN-OTHER", "state"), "x", 1, false}});
  ASSERT_EQ(mixed.size(), 2u);
  EXPECT_TRUE(mixed[0]);
  ASSERT_FALSE(mixed[1]);
  EXPECT_EQ(mixed[1].error().code, Errc::forbidden);
}

TEST_F(MqttIntegration, DeviceCannotReachAnotherDevicesSubtree) {
  auto id_a = server_.issue_device("SN-A");
  auto id_b = server_.issue_device("SN-B");
  Inbox inbox_a, inbox_b;
  Client a(device_options(id_a, "SN-A"));
  a.on_message(inbox_a.handler());
  Client b(device_options(id_b, "SN-B"));
  b.on_message(inbox_b.handler());
  ASSERT_TRUE(a.connect());
  ASSERT_TRUE(b.connect());
  ASSERT_TRUE(a.wait_connected(5s));
  ASSERT_TRUE(b.wait_connected(5s));
  ASSERT_TRUE(b.subscribe(topic("SN-B", "commands")));

  auto denied = a.publish(topic("SN-B", "commands"), "x", 1);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, Errc::forbidden);

  // Mosquitto may grant the wider filter; what matters is that nothing of B's reaches A.
  (void)a.subscribe("carillon/v1/devices/#");
  (void)a.subscribe(topic("SN-B", "commands"));
  Client platform(platform_options());
  ASSERT_TRUE(platform.connect());
  ASSERT_TRUE(platform.wait_connected(5s));
  ASSERT_TRUE(platform.publish(topic("SN-B", "commands"), "for-b"));
  ASSERT_TRUE(inbox_b.wait_for(topic("SN-B", "commands"), 5s));  // delivered to B...
  EXPECT_FALSE(inbox_a.wait_for(topic("SN-B", "commands"), 1s));  // ...and never to A
}

TEST_F(MqttIntegration, ForeignCaCertificateIsRefused) {
  auto foreign = server_.issue_foreign("SN-F");
  Client device(device_options(foreign, "SN-F"));
  ASSERT_TRUE(device.connect());
  EXPECT_FALSE(device.wait_connected(3s));
}

TEST_F(MqttIntegration, DeviceListenerRefusesClientsWithoutCertificate) {
  ClientOptions o = claim_options("SN-X");
  o.port = server_.config().device_port;
  Client anonymous(o);
  ASSERT_TRUE(anonymous.connect());
  EXPECT_FALSE(anonymous.wait_connected(3s));
}

TEST_F(MqttIntegration, DeviceCertificateIsRefusedOnPlatformListener) {
  auto id = server_.issue_device("SN-P");
  ClientOptions o = device_options(id, "SN-P");
  o.port = server_.config().platform_port;
  Client device(o);
  ASSERT_TRUE(device.connect());
  EXPECT_FALSE(device.wait_connected(3s));
}

// A plaintext MQTT CONNECT must never get a CONNACK (0x20) on any port.
TEST_F(MqttIntegration, PlaintextIsRefusedOnEveryPort) {
  const unsigned char connect[] = {0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02,
                                   0x00, 0x3c, 0x00, 0x04, 'p', 'l', 'a', 'i'};
  for (unsigned short port : {server_.config().claim_port, server_.config().device_port,
                              server_.config().platform_port}) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ASSERT_EQ(::send(fd, connect, sizeof connect, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof connect));
    unsigned char reply[4] = {};
    ssize_t n = ::recv(fd, reply, sizeof reply, 0);
    ::close(fd);
    EXPECT_FALSE(n > 0 && reply[0] == 0x20) << "port " << port << " answered a plaintext CONNECT";
  }
}

TEST_F(MqttIntegration, ClaimClientUsesOnlyItsOwnClaimTopics) {
  Inbox platform_inbox, claim_inbox;
  Client platform(platform_options());
  platform.on_message(platform_inbox.handler());
  ASSERT_TRUE(platform.connect());
  ASSERT_TRUE(platform.wait_connected(5s));
  ASSERT_TRUE(platform.subscribe("carillon/v1/claims/+/request"));

  Client claimer(claim_options("claim-7f3a"));
  claimer.on_message(claim_inbox.handler());
  ASSERT_TRUE(claimer.connect());
  ASSERT_TRUE(claimer.wait_connected(5s));
  ASSERT_TRUE(claimer.subscribe("carillon/v1/claims/claim-7f3a/response"));

  ASSERT_TRUE(claimer.publish("carillon/v1/claims/claim-7f3a/request", R"({"code":"ABCD"})"));
  auto request = platform_inbox.wait_for("carillon/v1/claims/claim-7f3a/request", 5s);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->payload, R"({"code":"ABCD"})");

  ASSERT_TRUE(platform.publish("carillon/v1/claims/claim-7f3a/response", R"({"ok":true})"));
  auto response = claim_inbox.wait_for("carillon/v1/claims/claim-7f3a/response", 5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->payload, R"({"ok":true})");

  for (const char* t : {"carillon/v1/claims/someone-else/request", "carillon/v1/devices/SN-1/state",
                        "carillon/v1/devices/SN-1/commands/result"}) {
    auto denied = claimer.publish(t, "x");
    ASSERT_FALSE(denied) << t;
    EXPECT_EQ(denied.error().code, Errc::forbidden) << t;
  }
  // Someone else's response never reaches this claim client.
  (void)claimer.subscribe("carillon/v1/claims/+/response");
  ASSERT_TRUE(platform.publish("carillon/v1/claims/someone-else/response", "secret"));
  EXPECT_FALSE(claim_inbox.wait_for("carillon/v1/claims/someone-else/response", 1s));
}

// The platform can tell whether claims can flow (readiness): the bridge publishes its state.
TEST_F(MqttIntegration, PlatformSeesClaimBridgeState) {
  Inbox inbox;
  Client platform(platform_options());
  platform.on_message(inbox.handler());
  ASSERT_TRUE(platform.connect());
  ASSERT_TRUE(platform.wait_connected(5s));
  const std::string state_topic = std::string("$SYS/broker/connection/") + kClaimBridgeIdentity + "/state";
  ASSERT_TRUE(platform.subscribe(state_topic));
  auto state = inbox.wait_for(state_topic, 5s);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->payload, "1");
}

// Regression: with the claim listener in the same broker process, an anonymous client that
// connected with a device's serial as client id disconnected that device (client-id takeover).
TEST_F(MqttIntegration, ClaimClientWithDeviceSerialAsClientIdDoesNotKickTheDevice) {
  auto id = server_.issue_device("SN-VICTIM");
  std::atomic<int> drops{0};
  Client device(device_options(id, "SN-VICTIM"));
  device.on_connection([&](bool up) {
    if (!up) ++drops;
  });
  ASSERT_TRUE(device.connect());
  ASSERT_TRUE(device.wait_connected(5s));

  for (bool clean : {true, false}) {
    ClientOptions o = claim_options("SN-VICTIM");
    o.clean_start = clean;
    Client attacker(o);
    ASSERT_TRUE(attacker.connect());
    ASSERT_TRUE(attacker.wait_connected(5s));  // the attacker gets in, but in another namespace
    std::this_thread::sleep_for(500ms);
    EXPECT_TRUE(device.connected());
    EXPECT_EQ(drops.load(), 0);
  }
  EXPECT_TRUE(device.publish(topic("SN-VICTIM", "state"), "still here"));
}

TEST_F(MqttIntegration, RevokedDeviceCannotReconnectAndItsLiveSessionIsCut) {
  auto id = server_.issue_device("SN-REV");
  Inbox platform_inbox;
  Client platform(platform_options());
  platform.on_message(platform_inbox.handler());
  ASSERT_TRUE(platform.connect());
  ASSERT_TRUE(platform.wait_connected(5s));
  ASSERT_TRUE(platform.subscribe(topic("SN-REV", "state")));

  ClientOptions o = device_options(id, "SN-REV");
  o.will = Will{topic("SN-REV", "state"), "offline", 1, true};
  std::atomic<int> drops{0};
  Client device(o);
  device.on_connection([&](bool up) {
    if (!up) ++drops;
  });
  ASSERT_TRUE(device.connect());
  ASSERT_TRUE(device.wait_connected(5s));

  server_.revoke(id);
  server_.reload();

  Client second(device_options(id, "SN-REV"));
  ASSERT_TRUE(second.connect());
  EXPECT_FALSE(second.wait_connected(3s));
  second.disconnect();

  // Mosquitto keeps the already open session after the CRL reload: that is why cut_session exists.
  EXPECT_TRUE(device.connected());
  ASSERT_TRUE(cut_session(platform_options(), "SN-REV", 5s));

  auto will = platform_inbox.wait_for(topic("SN-REV", "state"), 5s);
  ASSERT_TRUE(will);
  EXPECT_EQ(will->payload, "offline");
  // The device's own reconnect attempts (1 s, 4 s, ...) are refused by the CRL.
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(device.connected());
  EXPECT_GE(drops.load(), 1);
}

TEST_F(MqttIntegration, ReconnectsAfterBrokerRestartAndRestoresSubscriptions) {
  auto id = server_.issue_device("SN-RS");
  Inbox device_inbox;
  std::atomic<int> ups{0};
  Client device(device_options(id, "SN-RS"));
  device.on_message(device_inbox.handler());
  device.on_connection([&](bool up) {
    if (up) ++ups;
  });
  ASSERT_TRUE(device.connect());
  ASSERT_TRUE(device.wait_connected(5s));
  ASSERT_TRUE(device.subscribe(topic("SN-RS", "commands")));
  Client platform(platform_options());
  ASSERT_TRUE(platform.connect());
  ASSERT_TRUE(platform.wait_connected(5s));

  server_.restart();

  // Backoff is 1 s then 4 s then 9 s: both must be back well within 20 s.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline && (ups.load() < 2 || !platform.connected())) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(ups.load(), 2);
  ASSERT_TRUE(platform.wait_connected(1s));
  ASSERT_TRUE(device.wait_connected(1s));
  // The resubscription is sent right after CONNACK; retry briefly until it has been processed.
  bool delivered = false;
  for (int i = 0; i < 20 && !delivered; ++i) {
    ASSERT_TRUE(platform.publish(topic("SN-RS", "commands"), "after-restart"));
    delivered = device_inbox.wait_for(topic("SN-RS", "commands"), 250ms).has_value();
  }
  EXPECT_TRUE(delivered);
}

TEST_F(MqttIntegration, LastWillIsDeliveredAsRetainedOfflineState) {
  auto id = server_.issue_device("SN-W");
  ClientOptions o = device_options(id, "SN-W");
  o.will = Will{topic("SN-W", "state"), R"({"online":false})", 1, true};
  Client device(o);
  ASSERT_TRUE(device.connect());
  ASSERT_TRUE(device.wait_connected(5s));
  ASSERT_TRUE(device.publish(topic("SN-W", "state"), R"({"online":true})", 1, true));

  // An unclean end of the session (here: taken over) publishes the will; a clean disconnect
  // would not.
  ASSERT_TRUE(cut_session(platform_options(), "SN-W", 5s));
  device.disconnect();

  Inbox late;
  Client observer(platform_options("observer"));
  observer.on_message(late.handler());
  ASSERT_TRUE(observer.connect());
  ASSERT_TRUE(observer.wait_connected(5s));
  ASSERT_TRUE(observer.subscribe(topic("SN-W", "state")));
  auto state = late.wait_for(topic("SN-W", "state"), 5s);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->payload, R"({"online":false})");
  EXPECT_TRUE(state->retained);
}

}  // namespace
}  // namespace carillon::mqtt
