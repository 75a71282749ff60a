#pragma once
// serve's end of the SIP edge (docs/sip-edge.md): keeps Kamailio's htables in step with the
// database (accounts, tenants, routes), turns Kamailio's events into registration state and
// call records, and gives devices their SIP account in the published config.
//
// One pusher thread plans and pushes; it wakes up when the edge (re)connects, when something
// that changes routing happened (wake()), when a forwarding rule starts or stops applying, and
// every `replan_seconds` as a safety net. Only differences are pushed, except after a
// (re)connection, when everything is pushed again (Kamailio may have restarted empty).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "calls/planner.hpp"
#include "calls/recorder.hpp"
#include "calls/service.hpp"
#include "common/time_zone.hpp"
#include "common/clock.hpp"
#include "common/events.hpp"
#include "common/random.hpp"
#include "devices/service.hpp"
#include "sip/accounts.hpp"
#include "sip/event_stream.hpp"
#include "sip/kamailio_rpc.hpp"

namespace carillon::apps {

struct SipLinkConfig {
  std::string domain = "carillon.local";
  std::string registrar;  // what devices register with, e.g. sip:127.0.0.1:5061;transport=tls
  std::string wss_url;    // what browsers register with
  std::string loop_uri;   // Kamailio's loop socket, e.g. sip:127.0.0.1:5070
  std::string rpc_host = "127.0.0.1";
  unsigned short rpc_port = 0;
  std::string evapi_host = "127.0.0.1";
  unsigned short evapi_port = 0;
  std::string secret;             // device SIP passwords derive from it
  std::string snapshot_url;       // device-facing HTTPS endpoint for snapshots
  int max_call_seconds = 600;
  int client_credential_seconds = 12 * 3600;
  int replan_seconds = 30;
};

class SipLink final : public devices::ConfigProvisioning, public sip::SipAccounts {
 public:
  SipLink(SipLinkConfig config, calls::CallsRepository& repository, calls::CallsService& calls,
          calls::CallRecorder& recorder, EventBus& events, const Clock& clock, Random& random);
  ~SipLink() override;  // stop()

  void start();
  void stop();
  // Something that changes routing or accounts happened (ring group, rule, device, user).
  void wake();
  bool edge_connected() const { return stream_ && stream_->connected(); }

  // devices::ConfigProvisioning
  nlohmann::json provision(const std::string& device_id, const nlohmann::json& config) const override;
  // sip::SipAccounts
  std::vector<sip::Registration> registrations(const std::string& username) const override;
  Result<sip::ClientCredentials> issue_client_credentials(const std::string& user_id,
                                                          const std::string& company_id) override;

  // The device's digest password (derived, never stored).
  std::string device_password(const std::string& device_id) const;

 private:
  struct ClientAccount {
    std::string aor;
    std::string company_id;
    std::string ha1;
    std::int64_t expires_at = 0;
  };

  void run_pusher();
  // Plans accounts, tenants and routes and pushes what changed (everything when `full`).
  // Returns when the plan changes next (a forwarding rule starts or stops applying).
  Result<std::int64_t> sync(bool full);
  Status push_table(const std::string& table, const std::map<std::string, std::string>& wanted,
                    std::map<std::string, std::string>& pushed, bool full);
  Status push_client_accounts(bool full);
  void on_edge_event(const sip::EdgeEvent& event);
  void on_live_event(const LiveEvent& event);

  SipLinkConfig config_;
  calls::CallsRepository& repository_;
  calls::CallsService& calls_;
  calls::CallRecorder& recorder_;
  EventBus& events_;
  const Clock& clock_;
  Random& random_;
  TimeZoneDb zones_;
  calls::RoutePlanner planner_;
  // mutable: provision() (const, part of the devices interface) pushes through it; the client
  // is thread-safe.
  mutable sip::KamailioRpc rpc_;
  std::unique_ptr<sip::EventStream> stream_;
  std::uint64_t bus_token_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_cv_;
  bool wake_ = false;
  bool resync_ = true;
  bool stopping_ = false;
  std::thread pusher_;
  // What Kamailio holds, as far as this process pushed it (pusher thread only).
  std::map<std::string, std::string> pushed_routes_, pushed_auth_, pushed_tenant_;

  mutable std::mutex state_mutex_;
  std::map<std::string, ClientAccount> clients_;  // by auth user
  std::set<std::string> clients_pushed_;          // auth users Kamailio has
  std::map<std::string, std::string> tenants_;    // account -> company, as last planned
  // username -> contact -> registration
  std::map<std::string, std::map<std::string, sip::Registration>> registrations_;
};

}  // namespace carillon::apps
