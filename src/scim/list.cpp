#include "scim/list.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "common/encoding.hpp"
#include "scim/error.hpp"
#include "scim/text.hpp"

namespace carillon::scim {

namespace {

using json = nlohmann::json;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

Result<std::int64_t> parse_integer(std::string_view name, std::string_view text) {
  text = trim(text);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return scim_fail(ScimType::invalid_value, "'" + std::string(name) + "' must be an integer");
  return value;
}

Result<std::vector<AttrPath>> parse_attribute_list(std::string_view name, const std::vector<std::string>& items,
                                                   const Schema& schema) {
  std::vector<AttrPath> out;
  for (const std::string& item : items) {
    std::string_view rest = item;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view piece = trim(rest.substr(0, comma));
      if (!piece.empty()) {
        auto path = parse_attr_path(piece);
        if (!path)
          return scim_fail(ScimType::invalid_value, "'" + std::string(name) + "': " + path.error().message);
        if (resolve(*path, schema) != nullptr) out.push_back(std::move(*path));
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

// Parameters gathered from either a query string or a search body.
struct RawQuery {
  std::optional<std::string> filter, sort_by, sort_order;
  std::optional<std::int64_t> start_index, count;
  std::optional<std::vector<std::string>> attributes, excluded;
};

Result<ListQuery> build(const RawQuery& raw, const Schema& schema, std::int64_t max_results) {
  ListQuery query;
  if (raw.filter) {
    auto filter = parse_filter(*raw.filter);
    if (!filter) return tl::unexpected(filter.error());
    if (auto ok = validate(*filter, schema); !ok) return tl::unexpected(ok.error());
    query.filter = std::move(*filter);
  }
  if (raw.sort_by && !trim(*raw.sort_by).empty()) {
    query.sort_by = std::string(trim(*raw.sort_by));
    auto path = parse_attr_path(query.sort_by);
    if (!path) return scim_fail(ScimType::invalid_value, "'sortBy': " + path.error().message);
    if (resolve(*path, schema) == nullptr)
      return scim_fail(ScimType::invalid_value, "'sortBy': unknown attribute '" + query.sort_by + "'");
    query.sort_path = std::move(*path);
  }
  if (raw.sort_order) {
    const std::string_view order = trim(*raw.sort_order);
    if (iequals(order, "descending")) {
      query.descending = true;
    } else if (!iequals(order, "ascending")) {
      return scim_fail(ScimType::invalid_value, "'sortOrder' must be \"ascending\" or \"descending\"");
    }
  }
  if (raw.start_index) query.start_index = std::max<std::int64_t>(1, *raw.start_index);
  if (raw.count) query.count = *raw.count;
  query.count = std::clamp<std::int64_t>(query.count, 0, max_results);
  if (raw.attributes && raw.excluded)
    return scim_fail(ScimType::invalid_value, "'attributes' and 'excludedAttributes' cannot be used together");
  if (raw.attributes) {
    auto list = parse_attribute_list("attributes", *raw.attributes, schema);
    if (!list) return tl::unexpected(list.error());
    query.attributes = std::move(*list);
  }
  if (raw.excluded) {
    auto list = parse_attribute_list("excludedAttributes", *raw.excluded, schema);
    if (!list) return tl::unexpected(list.error());
    query.excluded_attributes = std::move(*list);
  }
  return query;
}

// ---- sorting --------------------------------------------------------------------------------

// The value a resource sorts by (nullptr if none).
const json* sort_key(const json& resource, const AttrPath& path, const Attribute& attr, const Attribute*& leaf) {
  const json* node = find_member(resource, attr.name);
  leaf = &attr;
  if (node == nullptr) return nullptr;
  if (attr.multi_valued && node->is_array()) {
    if (node->empty()) return nullptr;
    const json* chosen = &node->front();
    for (const json& element : *node) {
      const json* primary = find_member(element, "primary");
      if (primary != nullptr && primary->is_boolean() && primary->get<bool>()) {
        chosen = &element;
        break;
      }
    }
    node = chosen;
  }
  if (attr.type == AttrType::complex) {
    const std::string_view sub = path.sub.empty() ? std::string_view("value") : std::string_view(path.sub);
    leaf = attr.find(sub);
    if (leaf == nullptr) return nullptr;
    node = find_member(*node, leaf->name);
  }
  return node != nullptr && is_present(*node) ? node : nullptr;
}

int compare_keys(const json& a, const json& b, const Attribute& leaf) {
  if (a.is_number() && b.is_number()) {
    const auto x = a.get<double>();
    const auto y = b.get<double>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_boolean() && b.is_boolean()) return static_cast<int>(a.get<bool>()) - static_cast<int>(b.get<bool>());
  if (a.is_string() && b.is_string()) {
    const auto& x = a.get_ref<const std::string&>();
    const auto& y = b.get_ref<const std::string&>();
    if (leaf.type == AttrType::date_time) {
      const auto dx = parse_date_time(x);
      const auto dy = parse_date_time(y);
      if (dx && dy) return *dx < *dy ? -1 : (*dy < *dx ? 1 : 0);
    }
    const int c = leaf.case_exact ? x.compare(y) : icompare(x, y);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  // Mixed types (bad data): order by JSON type so sorting stays a strict weak order.
  return static_cast<int>(a.type()) - static_cast<int>(b.type());
}

// ---- projection -----------------------------------------------------------------------------

bool names_attr(const AttrPath& path, const Attribute& attr) { return iequals(path.attr, attr.name); }

json keep_subs(const json& value, const Attribute& attr, const std::vector<const Attribute*>& subs, bool keep) {
  auto filter_one = [&](const json& object) {
    if (!object.is_object()) return object;
    json out = json::object();
    for (const auto& [key, item] : object.items()) {
      const Attribute* sub = attr.find(key);
      if (sub != nullptr && sub->returned == Returned::never) continue;
      const bool listed = sub != nullptr && std::find(subs.begin(), subs.end(), sub) != subs.end();
      if (listed == keep) out[key] = item;
    }
    return out;
  };
  if (!value.is_array()) return filter_one(value);
  json out = json::array();
  for (const json& element : value) out.push_back(filter_one(element));
  return out;
}

}  // namespace

Result<ListQuery> parse_list_query(const std::map<std::string, std::string>& params, const Schema& schema,
                                   std::int64_t max_results) {
  RawQuery raw;
  for (const auto& [name, value] : params) {
    if (iequals(name, "filter")) {
      raw.filter = value;
    } else if (iequals(name, "sortBy")) {
      raw.sort_by = value;
    } else if (iequals(name, "sortOrder")) {
      raw.sort_order = value;
    } else if (iequals(name, "startIndex")) {
      auto n = parse_integer("startIndex", value);
      if (!n) return tl::unexpected(n.error());
      raw.start_index = *n;
    } else if (iequals(name, "count")) {
      auto n = parse_integer("count", value);
      if (!n) return tl::unexpected(n.error());
      raw.count = *n;
    } else if (iequals(name, "attributes")) {
      raw.attributes = std::vector<std::string>{value};
    } else if (iequals(name, "excludedAttributes")) {
      raw.excluded = std::vector<std::string>{value};
    }
  }
  return build(raw, schema, max_results);
}

Result<ListQuery> parse_search_request(const nlohmann::json& body, const Schema& schema, std::int64_t max_results) {
  if (!body.is_object()) return scim_fail(ScimType::invalid_syntax, "a search request must be a JSON object");
  const json* schemas = find_member(body, "schemas");
  bool ok = false;
  if (schemas != nullptr && schemas->is_array())
    for (const json& s : *schemas) ok = ok || (s.is_string() && iequals(s.get<std::string>(), kSearchRequestSchema));
  if (!ok)
    return scim_fail(ScimType::invalid_syntax,
                     "\"schemas\" must contain \"" + std::string(kSearchRequestSchema) + "\"");
  RawQuery raw;
  auto string_member = [&](std::string_view name, std::optional<std::string>& out) -> Status {
    const json* v = find_member(body, name);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_string()) return scim_fail(ScimType::invalid_value, "'" + std::string(name) + "' must be a string");
    out = v->get<std::string>();
    return {};
  };
  auto int_member = [&](std::string_view name, std::optional<std::int64_t>& out) -> Status {
    const json* v = find_member(body, name);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_number_integer()) return scim_fail(ScimType::invalid_value, "'" + std::string(name) + "' must be an integer");
    out = v->get<std::int64_t>();
    return {};
  };
  auto list_member = [&](std::string_view name, std::optional<std::vector<std::string>>& out) -> Status {
    const json* v = find_member(body, name);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_array())
      return scim_fail(ScimType::invalid_value, "'" + std::string(name) + "' must be an array of strings");
    std::vector<std::string> items;
    for (const json& item : *v) {
      if (!item.is_string())
        return scim_fail(ScimType::invalid_value, "'" + std::string(name) + "' must be an array of strings");
      items.push_back(item.get<std::string>());
    }
    out = std::move(items);
    return {};
  };
  for (Status s : {string_member("filter", raw.filter), string_member("sortBy", raw.sort_by),
                   string_member("sortOrder", raw.sort_order), int_member("startIndex", raw.start_index),
                   int_member("count", raw.count), list_member("attributes", raw.attributes),
                   list_member("excludedAttributes", raw.excluded)})
    if (!s) return tl::unexpected(s.error());
  return build(raw, schema, max_results);
}

std::vector<nlohmann::json> filter_and_sort(const ListQuery& query, std::vector<nlohmann::json> resources,
                                            const Schema& schema) {
  if (query.filter) {
    std::erase_if(resources, [&](const json& r) { return !matches(*query.filter, r, schema); });
  }
  if (!query.sort_path) return resources;
  const Attribute* attr = resolve(*query.sort_path, schema);
  if (attr == nullptr) return resources;
  struct Keyed {
    const json* key;
    const Attribute* leaf;
    std::size_t index;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(resources.size());
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const Attribute* leaf = nullptr;
    const json* key = sort_key(resources[i], *query.sort_path, *attr, leaf);
    keyed.push_back({key, leaf, i});
  }
  const bool descending = query.descending;
  std::stable_sort(keyed.begin(), keyed.end(), [descending](const Keyed& a, const Keyed& b) {
    if (a.key == nullptr || b.key == nullptr) {
      // Absent values compare greater than any value.
      const bool only_b_absent = a.key != nullptr && b.key == nullptr;
      const bool only_a_absent = a.key == nullptr && b.key != nullptr;
      return descending ? only_a_absent : only_b_absent;
    }
    const int c = compare_keys(*a.key, *b.key, *a.leaf);
    return descending ? c > 0 : c < 0;
  });
  std::vector<json> sorted;
  sorted.reserve(resources.size());
  for (const Keyed& k : keyed) sorted.push_back(std::move(resources[k.index]));
  return sorted;
}

nlohmann::json list_response(const ListQuery& query, std::vector<nlohmann::json> resources, const Schema& schema) {
  std::vector<json> selected = filter_and_sort(query, std::move(resources), schema);
  const auto total = static_cast<std::int64_t>(selected.size());
  std::vector<json> page;
  const std::int64_t first = query.start_index - 1;
  for (std::int64_t i = first; i < total && i < first + query.count; ++i)
    page.push_back(project(selected[static_cast<std::size_t>(i)], query.attributes, query.excluded_attributes, schema));
  return list_response_page(total, query.start_index, std::move(page));
}

nlohmann::json list_response_page(std::int64_t total_results, std::int64_t start_index,
                                  std::vector<nlohmann::json> page) {
  const auto items = static_cast<std::int64_t>(page.size());
  json resources = json::array();
  for (json& r : page) resources.push_back(std::move(r));
  return {{"schemas", {kListResponseSchema}},
          {"totalResults", total_results},
          {"startIndex", start_index},
          {"itemsPerPage", items},
          {"Resources", std::move(resources)}};
}

nlohmann::json project(const nlohmann::json& resource, const std::vector<AttrPath>& attributes,
                       const std::vector<AttrPath>& excluded_attributes, const Schema& schema) {
  json out = json::object();
  if (!resource.is_object()) return out;
  for (const auto& [key, value] : resource.items()) {
    const Attribute* attr = schema.find(key);
    if (attr == nullptr) {
      // Attributes outside the schema (e.g. extension objects) follow the default rule.
      if (attributes.empty()) out[key] = value;
      continue;
    }
    if (attr->returned == Returned::never) continue;
    if (attr->returned == Returned::always) {
      out[key] = value;
      continue;
    }
    std::vector<const Attribute*> subs;
    bool whole = false;
    const auto& list = attributes.empty() ? excluded_attributes : attributes;
    for (const AttrPath& path : list) {
      if (!names_attr(path, *attr) || resolve(path, schema) != attr) continue;
      if (path.sub.empty()) {
        whole = true;
      } else if (const Attribute* sub = attr->find(path.sub)) {
        subs.push_back(sub);
      }
    }
    if (!attributes.empty()) {
      if (whole) {
        out[key] = attr->type == AttrType::complex ? keep_subs(value, *attr, {}, false) : value;
      } else if (!subs.empty()) {
        out[key] = keep_subs(value, *attr, subs, true);
      }
      continue;
    }
    if (attr->returned == Returned::request || whole) continue;
    out[key] = attr->type == AttrType::complex ? keep_subs(value, *attr, subs, false) : value;
  }
  return out;
}

std::string etag(const nlohmann::json& resource) {
  const json* meta = find_member(resource, "meta");
  const json* version = meta != nullptr ? find_member(*meta, "version") : nullptr;
  if (version != nullptr && version->is_string() && !version->get_ref<const std::string&>().empty()) {
    const auto& v = version->get_ref<const std::string&>();
    if (v.starts_with("W/\"") || v.starts_with("\"")) return v;
    return "W/\"" + v + "\"";
  }
  json content = resource;
  if (content.is_object()) erase_member(content, "meta");
  return "W/\"" + sha256_hex(content.dump()).substr(0, 32) + "\"";
}

bool etag_matches(std::string_view header, std::string_view tag) {
  auto opaque = [](std::string_view t) {
    t = trim(t);
    if (t.starts_with("W/")) t.remove_prefix(2);
    return t;
  };
  header = trim(header);
  if (header == "*") return true;
  const std::string_view want = opaque(tag);
  while (!header.empty()) {
    const auto comma = header.find(',');
    if (opaque(header.substr(0, comma)) == want) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace carillon::scim
