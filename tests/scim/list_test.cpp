// SCIM queries (RFC 7644 §3.4.2): parameters, sorting, pagination, projection, ETags; and the
// discovery documents (RFC 7643 §5-§7).

#include "scim/list.hpp"

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "scim/error.hpp"
#include "scim/samples.hpp"

namespace carillon::scim {
namespace {

using json = nlohmann::json;
using Params = std::map<std::string, std::string>;

ListQuery query_of(const Params& params) {
  auto q = parse_list_query(params, user_schema());
  EXPECT_TRUE(q) << (q ? "" : q.error().message);
  return q ? *q : ListQuery{};
}

std::vector<std::string> user_names(const json& list) {
  std::vector<std::string> out;
  for (const json& r : list["Resources"]) out.push_back(r.value("userName", "?"));
  return out;
}

using Names = std::vector<std::string>;

TEST(ScimList, ParsesQueryParametersWithTheRfcDefaults) {
  const ListQuery q = query_of({});
  EXPECT_FALSE(q.filter);
  EXPECT_EQ(q.start_index, 1);
  EXPECT_EQ(q.count, 100);
  EXPECT_FALSE(q.descending);

  const ListQuery r = query_of({{"filter", R"(userName sw "j")"}, {"sortBy", "name.familyName"},
                                {"sortOrder", "Descending"}, {"startIndex", "0"}, {"count", "-5"},
                                {"attributes", "userName, name.givenName,emails"}});
  ASSERT_TRUE(r.filter);
  EXPECT_EQ(r.sort_path->sub, "familyName");
  EXPECT_TRUE(r.descending);
  EXPECT_EQ(r.start_index, 1);  // < 1 means 1
  EXPECT_EQ(r.count, 0);        // negative means 0
  EXPECT_EQ(r.attributes.size(), 3U);
  EXPECT_EQ(query_of({{"count", "100000"}}).count, kMaxResults);
  EXPECT_EQ(query_of({{"COUNT", "7"}, {"StartIndex", "3"}}).count, 7);
  EXPECT_EQ(query_of({{"attributes", "userName,nosuch,urn:example:X:y"}}).attributes.size(), 1U);

  auto error_type = [](const Params& params) {
    auto q = parse_list_query(params, user_schema());
    EXPECT_FALSE(q);
    return q ? ScimType::sensitive : scim_type(q.error()).value_or(ScimType::sensitive);
  };
  EXPECT_EQ(error_type({{"filter", "userName eq"}}), ScimType::invalid_filter);
  EXPECT_EQ(error_type({{"filter", R"(active gt true)"}}), ScimType::invalid_filter);
  EXPECT_EQ(error_type({{"filter", R"(nosuch eq "x")"}}), ScimType::invalid_filter);
  EXPECT_EQ(error_type({{"count", "ten"}}), ScimType::invalid_value);
  EXPECT_EQ(error_type({{"startIndex", "1.5"}}), ScimType::invalid_value);
  EXPECT_EQ(error_type({{"startIndex", "99999999999999999999"}}), ScimType::invalid_value);
  EXPECT_EQ(error_type({{"sortOrder", "up"}}), ScimType::invalid_value);
  EXPECT_EQ(error_type({{"sortBy", "nosuch"}}), ScimType::invalid_value);
  EXPECT_EQ(error_type({{"sortBy", "a b"}}), ScimType::invalid_value);
  EXPECT_EQ(error_type({{"attributes", "user name"}}), ScimType::invalid_value);
  EXPECT_EQ(error_type({{"attributes", "userName"}, {"excludedAttributes", "emails"}}), ScimType::invalid_value);
}

TEST(ScimList, ParsesSearchRequests) {
  auto q = parse_search_request(json::parse(R"({
      "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
      "attributes": ["displayName", "userName"], "filter": "displayName sw \"smith\"",
      "startIndex": 1, "count": 10})"), user_schema());
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_TRUE(q->filter);
  EXPECT_EQ(q->count, 10);
  EXPECT_EQ(q->attributes.size(), 2U);
  EXPECT_FALSE(parse_search_request(json::parse(R"({"filter": "userName pr"})"), user_schema()));
  EXPECT_FALSE(parse_search_request(json::parse(R"({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                                    "count": "10"})"), user_schema()));
  EXPECT_FALSE(parse_search_request(json::parse(R"({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                                    "attributes": "userName"})"), user_schema()));
}

TEST(ScimList, FiltersSortsAndPages) {
  const auto users = testing::sample_users();
  // userName is not caseExact: ordered with case folded.
  EXPECT_EQ(user_names(list_response(query_of({{"sortBy", "userName"}}), users, user_schema())),
            Names({"bjensen", "Jane", "jdoe", "JOHN.Doe", "jsmith"}));
  EXPECT_EQ(user_names(list_response(query_of({{"sortBy", "USERNAME"}, {"sortOrder", "descending"}}), users,
                                     user_schema())),
            Names({"jsmith", "JOHN.Doe", "jdoe", "Jane", "bjensen"}));
  // Absent values sort last ascending, first descending; dateTimes as instants; stable.
  EXPECT_EQ(user_names(list_response(query_of({{"sortBy", "meta.lastModified"}}), users, user_schema())),
            Names({"jsmith", "bjensen", "JOHN.Doe", "Jane", "jdoe"}));
  EXPECT_EQ(user_names(list_response(query_of({{"sortBy", "meta.lastModified"}, {"sortOrder", "descending"}}), users,
                                     user_schema())),
            Names({"jdoe", "Jane", "bjensen", "JOHN.Doe", "jsmith"}));
  // Multi-valued: the primary value, else the first.
  EXPECT_EQ(user_names(list_response(query_of({{"sortBy", "emails"}}), users, user_schema())),
            Names({"bjensen", "JOHN.Doe", "jsmith", "Jane", "jdoe"}));
  EXPECT_EQ(user_names(list_response(query_of({{"sortBy", "active"}}), users, user_schema())),
            Names({"jsmith", "bjensen", "Jane", "JOHN.Doe", "jdoe"}));

  const json page = list_response(query_of({{"filter", R"(userName sw "j")"}, {"sortBy", "userName"},
                                            {"startIndex", "2"}, {"count", "2"}}),
                                  users, user_schema());
  EXPECT_EQ(page["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");
  EXPECT_EQ(page["totalResults"], 4);
  EXPECT_EQ(page["startIndex"], 2);
  EXPECT_EQ(page["itemsPerPage"], 2);
  EXPECT_EQ(user_names(page), Names({"jdoe", "JOHN.Doe"}));

  const json beyond = list_response(query_of({{"startIndex", "50"}}), users, user_schema());
  EXPECT_EQ(beyond["totalResults"], 5);
  EXPECT_EQ(beyond["itemsPerPage"], 0);
  EXPECT_TRUE(beyond["Resources"].empty());
  const json count_only = list_response(query_of({{"count", "0"}}), users, user_schema());
  EXPECT_EQ(count_only["totalResults"], 5);
  EXPECT_TRUE(count_only["Resources"].empty());
}

TEST(ScimList, ProjectionFollowsReturnedAndTheAttributeLists) {
  json u = testing::sample_users()[0];
  u["password"] = "secret";
  const Schema& s = user_schema();

  const json by_default = project(u, {}, {}, s);
  EXPECT_FALSE(by_default.contains("password"));  // returned: never
  EXPECT_TRUE(by_default.contains("emails"));
  EXPECT_TRUE(by_default.contains("meta"));

  const json only = project(u, {*parse_attr_path("userName"), *parse_attr_path("name.givenName"),
                                *parse_attr_path("emails.value"), *parse_attr_path("password")},
                            {}, s);
  EXPECT_EQ(only["userName"], "bjensen");
  EXPECT_EQ(only["name"], json::parse(R"({"givenName": "Barbara"})"));
  EXPECT_EQ(only["emails"], json::parse(R"([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}])"));
  EXPECT_EQ(only["id"], u["id"]);            // returned: always
  EXPECT_EQ(only["schemas"], u["schemas"]);  // returned: always
  EXPECT_FALSE(only.contains("password"));
  EXPECT_FALSE(only.contains("meta"));
  EXPECT_FALSE(only.contains("title"));

  const json without = project(u, {}, {*parse_attr_path("emails"), *parse_attr_path("NAME.formatted"),
                                       *parse_attr_path("id")}, s);
  EXPECT_FALSE(without.contains("emails"));
  EXPECT_EQ(without["name"], json::parse(R"({"familyName": "Jensen", "givenName": "Barbara"})"));
  EXPECT_TRUE(without.contains("id"));  // always wins over excludedAttributes
  EXPECT_FALSE(without.contains("password"));

  const json listed = list_response(query_of({{"filter", R"(userName eq "bjensen")"}, {"attributes", "displayName"}}),
                                    {u}, s);
  EXPECT_EQ(listed["Resources"][0], json::parse(R"({"displayName": "Babs Jensen", "id": "2819c223-7f76-453a-919d-413861904646",
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})"));
}

TEST(ScimList, ETags) {
  const json u = testing::sample_users()[0];
  EXPECT_EQ(etag(u), "W/\"3694e05e9dff591\"");
  json plain = u;
  plain["meta"]["version"] = "17";
  EXPECT_EQ(etag(plain), "W/\"17\"");
  json unversioned = testing::sample_users()[1];
  const std::string tag = etag(unversioned);
  EXPECT_EQ(tag.size(), 3U + 32U + 1U);
  unversioned["meta"]["lastModified"] = "2020-01-01T00:00:00Z";
  EXPECT_EQ(etag(unversioned), tag);  // meta does not count
  unversioned["active"] = true;
  EXPECT_NE(etag(unversioned), tag);

  EXPECT_TRUE(etag_matches("*", "W/\"1\""));
  EXPECT_TRUE(etag_matches("W/\"1\"", "W/\"1\""));
  EXPECT_TRUE(etag_matches("\"0\", W/\"1\"", "W/\"1\""));
  EXPECT_TRUE(etag_matches("\"1\"", "W/\"1\""));  // weak comparison
  EXPECT_FALSE(etag_matches("W/\"2\"", "W/\"1\""));
  EXPECT_FALSE(etag_matches("", "W/\"1\""));
}

TEST(ScimSchema, DiscoveryDocuments) {
  const json spc = service_provider_config("https://h/scim/v2/");
  EXPECT_EQ(spc["patch"]["supported"], true);
  EXPECT_EQ(spc["bulk"]["supported"], false);
  EXPECT_EQ(spc["filter"], json::parse(R"({"supported": true, "maxResults": 200})"));
  EXPECT_EQ(spc["changePassword"]["supported"], false);
  EXPECT_EQ(spc["sort"]["supported"], true);
  EXPECT_EQ(spc["etag"]["supported"], true);
  EXPECT_EQ(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
  EXPECT_EQ(spc["meta"]["location"], "https://h/scim/v2/ServiceProviderConfig");

  const json schemas = schemas_list("https://h/scim/v2");
  EXPECT_EQ(schemas["totalResults"], 2);
  const json& user = schemas["Resources"][0];
  EXPECT_EQ(user["id"], "urn:ietf:params:scim:schemas:core:2.0:User");
  EXPECT_EQ(user["meta"]["location"], "https://h/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User");
  auto attr = [&](const json& doc, const std::string& name) {
    for (const json& a : doc["attributes"])
      if (a["name"] == name) return a;
    return json();
  };
  EXPECT_EQ(attr(user, "userName")["caseExact"], false);
  EXPECT_EQ(attr(user, "userName")["uniqueness"], "server");
  EXPECT_EQ(attr(user, "userName")["required"], true);
  EXPECT_EQ(attr(user, "password")["returned"], "never");
  EXPECT_EQ(attr(user, "password")["mutability"], "writeOnly");
  EXPECT_EQ(attr(user, "groups")["mutability"], "readOnly");
  EXPECT_EQ(attr(user, "emails")["multiValued"], true);
  EXPECT_EQ(attr(user, "emails")["subAttributes"].size(), 4U);
  EXPECT_EQ(attr(user, "name")["subAttributes"][1]["name"], "familyName");
  EXPECT_TRUE(attr(user, "id").is_null());  // common attributes are not part of the schema document
  const json& grp = schemas["Resources"][1];
  EXPECT_EQ(attr(grp, "members")["subAttributes"][0]["mutability"], "immutable");

  const json types = resource_types_list("https://h/scim/v2");
  EXPECT_EQ(types["Resources"][0]["endpoint"], "/Users");
  EXPECT_EQ(types["Resources"][1]["schema"], "urn:ietf:params:scim:schemas:core:2.0:Group");
  EXPECT_EQ(types["Resources"][1]["meta"]["location"], "https://h/scim/v2/ResourceTypes/Group");

  EXPECT_EQ(user_schema().find("ID")->name, "id");
  EXPECT_TRUE(user_schema().find("id")->case_exact);
  EXPECT_EQ(user_schema().find("EMAILS")->find("VALUE")->name, "value");
  EXPECT_EQ(user_schema().find("nosuch"), nullptr);
}

}  // namespace
}  // namespace carillon::scim
