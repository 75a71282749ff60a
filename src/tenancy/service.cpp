#include "tenancy/service.hpp"

#include "tenancy/validation.hpp"

namespace carillon::tenancy {

namespace {

std::string_view prefix_of(NodeKind kind) {
  switch (kind) {
    case NodeKind::company: return id_prefix::company;
    case NodeKind::project: return id_prefix::project;
    case NodeKind::site: return id_prefix::site;
  }
  return id_prefix::company;
}

NodeKind parent_kind(NodeKind kind) { return kind == NodeKind::site ? NodeKind::project : NodeKind::company; }

Status check_input(NodeKind kind, const NodeInput& in, bool creating) {
  if (creating && !in.name) return fail(Errc::invalid_argument, "is required", "name");
  if (in.name) {
    if (auto s = check_name(*in.name); !s) return s;
  }
  if (kind != NodeKind::site && in.time_zone)
    return fail(Errc::invalid_argument, "only sites have a time zone", "time_zone");
  if (kind == NodeKind::site && creating && !in.time_zone) return fail(Errc::invalid_argument, "is required", "time_zone");
  if (in.time_zone) {
    if (auto s = check_time_zone(*in.time_zone); !s) return s;
  }
  if (in.attributes) {
    if (auto s = check_attributes(*in.attributes); !s) return s;
  }
  if (in.labels) {
    if (auto s = check_labels(*in.labels); !s) return s;
  }
  if (!creating && in.parent_id) return fail(Errc::invalid_argument, "cannot be changed", "parent_id");
  if (creating && kind == NodeKind::company && in.parent_id)
    return fail(Errc::invalid_argument, "companies have no parent", "parent_id");
  if (creating && kind != NodeKind::company && !in.parent_id)
    return fail(Errc::invalid_argument, "is required", kind == NodeKind::site ? "project_id" : "company_id");
  return {};
}

}  // namespace

const char* to_string(NodeKind kind) {
  switch (kind) {
    case NodeKind::company: return "company";
    case NodeKind::project: return "project";
    case NodeKind::site: return "site";
  }
  return "company";
}

TenancyService::TenancyService(TenancyRepository& repository, IdGenerator& ids, const Clock& clock, EventBus& events)
    : repository_(repository), ids_(ids), clock_(clock), events_(events) {}

AuditEvent TenancyService::audit(const Actor& actor, const std::string& action, const Node& node) const {
  AuditEvent e;
  e.id = ids_.next(id_prefix::audit);
  e.at = clock_.now();
  e.actor = actor.id;
  e.action = std::string(to_string(node.kind)) + "." + action;
  e.target_type = to_string(node.kind);
  e.target_id = node.id;
  e.company_id = node.company_id;
  e.source = actor.source;
  e.details = {{"name", node.name}};
  return e;
}

Result<Node> TenancyService::create(const Actor& actor, NodeKind kind, const NodeInput& input) {
  if (auto s = check_input(kind, input, true); !s) return tl::unexpected(s.error());
  Node node;
  node.kind = kind;
  node.id = ids_.next(prefix_of(kind));
  node.name = *input.name;
  if (kind == NodeKind::company) {
    if (!actor.platform_admin || !actor.can_write)
      return fail(Errc::forbidden, "only platform administrators create companies");
    node.company_id = node.id;
  } else {
    auto field = kind == NodeKind::site ? "project_id" : "company_id";
    auto parent = get(actor, parent_kind(kind), *input.parent_id);
    if (!parent) return fail(Errc::invalid_argument, "no such " + std::string(to_string(parent_kind(kind))), field);
    if (!actor.can_change(parent->company_id)) return fail(Errc::forbidden, "read-only access");
    node.parent_id = parent->id;
    node.company_id = parent->company_id;
  }
  node.time_zone = input.time_zone.value_or("");
  node.attributes = input.attributes.value_or(Attributes{});
  node.labels = input.labels.value_or(std::vector<Label>{});
  node.created_at = node.updated_at = clock_.now();
  if (auto s = repository_.insert(node, audit(actor, "create", node)); !s) return tl::unexpected(s.error());
  events_.publish({std::string(to_string(kind)) + ".created", node.company_id, {{"id", node.id}, {"name", node.name}}});
  return node;
}

Result<Node> TenancyService::update(const Actor& actor, NodeKind kind, const std::string& id, const NodeInput& input) {
  if (auto s = check_input(kind, input, false); !s) return tl::unexpected(s.error());
  auto node = get(actor, kind, id);
  if (!node) return node;
  if (!actor.can_change(node->company_id)) return fail(Errc::forbidden, "read-only access");
  if (input.name) node->name = *input.name;
  if (input.time_zone) node->time_zone = *input.time_zone;
  if (input.attributes) node->attributes = *input.attributes;
  if (input.labels) node->labels = *input.labels;
  node->updated_at = clock_.now();
  if (auto s = repository_.update(*node, audit(actor, "update", *node)); !s) return tl::unexpected(s.error());
  events_.publish({std::string(to_string(kind)) + ".updated", node->company_id, {{"id", node->id}, {"name", node->name}}});
  return node;
}

Status TenancyService::remove(const Actor& actor, NodeKind kind, const std::string& id) {
  auto node = get(actor, kind, id);
  if (!node) return tl::unexpected(node.error());
  if (!actor.can_change(node->company_id) || (kind == NodeKind::company && !actor.platform_admin))
    return fail(Errc::forbidden, "not allowed to delete this " + std::string(to_string(kind)));
  if (auto s = repository_.remove(kind, id, audit(actor, "delete", *node)); !s) return s;
  events_.publish({std::string(to_string(kind)) + ".deleted", node->company_id, {{"id", node->id}}});
  return {};
}

Result<Node> TenancyService::get(const Actor& actor, NodeKind kind, const std::string& id) {
  auto missing = [&] { return fail(Errc::not_found, std::string("no such ") + to_string(kind)); };
  if (!is_valid_id(id, prefix_of(kind))) return missing();
  auto node = repository_.find(kind, id);
  if (!node) return node.error().code == Errc::not_found ? missing() : node;
  if (!actor.can_see(node->company_id)) return missing();
  return node;
}

Result<Page<Node>> TenancyService::list(const Actor& actor, const NodeFilter& filter) {
  Visibility who{actor.platform_admin, actor.company_id};
  return repository_.list(who, filter);
}

Status TenancyService::set_logo(const Actor& actor, const std::string& company_id, const std::string& bytes) {
  auto company = get(actor, NodeKind::company, company_id);
  if (!company) return tl::unexpected(company.error());
  if (!actor.can_change(company->company_id)) return fail(Errc::forbidden, "read-only access");
  auto type = detect_logo_type(bytes);
  if (!type) return tl::unexpected(type.error());
  auto event = audit(actor, "logo", *company);
  event.details["content_type"] = *type;
  event.details["bytes"] = bytes.size();
  return repository_.set_logo(company_id, Logo{*type, bytes}, event);
}

Result<Logo> TenancyService::logo(const Actor& actor, const std::string& company_id) {
  auto company = get(actor, NodeKind::company, company_id);
  if (!company) return tl::unexpected(company.error());
  return repository_.logo(company_id);
}

}  // namespace carillon::tenancy
