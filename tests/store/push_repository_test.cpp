// Push subscriptions against a real SQLite file and a real PostgreSQL server.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "store/database.hpp"
#include "store/push_repository.hpp"
#include "store/user_repository.hpp"
#include "store/postgres_databases.hpp"
#include "support/temp_dir.hpp"

namespace carillon::store {
namespace {

using notify::StoredSubscription;
using testing::TempDir;


class PushStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = migrated_database(GetParam(), dir_.path(), "push");
    ASSERT_TRUE(db_);
    users_ = std::make_unique<SqlUserRepository>(*db_);
    repo_ = std::make_unique<SqlPushRepository>(*db_);
  }

  std::string user(const std::string& name, const std::string& company) {
    identity::User u;
    u.id = ids_.next(id_prefix::user);
    u.username = name;
    u.password_hash = "$argon2id$x";
    u.role = identity::Role::company_admin;
    u.company_id = company;
    u.created_at = clock_.now();
    AuditEvent audit;
    audit.id = ids_.next(id_prefix::audit);
    audit.at = clock_.now();
    audit.actor = "test";
    audit.action = "user.create";
    audit.target_type = "user";
    audit.target_id = u.id;
    EXPECT_TRUE(users_->insert(u, audit));
    return u.id;
  }

  StoredSubscription subscription(const std::string& user_id, const std::string& endpoint) {
    return {ids_.next("ps"), user_id, "co_1", endpoint, "p256dh-" + endpoint, "auth-" + endpoint, clock_.now()};
  }

  TempDir dir_;
  ManualClock clock_{1'760'000'000};
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  std::unique_ptr<Database> db_;
  std::unique_ptr<SqlUserRepository> users_;
  std::unique_ptr<SqlPushRepository> repo_;
};

TEST_P(PushStoreTest, SavesFindsListsPerUserAndRemoves) {
  const std::string alice = user("alice", "co_1");
  const std::string bob = user("bob", "co_1");
  const std::string carol = user("carol", "co_1");
  auto a1 = repo_->save(subscription(alice, "https://push.example/a1"));
  ASSERT_TRUE(a1) << a1.error().message;
  EXPECT_TRUE(a1->created);
  clock_.advance(1);
  auto a2 = repo_->save(subscription(alice, "https://push.example/a2"));
  auto b1 = repo_->save(subscription(bob, "https://push.example/b1"));
  ASSERT_TRUE(a2 && b1);

  auto found = repo_->find(a1->subscription.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->user_id, alice);
  EXPECT_EQ(found->company_id, "co_1");
  EXPECT_EQ(found->endpoint, "https://push.example/a1");
  EXPECT_EQ(found->p256dh, "p256dh-https://push.example/a1");
  EXPECT_EQ(found->auth, "auth-https://push.example/a1");
  EXPECT_EQ(found->created_at, 1'760'000'000);

  auto of_alice = repo_->for_users({alice});
  ASSERT_TRUE(of_alice);
  ASSERT_EQ(of_alice->size(), 2u);
  EXPECT_EQ((*of_alice)[0].id, a1->subscription.id);
  EXPECT_EQ((*of_alice)[1].id, a2->subscription.id);
  auto of_both = repo_->for_users({alice, bob, carol});
  ASSERT_TRUE(of_both);
  EXPECT_EQ(of_both->size(), 3u);
  EXPECT_TRUE(repo_->for_users({carol})->empty());
  EXPECT_TRUE(repo_->for_users({})->empty());

  ASSERT_TRUE(repo_->remove(a1->subscription.id));
  EXPECT_EQ(repo_->find(a1->subscription.id).error().code, Errc::not_found);
  auto again = repo_->remove(a1->subscription.id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::not_found);
  EXPECT_EQ(again.error().field, "id");
  EXPECT_EQ(repo_->for_users({alice})->size(), 1u);
}

TEST_P(PushStoreTest, TheSameEndpointIsRebound) {
  const std::string alice = user("alice", "co_1");
  const std::string bob = user("bob", "co_2");
  auto first = repo_->save(subscription(alice, "https://push.example/shared"));
  ASSERT_TRUE(first);
  clock_.advance(60);
  StoredSubscription again = subscription(bob, "https://push.example/shared");
  again.company_id = "co_2";
  again.p256dh = "new-key";
  again.auth = "new-auth";
  auto second = repo_->save(again);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->subscription.id, first->subscription.id);
  EXPECT_EQ(second->subscription.created_at, first->subscription.created_at);
  auto stored = repo_->find(first->subscription.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->user_id, bob);
  EXPECT_EQ(stored->company_id, "co_2");
  EXPECT_EQ(stored->p256dh, "new-key");
  EXPECT_EQ(stored->auth, "new-auth");
  EXPECT_TRUE(repo_->for_users({alice})->empty());
  EXPECT_EQ(repo_->for_users({bob})->size(), 1u);
}

TEST_P(PushStoreTest, AnUnknownUserIsAConflict) {
  auto saved = repo_->save(subscription("us_nobody", "https://push.example/x"));
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().code, Errc::conflict);
}

INSTANTIATE_TEST_SUITE_P(Backends, PushStoreTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& info) { return info.param == Backend::sqlite ? "sqlite" : "postgresql"; });

}  // namespace
}  // namespace carillon::store
