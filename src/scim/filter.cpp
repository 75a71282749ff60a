#include "scim/filter.hpp"

#include <array>
#include <cstdint>
#include <utility>

#include "scim/error.hpp"
#include "scim/text.hpp"

namespace carillon::scim {

namespace {

bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_word_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '.' || c == ':' || c == '-' || c == '_' || c == '$';
}

// ATTRNAME = ALPHA *(nameChar); "$ref" is the one RFC 7643 name outside the ABNF.
bool valid_attr_name(std::string_view name) {
  if (iequals(name, "$ref")) return true;
  if (name.empty() || !is_alpha(name.front())) return false;
  for (char c : name)
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') return false;
  return true;
}

// Splits `[URI ":"] ATTRNAME ["." ATTRNAME]`; returns an empty optional (with a reason) if malformed.
std::optional<AttrPath> split_attr_path(std::string_view text, std::string& why) {
  AttrPath path;
  std::string_view rest = text;
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    path.uri = std::string(text.substr(0, colon));
    rest = text.substr(colon + 1);
    if (path.uri.empty() || !is_alpha(path.uri.front())) {
      why = "malformed schema URI in attribute path";
      return std::nullopt;
    }
  }
  const auto dot = rest.find('.');
  std::string_view attr = rest.substr(0, dot);
  if (!valid_attr_name(attr)) {
    why = "malformed attribute name '" + std::string(attr) + "'";
    return std::nullopt;
  }
  path.attr = std::string(attr);
  if (dot != std::string_view::npos) {
    std::string_view sub = rest.substr(dot + 1);
    if (!valid_attr_name(sub)) {
      why = "malformed sub-attribute name '" + std::string(sub) + "'";
      return std::nullopt;
    }
    path.sub = std::string(sub);
  }
  return path;
}

struct Token {
  enum class Kind { word, string, number, lparen, rparen, lbracket, rbracket, end };
  Kind kind = Kind::end;
  std::size_t begin = 0;
  std::size_t end = 0;
  bool space_before = false;
};

constexpr std::array<std::pair<std::string_view, CompareOp>, 9> kOps{{
    {"eq", CompareOp::eq},
    {"ne", CompareOp::ne},
    {"co", CompareOp::co},
    {"sw", CompareOp::sw},
    {"ew", CompareOp::ew},
    {"gt", CompareOp::gt},
    {"ge", CompareOp::ge},
    {"lt", CompareOp::lt},
    {"le", CompareOp::le},
}};

class Parser {
 public:
  Parser(std::string_view text, const FilterLimits& limits) : text_(text), limits_(limits) {}

  Result<Filter> parse() {
    if (text_.size() > limits_.max_length)
      return scim_fail(ScimType::invalid_filter,
                       "filter is longer than " + std::to_string(limits_.max_length) + " bytes");
    if (auto ok = tokenize(); !ok) return tl::unexpected(ok.error());
    auto filter = parse_or(0, false);
    if (!filter) return filter;
    if (peek().kind != Token::Kind::end) return error(peek(), "unexpected '" + text(peek()) + "'");
    return filter;
  }

 private:
  tl::unexpected<Error> error(std::size_t offset, const std::string& message) const {
    return scim_fail(ScimType::invalid_filter,
                     "invalid filter at offset " + std::to_string(offset) + ": " + message);
  }
  tl::unexpected<Error> error(const Token& token, const std::string& message) const {
    return error(token.begin, message);
  }

  std::string text(const Token& token) const {
    if (token.kind == Token::Kind::end) return "end of filter";
    return std::string(text_.substr(token.begin, token.end - token.begin));
  }

  Status tokenize() {
    std::size_t i = 0;
    while (true) {
      bool space = false;
      while (i < text_.size() && is_space(text_[i])) {
        ++i;
        space = true;
      }
      Token token;
      token.begin = i;
      token.space_before = space;
      if (i == text_.size()) {
        token.kind = Token::Kind::end;
        token.end = i;
        tokens_.push_back(token);
        return {};
      }
      const char c = text_[i];
      if (c == '(' || c == ')' || c == '[' || c == ']') {
        token.kind = c == '(' ? Token::Kind::lparen
                     : c == ')' ? Token::Kind::rparen
                     : c == '[' ? Token::Kind::lbracket
                                : Token::Kind::rbracket;
        ++i;
      } else if (c == '"') {
        token.kind = Token::Kind::string;
        ++i;
        while (i < text_.size() && text_[i] != '"') i += text_[i] == '\\' ? 2 : 1;
        if (i >= text_.size()) return error(token.begin, "unterminated string");
        ++i;
      } else if (c == '-' || is_digit(c)) {
        token.kind = Token::Kind::number;
        while (i < text_.size() && (is_digit(text_[i]) || text_[i] == '-' || text_[i] == '+' || text_[i] == '.' ||
                                    text_[i] == 'e' || text_[i] == 'E'))
          ++i;
      } else if (is_alpha(c) || c == '$') {
        token.kind = Token::Kind::word;
        while (i < text_.size() && is_word_char(text_[i])) ++i;
      } else {
        return error(i, std::string("unexpected character '") + c + "'");
      }
      token.end = i;
      tokens_.push_back(token);
    }
  }

  const Token& peek(std::size_t ahead = 0) const {
    const std::size_t i = pos_ + ahead < tokens_.size() ? pos_ + ahead : tokens_.size() - 1;
    return tokens_[i];
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool is_keyword(const Token& token, std::string_view word) const {
    return token.kind == Token::Kind::word && iequals(text_.substr(token.begin, token.end - token.begin), word);
  }

  Status count_node(const Token& at) {
    if (++nodes_ > limits_.max_nodes)
      return error(at, "filter has more than " + std::to_string(limits_.max_nodes) + " expressions");
    return {};
  }

  Result<Filter> parse_logical(std::size_t depth, bool in_brackets, bool is_or) {
    auto first = is_or ? parse_logical(depth, in_brackets, false) : parse_unary(depth, in_brackets);
    if (!first) return first;
    const std::string_view keyword = is_or ? "or" : "and";
    if (!is_keyword(peek(), keyword)) return first;
    Filter node;
    node.kind = is_or ? Filter::Kind::logical_or : Filter::Kind::logical_and;
    node.children.push_back(std::move(*first));
    while (is_keyword(peek(), keyword)) {
      const Token& op = next();
      if (!op.space_before) return error(op, "'" + std::string(keyword) + "' must be preceded by a space");
      if (!peek().space_before) return error(peek(), "'" + std::string(keyword) + "' must be followed by a space");
      if (auto ok = count_node(op); !ok) return tl::unexpected(ok.error());
      auto child = is_or ? parse_logical(depth, in_brackets, false) : parse_unary(depth, in_brackets);
      if (!child) return child;
      node.children.push_back(std::move(*child));
    }
    return node;
  }

  Result<Filter> parse_or(std::size_t depth, bool in_brackets) {
    if (depth > limits_.max_depth)
      return error(peek(), "filter is nested deeper than " + std::to_string(limits_.max_depth) + " levels");
    return parse_logical(depth, in_brackets, true);
  }

  Result<Filter> parse_group(std::size_t depth, bool in_brackets) {
    const Token& open = next();  // '('
    auto inner = parse_or(depth + 1, in_brackets);
    if (!inner) return inner;
    if (peek().kind != Token::Kind::rparen)
      return error(peek(), "expected ')' to close '(' at offset " + std::to_string(open.begin) + ", found " +
                               describe(peek()));
    next();
    return inner;
  }

  std::string describe(const Token& token) const {
    if (token.kind == Token::Kind::end) return "end of filter";
    // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for "literal" + string&&.
    std::string quoted = "'";
    quoted += text(token);
    quoted += '\'';
    return quoted;
  }

  Result<Filter> parse_unary(std::size_t depth, bool in_brackets) {
    const Token& first = peek();
    if (auto ok = count_node(first); !ok) return tl::unexpected(ok.error());
    if (first.kind == Token::Kind::lparen) return parse_group(depth, in_brackets);
    if (is_keyword(first, "not") && peek(1).kind == Token::Kind::lparen) {
      next();
      auto inner = parse_group(depth, in_brackets);
      if (!inner) return inner;
      Filter node;
      node.kind = Filter::Kind::logical_not;
      node.children.push_back(std::move(*inner));
      return node;
    }
    if (first.kind != Token::Kind::word) return error(first, "expected an attribute path, found " + describe(first));
    next();
    std::string why;
    auto path = split_attr_path(text(first), why);
    if (!path) return error(first, why);

    const Token& after = peek();
    if (after.kind == Token::Kind::lbracket) {
      if (after.space_before) return error(after, "no space is allowed before '['");
      if (in_brackets) return error(after, "a value filter cannot contain another value filter");
      if (depth + 1 > limits_.max_depth)
        return error(after, "filter is nested deeper than " + std::to_string(limits_.max_depth) + " levels");
      next();
      auto inner = parse_or(depth + 1, true);
      if (!inner) return inner;
      if (peek().kind != Token::Kind::rbracket)
        return error(peek(), "expected ']' to close '[' at offset " + std::to_string(after.begin) + ", found " +
                                 describe(peek()));
      next();
      Filter node;
      node.kind = Filter::Kind::value_path;
      node.path = std::move(*path);
      node.children.push_back(std::move(*inner));
      return node;
    }
    if (after.kind != Token::Kind::word)
      return error(after, "expected an operator after '" + text(first) + "', found " + describe(after));
    if (!after.space_before) return error(after, "the operator must be preceded by a space");
    if (is_keyword(after, "pr")) {
      next();
      Filter node;
      node.kind = Filter::Kind::present;
      node.path = std::move(*path);
      return node;
    }
    std::optional<CompareOp> op;
    for (const auto& [name, value] : kOps)
      if (is_keyword(after, name)) op = value;
    if (!op) return error(after, "unknown operator '" + text(after) + "'");
    next();
    const Token& value_token = peek();
    if (value_token.kind == Token::Kind::end) return error(value_token, "expected a value after '" + text(after) + "'");
    if (!value_token.space_before) return error(value_token, "the value must be preceded by a space");
    auto value = parse_value(value_token);
    if (!value) return tl::unexpected(value.error());
    next();
    Filter node;
    node.kind = Filter::Kind::compare;
    node.op = *op;
    node.path = std::move(*path);
    node.value = std::move(*value);
    return node;
  }

  Result<nlohmann::json> parse_value(const Token& token) const {
    if (token.kind == Token::Kind::word) {
      if (is_keyword(token, "true")) return nlohmann::json(true);
      if (is_keyword(token, "false")) return nlohmann::json(false);
      if (is_keyword(token, "null")) return nlohmann::json(nullptr);
      return error(token, "expected a value (string, number, true, false or null), found '" + text(token) + "'");
    }
    if (token.kind == Token::Kind::string || token.kind == Token::Kind::number) {
      // nlohmann's JSON parser is exactly the RFC 8259 grammar for strings and numbers.
      nlohmann::json value = nlohmann::json::parse(text_.substr(token.begin, token.end - token.begin), nullptr, false);
      if (value.is_discarded())
        return error(token, token.kind == Token::Kind::string ? "malformed string (bad escape or control character)"
                                                                : "malformed number '" + text(token) + "'");
      return value;
    }
    return error(token, "expected a value, found " + describe(token));
  }

  std::string_view text_;
  const FilterLimits& limits_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  std::size_t nodes_ = 0;
};

// ---- evaluation ----------------------------------------------------------------------------

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool read_digits(std::string_view text, std::size_t& i, std::size_t count, int& out) {
  if (i + count > text.size()) return false;
  out = 0;
  for (std::size_t k = 0; k < count; ++k) {
    if (!is_digit(text[i + k])) return false;
    out = out * 10 + (text[i + k] - '0');
  }
  i += count;
  return true;
}

bool expect_char(std::string_view text, std::size_t& i, char c) {
  if (i >= text.size() || text[i] != c) return false;
  ++i;
  return true;
}

// The attribute a comparison applies to (for a complex multi-valued attribute without a
// sub-attribute, its "value" sub-attribute).
const Attribute* leaf_attribute(const Attribute* attr, const AttrPath& path) {
  if (attr == nullptr) return nullptr;
  if (!path.sub.empty()) return attr->type == AttrType::complex ? attr->find(path.sub) : nullptr;
  if (attr->type == AttrType::complex) return attr->multi_valued ? attr->find("value") : nullptr;
  return attr;
}

const Attribute* lookup(const AttrPath& path, const Schema& schema, const Attribute* parent) {
  if (parent == nullptr) return resolve(path, schema);
  if (!path.uri.empty()) return nullptr;
  return parent->find(path.attr);
}

// Calls fn(value, leaf) for every value the path designates in `object`; stops at the first true.
template <class Fn>
bool any_value(const nlohmann::json& object, const Attribute& attr, const AttrPath& path, Fn&& fn) {
  const nlohmann::json* node = find_member(object, attr.name);
  if (node == nullptr) return false;
  const Attribute* leaf = leaf_attribute(&attr, path);
  if (leaf == nullptr) return false;
  const bool nested = leaf != &attr;  // the value sits in a sub-attribute of each element
  auto visit = [&](const nlohmann::json& value) {
    if (!nested) return fn(value, *leaf);
    const nlohmann::json* inner = find_member(value, leaf->name);
    return inner != nullptr && fn(*inner, *leaf);
  };
  if (node->is_array()) {
    for (const nlohmann::json& element : *node)
      if (visit(element)) return true;
    return false;
  }
  return visit(*node);
}

int compare_numbers(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    const auto x = a.get<std::int64_t>();
    const auto y = b.get<std::int64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const auto x = a.get<double>();
  const auto y = b.get<double>();
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool ordered(CompareOp op, int c) {
  switch (op) {
    case CompareOp::eq: return c == 0;
    case CompareOp::ne: return c != 0;
    case CompareOp::gt: return c > 0;
    case CompareOp::ge: return c >= 0;
    case CompareOp::lt: return c < 0;
    case CompareOp::le: return c <= 0;
    default: return false;
  }
}

bool compare_value(const nlohmann::json& v, const Attribute& leaf, CompareOp op, const nlohmann::json& cv) {
  if (v.is_null() || cv.is_null()) return false;
  switch (leaf.type) {
    case AttrType::boolean:
      return v.is_boolean() && cv.is_boolean() && op == CompareOp::eq && v.get<bool>() == cv.get<bool>();
    case AttrType::integer:
    case AttrType::decimal:
      if (!v.is_number() || !cv.is_number()) return false;
      return ordered(op, compare_numbers(v, cv));
    case AttrType::complex:
      return false;
    default:
      break;
  }
  if (!v.is_string() || !cv.is_string()) return false;
  const auto& a = v.get_ref<const std::string&>();
  const auto& b = cv.get_ref<const std::string&>();
  const bool exact = leaf.case_exact;
  switch (op) {
    case CompareOp::co: return exact ? a.find(b) != std::string::npos : icontains(a, b);
    case CompareOp::sw: return exact ? a.starts_with(b) : istarts_with(a, b);
    case CompareOp::ew: return exact ? a.ends_with(b) : iends_with(a, b);
    default: break;
  }
  if (leaf.type == AttrType::date_time) {
    const auto x = parse_date_time(a);
    const auto y = parse_date_time(b);
    if (x && y) return ordered(op, *x < *y ? -1 : (*y < *x ? 1 : 0));
  }
  if (leaf.type == AttrType::binary && op != CompareOp::eq) return false;
  const int c = exact ? a.compare(b) : icompare(a, b);
  return ordered(op, c < 0 ? -1 : (c > 0 ? 1 : 0));
}

bool evaluate(const Filter& f, const nlohmann::json& object, const Schema& schema, const Attribute* parent) {
  switch (f.kind) {
    case Filter::Kind::logical_and:
      for (const Filter& child : f.children)
        if (!evaluate(child, object, schema, parent)) return false;
      return true;
    case Filter::Kind::logical_or:
      for (const Filter& child : f.children)
        if (evaluate(child, object, schema, parent)) return true;
      return false;
    case Filter::Kind::logical_not:
      return !evaluate(f.children.front(), object, schema, parent);
    case Filter::Kind::value_path: {
      const Attribute* attr = lookup(f.path, schema, parent);
      if (attr == nullptr || !f.path.sub.empty() || attr->type != AttrType::complex) return false;
      const nlohmann::json* node = find_member(object, attr->name);
      if (node == nullptr) return false;
      if (node->is_array()) {
        for (const nlohmann::json& element : *node)
          if (element.is_object() && evaluate(f.children.front(), element, schema, attr)) return true;
        return false;
      }
      return node->is_object() && evaluate(f.children.front(), *node, schema, attr);
    }
    case Filter::Kind::present: {
      const Attribute* attr = lookup(f.path, schema, parent);
      if (attr == nullptr) return false;
      if (f.path.sub.empty()) {
        const nlohmann::json* node = find_member(object, attr->name);
        return node != nullptr && is_present(*node);
      }
      return any_value(object, *attr, f.path, [](const nlohmann::json& v, const Attribute&) { return is_present(v); });
    }
    case Filter::Kind::compare: {
      const Attribute* attr = lookup(f.path, schema, parent);
      if (f.value.is_null() && (f.op == CompareOp::eq || f.op == CompareOp::ne)) {
        bool present = false;
        if (attr != nullptr)
          present = any_value(object, *attr, f.path, [](const nlohmann::json& v, const Attribute&) {
            return is_present(v);
          });
        return f.op == CompareOp::eq ? !present : present;
      }
      const CompareOp op = f.op == CompareOp::ne ? CompareOp::eq : f.op;
      const bool any = attr != nullptr && any_value(object, *attr, f.path, [&](const nlohmann::json& v, const Attribute& leaf) {
                         return compare_value(v, leaf, op, f.value);
                       });
      return f.op == CompareOp::ne ? !any : any;
    }
  }
  return false;
}

Status validate_node(const Filter& f, const Schema& schema, const Attribute* parent) {
  auto bad = [&](const std::string& message) { return scim_fail(ScimType::invalid_filter, message); };
  switch (f.kind) {
    case Filter::Kind::logical_and:
    case Filter::Kind::logical_or:
    case Filter::Kind::logical_not:
      for (const Filter& child : f.children)
        if (auto ok = validate_node(child, schema, parent); !ok) return ok;
      return {};
    case Filter::Kind::value_path: {
      const Attribute* attr = lookup(f.path, schema, parent);
      if (attr == nullptr) return bad("unknown attribute '" + to_string(f.path) + "'");
      if (attr->type != AttrType::complex || !f.path.sub.empty())
        return bad("'" + to_string(f.path) + "' is not a complex attribute and cannot take a value filter");
      return validate_node(f.children.front(), schema, attr);
    }
    case Filter::Kind::present:
    case Filter::Kind::compare: {
      if (parent != nullptr && !f.path.sub.empty())
        return bad("'" + to_string(f.path) + "' inside a value filter must name a sub-attribute of '" + parent->name + "'");
      const Attribute* attr = lookup(f.path, schema, parent);
      if (attr == nullptr) return bad("unknown attribute '" + to_string(f.path) + "'");
      if (!f.path.sub.empty() && (attr->type != AttrType::complex || attr->find(f.path.sub) == nullptr))
        return bad("unknown attribute '" + to_string(f.path) + "'");
      if (f.kind == Filter::Kind::present) return {};
      const Attribute* leaf = leaf_attribute(attr, f.path);
      if (leaf == nullptr) return bad("complex attribute '" + to_string(f.path) + "' cannot be compared");
      const bool ordering = f.op == CompareOp::gt || f.op == CompareOp::ge || f.op == CompareOp::lt || f.op == CompareOp::le;
      const bool substring = f.op == CompareOp::co || f.op == CompareOp::sw || f.op == CompareOp::ew;
      const std::string op(to_string(f.op));
      if (ordering && (leaf->type == AttrType::boolean || leaf->type == AttrType::binary))
        return bad("'" + op + "' is not defined for " + std::string(to_string(leaf->type)) + " attribute '" +
                   to_string(f.path) + "'");
      if (f.value.is_null()) {
        if (ordering || substring) return bad("'" + op + "' cannot compare with null");
        return {};
      }
      switch (leaf->type) {
        case AttrType::boolean:
          if (!f.value.is_boolean()) return bad("'" + to_string(f.path) + "' is boolean; compare it with true or false");
          if (substring) return bad("'" + op + "' is not defined for boolean attribute '" + to_string(f.path) + "'");
          return {};
        case AttrType::integer:
        case AttrType::decimal:
          if (!f.value.is_number()) return bad("'" + to_string(f.path) + "' is numeric; compare it with a number");
          if (substring) return bad("'" + op + "' is not defined for numeric attribute '" + to_string(f.path) + "'");
          return {};
        case AttrType::date_time:
          if (!f.value.is_string()) return bad("'" + to_string(f.path) + "' is a dateTime; compare it with a string");
          if (!substring && !parse_date_time(f.value.get_ref<const std::string&>()))
            return bad("'" + f.value.get<std::string>() + "' is not an xsd:dateTime");
          return {};
        default:
          if (!f.value.is_string()) return bad("'" + to_string(f.path) + "' is a string; compare it with a string");
          return {};
      }
    }
  }
  return {};
}

bool needs_parens(const Filter& child) {
  return child.kind == Filter::Kind::logical_and || child.kind == Filter::Kind::logical_or;
}

}  // namespace

Result<Filter> parse_filter(std::string_view text, const FilterLimits& limits) {
  return Parser(text, limits).parse();
}

Result<AttrPath> parse_attr_path(std::string_view text) {
  std::string why = "empty attribute path";
  bool ok = !text.empty();
  for (char c : text) ok = ok && is_word_char(c);
  if (ok) {
    if (auto path = split_attr_path(text, why)) return std::move(*path);
  } else if (!text.empty()) {
    why = "unexpected character in attribute path";
  }
  return scim_fail(ScimType::invalid_path, "invalid attribute path '" + std::string(text) + "': " + why);
}

std::string_view to_string(CompareOp op) {
  for (const auto& [name, value] : kOps)
    if (value == op) return name;
  return "eq";
}

std::string to_string(const AttrPath& path) {
  std::string out;
  if (!path.uri.empty()) out = path.uri + ":";
  out += path.attr;
  if (!path.sub.empty()) out += "." + path.sub;
  return out;
}

std::string to_string(const Filter& filter) {
  switch (filter.kind) {
    case Filter::Kind::compare:
      return to_string(filter.path) + " " + std::string(to_string(filter.op)) + " " + filter.value.dump();
    case Filter::Kind::present:
      return to_string(filter.path) + " pr";
    case Filter::Kind::logical_not:
      return "not (" + to_string(filter.children.front()) + ")";
    case Filter::Kind::value_path:
      return to_string(filter.path) + "[" + to_string(filter.children.front()) + "]";
    case Filter::Kind::logical_and:
    case Filter::Kind::logical_or: {
      std::string out;
      const char* op = filter.kind == Filter::Kind::logical_and ? " and " : " or ";
      for (std::size_t i = 0; i < filter.children.size(); ++i) {
        if (i > 0) out += op;
        const Filter& child = filter.children[i];
        out += needs_parens(child) ? "(" + to_string(child) + ")" : to_string(child);
      }
      return out;
    }
  }
  return {};
}

const Attribute* resolve(const AttrPath& path, const Schema& schema) {
  if (!path.uri.empty() && !schema.is_schema_uri(path.uri)) return nullptr;
  const Attribute* attr = schema.find(path.attr);
  if (attr == nullptr || path.sub.empty()) return attr;
  return attr->type == AttrType::complex && attr->find(path.sub) != nullptr ? attr : nullptr;
}

Status validate(const Filter& filter, const Schema& schema) { return validate_node(filter, schema, nullptr); }

bool matches(const Filter& filter, const nlohmann::json& resource, const Schema& schema) {
  return evaluate(filter, resource, schema, nullptr);
}

bool matches_value(const Filter& filter, const nlohmann::json& value, const Schema& schema, const Attribute& parent) {
  return value.is_object() && evaluate(filter, value, schema, &parent);
}

Status validate_value_filter(const Filter& filter, const Schema& schema, const Attribute& parent) {
  if (filter.kind == Filter::Kind::value_path)
    return scim_fail(ScimType::invalid_filter, "a value filter cannot contain another value filter");
  return validate_node(filter, schema, &parent);
}

std::optional<Instant> parse_date_time(std::string_view text) {
  std::size_t i = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, i, 4, year) || !expect_char(text, i, '-') || !read_digits(text, i, 2, month) ||
      !expect_char(text, i, '-') || !read_digits(text, i, 2, day))
    return std::nullopt;
  if (i >= text.size() || (text[i] != 'T' && text[i] != 't')) return std::nullopt;
  ++i;
  if (!read_digits(text, i, 2, hour) || !expect_char(text, i, ':') || !read_digits(text, i, 2, minute) ||
      !expect_char(text, i, ':') || !read_digits(text, i, 2, second))
    return std::nullopt;
  static constexpr std::array<int, 12> kDays{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kDays[static_cast<std::size_t>(month - 1)] || hour > 23 ||
      minute > 59 || second > 60)
    return std::nullopt;
  std::int32_t nanos = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    std::size_t digits = 0;
    while (i < text.size() && is_digit(text[i])) {
      if (digits < 9) nanos = nanos * 10 + (text[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return std::nullopt;
    for (std::size_t k = digits; k < 9; ++k) nanos *= 10;
  }
  std::int64_t offset = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    const int sign = text[i] == '-' ? -1 : 1;
    ++i;
    int oh = 0, om = 0;
    if (!read_digits(text, i, 2, oh) || !expect_char(text, i, ':') || !read_digits(text, i, 2, om) || oh > 23 ||
        om > 59)
      return std::nullopt;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;  // SCIM dateTimes carry a zone (RFC 7643 §2.3.5)
  }
  if (i != text.size()) return std::nullopt;
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  Instant instant;
  instant.seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset;
  instant.nanos = nanos;
  return instant;
}

bool is_present(const nlohmann::json& value) {
  if (value.is_null()) return false;
  if (value.is_string()) return !value.get_ref<const std::string&>().empty();
  if (value.is_array()) {
    for (const nlohmann::json& element : value)
      if (is_present(element)) return true;
    return false;
  }
  if (value.is_object()) {
    for (const auto& member : value.items())
      if (is_present(member.value())) return true;
    return false;
  }
  return true;
}

}  // namespace carillon::scim
