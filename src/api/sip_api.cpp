// SIP accounts of people: short-lived credentials for the web and mobile clients, and the
// registration state of any account of the caller's company.

#include "api/context.hpp"

namespace carillon::api {

namespace {

Result<sip::SipAccounts*> accounts(ApiContext& context) {
  if (context.sip_accounts == nullptr) return fail(Errc::unavailable, "the SIP edge is not configured");
  return context.sip_accounts;
}

}  // namespace

void add_sip_routes(http::Router& router, ApiContext& context) {
  // Every user of a company may register a client; viewers too (they take calls, not config).
  add_authenticated(router, context, "POST", "/api/v1/sip/credentials",
                    [&context](const Actor& actor, const http::Request&) -> Result<http::Response> {
                      auto sip = accounts(context);
                      if (!sip) return tl::unexpected(sip.error());
                      auto c = (*sip)->issue_client_credentials(actor.id, actor.company_id);
                      if (!c) return tl::unexpected(c.error());
                      return ok({{"aor", c->aor},
                                 {"auth_user", c->auth_user},
                                 {"password", c->password},
                                 {"realm", c->domain},
                                 {"wss_url", c->wss_url},
                                 {"expires_at", c->expires_at}},
                                201);
                    });
  add_authenticated(router, context, "GET", "/api/v1/sip/registrations/{username}",
                    [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
                      auto sip = accounts(context);
                      if (!sip) return tl::unexpected(sip.error());
                      const auto& username = request.params.at("username");
                      // Only the caller's own account or a device/user of the caller's company.
                      if (username != actor.id) {
                        if (auto device = context.devices.get(actor, username); !device) {
                          auto user = context.users.find(username);
                          if (!user || !actor.can_see(user->company_id))
                            return fail(Errc::not_found, "no such SIP account");
                        }
                      }
                      auto contacts = nlohmann::json::array();
                      for (const auto& r : (*sip)->registrations(username)) {
                        contacts.push_back({{"contact", r.contact}, {"expires_at", r.expires_at},
                                            {"user_agent", r.user_agent}, {"source", r.source},
                                            {"updated_at", r.updated_at}});
                      }
                      return ok({{"username", username}, {"registered", !contacts.empty()}, {"contacts", contacts}});
                    });
}

}  // namespace carillon::api
