#pragma once
// SIP accounts as the API sees them: the registration state the edge reported, and short-lived
// credentials for browser and mobile clients. Implemented by the serve wiring (apps/sip_link),
// which pushes credentials to Kamailio and listens to its events.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace carillon::sip {

struct Registration {
  std::string contact;
  std::int64_t expires_at = 0;  // Unix seconds
  std::string user_agent;
  std::string source;           // source IP the registration came from
  std::int64_t updated_at = 0;  // Unix seconds
};

// What a browser or mobile client registers with. `auth_user` is unique per issue (several
// tabs and phones of one user register side by side); calls reach them all through `aor`.
struct ClientCredentials {
  std::string aor;        // sip:<user id>@<domain>, the address ring groups ring
  std::string auth_user;  // digest username
  std::string password;   // shown once; only its HA1 is kept, in Kamailio's memory
  std::string domain;     // digest realm
  std::string wss_url;    // SIP over secure WebSocket
  std::int64_t expires_at = 0;
};

class SipAccounts {
 public:
  virtual ~SipAccounts() = default;
  // Live contacts of account `username` (device id or user id); empty if not registered.
  virtual std::vector<Registration> registrations(const std::string& username) const = 0;
  // Fresh credentials for user `user_id` of company `company_id`. unavailable when the SIP edge
  // cannot take them now.
  virtual Result<ClientCredentials> issue_client_credentials(const std::string& user_id,
                                                             const std::string& company_id) = 0;
};

}  // namespace carillon::sip
