// The store against real SQLite files and a real PostgreSQL 15 server: every repository
// method, run once per backend.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <soci/soci.h>

#include "store/audit_log.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/migrations.hpp"
#include "store/sql_support.hpp"
#include "store/tenancy_repository.hpp"
#include "store/user_repository.hpp"
#include "store/postgres_databases.hpp"
#include "support/temp_dir.hpp"

namespace carillon::store {
namespace {

using devices::ClaimCode;
using devices::Device;
using devices::DeviceFilter;
using tenancy::Label;
using tenancy::Node;
using tenancy::NodeFilter;
using tenancy::NodeKind;
using tenancy::Visibility;

// One PostgreSQL server per test binary, started on first use and stopped after all tests.

const std::string kNasty = "Robert'); DROP TABLE nodes; -- \"quoted\" :p1 $1 %_! \\ \xE2\x9C\x93 \xC3\xBC\xF0\x9F\x94\x94";

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const std::string url = GetParam() == Backend::sqlite ? "sqlite:" + (dir_.path() / "store.db").string()
                                                          : postgres_databases->fresh_database("t");
    auto db = Database::open(url);
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    auto migrated = db_->migrate();
    ASSERT_TRUE(migrated) << migrated.error().message;
    tenancy_ = std::make_unique<SqlTenancyRepository>(*db_);
    users_ = std::make_unique<SqlUserRepository>(*db_);
    devices_ = std::make_unique<SqlDeviceRepository>(*db_);
    audit_ = std::make_unique<SqlAuditLog>(*db_);
  }

  std::string next_id(const std::string& prefix) {
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "%08d", ++counter_);
    return prefix + "_" + buffer;
  }

  AuditEvent event(const std::string& action, const std::string& target_id, const std::string& company_id = "") {
    AuditEvent e;
    e.id = next_id("au");
    e.at = 1000;
    e.actor = "us_admin";
    e.action = action;
    e.target_type = action.substr(0, action.find('.'));
    e.target_id = target_id;
    e.company_id = company_id;
    e.details = {{"why", "test"}};
    return e;
  }

  std::size_t audit_count(const std::string& target_id) {
    AuditFilter filter;
    filter.target_id = target_id;
    filter.page.limit = 500;
    auto page = audit_->list(filter);
    EXPECT_TRUE(page);
    return page ? page->items.size() : 0;
  }

  Node company(const std::string& name = "Acme") {
    Node node;
    node.id = next_id("co");
    node.kind = NodeKind::company;
    node.company_id = node.id;
    node.name = name;
    node.created_at = node.updated_at = 100;
    auto inserted = tenancy_->insert(node, event("company.create", node.id, node.id));
    EXPECT_TRUE(inserted) << inserted.error().message;
    return node;
  }

  Node child(NodeKind kind, const Node& parent, const std::string& name = "child") {
    Node node;
    node.id = next_id(kind == NodeKind::project ? "pr" : "si");
    node.kind = kind;
    node.parent_id = parent.id;
    node.company_id = parent.company_id;
    node.name = name;
    if (kind == NodeKind::site) node.time_zone = "Europe/Zurich";
    node.created_at = node.updated_at = 100;
    auto inserted = tenancy_->insert(node, event("node.create", node.id, node.company_id));
    EXPECT_TRUE(inserted) << inserted.error().message;
    return node;
  }

  ClaimCode claim_code(const Node& site, std::int64_t expires_at = 10'000) {
    ClaimCode code;
    code.id = next_id("cc");
    code.code_hash = "hash-" + code.id;
    code.company_id = site.company_id;
    code.site_id = site.id;
    code.role = "door-station";
    code.config = {{"sip", {{"display", "Door"}}}};
    code.created_at = 100;
    code.expires_at = expires_at;
    code.created_by = "us_admin";
    auto inserted = devices_->insert_claim_code(code, event("claim_code.create", code.id, code.company_id));
    EXPECT_TRUE(inserted) << inserted.error().message;
    return code;
  }

  Device device_for(const ClaimCode& code, const std::string& serial) {
    Device device;
    device.id = next_id("dv");
    device.serial = serial;
    device.company_id = code.company_id;
    device.site_id = code.site_id;
    device.name = "Front door " + serial;
    device.role = code.role;
    device.cert_serial = "c0ffee" + device.id.substr(3);
    device.cert_expires_at = 99'999;
    device.desired_config = {{"version", 1}};
    device.desired_version = 1;
    device.created_at = device.updated_at = 200;
    return device;
  }

  Device claimed(const Node& site, const std::string& serial) {
    ClaimCode code = claim_code(site);
    Device device = device_for(code, serial);
    auto status = devices_->claim(code.id, 500, device, event("device.claim", device.id, device.company_id));
    EXPECT_TRUE(status) << status.error().message;
    return device;
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SqlTenancyRepository> tenancy_;
  std::unique_ptr<SqlUserRepository> users_;
  std::unique_ptr<SqlDeviceRepository> devices_;
  std::unique_ptr<SqlAuditLog> audit_;
  int counter_ = 0;
};

// ---- Database ---------------------------------------------------------------------------

TEST_P(StoreTest, MigrationsAreIdempotent) {
  EXPECT_EQ(db_->backend(), GetParam() == Backend::sqlite ? "sqlite" : "postgresql");
  auto before = db_->schema_version();
  ASSERT_TRUE(before);
  const int latest = migrations().back().version;
  EXPECT_EQ(*before, latest);
  ASSERT_TRUE(db_->migrate());
  ASSERT_TRUE(db_->migrate());
  EXPECT_EQ(*db_->schema_version(), latest);
  EXPECT_TRUE(db_->ping());
  // The schema still works after the repeated runs.
  Node acme = company();
  EXPECT_TRUE(tenancy_->find(NodeKind::company, acme.id));
}

TEST(DatabaseOpen, RejectsUnknownSchemesAndBadPools) {
  EXPECT_EQ(Database::open("mysql://x").error().code, Errc::invalid_argument);
  EXPECT_EQ(Database::open("sqlite:/tmp/a=b.db").error().code, Errc::invalid_argument);
  EXPECT_EQ(Database::open("sqlite:/tmp/x.db", 0).error().code, Errc::invalid_argument);
  EXPECT_EQ(Database::open("postgresql:host=127.0.0.1 port=1 dbname=x user=postgres connect_timeout=2", 1)
                .error()
                .code,
            Errc::unavailable);
}

TEST(DatabaseOpen, SqliteUsesWalAndAcceptsTripleSlashUrl) {
  testing::TempDir dir;
  auto db = Database::open("sqlite://" + (dir.path() / "x.db").string(), 2);
  ASSERT_TRUE(db) << db.error().message;
  ASSERT_TRUE((*db)->migrate());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "x.db-wal"));
}

// ---- Tenancy ----------------------------------------------------------------------------

TEST_P(StoreTest, TenancyInsertFindUpdateRoundTrip) {
  Node acme = company();
  Node project = child(NodeKind::project, acme, "HQ");
  Node site = child(NodeKind::site, project, "Lobby");

  auto found = tenancy_->find(NodeKind::site, site.id);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->parent_id, project.id);
  EXPECT_EQ(found->company_id, acme.id);
  EXPECT_EQ(found->time_zone, "Europe/Zurich");
  EXPECT_EQ(found->name, "Lobby");
  EXPECT_EQ(found->created_at, 100);
  // A site is not a project.
  EXPECT_EQ(tenancy_->find(NodeKind::project, site.id).error().code, Errc::not_found);

  Node changed = *found;
  changed.name = kNasty;
  changed.time_zone = "America/New_York";
  changed.attributes = {{"floor", "3"}, {kNasty, kNasty}};
  changed.labels = {{"vip", "#ff0000"}, {kNasty, "#00ff00"}};
  changed.updated_at = 300;
  ASSERT_TRUE(tenancy_->update(changed, event("site.update", site.id, acme.id)));
  auto updated = tenancy_->find(NodeKind::site, site.id);
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->name, kNasty);
  EXPECT_EQ(updated->time_zone, "America/New_York");
  EXPECT_EQ(updated->attributes, changed.attributes);
  EXPECT_EQ(updated->labels, changed.labels);
  EXPECT_EQ(updated->updated_at, 300);
  EXPECT_EQ(updated->created_at, 100);
  EXPECT_EQ(audit_count(site.id), 2u);

  changed.labels = {{"only", "#123456"}};
  ASSERT_TRUE(tenancy_->update(changed, event("site.update", site.id, acme.id)));
  EXPECT_EQ(tenancy_->find(NodeKind::site, site.id)->labels, changed.labels);
}

TEST_P(StoreTest, TenancyInsertChecksParentAndDuplicates) {
  Node acme = company();
  Node orphan;
  orphan.id = next_id("pr");
  orphan.kind = NodeKind::project;
  orphan.parent_id = "co_missing";
  orphan.name = "orphan";
  AuditEvent e = event("project.create", orphan.id);
  EXPECT_EQ(tenancy_->insert(orphan, e).error().code, Errc::not_found);
  EXPECT_EQ(audit_count(orphan.id), 0u);

  // A site's parent must be a project, not a company.
  Node site;
  site.id = next_id("si");
  site.kind = NodeKind::site;
  site.parent_id = acme.id;
  EXPECT_EQ(tenancy_->insert(site, event("site.create", site.id)).error().code, Errc::not_found);

  Node other = company("Other");
  Node project;
  project.id = next_id("pr");
  project.kind = NodeKind::project;
  project.parent_id = acme.id;
  project.company_id = other.id;
  EXPECT_EQ(tenancy_->insert(project, event("project.create", project.id)).error().code, Errc::invalid_argument);

  Node duplicate = acme;
  AuditEvent dup_event = event("company.create", acme.id, acme.id);
  auto status = tenancy_->insert(duplicate, dup_event);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::conflict);
  // The failed insert left no event behind.
  EXPECT_EQ(audit_count(acme.id), 1u);
}

TEST_P(StoreTest, TenancyUpdateAndRemoveMissingAreNotFound) {
  Node ghost;
  ghost.id = "co_ghost";
  ghost.kind = NodeKind::company;
  EXPECT_EQ(tenancy_->update(ghost, event("company.update", ghost.id)).error().code, Errc::not_found);
  EXPECT_EQ(tenancy_->remove(NodeKind::company, ghost.id, event("company.delete", ghost.id)).error().code,
            Errc::not_found);
  EXPECT_EQ(tenancy_->find(NodeKind::company, ghost.id).error().code, Errc::not_found);
  EXPECT_EQ(audit_count(ghost.id), 0u);
}

TEST_P(StoreTest, TenancyRemoveRefusesNodesWithChildrenOrDevices) {
  Node acme = company();
  Node project = child(NodeKind::project, acme);
  Node site = child(NodeKind::site, project);
  claim_code(site);  // unused codes go with their site
  Device device = claimed(site, "SN-1");

  EXPECT_EQ(tenancy_->remove(NodeKind::company, acme.id, event("company.delete", acme.id)).error().code,
            Errc::conflict);
  EXPECT_EQ(tenancy_->remove(NodeKind::project, project.id, event("project.delete", project.id)).error().code,
            Errc::conflict);
  EXPECT_EQ(tenancy_->remove(NodeKind::site, site.id, event("site.delete", site.id)).error().code, Errc::conflict);
  EXPECT_EQ(audit_count(acme.id), 1u);
  EXPECT_EQ(audit_count(site.id), 1u);

  Node empty_site = child(NodeKind::site, project, "empty");
  empty_site.labels = {{"x", "#000000"}};
  ASSERT_TRUE(tenancy_->update(empty_site, event("site.update", empty_site.id)));
  claim_code(empty_site);
  ASSERT_TRUE(tenancy_->remove(NodeKind::site, empty_site.id, event("site.delete", empty_site.id)));
  EXPECT_EQ(tenancy_->find(NodeKind::site, empty_site.id).error().code, Errc::not_found);
  EXPECT_EQ(audit_count(empty_site.id), 3u);
  EXPECT_TRUE(devices_->list_claim_codes(empty_site.id, {})->items.empty());

  Node lone = company("Lone");
  ASSERT_TRUE(tenancy_->set_logo(lone.id, {"image/png", "png"}, event("company.logo", lone.id)));
  ASSERT_TRUE(tenancy_->remove(NodeKind::company, lone.id, event("company.delete", lone.id)));
  EXPECT_EQ(tenancy_->logo(lone.id).error().code, Errc::not_found);
  (void)device;
}

TEST_P(StoreTest, TenancyListFiltersByVisibilityParentAndLabel) {
  Node acme = company("Acme");
  Node other = company("Other");
  Node p1 = child(NodeKind::project, acme, "p1");
  Node p2 = child(NodeKind::project, acme, "p2");
  Node p3 = child(NodeKind::project, other, "p3");
  p1.labels = {{"gold", "#ffd700"}, {kNasty, "#000000"}};
  ASSERT_TRUE(tenancy_->update(p1, event("project.update", p1.id)));
  p3.labels = {{"gold", "#ffd700"}};
  ASSERT_TRUE(tenancy_->update(p3, event("project.update", p3.id)));

  NodeFilter filter;
  filter.kind = NodeKind::project;
  auto all = tenancy_->list(Visibility{true, ""}, filter);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->items.size(), 3u);
  EXPECT_TRUE(all->next.empty());

  auto mine = tenancy_->list(Visibility{false, acme.id}, filter);
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->items.size(), 2u);
  EXPECT_EQ(mine->items[0].id, p1.id);
  EXPECT_EQ(mine->items[0].labels, p1.labels);
  EXPECT_EQ(mine->items[1].id, p2.id);

  filter.label = "gold";
  auto gold = tenancy_->list(Visibility{true, ""}, filter);
  ASSERT_TRUE(gold);
  ASSERT_EQ(gold->items.size(), 2u);
  EXPECT_EQ(gold->items[0].id, p1.id);
  EXPECT_EQ(gold->items[1].id, p3.id);

  filter.label = kNasty;
  auto nasty = tenancy_->list(Visibility{true, ""}, filter);
  ASSERT_EQ(nasty->items.size(), 1u);
  EXPECT_EQ(nasty->items[0].id, p1.id);

  filter.label = "gol%";
  EXPECT_TRUE(tenancy_->list(Visibility{true, ""}, filter)->items.empty());

  filter.label.clear();
  filter.parent_id = other.id;
  auto under_other = tenancy_->list(Visibility{true, ""}, filter);
  ASSERT_EQ(under_other->items.size(), 1u);
  EXPECT_EQ(under_other->items[0].id, p3.id);
  // Another company's projects stay invisible even when asked for by parent.
  EXPECT_TRUE(tenancy_->list(Visibility{false, acme.id}, filter)->items.empty());

  NodeFilter companies;
  companies.kind = NodeKind::company;
  EXPECT_EQ(tenancy_->list(Visibility{true, ""}, companies)->items.size(), 2u);
}

TEST_P(StoreTest, TenancyPaginationWalksAll120) {
  Node acme = company();
  std::vector<std::string> expected;
  for (int i = 0; i < 120; ++i) expected.push_back(child(NodeKind::project, acme, "p" + std::to_string(i)).id);
  NodeFilter filter;
  filter.kind = NodeKind::project;
  filter.parent_id = acme.id;
  filter.page.limit = 50;
  std::vector<std::string> seen;
  std::vector<std::size_t> sizes;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = tenancy_->list(Visibility{false, acme.id}, filter);
    ASSERT_TRUE(page) << page.error().message;
    sizes.push_back(page->items.size());
    for (const Node& n : page->items) seen.push_back(n.id);
    if (page->next.empty()) break;
    EXPECT_EQ(page->next, page->items.back().id);
    filter.page.after = page->next;
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{50, 50, 20}));
  EXPECT_EQ(seen, expected);

  // An exact multiple ends without a dangling empty page.
  filter.page = {"", 60};
  auto first = tenancy_->list(Visibility{false, acme.id}, filter);
  filter.page.after = first->next;
  auto second = tenancy_->list(Visibility{false, acme.id}, filter);
  EXPECT_EQ(second->items.size(), 60u);
  EXPECT_TRUE(second->next.empty());
}

TEST_P(StoreTest, LogoRoundTripAndReplace) {
  Node acme = company();
  EXPECT_EQ(tenancy_->logo(acme.id).error().code, Errc::not_found);
  std::string bytes;
  for (int i = 0; i < 70'000; ++i) bytes.push_back(static_cast<char>(i % 256));
  ASSERT_TRUE(tenancy_->set_logo(acme.id, {"image/png", bytes}, event("company.logo", acme.id)));
  auto logo = tenancy_->logo(acme.id);
  ASSERT_TRUE(logo);
  EXPECT_EQ(logo->content_type, "image/png");
  EXPECT_EQ(logo->bytes, bytes);
  ASSERT_TRUE(tenancy_->set_logo(acme.id, {"image/svg+xml", "<svg/>"}, event("company.logo", acme.id)));
  EXPECT_EQ(tenancy_->logo(acme.id)->bytes, "<svg/>");
  EXPECT_EQ(tenancy_->set_logo("co_missing", {"image/png", "x"}, event("company.logo", "co_missing")).error().code,
            Errc::not_found);
  EXPECT_EQ(audit_count(acme.id), 3u);
  EXPECT_EQ(audit_count("co_missing"), 0u);
}

// ---- Users ------------------------------------------------------------------------------

identity::User make_user(const std::string& id, const std::string& username, const std::string& company_id,
                         identity::Role role = identity::Role::viewer) {
  return identity::User{id, username, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA", role, company_id, false, 42};
}

TEST_P(StoreTest, UsersInsertFindListCount) {
  EXPECT_EQ(*users_->count(), 0);
  auto admin = make_user(next_id("us"), "root@example.com", "", identity::Role::platform_admin);
  ASSERT_TRUE(users_->insert(admin, event("user.create", admin.id)));
  auto bob = make_user(next_id("us"), "bob", "co_a", identity::Role::company_admin);
  bob.disabled = true;
  ASSERT_TRUE(users_->insert(bob, event("user.create", bob.id, "co_a")));
  auto eve = make_user(next_id("us"), kNasty, "co_b");
  ASSERT_TRUE(users_->insert(eve, event("user.create", eve.id, "co_b")));

  auto found = users_->find(bob.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->username, "bob");
  EXPECT_EQ(found->role, identity::Role::company_admin);
  EXPECT_TRUE(found->disabled);
  EXPECT_EQ(found->password_hash, bob.password_hash);
  EXPECT_EQ(found->created_at, 42);
  EXPECT_EQ(users_->find(admin.id)->role, identity::Role::platform_admin);

  auto by_name = users_->find_by_username(kNasty);
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->id, eve.id);
  EXPECT_EQ(users_->find_by_username("BOB").error().code, Errc::not_found);  // case-sensitive
  EXPECT_EQ(users_->find("us_missing").error().code, Errc::not_found);

  EXPECT_EQ(*users_->count(), 3);
  EXPECT_EQ(users_->list("", {})->items.size(), 3u);
  auto in_a = users_->list("co_a", {});
  ASSERT_EQ(in_a->items.size(), 1u);
  EXPECT_EQ(in_a->items[0].id, bob.id);
  auto paged = users_->list("", {"", 2});
  EXPECT_EQ(paged->items.size(), 2u);
  EXPECT_EQ(paged->next, paged->items.back().id);
  auto rest = users_->list("", {paged->next, 2});
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].id, eve.id);
  EXPECT_TRUE(rest->next.empty());
}

TEST_P(StoreTest, DuplicateUsernameIsConflictWithoutAudit) {
  auto bob = make_user(next_id("us"), "bob", "co_a");
  ASSERT_TRUE(users_->insert(bob, event("user.create", bob.id)));
  auto again = make_user(next_id("us"), "bob", "co_a");
  auto status = users_->insert(again, event("user.create", again.id));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::conflict);
  EXPECT_EQ(audit_count(again.id), 0u);
  EXPECT_EQ(audit_count(bob.id), 1u);
  EXPECT_EQ(*users_->count(), 1);
}

TEST_P(StoreTest, RefreshTokensRotateOnceAndDetectReuse) {
  auto bob = make_user(next_id("us"), "bob", "co_a");
  ASSERT_TRUE(users_->insert(bob, event("user.create", bob.id)));
  identity::RefreshToken token{"h1", bob.id, "fam1", 100, 1000, 0, false};
  ASSERT_TRUE(users_->insert_refresh(token));
  EXPECT_EQ(users_->insert_refresh(token).error().code, Errc::conflict);

  auto used = users_->use_refresh("h1", 200);
  ASSERT_TRUE(used) << used.error().message;
  EXPECT_EQ(used->used_at, 200);
  EXPECT_EQ(used->family_id, "fam1");
  EXPECT_EQ(used->user_id, bob.id);

  auto reuse = users_->use_refresh("h1", 300);
  ASSERT_FALSE(reuse);
  EXPECT_EQ(reuse.error().code, Errc::conflict);
  EXPECT_EQ(users_->find_refresh("h1")->used_at, 200);  // nothing changed

  EXPECT_EQ(users_->use_refresh("nope", 300).error().code, Errc::unauthenticated);
  EXPECT_EQ(users_->find_refresh("nope").error().code, Errc::not_found);

  ASSERT_TRUE(users_->insert_refresh({"h2", bob.id, "fam1", 200, 1000, 0, false}));
  ASSERT_TRUE(users_->insert_refresh({"h3", bob.id, "fam2", 200, 250, 0, false}));
  EXPECT_EQ(users_->use_refresh("h3", 250).error().code, Errc::unauthenticated);  // expired
  ASSERT_TRUE(users_->revoke_family("fam1"));
  EXPECT_TRUE(users_->find_refresh("h2")->revoked);
  EXPECT_FALSE(users_->find_refresh("h3")->revoked);
  EXPECT_EQ(users_->use_refresh("h2", 300).error().code, Errc::unauthenticated);
  EXPECT_EQ(users_->find_refresh("h2")->used_at, 0);
}

TEST_P(StoreTest, RefreshTokenConcurrentUseHasOneWinner) {
  auto bob = make_user(next_id("us"), "bob", "co_a");
  ASSERT_TRUE(users_->insert(bob, event("user.create", bob.id)));
  for (int round = 0; round < 10; ++round) {
    const std::string hash = "race" + std::to_string(round);
    ASSERT_TRUE(users_->insert_refresh({hash, bob.id, "fam", 100, 1000, 0, false}));
    std::atomic<int> wins{0}, conflicts{0};
    auto attempt = [&] {
      auto result = users_->use_refresh(hash, 200);
      if (result) ++wins;
      else if (result.error().code == Errc::conflict) ++conflicts;
    };
    std::thread a(attempt), b(attempt);
    a.join();
    b.join();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(conflicts.load(), 1);
  }
}

// ---- Devices ----------------------------------------------------------------------------

struct Tree {
  Node company, project, site;
};

TEST_P(StoreTest, ClaimCodesInsertFindList) {
  Node acme = company();
  Node project = child(NodeKind::project, acme);
  Node site = child(NodeKind::site, project);
  ClaimCode code = claim_code(site);
  auto found = devices_->find_claim_code_by_hash(code.code_hash);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, code.id);
  EXPECT_EQ(found->config, code.config);
  EXPECT_EQ(found->role, "door-station");
  EXPECT_EQ(found->expires_at, 10'000);
  EXPECT_EQ(found->used_at, 0);
  EXPECT_EQ(found->created_by, "us_admin");
  EXPECT_EQ(devices_->find_claim_code_by_hash("nope").error().code, Errc::not_found);
  EXPECT_EQ(audit_count(code.id), 1u);

  ClaimCode duplicate = code;
  duplicate.id = next_id("cc");
  EXPECT_EQ(devices_->insert_claim_code(duplicate, event("claim_code.create", duplicate.id)).error().code,
            Errc::conflict);
  EXPECT_EQ(audit_count(duplicate.id), 0u);

  ClaimCode wrong_site = code;
  wrong_site.id = next_id("cc");
  wrong_site.code_hash = "other";
  wrong_site.site_id = project.id;
  EXPECT_EQ(devices_->insert_claim_code(wrong_site, event("claim_code.create", wrong_site.id)).error().code,
            Errc::not_found);
  wrong_site.site_id = site.id;
  wrong_site.company_id = "co_other";
  EXPECT_EQ(devices_->insert_claim_code(wrong_site, event("claim_code.create", wrong_site.id)).error().code,
            Errc::not_found);

  std::vector<std::string> ids{code.id};
  for (int i = 0; i < 6; ++i) ids.push_back(claim_code(site).id);
  std::vector<std::string> seen;
  PageRequest page{"", 3};
  for (;;) {
    auto listed = devices_->list_claim_codes(site.id, page);
    ASSERT_TRUE(listed);
    for (auto& c : listed->items) seen.push_back(c.id);
    if (listed->next.empty()) break;
    page.after = listed->next;
  }
  EXPECT_EQ(seen, ids);
  EXPECT_TRUE(devices_->list_claim_codes(project.id, {})->items.empty());
}

TEST_P(StoreTest, ClaimMarksCodeInsertsDeviceAndAudits) {
  Node acme = company();
  Node site = child(NodeKind::site, child(NodeKind::project, acme));
  ClaimCode code = claim_code(site);
  Device device = device_for(code, "SN-" + kNasty.substr(0, 0) + "A1");
  device.capabilities = {"video", "door"};
  device.name = kNasty;
  ASSERT_TRUE(devices_->claim(code.id, 500, device, event("device.claim", device.id, acme.id)));

  auto used = devices_->find_claim_code_by_hash(code.code_hash);
  EXPECT_EQ(used->used_at, 500);
  EXPECT_EQ(used->device_id, device.id);
  auto stored = devices_->find(device.id);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->serial, "SN-A1");
  EXPECT_EQ(stored->name, kNasty);
  EXPECT_EQ(stored->capabilities, device.capabilities);
  EXPECT_EQ(stored->desired_config, device.desired_config);
  EXPECT_EQ(stored->desired_version, 1);
  EXPECT_EQ(stored->cert_serial, device.cert_serial);
  EXPECT_EQ(stored->cert_expires_at, 99'999);
  EXPECT_EQ(stored->company_id, acme.id);
  EXPECT_EQ(stored->site_id, site.id);
  EXPECT_FALSE(stored->online);
  EXPECT_FALSE(stored->revoked);
  EXPECT_EQ(audit_count(device.id), 1u);

  AuditFilter filter;
  filter.target_id = device.id;
  auto events = audit_->list(filter);
  EXPECT_EQ(events->items[0].action, "device.claim");
  EXPECT_EQ(events->items[0].details, (nlohmann::json{{"why", "test"}}));

  // The code cannot be used twice.
  Device second = device_for(code, "SN-B2");
  EXPECT_EQ(devices_->claim(code.id, 600, second, event("device.claim", second.id)).error().code, Errc::conflict);
  EXPECT_EQ(devices_->find(second.id).error().code, Errc::not_found);
  EXPECT_EQ(audit_count(second.id), 0u);
  EXPECT_EQ(devices_->find(device.id)->id, device.id);
  EXPECT_EQ(devices_->find("dv_missing").error().code, Errc::not_found);
}

TEST_P(StoreTest, ClaimFailuresChangeNothing) {
  Node site = child(NodeKind::site, child(NodeKind::project, company()));
  ClaimCode expired = claim_code(site, 400);
  Device d1 = device_for(expired, "SN-1");
  EXPECT_EQ(devices_->claim(expired.id, 400, d1, event("device.claim", d1.id)).error().code, Errc::conflict);
  EXPECT_EQ(devices_->find_claim_code_by_hash(expired.code_hash)->used_at, 0);

  EXPECT_EQ(devices_->claim("cc_missing", 100, d1, event("device.claim", d1.id)).error().code, Errc::not_found);
  EXPECT_EQ(audit_count(d1.id), 0u);

  // Serial already claimed: the second code stays unused.
  Device live = claimed(site, "SN-LIVE");
  ClaimCode code = claim_code(site);
  Device twin = device_for(code, "SN-LIVE");
  EXPECT_EQ(devices_->claim(code.id, 500, twin, event("device.claim", twin.id)).error().code, Errc::conflict);
  auto unchanged = devices_->find_claim_code_by_hash(code.code_hash);
  EXPECT_EQ(unchanged->used_at, 0);
  EXPECT_EQ(unchanged->device_id, "");
  EXPECT_EQ(audit_count(twin.id), 0u);

  // Duplicate device id also rolls back the code.
  Device same_id = device_for(code, "SN-OTHER");
  same_id.id = live.id;
  EXPECT_EQ(devices_->claim(code.id, 500, same_id, event("device.claim", "dv_x")).error().code, Errc::conflict);
  EXPECT_EQ(devices_->find_claim_code_by_hash(code.code_hash)->used_at, 0);
  EXPECT_EQ(audit_count("dv_x"), 0u);

  // After revocation the serial can be claimed again; find_by_serial prefers the live one.
  ASSERT_TRUE(devices_->revoke(live.id, 700, event("device.revoke", live.id)));
  EXPECT_EQ(devices_->revoke(live.id, 701, event("device.revoke", live.id)).error().code, Errc::conflict);
  EXPECT_EQ(devices_->revoke("dv_missing", 701, event("device.revoke", "dv_missing")).error().code,
            Errc::not_found);
  EXPECT_EQ(audit_count(live.id), 2u);
  EXPECT_EQ(devices_->find_by_serial("SN-LIVE")->id, live.id);  // only the revoked one exists
  ASSERT_TRUE(devices_->claim(code.id, 800, twin, event("device.claim", twin.id)));
  EXPECT_EQ(devices_->find_by_serial("SN-LIVE")->id, twin.id);
  EXPECT_EQ(devices_->find_by_serial("SN-NONE").error().code, Errc::not_found);
}

TEST_P(StoreTest, ConcurrentClaimsOfOneCodeHaveExactlyOneWinner) {
  Node site = child(NodeKind::site, child(NodeKind::project, company()));
  for (int round = 0; round < 10; ++round) {
    ClaimCode code = claim_code(site);
    Device a = device_for(code, "SN-A" + std::to_string(round));
    Device b = device_for(code, "SN-B" + std::to_string(round));
    AuditEvent ea = event("device.claim", a.id), eb = event("device.claim", b.id);
    std::atomic<int> wins{0}, conflicts{0};
    auto attempt = [&](const Device& d, const AuditEvent& e) {
      auto status = devices_->claim(code.id, 500, d, e);
      if (status) ++wins;
      else if (status.error().code == Errc::conflict) ++conflicts;
      else ADD_FAILURE() << status.error().message;
    };
    std::thread ta(attempt, std::cref(a), std::cref(ea));
    std::thread tb(attempt, std::cref(b), std::cref(eb));
    ta.join();
    tb.join();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(conflicts.load(), 1);
    auto stored = devices_->find_claim_code_by_hash(code.code_hash);
    const bool a_won = stored->device_id == a.id;
    EXPECT_TRUE(a_won || stored->device_id == b.id);
    EXPECT_EQ(devices_->find(a.id).has_value(), a_won);
    EXPECT_EQ(devices_->find(b.id).has_value(), !a_won);
    EXPECT_EQ(audit_count(a.id) + audit_count(b.id), 1u);
  }
}

TEST_P(StoreTest, DeviceListFilters) {
  Node acme = company("Acme");
  Node other = company("Other");
  Node p1 = child(NodeKind::project, acme);
  Node p2 = child(NodeKind::project, acme);
  Node s1 = child(NodeKind::site, p1);
  Node s2 = child(NodeKind::site, p1);
  Node s3 = child(NodeKind::site, p2);
  Node s4 = child(NodeKind::site, child(NodeKind::project, other));
  Device d1 = claimed(s1, "AAA-100");
  Device d2 = claimed(s2, "BBB-200");
  Device d3 = claimed(s3, "CCC-300");
  Device d4 = claimed(s4, "DDD-400");
  ASSERT_TRUE(devices_->set_online("BBB-200", true, 900));
  ASSERT_TRUE(devices_->set_online("CCC-300", true, 900));

  auto ids = [&](DeviceFilter filter) {
    std::vector<std::string> out;
    auto page = devices_->list(filter);
    EXPECT_TRUE(page) << page.error().message;
    if (page) for (auto& d : page->items) out.push_back(d.id);
    return out;
  };
  using V = std::vector<std::string>;
  DeviceFilter f;
  EXPECT_EQ(ids(f), (V{d1.id, d2.id, d3.id, d4.id}));
  f.company_id = acme.id;
  EXPECT_EQ(ids(f), (V{d1.id, d2.id, d3.id}));
  f.project_id = p1.id;
  EXPECT_EQ(ids(f), (V{d1.id, d2.id}));
  f.site_id = s2.id;
  EXPECT_EQ(ids(f), (V{d2.id}));
  f.site_id.clear();
  f.online = true;
  EXPECT_EQ(ids(f), (V{d2.id}));
  f.online = false;
  EXPECT_EQ(ids(f), (V{d1.id}));
  f = {};
  f.online = true;
  EXPECT_EQ(ids(f), (V{d2.id, d3.id}));
  f = {};
  f.query = "ccc";
  EXPECT_EQ(ids(f), (V{d3.id}));
  f.query = "-";  // every serial
  EXPECT_EQ(ids(f).size(), 4u);
  f.query = "%";  // a literal percent sign matches nothing
  EXPECT_TRUE(ids(f).empty());
  f.query = "_";
  EXPECT_TRUE(ids(f).empty());
  f = {};
  f.company_id = other.id;
  f.project_id = p1.id;
  EXPECT_TRUE(ids(f).empty());
}

TEST_P(StoreTest, DevicePaginationWalksAll120) {
  Node site = child(NodeKind::site, child(NodeKind::project, company()));
  std::vector<std::string> expected;
  for (int i = 0; i < 120; ++i) expected.push_back(claimed(site, "SN-" + std::to_string(i)).id);
  DeviceFilter f;
  f.site_id = site.id;
  f.page.limit = 50;
  std::vector<std::string> seen;
  int pages = 0;
  for (;;) {
    auto page = devices_->list(f);
    ASSERT_TRUE(page);
    ++pages;
    for (auto& d : page->items) seen.push_back(d.id);
    if (page->next.empty()) break;
    f.page.after = page->next;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, expected);
}

TEST_P(StoreTest, DeviceStateUpdates) {
  Node site = child(NodeKind::site, child(NodeKind::project, company()));
  Device device = claimed(site, "SN-STATE");

  ASSERT_TRUE(devices_->set_online("SN-STATE", true, 1000));
  auto d = devices_->find(device.id);
  EXPECT_TRUE(d->online);
  EXPECT_EQ(d->last_seen, 1000);
  ASSERT_TRUE(devices_->set_online("SN-STATE", false, 1100));
  EXPECT_FALSE(devices_->find(device.id)->online);
  EXPECT_EQ(devices_->set_online("SN-NONE", true, 1).error().code, Errc::not_found);

  devices::DeviceReport report{"CI-200", "rev " + kNasty, "1.2.3", {"video", "nfc"}};
  ASSERT_TRUE(devices_->set_report("SN-STATE", report, 1200));
  d = devices_->find(device.id);
  EXPECT_EQ(d->model, "CI-200");
  EXPECT_EQ(d->hardware_revision, "rev " + kNasty);
  EXPECT_EQ(d->firmware_version, "1.2.3");
  EXPECT_EQ(d->capabilities, report.capabilities);
  EXPECT_EQ(d->updated_at, 1200);
  EXPECT_EQ(devices_->set_report("SN-NONE", report, 1).error().code, Errc::not_found);

  nlohmann::json config = {{"version", 2}, {"name", kNasty}};
  ASSERT_TRUE(devices_->set_desired_config(device.id, config, 2, 1300, event("device.config", device.id)));
  d = devices_->find(device.id);
  EXPECT_EQ(d->desired_config, config);
  EXPECT_EQ(d->desired_version, 2);
  // Skipping or repeating a version is a conflict and leaves no event.
  nlohmann::json v4 = {{"version", 4}};
  EXPECT_EQ(devices_->set_desired_config(device.id, v4, 4, 1400, event("device.config", device.id)).error().code,
            Errc::conflict);
  EXPECT_EQ(devices_->set_desired_config(device.id, config, 2, 1400, event("device.config", device.id)).error().code,
            Errc::conflict);
  nlohmann::json mismatched = {{"version", 7}};
  EXPECT_EQ(
      devices_->set_desired_config(device.id, mismatched, 3, 1400, event("device.config", device.id)).error().code,
      Errc::invalid_argument);
  EXPECT_EQ(devices_->set_desired_config("dv_missing", {{"version", 1}}, 1, 1400, event("device.config", "dv_missing"))
                .error()
                .code,
            Errc::not_found);
  EXPECT_EQ(audit_count(device.id), 2u);  // claim + one config
  EXPECT_EQ(devices_->find(device.id)->desired_version, 2);

  ASSERT_TRUE(devices_->set_applied("SN-STATE", 2, "", 1500));
  EXPECT_EQ(devices_->find(device.id)->applied_version, 2);
  ASSERT_TRUE(devices_->set_applied("SN-STATE", 1, "", 1600));  // older: ignored
  EXPECT_EQ(devices_->find(device.id)->applied_version, 2);
  ASSERT_TRUE(devices_->set_applied("SN-STATE", 3, "bad sip password", 1700));
  d = devices_->find(device.id);
  EXPECT_EQ(d->applied_version, 2);
  EXPECT_EQ(d->applied_error, "bad sip password");
  ASSERT_TRUE(devices_->set_applied("SN-STATE", 1, "stale", 1750));
  EXPECT_EQ(devices_->find(device.id)->applied_error, "bad sip password");
  ASSERT_TRUE(devices_->set_applied("SN-STATE", 3, "", 1800));
  d = devices_->find(device.id);
  EXPECT_EQ(d->applied_version, 3);
  EXPECT_EQ(d->applied_error, "");
  EXPECT_EQ(devices_->set_applied("SN-NONE", 3, "", 1).error().code, Errc::not_found);
}

TEST_P(StoreTest, DesiredConfigsOfManyDevicesAreStoredInOneTransaction) {
  Node site = child(NodeKind::site, child(NodeKind::project, company()));
  Device a = claimed(site, "SN-BULK-A");
  Device b = claimed(site, "SN-BULK-B");
  auto change = [&](const Device& d, std::int64_t version, nlohmann::json config) {
    config["version"] = version;
    return devices::DesiredConfigChange{d.id, config, version, event("device.config", d.id, d.company_id)};
  };

  // In order, so one device may take two consecutive versions in one call.
  ASSERT_TRUE(devices_->set_desired_configs(
      {change(a, 2, {{"name", "Gate " + kNasty}}), change(b, 2, {{"name", "Back"}}), change(a, 3, {{"name", "Gate 3"}})},
      1300));
  auto stored_a = devices_->find(a.id);
  auto stored_b = devices_->find(b.id);
  ASSERT_TRUE(stored_a && stored_b);
  EXPECT_EQ(stored_a->desired_version, 3);
  EXPECT_EQ(stored_a->desired_config, (nlohmann::json{{"name", "Gate 3"}, {"version", 3}}));
  EXPECT_EQ(stored_a->name, "Gate 3");
  EXPECT_EQ(stored_a->updated_at, 1300);
  EXPECT_EQ(stored_b->desired_version, 2);
  EXPECT_EQ(stored_b->name, "Back");
  EXPECT_EQ(audit_count(a.id), 3u);  // claim + two config changes
  EXPECT_EQ(audit_count(b.id), 2u);

  // One failing change (a skipped version, an unknown device, a document with another
  // version) stores none of the others and leaves no audit event.
  auto unchanged = [&] {
    EXPECT_EQ(devices_->find(a.id)->desired_version, 3);
    EXPECT_EQ(devices_->find(b.id)->desired_version, 2);
    EXPECT_EQ(devices_->find(b.id)->name, "Back");
    EXPECT_EQ(audit_count(a.id), 3u);
    EXPECT_EQ(audit_count(b.id), 2u);
  };
  EXPECT_EQ(devices_->set_desired_configs({change(b, 3, {{"name", "Lost"}}), change(a, 5, {})}, 1400).error().code,
            Errc::conflict);
  unchanged();
  Device missing = a;
  missing.id = "dv_missing";
  auto not_found = devices_->set_desired_configs({change(b, 3, {{"name", "Lost"}}), change(missing, 2, {})}, 1400);
  EXPECT_EQ(not_found.error().code, Errc::not_found);
  unchanged();
  auto mismatched = change(a, 4, {});
  mismatched.config["version"] = 9;
  EXPECT_EQ(devices_->set_desired_configs({change(b, 3, {{"name", "Lost"}}), mismatched}, 1400).error().code,
            Errc::invalid_argument);
  unchanged();
  EXPECT_TRUE(devices_->set_desired_configs({}, 1500));
  unchanged();
}

TEST_P(StoreTest, RevocationFeedsCrlAndHidesSerial) {
  Node site = child(NodeKind::site, child(NodeKind::project, company()));
  Device a = claimed(site, "SN-A");
  Device b = claimed(site, "SN-B");
  ASSERT_TRUE(devices_->set_online("SN-A", true, 900));
  EXPECT_TRUE(devices_->revoked_cert_serials()->empty());
  ASSERT_TRUE(devices_->revoke(a.id, 1000, event("device.revoke", a.id)));
  auto revoked = devices_->find(a.id);
  EXPECT_TRUE(revoked->revoked);
  EXPECT_FALSE(revoked->online);
  EXPECT_EQ(revoked->updated_at, 1000);
  EXPECT_EQ(*devices_->revoked_cert_serials(), std::vector<std::string>{a.cert_serial});
  // A revoked device no longer takes state updates by serial.
  EXPECT_EQ(devices_->set_online("SN-A", true, 1100).error().code, Errc::not_found);
  (void)b;
}

// ---- Audit log --------------------------------------------------------------------------

TEST_P(StoreTest, AuditAppendAndFilteredPages) {
  for (int i = 0; i < 7; ++i) {
    AuditEvent e = event(i % 2 ? "user.login" : "user.login_failed", "us_" + std::to_string(i % 3),
                         i < 4 ? "co_a" : "co_b");
    e.source = "203.0.113." + std::to_string(i);
    e.details = {{"payload", kNasty}, {"n", i}};
    ASSERT_TRUE(audit_->append(e));
  }
  AuditEvent duplicate = event("x", "y");
  ASSERT_TRUE(audit_->append(duplicate));
  EXPECT_EQ(audit_->append(duplicate).error().code, Errc::conflict);

  AuditFilter filter;
  filter.company_id = "co_a";
  auto a = audit_->list(filter);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->items.size(), 4u);
  EXPECT_EQ(a->items[0].details["payload"], kNasty);
  EXPECT_EQ(a->items[0].source, "203.0.113.0");
  EXPECT_EQ(a->items[0].actor, "us_admin");
  EXPECT_EQ(a->items[0].at, 1000);
  EXPECT_EQ(a->items[0].target_type, "user");
  EXPECT_TRUE(std::is_sorted(a->items.begin(), a->items.end(),
                             [](const AuditEvent& x, const AuditEvent& y) { return x.id < y.id; }));
  filter.action = "user.login";
  EXPECT_EQ(audit_->list(filter)->items.size(), 2u);
  filter = {};
  filter.target_id = "us_0";
  EXPECT_EQ(audit_->list(filter)->items.size(), 3u);
  filter = {};
  filter.page.limit = 3;
  std::set<std::string> seen;
  for (;;) {
    auto page = audit_->list(filter);
    ASSERT_TRUE(page);
    for (auto& e : page->items) seen.insert(e.id);
    if (page->next.empty()) break;
    filter.page.after = page->next;
  }
  EXPECT_EQ(seen.size(), 8u);
}

TEST_P(StoreTest, SqlMetacharactersInIdsAreData) {
  // Ids are validated elsewhere; the store must still treat them as plain values.
  Node evil;
  evil.id = "co_'; DROP TABLE nodes; --";
  evil.kind = NodeKind::company;
  evil.name = kNasty;
  evil.attributes = {{"'", "\""}};
  ASSERT_TRUE(tenancy_->insert(evil, event("company.create", evil.id, evil.id)));
  auto found = tenancy_->find(NodeKind::company, evil.id);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->name, kNasty);
  EXPECT_EQ(found->company_id, evil.id);
  EXPECT_EQ(found->attributes, evil.attributes);
  Visibility mine{false, evil.id};
  EXPECT_EQ(tenancy_->list(mine, {})->items.size(), 1u);
  AuditFilter filter;
  filter.company_id = evil.id;
  EXPECT_EQ(audit_->list(filter)->items.size(), 1u);
}

// ---- Filters on a larger fleet (speed is measured in bench/, not here) -------------------

TEST_P(StoreTest, FilteredDevicePagesOnALargerFleetAreExact) {
  Node acme = company("Acme");
  Node other = company("Other");
  std::vector<Node> sites;
  for (const Node* c : {&acme, &other}) {
    Node project = child(NodeKind::project, *c);
    for (int s = 0; s < 5; ++s) sites.push_back(child(NodeKind::site, project));
  }
  for (int i = 0; i < 2'000; ++i) {
    const Node& site = sites[static_cast<std::size_t>(i) % sites.size()];
    Device d = claimed(site, "PERF-" + std::to_string(i));
    if (i % 3 == 0) {
      ASSERT_TRUE(devices_->set_online(d.serial, true, 900));
    }
  }
  for (int round = 0; round < 6; ++round) {
    DeviceFilter f;
    f.company_id = acme.id;
    if (round % 2) f.site_id = sites[static_cast<std::size_t>(round) % 5].id;
    f.online = round % 3 == 0;
    f.page.limit = 50;
    auto page = devices_->list(f);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->items.size(), 50u);
    for (const auto& d : page->items) {
      EXPECT_EQ(d.company_id, acme.id);
      EXPECT_EQ(d.online, *f.online);
      if (!f.site_id.empty()) {
        EXPECT_EQ(d.site_id, f.site_id);
      }
    }
  }
}

// ---- PostgreSQL connection loss ---------------------------------------------------------

Node reconnect_company(const std::string& id) {
  Node node;
  node.id = id;
  node.kind = NodeKind::company;
  node.company_id = id;
  node.name = "Reconnect " + id;
  node.created_at = node.updated_at = 100;
  return node;
}

AuditEvent reconnect_event(const std::string& id, const std::string& target) {
  AuditEvent e;
  e.id = id;
  e.at = 1000;
  e.actor = "us_admin";
  e.action = "company.create";
  e.target_type = "company";
  e.target_id = target;
  e.company_id = target;
  return e;
}

// Backends other than the caller's connected to the caller's database.
std::int64_t other_backends(soci::session& admin) {
  detail::Query q("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
  return detail::query_int(admin, q).value_or(-1);
}

TEST(PostgresReconnect, TerminatedBackendsAreReconnectedAndCallsSucceed) {
  const std::string url = postgres_databases->fresh_database("t");
  auto opened = Database::open(url, 2);
  ASSERT_TRUE(opened) << opened.error().message;
  Database& db = **opened;
  ASSERT_TRUE(db.migrate());
  auto admin_db = Database::open(url, 1);
  ASSERT_TRUE(admin_db) << admin_db.error().message;
  soci::session admin((*admin_db)->pool());
  SqlTenancyRepository tenancy(db);
  SqlUserRepository users(db);
  SqlAuditLog audit(db);

  ASSERT_TRUE(tenancy.insert(reconnect_company("co_before"), reconnect_event("au_before", "co_before")));
  ASSERT_EQ(other_backends(admin), 2);

  detail::Query kill("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  ASSERT_EQ(detail::query_int(admin, kill), 2);
  // pg_terminate_backend only signals; wait until both backends are gone.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (other_backends(admin) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(other_backends(admin), 0);

  {
    // Holding the first pooled session makes the calls below use the second one.
    soci::session held(db.pool());
    auto found = tenancy.find(NodeKind::company, "co_before");
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_EQ(found->name, "Reconnect co_before");
    auto inserted = tenancy.insert(reconnect_company("co_after1"), reconnect_event("au_after1", "co_after1"));
    ASSERT_TRUE(inserted) << inserted.error().message;
  }
  // Now the first pooled session (also terminated) serves the calls.
  auto inserted = tenancy.insert(reconnect_company("co_after2"), reconnect_event("au_after2", "co_after2"));
  ASSERT_TRUE(inserted) << inserted.error().message;
  auto count = users.count();
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(*count, 0);
  EXPECT_TRUE(db.ping());
  EXPECT_EQ(other_backends(admin), 2);

  // Each retried transaction was written exactly once, audit row included.
  for (const std::string id : {"co_before", "co_after1", "co_after2"}) {
    EXPECT_TRUE(tenancy.find(NodeKind::company, id)) << id;
    AuditFilter filter;
    filter.target_id = id;
    auto page = audit.list(filter);
    ASSERT_TRUE(page);
    EXPECT_EQ(page->items.size(), 1u) << id;
  }
  // Constraint violations are still conflicts, not connection failures.
  EXPECT_EQ(tenancy.insert(reconnect_company("co_after2"), reconnect_event("au_dup", "co_after2")).error().code,
            Errc::conflict);
}

TEST(PostgresReconnect, StoppedServerIsUnavailableWithinBoundedTime) {
  testing::PostgresServer server;  // own server: the shared one stays up
  auto opened = Database::open(server.create_database("stopped"), 2);
  ASSERT_TRUE(opened) << opened.error().message;
  Database& db = **opened;
  ASSERT_TRUE(db.migrate());
  SqlTenancyRepository tenancy(db);
  SqlUserRepository users(db);
  ASSERT_TRUE(tenancy.insert(reconnect_company("co_1"), reconnect_event("au_1", "co_1")));

  server.stop();

  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    auto found = tenancy.find(NodeKind::company, "co_1");
    ASSERT_FALSE(found);
    EXPECT_EQ(found.error().code, Errc::unavailable) << found.error().message;
    auto inserted = tenancy.insert(reconnect_company("co_2"), reconnect_event("au_2", "co_2"));
    ASSERT_FALSE(inserted);
    EXPECT_EQ(inserted.error().code, Errc::unavailable) << inserted.error().message;
    auto count = users.count();
    ASSERT_FALSE(count);
    EXPECT_EQ(count.error().code, Errc::unavailable) << count.error().message;
    EXPECT_FALSE(db.ping());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << "round " << round;
  }
}

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::sqlite ? "sqlite" : "postgresql";
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         backend_name);

}  // namespace
}  // namespace carillon::store
