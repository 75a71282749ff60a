#include "scim/patch.hpp"

#include <deque>
#include <utility>
#include <vector>

#include "scim/error.hpp"
#include "scim/text.hpp"

namespace carillon::scim {

namespace {

using json = nlohmann::json;

enum class Op { add, remove, replace };

bool unassigned(const json& value) {
  return value.is_null() || (value.is_array() && value.empty()) || (value.is_object() && value.empty());
}

// Two values are the same attribute state if both are unassigned (RFC 7643 §2.5) or equal.
bool same_state(const json* a, const json* b) {
  const bool a_present = a != nullptr && is_present(*a);
  const bool b_present = b != nullptr && is_present(*b);
  if (!a_present || !b_present) return a_present == b_present;
  return *a == *b;
}

// The incoming value converted to the attribute's type, with the schema's spelling of
// sub-attribute names. Multi-valued attributes take an array or a single value.
Result<json> normalize(const Attribute& attr, const json& value, bool as_element, const std::string& where) {
  if (value.is_null()) return json(nullptr);
  if (attr.multi_valued && !as_element) {
    json out = json::array();
    const json items = value.is_array() ? value : json::array({value});
    for (const json& item : items) {
      auto n = normalize(attr, item, true, where);
      if (!n) return n;
      if (!n->is_null()) out.push_back(std::move(*n));
    }
    return out;
  }
  auto wrong = [&](std::string_view expected) {
    return scim_fail(ScimType::invalid_value, "'" + where + "' takes " + std::string(expected));
  };
  switch (attr.type) {
    case AttrType::complex: {
      if (!value.is_object()) return wrong("an object");
      json out = json::object();
      for (const auto& [key, item] : value.items()) {
        const Attribute* sub = attr.find(key);
        if (sub == nullptr) return scim_fail(ScimType::invalid_path, "unknown attribute '" + where + "." + key + "'");
        auto n = normalize(*sub, item, false, where + "." + sub->name);
        if (!n) return n;
        if (!n->is_null()) out[sub->name] = std::move(*n);
      }
      return out;
    }
    case AttrType::boolean:
      if (value.is_boolean()) return value;
      if (value.is_string() && iequals(value.get_ref<const std::string&>(), "true")) return json(true);
      if (value.is_string() && iequals(value.get_ref<const std::string&>(), "false")) return json(false);
      return wrong("a boolean");
    case AttrType::integer:
      if (value.is_number_integer()) return value;
      return wrong("an integer");
    case AttrType::decimal:
      if (value.is_number()) return value;
      return wrong("a number");
    case AttrType::date_time:
      if (value.is_string() && parse_date_time(value.get_ref<const std::string&>())) return value;
      return wrong("an xsd:dateTime string");
    default:
      if (value.is_string()) return value;
      return wrong("a string");
  }
}

// Writes `value` as `attr` in `object` (removing other spellings); unassigned values remove it.
void put(json& object, const Attribute& attr, json value) {
  erase_member(object, attr.name);
  if (!unassigned(value)) object[attr.name] = std::move(value);
}

// At most one value of a multi-valued attribute may be primary (RFC 7643 §2.4): the one this
// operation set wins.
void keep_single_primary(json& values, const std::vector<std::size_t>& changed) {
  if (!values.is_array()) return;
  std::optional<std::size_t> winner;
  for (std::size_t i : changed) {
    const json* primary = find_member(values[i], "primary");
    if (primary != nullptr && primary->is_boolean() && primary->get<bool>()) winner = i;
  }
  if (!winner) return;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i == *winner) continue;
    json* primary = find_member(values[i], "primary");
    if (primary != nullptr && primary->is_boolean() && primary->get<bool>()) *primary = false;
  }
}

// The object a filter of only `eq` tests joined by `and` describes, for add-creates-value.
bool collect_equalities(const Filter& filter, const Attribute& parent, json& out) {
  if (filter.kind == Filter::Kind::logical_and) {
    for (const Filter& child : filter.children)
      if (!collect_equalities(child, parent, out)) return false;
    return true;
  }
  if (filter.kind != Filter::Kind::compare || filter.op != CompareOp::eq || filter.value.is_null()) return false;
  const Attribute* sub = parent.find(filter.path.attr);
  if (sub == nullptr || !filter.path.sub.empty()) return false;
  out[sub->name] = filter.value;
  return true;
}

struct Target {
  const Attribute* attr = nullptr;
  const Attribute* sub = nullptr;    // attr.sub, or the sub-attribute after a valuePath
  const Filter* filter = nullptr;
  std::string name;                  // for messages
};

class Patcher {
 public:
  Patcher(const Schema& schema, json doc) : schema_(schema), doc_(std::move(doc)) {}

  json take() { return std::move(doc_); }

  Status run(const json& operation) {
    if (!operation.is_object()) return scim_fail(ScimType::invalid_syntax, "each operation must be an object");
    const json* op_member = find_member(operation, "op");
    if (op_member == nullptr || !op_member->is_string())
      return scim_fail(ScimType::invalid_syntax, "\"op\" is required and must be a string");
    const auto& op_name = op_member->get_ref<const std::string&>();
    Op op;
    if (iequals(op_name, "add")) {
      op = Op::add;
    } else if (iequals(op_name, "remove")) {
      op = Op::remove;
    } else if (iequals(op_name, "replace")) {
      op = Op::replace;
    } else {
      return scim_fail(ScimType::invalid_syntax, "unknown op '" + op_name + "' (add, remove or replace)");
    }
    const json* path = find_member(operation, "path");
    if (path != nullptr && !path->is_null() && !path->is_string())
      return scim_fail(ScimType::invalid_path, "\"path\" must be a string");
    const bool has_path = path != nullptr && path->is_string();
    const json* value = find_member(operation, "value");
    if (op != Op::remove && value == nullptr)
      return scim_fail(ScimType::invalid_syntax, "\"" + op_name + "\" requires a \"value\"");
    static const json kNull;
    const json& v = value != nullptr ? *value : kNull;

    if (!has_path) {
      if (op == Op::remove) return scim_fail(ScimType::no_target, "\"remove\" requires a \"path\"");
      if (!v.is_object())
        return scim_fail(ScimType::invalid_value, "without a \"path\", \"value\" must be an object of attributes");
      return apply_members(op, v, true);
    }
    auto target = resolve_target(path->get_ref<const std::string&>());
    if (!target) return tl::unexpected(target.error());
    return apply(op, *target, value != nullptr ? &v : nullptr);
  }

  // Final consistency with the schema: readOnly never changes, immutable only from unassigned,
  // required attributes stay.
  Status check_against(const json& original) const {
    auto check = [&](const Attribute& attr) -> Status {
      const json* before = find_member(original, attr.name);
      const json* after = find_member(doc_, attr.name);
      if (attr.mutability == Mutability::read_only && !same_state(before, after))
        return scim_fail(ScimType::mutability, "attribute '" + attr.name + "' is readOnly");
      if (attr.mutability == Mutability::immutable && before != nullptr && is_present(*before) &&
          !same_state(before, after))
        return scim_fail(ScimType::mutability, "attribute '" + attr.name + "' is immutable and already has a value");
      if (attr.required && (after == nullptr || !is_present(*after)) && before != nullptr && is_present(*before))
        return scim_fail(ScimType::invalid_value, "attribute '" + attr.name + "' is required");
      if (attr.type == AttrType::complex && !attr.multi_valued) {
        static const json kEmpty = json::object();
        const json& b = before != nullptr ? *before : kEmpty;
        const json& a = after != nullptr ? *after : kEmpty;
        for (const Attribute& sub : attr.sub_attributes) {
          const json* sb = find_member(b, sub.name);
          const json* sa = find_member(a, sub.name);
          if (sub.mutability == Mutability::read_only && !same_state(sb, sa))
            return scim_fail(ScimType::mutability, "attribute '" + attr.name + "." + sub.name + "' is readOnly");
          if (sub.mutability == Mutability::immutable && sb != nullptr && is_present(*sb) && !same_state(sb, sa))
            return scim_fail(ScimType::mutability, "attribute '" + attr.name + "." + sub.name + "' is immutable");
        }
      }
      return {};
    };
    for (const Attribute& attr : schema_.attributes)
      if (auto ok = check(attr); !ok) return ok;
    for (const Attribute& attr : common_attributes())
      if (auto ok = check(attr); !ok) return ok;
    return {};
  }

 private:
  // add/replace without a path: each member names an attribute (or is a schema URN holding
  // attributes of that schema).
  Status apply_members(Op op, const json& value, bool allow_urn) {
    for (const auto& [key, item] : value.items()) {
      if (allow_urn && schema_.is_schema_uri(key)) {
        if (!item.is_object()) return scim_fail(ScimType::invalid_value, "'" + key + "' must hold an object");
        if (auto ok = apply_members(op, item, false); !ok) return ok;
        continue;
      }
      auto target = resolve_target(key);
      if (!target) return tl::unexpected(target.error());
      if (target->filter != nullptr) return scim_fail(ScimType::invalid_path, "'" + key + "' is not an attribute name");
      if (auto ok = apply(op, *target, &item); !ok) return ok;
    }
    return {};
  }

  Result<Target> resolve_target(const std::string& text) {
    auto parsed = parse_patch_path(text);
    if (!parsed) return tl::unexpected(parsed.error());
    paths_.push_back(std::move(*parsed));
    const PatchPath& path = paths_.back();
    Target target;
    target.name = text;
    target.attr = resolve(AttrPath{path.attr.uri, path.attr.attr, {}}, schema_);
    if (target.attr == nullptr) return scim_fail(ScimType::invalid_path, "unknown attribute '" + text + "'");
    const std::string& sub_name = path.filter ? path.sub : path.attr.sub;
    if (!sub_name.empty()) {
      target.sub = target.attr->type == AttrType::complex ? target.attr->find(sub_name) : nullptr;
      if (target.sub == nullptr) return scim_fail(ScimType::invalid_path, "unknown attribute '" + text + "'");
    }
    if (path.filter) {
      if (target.attr->type != AttrType::complex || !target.attr->multi_valued)
        return scim_fail(ScimType::invalid_path,
                         "'" + target.attr->name + "' is not a multi-valued complex attribute and takes no filter");
      if (auto ok = validate_value_filter(*path.filter, schema_, *target.attr); !ok) return tl::unexpected(ok.error());
      target.filter = &*path.filter;
    }
    return target;
  }

  // Writes sub-attribute `sub` of one complex value, honouring its mutability.
  Status set_sub(json& object, const Attribute& sub, json value, const std::string& where) {
    if (!object.is_object())
      return scim_fail(ScimType::invalid_value, "'" + where + "': the stored value is not a complex value");
    const json* existing = find_member(object, sub.name);
    if (sub.mutability == Mutability::read_only && !same_state(existing, &value))
      return scim_fail(ScimType::mutability, "attribute '" + where + "' is readOnly");
    if (sub.mutability == Mutability::immutable && existing != nullptr && is_present(*existing) &&
        !same_state(existing, &value))
      return scim_fail(ScimType::mutability, "attribute '" + where + "' is immutable and already has a value");
    put(object, sub, std::move(value));
    return {};
  }

  Status merge_into(json& object, const Attribute& attr, const json& values, const std::string& where) {
    if (!object.is_object()) object = json::object();
    for (const auto& [key, item] : values.items())
      if (auto ok = set_sub(object, *attr.find(key), item, where + "." + key); !ok) return ok;
    return {};
  }

  Status apply(Op op, const Target& t, const json* value) {
    const Attribute& attr = *t.attr;
    static const json kNull;
    const json& v = value != nullptr ? *value : kNull;
    if (t.filter != nullptr) return apply_filtered(op, t, v);

    json current = find_member(doc_, attr.name) != nullptr ? *find_member(doc_, attr.name) : json(nullptr);
    if (t.sub != nullptr) {
      json n(nullptr);
      if (op != Op::remove) {
        auto normalized = normalize(*t.sub, v, false, t.name);
        if (!normalized) return tl::unexpected(normalized.error());
        n = std::move(*normalized);
      }
      if (attr.multi_valued) {
        if (!current.is_array() || current.empty()) {
          if (op == Op::remove) return {};
          return scim_fail(ScimType::no_target, "'" + attr.name + "' has no values to set '" + t.sub->name + "' in");
        }
        std::vector<std::size_t> changed;
        for (std::size_t i = 0; i < current.size(); ++i) {
          if (auto ok = set_sub(current[i], *t.sub, n, t.name); !ok) return ok;
          changed.push_back(i);
        }
        drop_empty(current);
        keep_single_primary(current, changed);
      } else {
        if (!current.is_object()) current = json::object();
        if (auto ok = set_sub(current, *t.sub, std::move(n), t.name); !ok) return ok;
      }
      put(doc_, attr, std::move(current));
      return {};
    }

    if (op == Op::remove) {
      if (value != nullptr && !value->is_null() && attr.multi_valued) return remove_values(attr, *value, t.name);
      erase_member(doc_, attr.name);
      return {};
    }
    auto normalized = normalize(attr, v, false, t.name);
    if (!normalized) return tl::unexpected(normalized.error());
    json n = std::move(*normalized);
    if (attr.multi_valued) {
      if (op == Op::replace || !current.is_array()) current = json::array();
      std::vector<std::size_t> changed;
      for (json& item : n) {
        bool duplicate = false;
        for (const json& existing : current) duplicate = duplicate || existing == item;
        if (duplicate) continue;  // RFC 7644 §3.5.2.1: adding a value already there changes nothing
        if (auto same = same_value_index(current, item)) {
          // The same value again (a member by id) with other sub-attributes: update, don't double.
          if (auto ok = merge_into(current[*same], attr, item, t.name); !ok) return ok;
          changed.push_back(*same);
          continue;
        }
        current.push_back(std::move(item));
        changed.push_back(current.size() - 1);
      }
      keep_single_primary(current, changed);
      put(doc_, attr, std::move(current));
    } else if (attr.type == AttrType::complex) {
      if (n.is_null()) {
        erase_member(doc_, attr.name);
        return {};
      }
      if (auto ok = merge_into(current, attr, n, attr.name); !ok) return ok;
      put(doc_, attr, std::move(current));
    } else {
      put(doc_, attr, std::move(n));
    }
    return {};
  }

  Status apply_filtered(Op op, const Target& t, const json& v) {
    const Attribute& attr = *t.attr;
    json current = find_member(doc_, attr.name) != nullptr ? *find_member(doc_, attr.name) : json::array();
    if (!current.is_array()) current = json::array({current});
    std::vector<std::size_t> hits;
    for (std::size_t i = 0; i < current.size(); ++i)
      if (matches_value(*t.filter, current[i], schema_, attr)) hits.push_back(i);

    json n(nullptr);
    if (op != Op::remove) {
      auto normalized = t.sub != nullptr ? normalize(*t.sub, v, false, t.name) : normalize(attr, v, true, t.name);
      if (!normalized) return tl::unexpected(normalized.error());
      n = std::move(*normalized);
    }

    if (hits.empty()) {
      if (op == Op::remove) return {};
      json created = json::object();
      if (op == Op::add && collect_equalities(*t.filter, attr, created)) {
        if (t.sub != nullptr) {
          put(created, *t.sub, std::move(n));
        } else if (n.is_object()) {
          for (const auto& [key, item] : n.items()) created[key] = item;
        }
        current.push_back(std::move(created));
        keep_single_primary(current, {current.size() - 1});
        put(doc_, attr, std::move(current));
        return {};
      }
      return scim_fail(ScimType::no_target, "no value of '" + attr.name + "' matches '" + t.name + "'");
    }

    if (op == Op::remove && t.sub == nullptr) {
      json kept = json::array();
      std::size_t next_hit = 0;
      for (std::size_t i = 0; i < current.size(); ++i) {
        if (next_hit < hits.size() && hits[next_hit] == i) {
          ++next_hit;
          continue;
        }
        kept.push_back(std::move(current[i]));
      }
      put(doc_, attr, std::move(kept));
      return {};
    }
    for (std::size_t i : hits) {
      if (t.sub != nullptr) {
        if (auto ok = set_sub(current[i], *t.sub, op == Op::remove ? json(nullptr) : n, t.name); !ok) return ok;
      } else if (n.is_object()) {
        if (auto ok = merge_into(current[i], attr, n, attr.name); !ok) return ok;
      } else if (n.is_null()) {
        current[i] = json::object();  // replace with null: the value goes
      }
    }
    drop_empty(current);
    keep_single_primary(current, hits);
    put(doc_, attr, std::move(current));
    return {};
  }

  // remove with a value: drop the values that carry every given member (members by "value").
  Status remove_values(const Attribute& attr, const json& value, const std::string& where) {
    auto normalized = normalize(attr, value, false, where);
    if (!normalized) return tl::unexpected(normalized.error());
    json* current = find_member(doc_, attr.name);
    if (current == nullptr || !current->is_array()) return {};
    json kept = json::array();
    for (json& existing : *current) {
      bool remove = false;
      for (const json& given : *normalized) {
        if (given.is_object() && existing.is_object()) {
          bool all = !given.empty();
          for (const auto& [key, item] : given.items()) {
            const json* have = find_member(existing, key);
            all = all && have != nullptr && *have == item;
          }
          remove = remove || all;
        } else {
          remove = remove || existing == given;
        }
      }
      if (!remove) kept.push_back(std::move(existing));
    }
    put(doc_, attr, std::move(kept));
    return {};
  }

  // The index of the complex value in `values` that has the same "value" as `item` (and the
  // same "type", when `item` gives one).
  static std::optional<std::size_t> same_value_index(const json& values, const json& item) {
    const json* value = find_member(item, "value");
    if (value == nullptr || !values.is_array()) return std::nullopt;
    const json* type = find_member(item, "type");
    for (std::size_t i = 0; i < values.size(); ++i) {
      const json* other = find_member(values[i], "value");
      if (other == nullptr || *other != *value) continue;
      const json* other_type = find_member(values[i], "type");
      if (type == nullptr || (other_type != nullptr && *other_type == *type)) return i;
    }
    return std::nullopt;
  }

  static void drop_empty(json& values) {
    json kept = json::array();
    for (json& item : values)
      if (!unassigned(item)) kept.push_back(std::move(item));
    values = std::move(kept);
  }

  const Schema& schema_;
  json doc_;
  std::deque<PatchPath> paths_;  // keeps the filters Targets point into (stable addresses)
};

}  // namespace

Result<PatchPath> parse_patch_path(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return scim_fail(ScimType::invalid_path, "invalid path '" + std::string(text) + "': " + why);
  };
  if (text.size() > FilterLimits{}.max_length) return bad("too long");
  const auto open = text.find('[');
  if (open == std::string_view::npos) {
    if (text.find(']') != std::string_view::npos) return bad("unbalanced ']'");
    auto attr = parse_attr_path(text);
    if (!attr) return tl::unexpected(attr.error());
    return PatchPath{std::move(*attr), std::nullopt, {}};
  }
  auto attr = parse_attr_path(text.substr(0, open));
  if (!attr) return tl::unexpected(attr.error());
  if (!attr->sub.empty()) return bad("a value filter must follow an attribute, not a sub-attribute");
  // The closing bracket is the first ']' outside a string.
  std::size_t close = std::string_view::npos;
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
    } else if (text[i] == ']') {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) return bad("unbalanced '['");
  auto filter = parse_filter(text.substr(open + 1, close - open - 1));
  if (!filter) return tl::unexpected(filter.error());
  PatchPath path{std::move(*attr), std::move(*filter), {}};
  std::string_view rest = text.substr(close + 1);
  if (!rest.empty()) {
    if (rest.front() != '.') return bad("unexpected text after ']'");
    auto sub = parse_attr_path(rest.substr(1));
    if (!sub || !sub->uri.empty() || !sub->sub.empty()) return bad("malformed sub-attribute after ']'");
    path.sub = std::move(sub->attr);
  }
  return path;
}

Result<nlohmann::json> apply_patch(const nlohmann::json& resource, const nlohmann::json& patch_request,
                                   const Schema& schema) {
  if (!resource.is_object()) return fail(Errc::internal, "the resource to patch is not a JSON object");
  if (!patch_request.is_object()) return scim_fail(ScimType::invalid_syntax, "a PATCH body must be a JSON object");
  const json* schemas = find_member(patch_request, "schemas");
  bool is_patch_op = false;
  if (schemas != nullptr && schemas->is_array())
    for (const json& s : *schemas) is_patch_op = is_patch_op || (s.is_string() && iequals(s.get<std::string>(), kPatchOpSchema));
  if (!is_patch_op)
    return scim_fail(ScimType::invalid_syntax, "\"schemas\" must contain \"" + std::string(kPatchOpSchema) + "\"");
  const json* operations = find_member(patch_request, "Operations");
  if (operations == nullptr || !operations->is_array() || operations->empty())
    return scim_fail(ScimType::invalid_syntax, "\"Operations\" must be a non-empty array");
  if (operations->size() > kMaxPatchOperations)
    return scim_fail(ScimType::invalid_syntax,
                     "more than " + std::to_string(kMaxPatchOperations) + " operations in one request");
  Patcher patcher(schema, resource);
  for (std::size_t i = 0; i < operations->size(); ++i) {
    if (auto ok = patcher.run((*operations)[i]); !ok) {
      Error error = ok.error();
      error.message = "Operations[" + std::to_string(i) + "]: " + error.message;
      return tl::unexpected(std::move(error));
    }
  }
  if (auto ok = patcher.check_against(resource); !ok) return tl::unexpected(ok.error());
  return patcher.take();
}

}  // namespace carillon::scim
