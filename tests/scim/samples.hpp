#pragma once
// Sample SCIM users shared by the filter tests and the differential test against the npm oracle.
// Built to exercise the RFC 7644 filter examples: nested names, multi-valued emails/ims, an
// empty title, a user without emails, dateTimes in two zones, mixed-case values.

#include <vector>

#include <nlohmann/json.hpp>

namespace carillon::scim::testing {

inline std::vector<nlohmann::json> sample_users() {
  return {
      nlohmann::json::parse(R"({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "bjensen",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                   {"value": "babs@jensen.org", "type": "home"}],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
                 "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3694e05e9dff591\""}
      })"),
      nlohmann::json::parse(R"({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "c75ad752-64ae-4823-840d-ffa80929976c",
        "userName": "jsmith",
        "name": {"familyName": "O'Malley", "givenName": "John"},
        "userType": "Intern",
        "active": false,
        "emails": [{"value": "jsmith@example.org", "type": "work"}],
        "ims": [{"value": "jsmith@foo.com", "type": "xmpp"}],
        "meta": {"resourceType": "User", "created": "2011-01-01T00:00:00Z",
                 "lastModified": "2011-05-13T04:42:33Z"}
      })"),
      nlohmann::json::parse(R"({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "0a4bd1f6-54c2-4a83-9de2-1c6b1e1e2d11",
        "userName": "Jane",
        "name": {"givenName": "Jane"},
        "title": "",
        "userType": "Employee",
        "active": true,
        "emails": [],
        "meta": {"resourceType": "User", "created": "2012-01-01T00:00:00Z",
                 "lastModified": "2012-01-01T00:00:00Z"}
      })"),
      nlohmann::json::parse(R"({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "9e4ad9c1-0b44-4c9a-a2a4-36b4e1c8a0f0",
        "userName": "jdoe",
        "title": null,
        "userType": "Contractor",
        "meta": {"resourceType": "User", "created": "2009-06-01T12:00:00Z"}
      })"),
      nlohmann::json::parse(R"({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "5d48a0a8-e0f5-4a2b-8f2d-1f0c7b1b9a77",
        "userName": "JOHN.Doe",
        "displayName": "John Doe",
        "userType": "employee",
        "active": true,
        "emails": [{"value": "john@EXAMPLE.com", "type": "Work"}],
        "ims": [{"value": "jd@foo.com", "type": "xmpp"}],
        "meta": {"resourceType": "User", "created": "2013-03-03T03:03:03Z",
                 "lastModified": "2011-05-13T05:42:34+01:00"}
      })"),
  };
}

}  // namespace carillon::scim::testing
