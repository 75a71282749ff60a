// GET /api/v1/dashboard: the fleet at a glance (S5, D3) - devices online/offline, firmware
// status, gateways, calls per day, recent calls, per-site counts. One request for the whole
// page: it is built from a few set queries, never one query per device (BENCHMARKS.md).

#include <set>

#include "api/context.hpp"

namespace carillon::api {

namespace {

using nlohmann::json;

std::string query_value(const http::Request& request, const char* key) {
  auto it = request.query.find(key);
  return it == request.query.end() ? std::string() : it->second;
}

// Every site the actor sees in `company_id` (optionally carrying `label`), by id.
Result<std::map<std::string, tenancy::Node>> sites_of(ApiContext& context, const Actor& actor,
                                                      const std::string& company_id, const std::string& label) {
  std::map<std::string, tenancy::Node> out;
  tenancy::NodeFilter filter;
  filter.kind = tenancy::NodeKind::site;
  filter.label = label;
  filter.page.limit = 500;
  for (;;) {
    auto page = context.tenancy.list(actor, filter);
    if (!page) return tl::unexpected(page.error());
    for (auto& node : page->items) {
      if (node.company_id == company_id) out.emplace(node.id, std::move(node));
    }
    if (page->next.empty()) return out;
    filter.page.after = page->next;
  }
}

}  // namespace

void add_dashboard_routes(http::Router& router, ApiContext& context) {
  add_authenticated(router, context, "GET", "/api/v1/dashboard", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    std::string company_id = query_value(request, "company_id");
    if (company_id.empty()) company_id = actor.company_id;
    if (company_id.empty()) return fail(Errc::invalid_argument, "is required for platform administrators", "company_id");
    auto company = context.tenancy.get(actor, tenancy::NodeKind::company, company_id);
    if (!company) return fail(Errc::not_found, "no such company", "company_id");

    const auto project_id = query_value(request, "project_id");
    const auto site_id = query_value(request, "site_id");
    const auto label = query_value(request, "label");
    auto sites = sites_of(context, actor, company_id, label);
    if (!sites) return tl::unexpected(sites.error());
    if (!site_id.empty() && !sites->count(site_id)) return fail(Errc::not_found, "no such site", "site_id");
    if (!project_id.empty()) {
      auto project = context.tenancy.get(actor, tenancy::NodeKind::project, project_id);
      if (!project || project->company_id != company_id) return fail(Errc::not_found, "no such project", "project_id");
    }

    devices::DeviceFilter filter;
    filter.company_id = company_id;
    filter.project_id = project_id;
    filter.site_id = site_id;
    std::vector<std::string> label_sites;
    if (!label.empty()) {
      for (const auto& [id, node] : *sites) label_sites.push_back(id);
      // A label no site carries selects nothing (not everything).
      if (label_sites.empty()) label_sites.push_back("-");
    }
    auto devices = context.devices.summaries(actor, filter, label_sites);
    if (!devices) return tl::unexpected(devices.error());

    json device_counts{{"total", devices->size()}, {"online", 0}, {"offline", 0}};
    json gateways{{"total", 0}, {"online", 0}};
    std::map<std::string, std::pair<int, int>> per_site;  // online, offline
    for (const auto& d : *devices) {
      device_counts[d.online ? "online" : "offline"] = device_counts[d.online ? "online" : "offline"].get<int>() + 1;
      auto& site = per_site[d.site_id];
      (d.online ? site.first : site.second) += 1;
      if (d.gateway) {
        gateways["total"] = gateways["total"].get<int>() + 1;
        if (d.online) gateways["online"] = gateways["online"].get<int>() + 1;
      }
    }

    json firmware{{"current", 0}, {"update_available", 0}, {"updating", 0}, {"failed", 0}};
    if (context.firmware) {
      auto statuses = context.firmware->statuses(*devices);
      if (!statuses) return tl::unexpected(statuses.error());
      for (const auto& [id, status] : *statuses) {
        const char* key = firmware::to_string(status);
        firmware[key] = firmware[key].get<int>() + 1;
      }
    }

    json site_rows = json::array();
    for (const auto& [id, counts] : per_site) {
      auto node = sites->find(id);
      site_rows.push_back({{"id", id},
                           {"name", node == sites->end() ? "" : node->second.name},
                           {"online", counts.first},
                           {"offline", counts.second}});
    }

    json days = json::array();
    json recent = json::array();
    if (context.calls) {
      const std::int64_t now_ms = context.clock ? context.clock->now() * 1000 : 0;
      const std::int64_t from_ms = now_ms > 0 ? (now_ms / 86400000 - 13) * 86400000 : 0;
      auto counts = context.calls->daily_counts(actor, company_id, site_id, from_ms);
      if (!counts) return tl::unexpected(counts.error());
      for (const auto& d : *counts) days.push_back({{"date", d.date}, {"answered", d.answered}, {"missed", d.missed}});
      calls::CallFilter calls_filter;
      calls_filter.company_id = company_id;
      calls_filter.site_id = site_id;
      calls_filter.newest_first = true;
      calls_filter.page.limit = 10;
      auto page = context.calls->list_calls(actor, calls_filter);
      if (!page) return tl::unexpected(page.error());
      for (const auto& c : page->items) {
        recent.push_back({{"id", c.id},
                          {"site_id", c.site_id},
                          {"caller", {{"id", c.caller_id}, {"name", c.caller_name}}},
                          {"status", calls::to_string(c.status)},
                          {"started_at", c.started_at},
                          {"duration_seconds", c.duration_seconds},
                          {"has_snapshot", c.has_snapshot}});
      }
    }
    return ok(json{{"company_id", company_id},
                   {"devices", device_counts},
                   {"firmware", firmware},
                   {"gateways", gateways},
                   {"sites", site_rows},
                   {"calls_per_day", days},
                   {"recent_calls", recent}});
  });
}

}  // namespace carillon::api
