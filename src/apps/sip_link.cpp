#include "apps/sip_link.hpp"

#include "common/log.hpp"
#include "sip/credentials.hpp"

namespace carillon::apps {

using nlohmann::json;

namespace {

calls::EdgeCallEvent::Type call_event_type(sip::EdgeEventKind kind) {
  using K = sip::EdgeEventKind;
  using T = calls::EdgeCallEvent::Type;
  switch (kind) {
    case K::call_start: return T::call_start;
    case K::leg_ringing: return T::leg_ringing;
    case K::leg_answered: return T::leg_answered;
    case K::leg_failed: return T::leg_failed;
    case K::call_answered: return T::call_answered;
    case K::call_end: return T::call_end;
    case K::registered: break;
  }
  return T::call_start;
}

}  // namespace

SipLink::SipLink(SipLinkConfig config, calls::CallsRepository& repository, calls::CallsService& calls,
                 calls::CallRecorder& recorder, EventBus& events, const Clock& clock, Random& random)
    : config_(std::move(config)),
      repository_(repository),
      calls_(calls),
      recorder_(recorder),
      events_(events),
      clock_(clock),
      random_(random),
      planner_(calls::PlannerSettings{config_.domain, config_.loop_uri, 8}, zones_),
      rpc_(config_.rpc_host, config_.rpc_port) {}

SipLink::~SipLink() { stop(); }

void SipLink::start() {
  bus_token_ = events_.subscribe([this](const LiveEvent& e) { on_live_event(e); });
  stream_ = std::make_unique<sip::EventStream>(
      sip::EventStream::Options{config_.evapi_host, config_.evapi_port, std::chrono::milliseconds(50),
                                std::chrono::milliseconds(2000)},
      [this](const sip::EdgeEvent& e) { on_edge_event(e); },
      [this] {
        // Kamailio may have restarted with empty tables: push everything again.
        std::lock_guard lock(mutex_);
        resync_ = true;
        wake_ = true;
        wake_cv_.notify_all();
      });
  stream_->start();
  pusher_ = std::thread([this] { run_pusher(); });
}

void SipLink::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    wake_cv_.notify_all();
  }
  if (pusher_.joinable()) pusher_.join();
  if (stream_) stream_->stop();
  if (bus_token_) events_.unsubscribe(bus_token_);
}

void SipLink::wake() {
  std::lock_guard lock(mutex_);
  wake_ = true;
  wake_cv_.notify_all();
}

void SipLink::run_pusher() {
  auto logger = log::get("sip");
  std::int64_t next_change = 0;
  for (;;) {
    bool full = false;
    {
      std::unique_lock lock(mutex_);
      auto now = clock_.now();
      auto until = now + config_.replan_seconds;
      if (next_change > now && next_change < until) until = next_change;
      wake_cv_.wait_for(lock, std::chrono::seconds(std::max<std::int64_t>(0, until - now)),
                        [this] { return wake_ || stopping_; });
      if (stopping_) return;
      wake_ = false;
      full = resync_;
    }
    // Without an event stream Kamailio is down or restarting: pushing would only time out.
    if (!stream_->connected()) continue;
    auto synced = sync(full);
    if (!synced) {
      logger->warn("pushing to the SIP edge failed ({}); retrying", synced.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      wake();
      continue;
    }
    next_change = *synced;
    if (full) {
      std::lock_guard lock(mutex_);
      resync_ = false;
    }
  }
}

Result<std::int64_t> SipLink::sync(bool full) {
  auto input = calls_.routing_input();
  if (!input) return tl::unexpected(input.error());
  auto now = clock_.now();
  std::map<std::string, std::string> auth, tenant, routes;
  for (const auto& party : input->accounts) {
    tenant[party.id] = party.company_id;
    if (party.kind == calls::TargetKind::device)
      auth[party.id] = sip::ha1(party.id, config_.domain, device_password(party.id));
  }
  for (auto& [key, document] : planner_.plan(*input, now)) routes[key] = document.dump();
  if (full) {
    if (auto s = rpc_.set_int("settings", "max_call_seconds", config_.max_call_seconds); !s)
      return tl::unexpected(s.error());
  }
  if (auto s = push_table("tenant", tenant, pushed_tenant_, full); !s) return tl::unexpected(s.error());
  {
    std::lock_guard lock(state_mutex_);
    tenants_ = tenant;
  }
  if (auto s = push_table("auth", auth, pushed_auth_, full); !s) return tl::unexpected(s.error());
  if (auto s = push_table("routes", routes, pushed_routes_, full); !s) return tl::unexpected(s.error());
  if (auto s = push_client_accounts(full); !s) return tl::unexpected(s.error());
  return planner_.next_change(*input, now);
}

Status SipLink::push_table(const std::string& table, const std::map<std::string, std::string>& wanted,
                           std::map<std::string, std::string>& pushed, bool full) {
  std::vector<std::pair<std::string, std::string>> changed;
  for (const auto& [key, value] : wanted) {
    auto it = pushed.find(key);
    if (full || it == pushed.end() || it->second != value) changed.emplace_back(key, value);
  }
  std::vector<std::string> gone;
  for (const auto& [key, value] : pushed) {
    if (!wanted.count(key)) gone.push_back(key);
  }
  if (!changed.empty()) {
    if (auto s = rpc_.set_many(table, changed); !s) return s;
  }
  for (const auto& key : gone) {
    auto s = rpc_.remove(table, key);
    if (!s && s.error().code != Errc::not_found) return s;
  }
  if (!gone.empty() || !changed.empty())
    log::get("sip")->debug("pushed {}: {} set, {} removed", table, changed.size(), gone.size());
  pushed = wanted;
  return {};
}

Status SipLink::push_client_accounts(bool full) {
  std::lock_guard lock(state_mutex_);
  auto now = clock_.now();
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (it->second.expires_at <= now) {
      clients_pushed_.erase(it->first);
      it = clients_.erase(it);
      continue;
    }
    if (full || !clients_pushed_.count(it->first)) {
      auto ttl = static_cast<int>(it->second.expires_at - now);
      if (auto s = rpc_.set_with_expiry("auth", it->first, it->second.ha1, ttl); !s) return s;
      if (auto s = rpc_.set_with_expiry("aor", it->first, it->second.aor, ttl); !s) return s;
      clients_pushed_.insert(it->first);
    }
    ++it;
  }
  return {};
}

std::string SipLink::device_password(const std::string& device_id) const {
  return sip::derive_password(config_.secret, device_id);
}

json SipLink::provision(const std::string& device_id, const json& config) const {
  // The account must be in Kamailio before the device can read its password and register:
  // pushed here, ahead of the config, not left to the pusher's next round (a REGISTER that
  // beats the push would fail and count as a failed attempt).
  if (edge_connected()) {
    if (auto s = rpc_.set("auth", device_id, sip::ha1(device_id, config_.domain, device_password(device_id))); !s)
      log::get("sip")->warn("account of {} not pushed ahead of its config: {}", device_id, s.error().message);
  }
  json out = config;
  out["platform"] = {{"sip",
                      {{"registrar", config_.registrar},
                       {"domain", config_.domain},
                       {"username", device_id},
                       {"password", device_password(device_id)}}},
                     {"snapshot_url", config_.snapshot_url}};
  return out;
}

std::vector<sip::Registration> SipLink::registrations(const std::string& username) const {
  std::lock_guard lock(state_mutex_);
  std::vector<sip::Registration> out;
  auto it = registrations_.find(username);
  if (it == registrations_.end()) return out;
  auto now = clock_.now();
  for (const auto& [contact, r] : it->second) {
    if (r.expires_at > now) out.push_back(r);
  }
  return out;
}

Result<sip::ClientCredentials> SipLink::issue_client_credentials(const std::string& user_id,
                                                                 const std::string& company_id) {
  if (company_id.empty()) return fail(Errc::forbidden, "only users of a company have a SIP account");
  sip::ClientCredentials c;
  c.aor = "sip:" + user_id + "@" + config_.domain;
  c.auth_user = user_id + "." + random_.hex(4);
  c.password = random_.token(24);
  c.domain = config_.domain;
  c.wss_url = config_.wss_url;
  c.expires_at = clock_.now() + config_.client_credential_seconds;
  {
    std::lock_guard lock(state_mutex_);
    clients_[c.auth_user] = ClientAccount{user_id, company_id, sip::ha1(c.auth_user, config_.domain, c.password), c.expires_at};
  }
  // Pushed now, not on the pusher's next round: the client registers right after this answer.
  auto ttl = config_.client_credential_seconds;
  if (auto s = rpc_.set_with_expiry("auth", c.auth_user, sip::ha1(c.auth_user, config_.domain, c.password), ttl); !s)
    return tl::unexpected(s.error());
  if (auto s = rpc_.set_with_expiry("aor", c.auth_user, user_id, ttl); !s) return tl::unexpected(s.error());
  if (auto s = rpc_.set("tenant", user_id, company_id); !s) return tl::unexpected(s.error());
  {
    std::lock_guard lock(state_mutex_);
    clients_pushed_.insert(c.auth_user);
  }
  return c;
}

void SipLink::on_edge_event(const sip::EdgeEvent& event) {
  auto logger = log::get("sip");
  if (event.kind == sip::EdgeEventKind::registered) {
    std::string company;
    bool registered = false;
    {
      std::lock_guard lock(state_mutex_);
      auto& contacts = registrations_[event.user];
      auto now = clock_.now();
      if (event.expires <= 0) {
        contacts.erase(event.contact);
      } else {
        contacts[event.contact] = sip::Registration{event.contact, now + event.expires, event.user_agent, event.source, now};
      }
      for (const auto& [contact, r] : contacts) registered = registered || r.expires_at > now;
      auto t = tenants_.find(event.user);
      if (t != tenants_.end()) company = t->second;
    }
    if (!company.empty())
      events_.publish({"sip.registration", company, {{"username", event.user}, {"registered", registered}}});
    return;
  }
  calls::EdgeCallEvent e;
  e.type = call_event_type(event.kind);
  e.call_id = event.call_id;
  e.caller = event.caller;
  e.target = event.target;
  e.company = event.company;
  e.member = event.member;
  e.code = event.code;
  e.reason = event.reason;
  e.ts = event.ts;
  if (auto s = recorder_.handle(e); !s)
    logger->warn("call event {} for {} not recorded: {}", sip::to_string(event.kind), event.call_id, s.error().message);
  auto record = repository_.find_call_by_sip_id(event.call_id);
  if (record) {
    events_.publish({"call.updated", record->company_id,
                     {{"id", record->id}, {"sip_call_id", event.call_id}, {"event", std::string(sip::to_string(event.kind))}}});
  }
}

void SipLink::on_live_event(const LiveEvent& event) {
  if (event.type == "device.claimed" || event.type == "device.revoked" || event.type == "device.deleted") {
    wake();
    return;
  }
  if (event.type != "device.event") return;
  const auto& message = event.data.value("event", json::object());
  if (message.value("type", "") != "door.opened") return;
  auto device_id = event.data.value("id", "");
  auto call_id = message.value("call_id", "");
  if (call_id.empty()) return;  // opened outside a call (local button): nothing to attach to
  auto door = message.contains("door") ? message["door"].dump() : std::string("1");
  if (message.contains("door") && message["door"].is_string()) door = message["door"].get<std::string>();
  auto at = message.value("at", clock_.now() * 1000);
  if (auto s = recorder_.door_opened(call_id, device_id, door, at); !s)
    log::get("sip")->warn("door event of {} for call {} not recorded: {}", device_id, call_id, s.error().message);
}

}  // namespace carillon::apps
