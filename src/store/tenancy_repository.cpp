#include "store/tenancy_repository.hpp"

#include <map>

#include <nlohmann/json.hpp>
#include <soci/soci.h>

#include "common/encoding.hpp"
#include "store/sql_support.hpp"

namespace carillon::store {

using detail::Query;
using tenancy::Node;
using tenancy::NodeKind;

namespace {

const char* kind_text(NodeKind kind) {
  switch (kind) {
    case NodeKind::company: return "company";
    case NodeKind::project: return "project";
    case NodeKind::site: return "site";
  }
  return "company";
}

NodeKind kind_from_text(const std::string& text) {
  if (text == "project") return NodeKind::project;
  if (text == "site") return NodeKind::site;
  return NodeKind::company;
}

constexpr const char* kNodeColumns =
    "id, kind, parent_id, company_id, name, time_zone, attributes, created_at, updated_at";

struct NodeRow {
  std::string id, kind, parent_id, company_id, name, time_zone, attributes;
  std::int64_t created_at = 0, updated_at = 0;

  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(kind));
    st.exchange(soci::into(parent_id));
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(name));
    st.exchange(soci::into(time_zone));
    st.exchange(soci::into(attributes));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(updated_at));
  }

  Node to_node() const {
    Node node;
    node.id = id;
    node.kind = kind_from_text(kind);
    node.parent_id = parent_id;
    node.company_id = company_id;
    node.name = name;
    node.time_zone = time_zone;
    node.attributes = nlohmann::json::parse(attributes).get<tenancy::Attributes>();
    node.created_at = created_at;
    node.updated_at = updated_at;
    return node;
  }
};

struct LabelRow {
  std::string node_id, name, color;
  void bind(soci::statement& st) {
    st.exchange(soci::into(node_id));
    st.exchange(soci::into(name));
    st.exchange(soci::into(color));
  }
};

void load_labels(soci::session& sql, std::vector<Node>& nodes) {
  if (nodes.empty()) return;
  std::vector<std::string> ids;
  std::map<std::string, Node*> by_id;
  for (Node& node : nodes) {
    ids.push_back(node.id);
    by_id[node.id] = &node;
  }
  Query q("SELECT node_id, name, color FROM node_labels WHERE node_id IN ");
  detail::bind_list(q, ids);
  q << " ORDER BY node_id, position";
  LabelRow row;
  q.each(sql, row, [&] { by_id.at(row.node_id)->labels.push_back({row.name, row.color}); });
}

void write_labels(soci::session& sql, const Node& node) {
  Query del("DELETE FROM node_labels WHERE node_id = ");
  del.bind(node.id);
  del.execute(sql);
  std::int64_t position = 0;
  for (const tenancy::Label& label : node.labels) {
    Query q("INSERT INTO node_labels (node_id, position, name, color) VALUES (");
    q.bind(node.id) << ",";
    q.bind(position++) << ",";
    q.bind(label.name) << ",";
    q.bind(label.color) << ")";
    q.execute(sql);
  }
}

// The node if it exists with this kind.
std::optional<Node> select_node(soci::session& sql, NodeKind kind, const std::string& id) {
  Query q(std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE id = ");
  q.bind(id) << " AND kind = ";
  q.bind(std::string(kind_text(kind)));
  NodeRow row;
  std::optional<Node> found;
  q.each(sql, row, [&] { found = row.to_node(); });
  return found;
}

std::int64_t count(soci::session& sql, Query& q) {
  struct CountRow {
    std::int64_t n = 0;
    void bind(soci::statement& st) { st.exchange(soci::into(n)); }
  } row;
  q.each(sql, row, [] {});
  return row.n;
}

}  // namespace

Status SqlTenancyRepository::insert(const Node& node, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    std::string company_id = node.company_id;
    if (node.kind == NodeKind::company) {
      if (!node.parent_id.empty()) return fail(Errc::invalid_argument, "a company has no parent", "parent_id");
      company_id = node.id;
    } else {
      const NodeKind parent_kind = node.kind == NodeKind::project ? NodeKind::company : NodeKind::project;
      auto parent = select_node(sql, parent_kind, node.parent_id);
      if (!parent) {
        return fail(Errc::not_found, std::string(kind_text(parent_kind)) + " not found", "parent_id");
      }
      if (company_id.empty()) company_id = parent->company_id;
      if (company_id != parent->company_id) {
        return fail(Errc::invalid_argument, "company_id differs from the parent's company", "company_id");
      }
    }
    Query q("INSERT INTO nodes (id, kind, parent_id, company_id, name, time_zone, attributes, created_at, "
            "updated_at) VALUES (");
    q.bind(node.id) << ",";
    q.bind(std::string(kind_text(node.kind))) << ",";
    q.bind(node.parent_id) << ",";
    q.bind(company_id) << ",";
    q.bind(node.name) << ",";
    q.bind(node.time_zone) << ",";
    q.bind(nlohmann::json(node.attributes).dump()) << ",";
    q.bind(node.created_at) << ",";
    q.bind(node.updated_at) << ")";
    q.execute(sql);
    write_labels(sql, node);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Status SqlTenancyRepository::update(const Node& node, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE nodes SET name = ");
    q.bind(node.name) << ", time_zone = ";
    q.bind(node.time_zone) << ", attributes = ";
    q.bind(nlohmann::json(node.attributes).dump()) << ", updated_at = ";
    q.bind(node.updated_at) << " WHERE id = ";
    q.bind(node.id) << " AND kind = ";
    q.bind(std::string(kind_text(node.kind)));
    if (q.execute(sql) == 0) return fail(Errc::not_found, std::string(kind_text(node.kind)) + " not found", "id");
    write_labels(sql, node);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Status SqlTenancyRepository::remove(NodeKind kind, const std::string& id, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    if (!select_node(sql, kind, id)) return fail(Errc::not_found, std::string(kind_text(kind)) + " not found", "id");
    Query children("SELECT COUNT(*) FROM nodes WHERE parent_id = ");
    children.bind(id);
    if (count(sql, children) > 0) return fail(Errc::conflict, "it still has projects or sites");
    Query devices("SELECT COUNT(*) FROM devices WHERE company_id = ");
    devices.bind(id) << " OR site_id = ";
    devices.bind(id);
    if (count(sql, devices) > 0) return fail(Errc::conflict, "it still has devices");
    if (kind == NodeKind::site) {
      Query codes("DELETE FROM claim_codes WHERE used_at = 0 AND site_id = ");
      codes.bind(id);
      codes.execute(sql);
    }
    Query q("DELETE FROM nodes WHERE id = ");
    q.bind(id);
    // Labels and logo go explicitly rather than through ON DELETE CASCADE, which SQLite
    // only honours on connections that enabled foreign keys.
    Query labels("DELETE FROM node_labels WHERE node_id = ");
    labels.bind(id);
    labels.execute(sql);
    Query logo("DELETE FROM logos WHERE company_id = ");
    logo.bind(id);
    logo.execute(sql);
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<Node> SqlTenancyRepository::find(NodeKind kind, const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Node> {
    auto node = select_node(sql, kind, id);
    if (!node) return fail(Errc::not_found, std::string(kind_text(kind)) + " not found", "id");
    std::vector<Node> one{std::move(*node)};
    load_labels(sql, one);
    return std::move(one.front());
  });
}

Result<Page<Node>> SqlTenancyRepository::list(const tenancy::Visibility& who, const tenancy::NodeFilter& filter) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<Node>> {
    const int limit = detail::page_limit(filter.page.limit);
    Query q(std::string("SELECT ") + kNodeColumns + " FROM nodes n WHERE kind = ");
    q.bind(std::string(kind_text(filter.kind)));
    if (!who.all_companies) {
      q << " AND company_id = ";
      q.bind(who.company_id);
    }
    if (!filter.parent_id.empty()) {
      q << " AND parent_id = ";
      q.bind(filter.parent_id);
    }
    if (!filter.label.empty()) {
      q << " AND EXISTS (SELECT 1 FROM node_labels l WHERE l.node_id = n.id AND l.name = ";
      q.bind(filter.label) << ")";
    }
    if (!filter.page.after.empty()) {
      q << " AND id > ";
      q.bind(filter.page.after);
    }
    q << " ORDER BY id";
    NodeRow row;
    auto page = fetch_page<Node>(sql, q, row, limit, [&] { return row.to_node(); });
    load_labels(sql, page.items);
    return page;
  });
}

Status SqlTenancyRepository::set_logo(const std::string& company_id, const tenancy::Logo& logo,
                                      const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    if (!select_node(sql, NodeKind::company, company_id)) return fail(Errc::not_found, "company not found", "id");
    Query del("DELETE FROM logos WHERE company_id = ");
    del.bind(company_id);
    del.execute(sql);
    Query q("INSERT INTO logos (company_id, content_type, data) VALUES (");
    q.bind(company_id) << ",";
    q.bind(logo.content_type) << ",";
    q.bind(base64_encode(logo.bytes)) << ")";
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<tenancy::Logo> SqlTenancyRepository::logo(const std::string& company_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<tenancy::Logo> {
    struct LogoRow {
      std::string content_type, data;
      void bind(soci::statement& st) {
        st.exchange(soci::into(content_type));
        st.exchange(soci::into(data));
      }
    } row;
    Query q("SELECT content_type, data FROM logos WHERE company_id = ");
    q.bind(company_id);
    bool found = false;
    q.each(sql, row, [&] { found = true; });
    if (!found) return fail(Errc::not_found, "no logo", "id");
    auto bytes = base64_decode(row.data);
    if (!bytes) return fail(Errc::internal, "stored logo is not valid base64");
    return tenancy::Logo{row.content_type, std::move(*bytes)};
  });
}

}  // namespace carillon::store
