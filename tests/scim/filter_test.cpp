// SCIM filter grammar and evaluation (RFC 7644 §3.4.2.2): every filter example of the RFC,
// precedence, case rules, multi-valued and dateTime semantics, validation against the schema,
// and malformed or hostile input.

#include "scim/filter.hpp"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scim/error.hpp"
#include "scim/samples.hpp"

namespace carillon::scim {
namespace {

std::vector<int> matching(const std::string& text) {
  auto filter = parse_filter(text);
  EXPECT_TRUE(filter) << text << ": " << (filter ? "" : filter.error().message);
  if (!filter) return {-1};
  EXPECT_TRUE(validate(*filter, user_schema())) << text;
  std::vector<int> out;
  const auto users = testing::sample_users();
  for (std::size_t i = 0; i < users.size(); ++i)
    if (matches(*filter, users[i], user_schema())) out.push_back(static_cast<int>(i));
  return out;
}

using V = std::vector<int>;

// Users: 0 bjensen, 1 jsmith, 2 Jane, 3 jdoe, 4 JOHN.Doe (tests/scim/samples.hpp).
TEST(ScimFilter, EveryRfc7644FilterExample) {
  EXPECT_EQ(matching(R"(userName eq "bjensen")"), V({0}));
  EXPECT_EQ(matching(R"(name.familyName co "O'Malley")"), V({1}));
  EXPECT_EQ(matching(R"(userName sw "J")"), V({1, 2, 3, 4}));  // userName is not caseExact
  EXPECT_EQ(matching(R"(urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J")"), V({1, 2, 3, 4}));
  EXPECT_EQ(matching(R"(title pr)"), V({0}));  // "" and null are not present
  EXPECT_EQ(matching(R"(meta.lastModified gt "2011-05-13T04:42:34Z")"), V({2}));
  EXPECT_EQ(matching(R"(meta.lastModified ge "2011-05-13T04:42:34Z")"), V({0, 2, 4}));  // 4 is +01:00
  EXPECT_EQ(matching(R"(meta.lastModified lt "2011-05-13T04:42:34Z")"), V({1}));
  EXPECT_EQ(matching(R"(meta.lastModified le "2011-05-13T04:42:34Z")"), V({0, 1, 4}));
  EXPECT_EQ(matching(R"(title pr and userType eq "Employee")"), V({0}));
  EXPECT_EQ(matching(R"(title pr or userType eq "Intern")"), V({0, 1}));
  EXPECT_EQ(matching(R"(schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")"), V({4}));
  EXPECT_EQ(matching(R"(userType eq "Employee" and (emails co "example.com" or emails.value co "example.org"))"),
            V({0, 4}));
  EXPECT_EQ(matching(R"(userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org"))"),
            V({3}));
  EXPECT_EQ(matching(R"(userType eq "Employee" and (emails.type eq "work"))"), V({0, 4}));
  EXPECT_EQ(matching(R"(userType eq "Employee" and emails[type eq "work" and value co "@example.com"])"), V({0, 4}));
  EXPECT_EQ(matching(R"(emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"])"),
            V({0, 1, 4}));
}

TEST(ScimFilter, ParsesTheAstWithPathsAndValues) {
  auto f = parse_filter(R"(urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "O\u0027Malley")");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, Filter::Kind::compare);
  EXPECT_EQ(f->path, (AttrPath{"urn:ietf:params:scim:schemas:core:2.0:User", "name", "familyName"}));
  EXPECT_EQ(f->value, "O'Malley");

  auto vp = parse_filter(R"(emails[type eq "work" and not (value ew ".org")])");
  ASSERT_TRUE(vp);
  EXPECT_EQ(vp->kind, Filter::Kind::value_path);
  EXPECT_EQ(vp->path.attr, "emails");
  ASSERT_EQ(vp->children.size(), 1U);
  EXPECT_EQ(vp->children[0].kind, Filter::Kind::logical_and);
  EXPECT_EQ(vp->children[0].children[1].kind, Filter::Kind::logical_not);

  for (const auto& [text, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"x eq true", true}, {"x eq FALSE", false}, {"x eq Null", nullptr}, {"x eq -12", -12},
           {"x eq 1.5e3", 1500.0}, {R"(x eq "a\"b\\c\n")", "a\"b\\c\n"}, {R"(x eq "\u00e9")", "\xc3\xa9"}}) {
    auto parsed = parse_filter(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(parsed->value, value) << text;
  }
}

TEST(ScimFilter, NotBindsTighterThanAndWhichBindsTighterThanOr) {
  auto f = parse_filter(R"(a pr or b pr and c pr)");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->kind, Filter::Kind::logical_or);
  ASSERT_EQ(f->children.size(), 2U);
  EXPECT_EQ(f->children[0].kind, Filter::Kind::present);
  EXPECT_EQ(f->children[1].kind, Filter::Kind::logical_and);

  auto g = parse_filter(R"(a pr and b pr or c pr and d pr or e pr)");
  ASSERT_TRUE(g);
  ASSERT_EQ(g->kind, Filter::Kind::logical_or);
  EXPECT_EQ(g->children.size(), 3U);
  EXPECT_EQ(to_string(*g), "(a pr and b pr) or (c pr and d pr) or e pr");

  // and-first gives {1} + ({0} & {0}); left-to-right grouping would give {0}.
  EXPECT_EQ(matching(R"(active eq false or userName eq "bjensen" and title pr)"), V({0, 1}));
  EXPECT_EQ(matching(R"((active eq false or userName eq "bjensen") and title pr)"), V({0}));
  EXPECT_EQ(matching(R"(not (active eq true) and userType eq "Intern")"), V({1}));
  EXPECT_EQ(matching(R"(not (active eq true and userType eq "Intern"))"), V({0, 1, 2, 3, 4}));
  EXPECT_EQ(matching(R"(not(active eq true))"), V({1, 3}));
}

TEST(ScimFilter, KeywordsAndAttributeNamesIgnoreCase) {
  EXPECT_EQ(matching(R"(USERNAME EQ "bjensen")"), V({0}));
  EXPECT_EQ(matching(R"(Name.FamilyName Co "o'malley")"), V({1}));
  EXPECT_EQ(matching(R"(TITLE PR AND USERTYPE EQ "employee")"), V({0}));
  EXPECT_EQ(matching(R"(NOT (ACTIVE EQ TRUE))"), V({1, 3}));
  EXPECT_EQ(matching(R"(EMAILS[TYPE EQ "WORK"])"), V({0, 1, 4}));
  EXPECT_EQ(matching(R"(URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:USERNAME eq "jdoe")"), V({3}));
  // Keys in the resource may be spelled differently too.
  auto f = parse_filter(R"(userName eq "x" and name.givenName eq "Y")");
  ASSERT_TRUE(f);
  EXPECT_TRUE(matches(*f, nlohmann::json::parse(R"({"USERNAME": "X", "Name": {"GIVENNAME": "y"}})"), user_schema()));
}

TEST(ScimFilter, CaseExactAttributesCompareExactly) {
  EXPECT_EQ(matching(R"(id eq "2819c223-7f76-453a-919d-413861904646")"), V({0}));
  EXPECT_EQ(matching(R"(id eq "2819C223-7F76-453A-919D-413861904646")"), V());
  EXPECT_EQ(matching(R"(externalId eq "BJENSEN")"), V());
  EXPECT_EQ(matching(R"(externalId eq "bjensen")"), V({0}));
  EXPECT_EQ(matching(R"(userName eq "JANE")"), V({2}));
  EXPECT_EQ(matching(R"(meta.version eq "W/\"3694e05e9dff591\"")"), V({0}));
  EXPECT_EQ(matching(R"(meta.version eq "w/\"3694E05E9DFF591\"")"), V());
  auto group = nlohmann::json::parse(R"({"displayName": "Doors", "members": [{"value": "AbC"}]})");
  auto f = parse_filter(R"(members.value eq "abc")");
  ASSERT_TRUE(f);
  EXPECT_FALSE(matches(*f, group, group_schema()));  // member ids are caseExact
  auto g = parse_filter(R"(displayName eq "DOORS")");
  ASSERT_TRUE(g);
  EXPECT_TRUE(matches(*g, group, group_schema()));
}

TEST(ScimFilter, MultiValuedPresenceNullAndNegation) {
  EXPECT_EQ(matching(R"(emails pr)"), V({0, 1, 4}));  // [] is not present
  EXPECT_EQ(matching(R"(emails.value pr)"), V({0, 1, 4}));
  EXPECT_EQ(matching(R"(title eq null)"), V({1, 2, 3, 4}));
  EXPECT_EQ(matching(R"(title ne null)"), V({0}));
  EXPECT_EQ(matching(R"(title ne "Tour Guide")"), V({1, 2, 3, 4}));  // ne is not eq: absent matches
  EXPECT_EQ(matching(R"(emails.type ne "work")"), V({2, 3}));         // no value equals "work"
  EXPECT_EQ(matching(R"(emails.value ew ".ORG")"), V({0, 1}));
  EXPECT_EQ(matching(R"(emails co "EXAMPLE")"), V({0, 1, 4}));
  EXPECT_EQ(matching(R"(name.givenName sw "j")"), V({1, 2}));
  EXPECT_EQ(matching(R"(name pr)"), V({0, 1, 2}));
  EXPECT_EQ(matching(R"(active eq true)"), V({0, 2, 4}));
  EXPECT_EQ(matching(R"(active eq false)"), V({1}));
  EXPECT_EQ(matching(R"(userName gt "j")"), V({1, 2, 3, 4}));
  EXPECT_EQ(matching(R"(userName le "JDOE")"), V({0, 2, 3}));
  EXPECT_TRUE(is_present(nlohmann::json::parse(R"({"a": {"b": "x"}})")));
  EXPECT_FALSE(is_present(nlohmann::json::parse(R"({"a": {"b": ""}, "c": [null, ""]})")));
  EXPECT_TRUE(is_present(false));
  EXPECT_TRUE(is_present(0));
}

TEST(ScimFilter, DateTimesCompareAsInstants) {
  EXPECT_EQ(matching(R"(meta.lastModified eq "2011-05-13T04:42:34.000Z")"), V({0, 4}));
  EXPECT_EQ(matching(R"(meta.lastModified eq "2011-05-13T06:42:34+02:00")"), V({0, 4}));
  EXPECT_EQ(matching(R"(meta.created lt "2010-01-01T00:00:00Z")"), V({3}));
  EXPECT_EQ(matching(R"(meta.created sw "2011")"), V({1}));
  auto a = parse_date_time("2011-05-13T04:42:34.5Z");
  auto b = parse_date_time("2011-05-13T04:42:34.499999999Z");
  ASSERT_TRUE(a && b);
  EXPECT_LT(*b, *a);
  EXPECT_EQ(parse_date_time("1970-01-01T00:00:00Z")->seconds, 0);
  EXPECT_EQ(parse_date_time("2000-03-01T00:00:00Z")->seconds, 951868800);
  EXPECT_EQ(parse_date_time("1969-12-31T23:00:00-01:00")->seconds, 0);
  for (const char* bad : {"2011-05-13", "2011-05-13T04:42:34", "2011-13-01T00:00:00Z", "2011-05-13T24:00:00Z",
                          "2011-05-13T04:42:34.Z", "2011-05-13T04:42:34Zjunk", "yesterday", ""})
    EXPECT_FALSE(parse_date_time(bad)) << bad;
}

TEST(ScimFilter, UnknownAttributesNeverMatch) {
  auto f = parse_filter(R"(nosuch eq "x" or urn:example:Other:userName eq "bjensen")");
  ASSERT_TRUE(f);
  for (const auto& user : testing::sample_users()) EXPECT_FALSE(matches(*f, user, user_schema()));
  auto n = parse_filter(R"(nosuch pr)");
  ASSERT_TRUE(n);
  EXPECT_FALSE(matches(*n, testing::sample_users()[0], user_schema()));
}

TEST(ScimFilter, ValidationRefusesMeaninglessComparisons) {
  for (const char* text : {
           R"(active gt true)",                                  // ordering on boolean
           R"(x509Certificates.value lt "MIIB")",                // ordering on binary
           R"(nosuch eq "x")",                                   // unknown attribute
           R"(name.nosuch eq "x")",                              // unknown sub-attribute
           R"(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1")",
           R"(active eq "true")",                                // compValue type
           R"(userName eq 12)",
           R"(userName co true)",
           R"(active co true)",
           R"(meta.created gt "yesterday")",
           R"(name eq "Barbara")",                               // complex without value
           R"(userName[value eq "x"])",                          // value filter on a simple attribute
           R"(emails[value.x eq "y"])",                          // sub-sub-attribute
           R"(emails[nosuch eq "y"])",
           R"(userName gt null)",
       }) {
    auto f = parse_filter(text);
    ASSERT_TRUE(f) << text;
    auto ok = validate(*f, user_schema());
    ASSERT_FALSE(ok) << text;
    EXPECT_EQ(ok.error().code, Errc::invalid_argument);
    EXPECT_EQ(scim_type(ok.error()), ScimType::invalid_filter) << text;
  }
  for (const char* text : {R"(emails[type eq "work"])", R"(members.value eq "x")", R"(userName eq null)",
                           R"(meta.lastModified gt "2011-05-13T04:42:34Z")", R"(emails eq "a@b")"}) {
    auto f = parse_filter(text);
    ASSERT_TRUE(f) << text;
    const Schema& schema = std::string(text).starts_with("members") ? group_schema() : user_schema();
    EXPECT_TRUE(validate(*f, schema)) << text;
  }
}

TEST(ScimFilter, MalformedAndHostileFiltersAreRejectedWithAPosition) {
  for (const char* text : {
           "",
           "   ",
           "userName",
           "userName eq",
           "userName eq ",
           R"(userName eq "bjensen)",
           R"((userName eq "x")",
           R"(userName eq "x"))",
           R"(((userName eq "x"))",
           R"(userName eq "x" and)",
           R"(userName eq "x" or 1=1)",
           R"(userName eq "x" or "1"="1")",
           R"(userName eq 'x')",
           R"('; DROP TABLE users; --)",
           R"(userName eq "x"; DROP TABLE users)",
           R"(userName eq "x" -- comment)",
           R"(userName eq "x" /* c */)",
           R"(userName like "x")",
           R"(userName == "x")",
           R"(userName eq x)",
           R"(userName eq "x" "y")",
           R"(userName eq "x" userName eq "y")",
           R"(and userName eq "x")",
           R"(not userName eq "x")",
           R"(emails[type eq "work")",
           R"(emails[type eq "work"]])",
           R"(emails[type eq "work" and ims[type eq "x"]])",
           R"(emails [type eq "work"])",
           R"(emails[])",
           R"(userName eq "\q")",
           "userName eq \"a\x01" "b\"",
           R"(userName eq 01)",
           R"(userName eq 1.)",
           R"(userName eq --1)",
           R"(userName eq "x"and title pr)",
           R"(userName eq "x" andtitle pr)",
           R"(userName eq"x")",
           R"(userNameeq "x")",
           R"(userName pr pr)",
           R"(1userName eq "x")",
           R"(name.givenName.x eq "y")",
           R"(na%me eq "x")",
           R"(userName eq "x" )()",
           R"(())",
           R"(not ())",
           R"(title pr and ()",
           R"(userName eq true false)",
           R"(:userName eq "x")",
           R"(userName eq "x" or userName eq "y" or)",
       }) {
    auto f = parse_filter(text);
    ASSERT_FALSE(f) << "accepted: " << text;
    EXPECT_EQ(f.error().code, Errc::invalid_argument) << text;
    EXPECT_EQ(scim_type(f.error()), ScimType::invalid_filter) << text;
    EXPECT_NE(f.error().message.find("offset"), std::string::npos) << f.error().message;
  }
  EXPECT_FALSE(parse_filter(std::string("userName eq \"x\"\0", 16)));  // NUL after the filter
  auto unknown = parse_filter(R"(userName xx "x")");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("offset 9: unknown operator 'xx'"), std::string::npos)
      << unknown.error().message;
  // An injection-looking value inside a proper string is just data.
  auto data = parse_filter(R"(userName eq "x' or 1=1; DROP TABLE users; --")");
  ASSERT_TRUE(data);
  EXPECT_EQ(data->value, "x' or 1=1; DROP TABLE users; --");
}

TEST(ScimFilter, LimitsStopAbusiveFilters) {
  auto nest = [](std::size_t depth) {
    return std::string(depth, '(') + "userName pr" + std::string(depth, ')');
  };
  EXPECT_TRUE(parse_filter(nest(32)));
  auto deep = parse_filter(nest(33));
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message.find("nested deeper than 32"), std::string::npos);
  std::string nots;
  for (int i = 0; i < 33; ++i) nots += "not (";
  nots += "userName pr" + std::string(33, ')');
  EXPECT_FALSE(parse_filter(nots));
  // A huge nesting is refused without exhausting the stack.
  FilterLimits roomy;
  roomy.max_length = 2'000'000;
  auto huge = parse_filter(nest(100'000), roomy);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("nested deeper"), std::string::npos);

  auto too_long = parse_filter(R"(userName eq ")" + std::string(4096, 'a') + "\"");
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().message.find("longer than 4096"), std::string::npos);

  auto terms = [](int n) {
    std::string text = "a pr";
    for (int i = 1; i < n; ++i) text += " or a pr";
    return text;
  };
  EXPECT_TRUE(parse_filter(terms(200)));
  auto wide = parse_filter(terms(300));  // 2,400 bytes, 599 expressions
  ASSERT_FALSE(wide);
  EXPECT_NE(wide.error().message.find("more than 512 expressions"), std::string::npos);
  FilterLimits small;
  small.max_nodes = 3;
  EXPECT_TRUE(parse_filter("a pr or b pr", small));
  EXPECT_FALSE(parse_filter("a pr or b pr or c pr", small));
}

TEST(ScimFilter, RenderingParsesBackToTheSameFilter) {
  for (const char* text : {
           R"(userType eq "Employee" and (emails co "example.com" or emails.value co "example.org"))",
           R"(userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org"))",
           R"(emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"])",
           R"(urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "O\"Malley\\")",
           R"(a eq 1 or b ge -2.5 and not (c pr))",
       }) {
    auto f = parse_filter(text);
    ASSERT_TRUE(f) << text;
    const std::string rendered = to_string(*f);
    auto again = parse_filter(rendered);
    ASSERT_TRUE(again) << rendered;
    EXPECT_EQ(to_string(*again), rendered);
  }
}

TEST(ScimFilter, MutatedFiltersEitherParseAndRoundTripOrFailCleanly) {
  // Deterministic mutations (byte flips, insertions, deletions, splices) of valid filters; every
  // outcome must be a clean error or a filter whose rendering parses to the same rendering, and
  // evaluation of what parses must not crash on any sample user.
  const std::vector<std::string> seeds = {
      R"(userType eq "Employee" and (emails co "example.com" or emails.value co "example.org"))",
      R"(emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"])",
      R"(not (meta.lastModified ge "2011-05-13T04:42:34Z") and title pr)",
      R"(urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "O\"Malley" or active eq false)",
      R"(x eq -1.5e3 or y ne null and z lt true)",
  };
  const std::string alphabet = "()[]\" \\.:-_$aAzZ09eEoOrRnNtTpP\t\x01\x7f\xc3\xa9";
  std::mt19937 rng(20240607);
  const auto users = testing::sample_users();
  int parsed = 0;
  for (int round = 0; round < 6000; ++round) {
    std::string text = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const std::size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        case 2: text.erase(at, 1 + rng() % 3); break;
        default: text.insert(at, seeds[rng() % seeds.size()].substr(0, rng() % 20)); break;
      }
    }
    auto f = parse_filter(text);
    if (!f) {
      ASSERT_EQ(scim_type(f.error()), ScimType::invalid_filter) << text;
      continue;
    }
    ++parsed;
    const std::string rendered = to_string(*f);
    auto again = parse_filter(rendered);
    ASSERT_TRUE(again) << text << " -> " << rendered;
    ASSERT_EQ(to_string(*again), rendered) << text;
    (void)validate(*f, user_schema());
    for (const auto& user : users) (void)matches(*f, user, user_schema());
  }
  EXPECT_GT(parsed, 100);  // the mutations also reach the evaluator
}

TEST(ScimFilter, AttrPathParsing) {
  auto p = parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->uri, "urn:ietf:params:scim:schemas:core:2.0:User");
  EXPECT_EQ(p->attr, "name");
  EXPECT_EQ(p->sub, "givenName");
  EXPECT_TRUE(parse_attr_path("members.$ref"));
  for (const char* bad : {"", "a.b.c", "1a", "a b", "a[", ":a", "a.", "a-$"}) {
    auto r = parse_attr_path(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(scim_type(r.error()), ScimType::invalid_path);
  }
  EXPECT_EQ(resolve(*parse_attr_path("NAME.givenname"), user_schema())->name, "name");
  EXPECT_EQ(resolve(*parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:Group:userName"), user_schema()), nullptr);
}

TEST(ScimError, DocumentCarriesScimTypeAndStatus) {
  auto f = parse_filter("userName eq");
  ASSERT_FALSE(f);
  const auto doc = error_document(f.error());
  EXPECT_EQ(doc["status"], "400");
  EXPECT_EQ(doc["scimType"], "invalidFilter");
  EXPECT_EQ(doc["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
  EXPECT_EQ(http_status(Error{Errc::not_found, "no such user", ""}), 404);
  EXPECT_FALSE(error_document(Error{Errc::not_found, "no such user", ""}).contains("scimType"));
  EXPECT_EQ(http_status(scim_fail(ScimType::uniqueness, "taken").value()), 409);
}

}  // namespace
}  // namespace carillon::scim
