// Companies, projects and sites (S1), company logos.

#include "api/context.hpp"

namespace carillon::api {

namespace {

using tenancy::NodeKind;

const char* parent_field(NodeKind kind) { return kind == NodeKind::site ? "project_id" : "company_id"; }
std::string collection(NodeKind kind) {
  return kind == NodeKind::company ? "companies" : kind == NodeKind::project ? "projects" : "sites";
}

nlohmann::json node_json(const tenancy::Node& n) {
  nlohmann::json labels = nlohmann::json::array();
  for (const auto& l : n.labels) labels.push_back({{"name", l.name}, {"color", l.color}});
  nlohmann::json j{{"id", n.id},
                   {"name", n.name},
                   {"attributes", n.attributes},
                   {"labels", labels},
                   {"created_at", n.created_at},
                   {"updated_at", n.updated_at}};
  if (n.kind != NodeKind::company) j["company_id"] = n.company_id;
  if (n.kind == NodeKind::site) {
    j["project_id"] = n.parent_id;
    j["time_zone"] = n.time_zone;
  }
  return j;
}

Result<std::optional<std::vector<tenancy::Label>>> parse_labels(const nlohmann::json& body) {
  using Labels = std::vector<tenancy::Label>;
  if (!body.contains("labels")) return std::optional<Labels>();
  const auto& v = body["labels"];
  if (!v.is_array()) return fail(Errc::invalid_argument, "must be an array of {name, color}", "labels");
  Labels labels;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto at = "labels[" + std::to_string(i) + "]";
    if (!v[i].is_object()) return fail(Errc::invalid_argument, "must be an object {name, color}", at);
    for (auto it = v[i].begin(); it != v[i].end(); ++it) {
      if (it.key() != "name" && it.key() != "color") return fail(Errc::invalid_argument, "unknown field", at + "." + it.key());
    }
    if (!v[i].contains("name") || !v[i]["name"].is_string())
      return fail(Errc::invalid_argument, "is required and must be a string", at + ".name");
    if (!v[i].contains("color") || !v[i]["color"].is_string())
      return fail(Errc::invalid_argument, "is required and must be a string", at + ".color");
    labels.push_back({v[i]["name"].get<std::string>(), v[i]["color"].get<std::string>()});
  }
  return std::optional<Labels>(std::move(labels));
}

Result<tenancy::NodeInput> parse_node(const http::Request& request, NodeKind kind, bool creating) {
  std::initializer_list<const char*> company_fields = {"name", "attributes", "labels"};
  std::initializer_list<const char*> project_fields = {"name", "attributes", "labels", "company_id"};
  std::initializer_list<const char*> site_fields = {"name", "attributes", "labels", "project_id", "time_zone"};
  std::initializer_list<const char*> site_update = {"name", "attributes", "labels", "time_zone"};
  std::initializer_list<const char*> plain_update = {"name", "attributes", "labels"};
  auto known = kind == NodeKind::company   ? company_fields
               : kind == NodeKind::project ? (creating ? project_fields : plain_update)
                                           : (creating ? site_fields : site_update);
  auto body = parse_object(request, known);
  if (!body) return tl::unexpected(body.error());
  tenancy::NodeInput in;
  auto name = optional_string(*body, "name");
  if (!name) return tl::unexpected(name.error());
  in.name = *name;
  if (kind != NodeKind::company && creating) {
    auto parent = optional_string(*body, parent_field(kind));
    if (!parent) return tl::unexpected(parent.error());
    in.parent_id = *parent;
  }
  auto zone = optional_string(*body, "time_zone");
  if (!zone) return tl::unexpected(zone.error());
  in.time_zone = *zone;
  auto attributes = optional_string_map(*body, "attributes");
  if (!attributes) return tl::unexpected(attributes.error());
  in.attributes = *attributes;
  auto labels = parse_labels(*body);
  if (!labels) return tl::unexpected(labels.error());
  in.labels = *labels;
  return in;
}

void add_node_routes(http::Router& router, ApiContext& context, NodeKind kind) {
  auto base = "/api/v1/" + collection(kind);
  add_authenticated(router, context, "GET", base, [&context, kind](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto page = page_request(request);
    if (!page) return tl::unexpected(page.error());
    tenancy::NodeFilter filter;
    filter.kind = kind;
    filter.page = *page;
    if (auto it = request.query.find("label"); it != request.query.end()) filter.label = it->second;
    if (kind != NodeKind::company) {
      if (auto it = request.query.find(parent_field(kind)); it != request.query.end()) filter.parent_id = it->second;
    }
    auto nodes = context.tenancy.list(actor, filter);
    if (!nodes) return tl::unexpected(nodes.error());
    return ok(page_json(*nodes, node_json));
  });
  add_authenticated(router, context, "POST", base, [&context, kind](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto input = parse_node(request, kind, true);
    if (!input) return tl::unexpected(input.error());
    auto node = context.tenancy.create(actor, kind, *input);
    if (!node) return tl::unexpected(node.error());
    return ok(node_json(*node), 201);
  });
  add_authenticated(router, context, "GET", base + "/{id}", [&context, kind](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto node = context.tenancy.get(actor, kind, request.params.at("id"));
    if (!node) return tl::unexpected(node.error());
    return ok(node_json(*node));
  });
  add_authenticated(router, context, "PATCH", base + "/{id}", [&context, kind](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto input = parse_node(request, kind, false);
    if (!input) return tl::unexpected(input.error());
    auto node = context.tenancy.update(actor, kind, request.params.at("id"), *input);
    if (!node) return tl::unexpected(node.error());
    return ok(node_json(*node));
  });
  add_authenticated(router, context, "DELETE", base + "/{id}", [&context, kind](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = context.tenancy.remove(actor, kind, request.params.at("id")); !s) return tl::unexpected(s.error());
    return no_content();
  });
}

}  // namespace

void add_tenancy_routes(http::Router& router, ApiContext& context) {
  add_node_routes(router, context, NodeKind::company);
  add_node_routes(router, context, NodeKind::project);
  add_node_routes(router, context, NodeKind::site);
  // The logo is the raw image as the body; its type is detected from the bytes.
  add_authenticated(router, context, "PUT", "/api/v1/companies/{id}/logo", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    if (auto s = context.tenancy.set_logo(actor, request.params.at("id"), request.body); !s) return tl::unexpected(s.error());
    return no_content();
  });
  add_authenticated(router, context, "GET", "/api/v1/companies/{id}/logo", [&context](const Actor& actor, const http::Request& request) -> Result<http::Response> {
    auto logo = context.tenancy.logo(actor, request.params.at("id"));
    if (!logo) return tl::unexpected(logo.error());
    // SVGs are served so that a browser opening them directly cannot run anything. (The server
    // adds X-Content-Type-Options: nosniff to every response; repeating it here doubled it.)
    return http::Response{200, logo->content_type, logo->bytes,
                          {{"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox"}}};
  });
}

}  // namespace carillon::api
