#pragma once
#include <string_view>
namespace carillon::sip {
// deploy/kamailio/kamailio.cfg.in, embedded at build time so `carillon up` needs no deploy/ folder.
std::string_view kamailio_config_template();
}  // namespace carillon::sip
