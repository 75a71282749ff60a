#pragma once
// The REST API under /api/v1, the health endpoints and the live event stream: JSON in,
// domain calls, JSON out. The route list in routes.cpp is the one place that says what exists.

#include <functional>
#include <string>

#include "calls/service.hpp"
#include "common/audit.hpp"
#include "common/clock.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "devices/service.hpp"
#include "alerts/model.hpp"
#include "firmware/service.hpp"
#include "http/router.hpp"
#include "identity/auth_service.hpp"
#include "notify/subscriptions.hpp"
#include "ops/metrics.hpp"
#include "sip/accounts.hpp"
#include "tenancy/service.hpp"

namespace carillon::api {

// What devices need to find the broker; served unauthenticated at /api/v1/device-bootstrap.
struct DeviceBootstrap {
  std::string mqtt_host;
  unsigned short claim_port = 0;
  unsigned short device_port = 0;
};

struct ApiContext {
  identity::AuthService& auth;
  identity::UserRepository& users;
  tenancy::TenancyService& tenancy;
  devices::DeviceService& devices;
  AuditLog& audit;
  EventBus& events;
  ops::Metrics& metrics;
  std::string openapi_yaml;
  DeviceBootstrap bootstrap;
  // Each returns "" when healthy, otherwise why not (for /readyz).
  std::vector<std::pair<std::string, std::function<std::string()>>> readiness_checks;
  // Ring groups, forwarding rules, call reports; the routes answer 503 while it is unset.
  calls::CallsService* calls = nullptr;
  // SIP registration state and client credentials; the SIP routes answer 503 while it is unset.
  sip::SipAccounts* sip_accounts = nullptr;
  // Web Push (push_api.cpp); the routes answer 503 while `subscriptions` is unset.
  struct Push {
    notify::SubscriptionRepository* subscriptions = nullptr;
    std::string vapid_public_key;  // base64url, the browsers' applicationServerKey
    IdGenerator* ids = nullptr;
    const Clock* clock = nullptr;
  } push = {};
  // Firmware catalogue, update policies, rollouts; the routes answer 503 while it is unset.
  firmware::FirmwareService* firmware = nullptr;
  const Clock* clock = nullptr;  // dashboard time ranges; unset = no range
  // Alert e-mail settings and outbox (alerts_api.cpp); the routes answer 503 while unset.
  struct Alerts {
    carillon::alerts::AlertSettingsRepository* settings = nullptr;
    carillon::alerts::OutboxRepository* outbox = nullptr;
    IdGenerator* ids = nullptr;
  } alerting = {};
};

void add_routes(http::Router& router, ApiContext& context);

}  // namespace carillon::api
