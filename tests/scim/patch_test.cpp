// SCIM PATCH (RFC 7644 §3.5.2): the RFC's examples, the error kinds with their scimType,
// mutability, atomicity, and what identity providers actually send.

#include "scim/patch.hpp"

#include <string>

#include <gtest/gtest.h>

#include "scim/error.hpp"
#include "scim/samples.hpp"

namespace carillon::scim {
namespace {

using json = nlohmann::json;

json patch_of(const std::string& operations) {
  return json{{"schemas", {"urn:ietf:params:scim:api:messages:2.0:PatchOp"}}, {"Operations", json::parse(operations)}};
}

json group() {
  return json::parse(R"({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
    "displayName": "Tour Guides",
    "members": [
      {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"},
      {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge", "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a"}
    ],
    "meta": {"resourceType": "Group", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z",
             "version": "W/\"3694e05e9dff592\""}
  })");
}

json user() { return testing::sample_users()[0]; }

json apply_ok(const json& resource, const std::string& operations, const Schema& schema = user_schema()) {
  auto result = apply_patch(resource, patch_of(operations), schema);
  EXPECT_TRUE(result) << operations << ": " << (result ? "" : result.error().message);
  return result ? *result : json();
}

ScimType apply_error(const json& resource, const json& request, const Schema& schema = user_schema()) {
  auto result = apply_patch(resource, request, schema);
  EXPECT_FALSE(result) << request.dump();
  if (result) return ScimType::sensitive;
  EXPECT_EQ(result.error().code, Errc::invalid_argument);
  auto type = scim_type(result.error());
  EXPECT_TRUE(type) << result.error().message;
  return type.value_or(ScimType::sensitive);
}

ScimType op_error(const json& resource, const std::string& operations, const Schema& schema = user_schema()) {
  return apply_error(resource, patch_of(operations), schema);
}

TEST(ScimPatch, Rfc3521AddMembersToAGroup) {
  json g = group();
  g["members"].erase(1);
  const json out = apply_ok(g, R"([{"op": "add", "path": "members", "value": [{
      "display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
      "value": "2819c223-7f76-453a-919d-413861904646"}, {"value": "902c246b-6245-4190-8e05-00816be7344a"}]}])",
                            group_schema());
  ASSERT_EQ(out["members"].size(), 2U);  // the first one was there already: no duplicate
  EXPECT_EQ(out["members"][1]["value"], "902c246b-6245-4190-8e05-00816be7344a");
}

TEST(ScimPatch, Rfc3521AddWithoutPathMergesAttributesIgnoringTheirCase) {
  const json out = apply_ok(user(), R"([{"op": "add", "value": {
      "emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@x.org", "type": "other"}],
      "nickname": "Babs"}}])");
  EXPECT_EQ(out["nickName"], "Babs");  // RFC example writes "nickname"; stored with the schema's name
  EXPECT_FALSE(out.contains("nickname"));
  ASSERT_EQ(out["emails"].size(), 3U);  // babs@jensen.org existed already
  EXPECT_EQ(out["emails"][2]["value"], "b@x.org");
  const json name = apply_ok(user(), R"([{"op": "add", "value": {"name": {"middleName": "J"}}}])");
  EXPECT_EQ(name["name"]["middleName"], "J");
  EXPECT_EQ(name["name"]["familyName"], "Jensen");  // complex add merges
}

TEST(ScimPatch, Rfc3522RemoveOneAllAndSomeMembers) {
  const json one = apply_ok(group(), R"([{"op": "remove",
      "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}])", group_schema());
  ASSERT_EQ(one["members"].size(), 1U);
  EXPECT_EQ(one["members"][0]["value"], "902c246b-6245-4190-8e05-00816be7344a");

  const json all = apply_ok(group(), R"([{"op": "remove", "path": "members"}])", group_schema());
  EXPECT_FALSE(all.contains("members"));

  const json both = apply_ok(group(), R"([
      {"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"},
      {"op": "remove", "path": "members[value eq \"902c246b-6245-4190-8e05-00816be7344a\"]"}])", group_schema());
  EXPECT_FALSE(both.contains("members"));  // no values left: unassigned

  const json swapped = apply_ok(group(), R"([{"op": "remove", "path": "members"},
      {"op": "add", "path": "members", "value": [{"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473ac8ebc9d5"}]}])",
                                group_schema());
  ASSERT_EQ(swapped["members"].size(), 1U);
  EXPECT_EQ(swapped["members"][0]["display"], "James Smith");

  const json sub = apply_ok(user(), R"([{"op": "remove", "path": "name.formatted"}, {"op": "remove", "path": "emails[type eq \"home\"]"}])");
  EXPECT_FALSE(sub["name"].contains("formatted"));
  ASSERT_EQ(sub["emails"].size(), 1U);
  const json nothing = apply_ok(user(), R"([{"op": "remove", "path": "emails[type eq \"other\"]"}])");
  EXPECT_EQ(nothing, user());
}

TEST(ScimPatch, Rfc3523ReplaceAttributesValuesAndSubAttributes) {
  const json members = apply_ok(group(), R"([{"op": "replace", "path": "members", "value": [
      {"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
       "value": "2819c223-7f76-453a-919d-413861904646"},
      {"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d-121c-4561-8b96-473ac8ebc9d5",
       "value": "08e1d05d-121c-4561-8b96-473ac8ebc9d5"}]}])", group_schema());
  ASSERT_EQ(members["members"].size(), 2U);
  EXPECT_EQ(members["members"][1]["display"], "James Smith");

  json u = user();
  u["addresses"] = json::parse(R"([{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"},
                                   {"type": "home", "streetAddress": "456 Hollywood Blvd"}])");
  const json work = apply_ok(u, R"([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
      "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA",
      "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US",
      "primary": true}}])");
  EXPECT_EQ(work["addresses"][0]["streetAddress"], "911 Universal City Plaza");
  EXPECT_EQ(work["addresses"][0]["primary"], true);
  EXPECT_EQ(work["addresses"][1]["streetAddress"], "456 Hollywood Blvd");

  const json street = apply_ok(u, R"([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress",
                                       "value": "1010 Broadway Ave"}])");
  EXPECT_EQ(street["addresses"][0]["streetAddress"], "1010 Broadway Ave");
  EXPECT_EQ(street["addresses"][0]["locality"], "Hollywood");

  const json whole = apply_ok(user(), R"([{"op": "replace", "value": {
      "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                 {"value": "babs@jensen.org", "type": "home"}],
      "nickname": "Babs"}}])");
  EXPECT_EQ(whole["nickName"], "Babs");
  EXPECT_EQ(whole["emails"].size(), 2U);

  const json given = apply_ok(user(), R"([{"op": "REPLACE", "path": "NAME.GIVENNAME", "value": "Barb"},
      {"op": "Replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", "value": "J"},
      {"op": "replace", "path": "active", "value": false}])");
  EXPECT_EQ(given["name"]["givenName"], "Barb");
  EXPECT_EQ(given["name"]["familyName"], "J");
  EXPECT_EQ(given["active"], false);
  EXPECT_EQ(given["name"].size(), 3U);

  const json missing = apply_ok(user(), R"([{"op": "replace", "path": "nickName", "value": "B"}])");
  EXPECT_EQ(missing["nickName"], "B");  // replace of an unassigned attribute adds it
}

TEST(ScimPatch, ErrorsCarryTheirScimType) {
  EXPECT_EQ(op_error(user(), R"([{"op": "remove"}])"), ScimType::no_target);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x"}])"),
            ScimType::no_target);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "path": "emails[type eq \"other\"]", "value": {"value": "x"}}])"),
            ScimType::no_target);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "emails[value sw \"x\"].type", "value": "home"}])"),
            ScimType::no_target);  // not only eq tests: nothing to create from
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "nosuch", "value": "x"}])"), ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "value": {"nosuch": "x"}}])"), ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "name.nosuch", "value": "x"}])"), ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "name", "value": {"nosuch": "x"}}])"), ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "name.givenName.x", "value": "x"}])"), ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "emails[type eq \"work\"", "value": "x"}])"),
            ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "emails[type eq \"work\"].value.x", "value": "x"}])"),
            ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "emails[type eq \"work\"]x", "value": "x"}])"),
            ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "userName[type eq \"work\"]", "value": "x"}])"),
            ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "urn:example:Other:userName", "value": "x"}])"),
            ScimType::invalid_path);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "emails[type eq]", "value": "x"}])"), ScimType::invalid_filter);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "emails[nosuch eq \"x\"]", "value": "x"}])"),
            ScimType::invalid_filter);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "path": "active", "value": 3}])"), ScimType::invalid_value);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "path": "userName", "value": ["a"]}])"), ScimType::invalid_value);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "path": "name", "value": "Babs"}])"), ScimType::invalid_value);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "emails", "value": ["a@b"]}])"), ScimType::invalid_value);
  EXPECT_EQ(op_error(user(), R"([{"op": "remove", "path": "userName"}])"), ScimType::invalid_value);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "path": "userName", "value": null}])"), ScimType::invalid_value);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "value": "x"}])"), ScimType::invalid_value);
  EXPECT_EQ(op_error(user(), R"([{"op": "move", "path": "userName", "value": "x"}])"), ScimType::invalid_syntax);
  EXPECT_EQ(op_error(user(), R"([{"path": "userName", "value": "x"}])"), ScimType::invalid_syntax);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "userName"}])"), ScimType::invalid_syntax);
  EXPECT_EQ(op_error(user(), R"(["add"])"), ScimType::invalid_syntax);
  EXPECT_EQ(op_error(user(), R"([])"), ScimType::invalid_syntax);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": 5, "value": "x"}])"), ScimType::invalid_path);
  EXPECT_EQ(apply_error(user(), json::parse(R"({"Operations": [{"op": "add", "path": "title", "value": "x"}]})")),
            ScimType::invalid_syntax);
  EXPECT_EQ(apply_error(user(), json::parse(R"({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                                               "Operations": [{"op": "add", "path": "title", "value": "x"}]})")),
            ScimType::invalid_syntax);
  EXPECT_EQ(apply_error(user(), json::array()), ScimType::invalid_syntax);
  json many = json::array();
  for (std::size_t i = 0; i <= kMaxPatchOperations; ++i) many.push_back({{"op", "add"}, {"path", "title"}, {"value", "x"}});
  EXPECT_EQ(op_error(user(), many.dump()), ScimType::invalid_syntax);
  // Stored data that does not fit the schema is reported, not trusted.
  json broken = user();
  broken["emails"] = json::array({"plain@x.org"});
  EXPECT_EQ(op_error(broken, R"([{"op": "replace", "path": "emails.type", "value": "work"}])"), ScimType::invalid_value);
  // The detail names the failing operation.
  auto failed = apply_patch(user(), patch_of(R"([{"op": "add", "path": "title", "value": "x"}, {"op": "remove"}])"),
                            user_schema());
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message.rfind("Operations[1]: ", 0), 0U) << failed.error().message;
}

TEST(ScimPatch, ReadOnlyAndImmutableAttributesAreProtected) {
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "path": "id", "value": "other"}])"), ScimType::mutability);
  EXPECT_EQ(op_error(user(), R"([{"op": "remove", "path": "id"}])"), ScimType::mutability);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}])"),
            ScimType::mutability);
  EXPECT_EQ(op_error(user(), R"([{"op": "replace", "value": {"meta": {"version": "W/\"1\""}}}])"), ScimType::mutability);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "groups", "value": [{"value": "g1"}]}])"), ScimType::mutability);
  EXPECT_EQ(op_error(user(), R"([{"op": "add", "path": "schemas", "value": ["urn:x"]}])"), ScimType::mutability);
  EXPECT_EQ(op_error(group(), R"([{"op": "replace",
      "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"].value", "value": "other"}])", group_schema()),
            ScimType::mutability);
  // Restating a readOnly value unchanged is harmless (clients echo id and schemas back).
  const json same = apply_ok(user(), R"([{"op": "replace", "value": {"id": "2819c223-7f76-453a-919d-413861904646",
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "displayName": "Babs"}}])");
  EXPECT_EQ(same["displayName"], "Babs");
  // writeOnly can be written.
  const json pw = apply_ok(user(), R"([{"op": "replace", "path": "password", "value": "t1meMa$heen"}])");
  EXPECT_EQ(pw["password"], "t1meMa$heen");
}

TEST(ScimPatch, AllOrNothingAndTheInputIsUntouched) {
  const json original = user();
  const json copy = original;
  auto result = apply_patch(original, patch_of(R"([{"op": "replace", "path": "displayName", "value": "Changed"},
      {"op": "add", "path": "emails", "value": [{"value": "n@x.org"}]},
      {"op": "replace", "path": "id", "value": "stolen"}])"), user_schema());
  ASSERT_FALSE(result);
  EXPECT_EQ(scim_type(result.error()), ScimType::mutability);
  EXPECT_EQ(original, copy);
}

TEST(ScimPatch, PrimaryStaysUniqueAndDuplicatesAreNotAdded) {
  const json out = apply_ok(user(), R"([{"op": "add", "path": "emails", "value": {"value": "new@x.org", "type": "other", "primary": true}}])");
  ASSERT_EQ(out["emails"].size(), 3U);
  EXPECT_EQ(out["emails"][0]["primary"], false);
  EXPECT_EQ(out["emails"][2]["primary"], true);
  const json home = apply_ok(user(), R"([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}])");
  EXPECT_EQ(home["emails"][0]["primary"], false);
  EXPECT_EQ(home["emails"][1]["primary"], true);
  const json again = apply_ok(user(), R"([{"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}])");
  EXPECT_EQ(again, user());
  // The same member again (by id) with a new display updates it rather than doubling it.
  const json member = apply_ok(group(), R"([{"op": "add", "path": "members", "value": [
      {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Barbara"}]}])", group_schema());
  ASSERT_EQ(member["members"].size(), 2U);
  EXPECT_EQ(member["members"][0]["display"], "Barbara");
  // The same address as another type is another value.
  const json other = apply_ok(user(), R"([{"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "other"}]}])");
  EXPECT_EQ(other["emails"].size(), 3U);
}

TEST(ScimPatch, WhatIdentityProvidersSend) {
  // Entra ID: add a work email by filter when there is none yet; booleans as strings.
  json u = user();
  u.erase("emails");
  const json created = apply_ok(u, R"([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "bj@x.org"},
                                       {"op": "Replace", "path": "active", "value": "False"}])");
  EXPECT_EQ(created["emails"], json::parse(R"([{"type": "work", "value": "bj@x.org"}])"));
  EXPECT_EQ(created["active"], false);
  const json updated = apply_ok(user(), R"([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "bj@x.org"}])");
  EXPECT_EQ(updated["emails"][0]["value"], "bj@x.org");
  EXPECT_EQ(updated["emails"].size(), 2U);
  // Okta / Entra: remove members by value.
  const json removed = apply_ok(group(), R"([{"op": "remove", "path": "members",
      "value": [{"value": "902c246b-6245-4190-8e05-00816be7344a"}]}])", group_schema());
  ASSERT_EQ(removed["members"].size(), 1U);
  EXPECT_EQ(removed["members"][0]["value"], "2819c223-7f76-453a-919d-413861904646");
  // Schema URN as a key of a path-less value; null unassigns.
  const json urn = apply_ok(user(), R"([{"op": "replace", "value": {
      "urn:ietf:params:scim:schemas:core:2.0:User": {"displayName": "B"},
      "urn:ietf:params:scim:schemas:core:2.0:User:title": null}}])");
  EXPECT_EQ(urn["displayName"], "B");
  EXPECT_FALSE(urn.contains("title"));
  // Keys are matched ignoring case; a differently spelled existing key is replaced, not doubled.
  json odd = user();
  odd.erase("displayName");
  odd["DISPLAYNAME"] = "old";
  const json fixed = apply_ok(odd, R"([{"op": "replace", "path": "displayname", "value": "new"}])");
  EXPECT_EQ(fixed["displayName"], "new");
  EXPECT_FALSE(fixed.contains("DISPLAYNAME"));
}

TEST(ScimPatch, PathParsing) {
  auto p = parse_patch_path(R"(emails[type eq "work" and value ew "]x"].value)");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->attr.attr, "emails");
  ASSERT_TRUE(p->filter);
  EXPECT_EQ(p->sub, "value");
  auto q = parse_patch_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName");
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->filter);
  EXPECT_EQ(q->attr.sub, "givenName");
  for (const char* bad : {"", "emails]", "emails[", "name.x[type eq \"a\"]", "emails[type eq \"a\"].", "a b"}) {
    auto r = parse_patch_path(bad);
    EXPECT_FALSE(r) << bad;
  }
}

}  // namespace
}  // namespace carillon::scim
