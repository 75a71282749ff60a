#pragma once
// SCIM queries (RFC 7644 §3.4.2, §3.4.3): query parameters and POST /.search bodies, filtering,
// sorting, 1-based pagination, attribute projection, the ListResponse, and ETags (§3.14).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "scim/filter.hpp"
#include "scim/schema.hpp"

namespace carillon::scim {

inline constexpr std::int64_t kDefaultCount = 100;

struct ListQuery {
  std::optional<Filter> filter;      // validated against the schema
  std::string sort_by;               // as given; empty = the store's order
  std::optional<AttrPath> sort_path; // parsed sort_by
  bool descending = false;
  std::int64_t start_index = 1;      // 1-based, >= 1
  std::int64_t count = kDefaultCount;  // 0..max_results
  std::vector<AttrPath> attributes;           // only these (plus returned:always)
  std::vector<AttrPath> excluded_attributes;  // all defaults except these
};

// From decoded query parameters (names case-insensitive): filter, sortBy, sortOrder
// (ascending|descending), startIndex (< 1 means 1), count (negative means 0, capped at
// max_results), attributes / excludedAttributes (comma-separated; at most one of the two).
// Errors: invalidFilter for the filter; invalidValue for the others. Attribute names the schema
// does not know are ignored in attributes/excludedAttributes and refused in sortBy.
Result<ListQuery> parse_list_query(const std::map<std::string, std::string>& params, const Schema& schema,
                                   std::int64_t max_results = kMaxResults);

// The same from a POST /.search body (schemas must hold the SearchRequest URN; attributes and
// excludedAttributes are JSON arrays of strings). Errors as above, invalidSyntax for the shape.
Result<ListQuery> parse_search_request(const nlohmann::json& body, const Schema& schema,
                                       std::int64_t max_results = kMaxResults);

// The resources that pass query.filter, sorted by query.sort_path (stable; string values compare
// per caseExact; a multi-valued attribute sorts by its primary value, else its first; absent
// values sort after all others, so first when descending).
std::vector<nlohmann::json> filter_and_sort(const ListQuery& query, std::vector<nlohmann::json> resources,
                                            const Schema& schema);

// The whole query over an in-memory set: filter, sort, the page [start_index, start_index+count),
// projection, rendered as a ListResponse with totalResults = number of matches.
nlohmann::json list_response(const ListQuery& query, std::vector<nlohmann::json> resources, const Schema& schema);

// A ListResponse around an already selected page (for stores that page themselves).
nlohmann::json list_response_page(std::int64_t total_results, std::int64_t start_index,
                                  std::vector<nlohmann::json> page);

// The attributes a response may carry (RFC 7643 §2.2 "returned", RFC 7644 §3.9): never
// "never" (password), always "always" (id, schemas), "request" only when asked for, others
// by default or per attributes / excludedAttributes (sub-attribute paths allowed).
nlohmann::json project(const nlohmann::json& resource, const std::vector<AttrPath>& attributes,
                       const std::vector<AttrPath>& excluded_attributes, const Schema& schema);

// The resource's entity tag: meta.version as a weak tag (W/"..." kept as is), or, without a
// version, W/"<first 32 hex digits of SHA-256 of the resource minus meta>".
std::string etag(const nlohmann::json& resource);

// If-Match / If-None-Match evaluation: `header` is "*" or a comma-separated list of entity
// tags; comparison is weak (W/ ignored) because SCIM versions are weak tags.
bool etag_matches(std::string_view header, std::string_view tag);

}  // namespace carillon::scim
