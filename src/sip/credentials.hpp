#pragma once
// SIP digest credentials. Only HA1 is ever stored (database, Kamailio htable `auth`); device
// passwords are derived from the installation's SIP secret when a config is published, so the
// platform can hand them out again without keeping them.

#include <string>
#include <string_view>

namespace carillon::sip {

// hex(md5("username:realm:password")), the form Kamailio's pv_www_authenticate takes with flag 1.
std::string ha1(std::string_view username, std::string_view realm, std::string_view password);

// base64url(HMAC-SHA256(secret, "device-sip:" + username)), 43 characters. Deterministic, so a
// re-published config carries the same password; rotating `secret` rotates every device password.
std::string derive_password(std::string_view secret, std::string_view username);

}  // namespace carillon::sip
