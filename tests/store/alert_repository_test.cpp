// Alert settings, recipients and the e-mail outbox against a real SQLite file and a real
// PostgreSQL server.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "alerts/model.hpp"
#include "common/actor.hpp"
#include "common/clock.hpp"
#include "common/events.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "store/alert_repository.hpp"
#include "store/database.hpp"
#include "store/tenancy_repository.hpp"
#include "store/postgres_databases.hpp"
#include "support/temp_dir.hpp"
#include "tenancy/service.hpp"

namespace carillon::store {
namespace {

using alerts::AlertKind;
using alerts::AlertSettings;
using alerts::OutboxMessage;
using testing::TempDir;


constexpr std::int64_t kStart = 1'764'081'000;

class AlertStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = migrated_database(GetParam(), dir_.path(), "alerts");
    ASSERT_TRUE(db_);
    tenancy_repo_ = std::make_unique<SqlTenancyRepository>(*db_);
    tenancy_ = std::make_unique<tenancy::TenancyService>(*tenancy_repo_, ids_, clock_, events_);
    repo_ = std::make_unique<SqlAlertRepository>(*db_);
    root_.id = "us_root";
    root_.platform_admin = true;
    root_.can_write = true;
  }

  std::string company(const std::string& name) {
    tenancy::NodeInput c;
    c.name = name;
    auto co = tenancy_->create(root_, tenancy::NodeKind::company, c);
    EXPECT_TRUE(co);
    return co ? co->id : "";
  }

  OutboxMessage message(const std::string& company_id, const std::string& key, std::int64_t due) {
    OutboxMessage m;
    m.id = ids_.next("am");
    m.company_id = company_id;
    m.kind = AlertKind::device_offline;
    m.dedup_key = key;
    m.recipients = {"ops@acme.example", "night+alerts@acme.example"};
    m.subject = "[Carillon] Gerät offline: Haustür";
    m.body = "These devices have been offline:\n\n- Haustür (Müllerstraße)\n";
    m.created_at = clock_.now();
    m.next_attempt_at = due;
    return m;
  }

  TempDir dir_;
  ManualClock clock_{kStart};
  SodiumRandom random_;
  IdGenerator ids_{clock_, random_};
  EventBus events_;
  Actor root_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SqlTenancyRepository> tenancy_repo_;
  std::unique_ptr<tenancy::TenancyService> tenancy_;
  std::unique_ptr<SqlAlertRepository> repo_;
};

TEST_P(AlertStoreTest, SettingsAndRecipients) {
  const std::string acme = company("Acme");
  const std::string rival = company("Rival");
  auto defaults = repo_->get(acme);
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->company_id, acme);
  EXPECT_TRUE(defaults->recipients.empty());
  EXPECT_EQ(defaults->offline_after_minutes, 10);
  EXPECT_EQ(defaults->enabled.size(), 4u);
  EXPECT_TRUE(repo_->with_recipients()->empty());

  AlertSettings s;
  s.company_id = acme;
  s.recipients = {"zed@acme.example", "amy@acme.example", "ops@acme.example"};
  s.offline_after_minutes = 25;
  s.enabled = {AlertKind::firmware_available, AlertKind::device_offline};
  s.updated_at = kStart;
  ASSERT_TRUE(repo_->put(s));
  auto stored = repo_->get(acme);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->recipients, s.recipients);  // in the order given
  EXPECT_EQ(stored->offline_after_minutes, 25);
  EXPECT_EQ(stored->enabled, s.enabled);
  EXPECT_EQ(stored->updated_at, kStart);

  s.recipients = {"amy@acme.example"};
  s.enabled = {};
  s.updated_at = kStart + 60;
  ASSERT_TRUE(repo_->put(s));
  stored = repo_->get(acme);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->recipients, std::vector<std::string>{"amy@acme.example"});
  EXPECT_TRUE(stored->enabled.empty());
  EXPECT_EQ(stored->updated_at, kStart + 60);

  AlertSettings r;
  r.company_id = rival;
  ASSERT_TRUE(repo_->put(r));  // no recipients
  auto listed = repo_->with_recipients();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].company_id, acme);
  EXPECT_EQ((*listed)[0].recipients, std::vector<std::string>{"amy@acme.example"});
  r.recipients = {"it@rival.example"};
  ASSERT_TRUE(repo_->put(r));
  listed = repo_->with_recipients();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_LT((*listed)[0].company_id, (*listed)[1].company_id);

  AlertSettings nobody;
  nobody.company_id = "co_nobody";
  auto refused = repo_->put(nobody);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::conflict);
}

TEST_P(AlertStoreTest, OutboxKeepsEveryMessageUntilItIsSent) {
  const std::string acme = company("Acme");
  OutboxMessage first = message(acme, "device_offline:" + acme + ":a", kStart);
  clock_.advance(1);
  OutboxMessage second = message(acme, "device_offline:" + acme + ":b", kStart);
  OutboxMessage later = message(acme, "device_offline:" + acme + ":c", kStart + 100);
  EXPECT_TRUE(*repo_->enqueue(first));
  EXPECT_TRUE(*repo_->enqueue(second));
  EXPECT_TRUE(*repo_->enqueue(later));
  OutboxMessage duplicate = message(acme, first.dedup_key, kStart);
  auto again = repo_->enqueue(duplicate);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(*again);
  EXPECT_EQ(repo_->find(duplicate.id).error().code, Errc::not_found);

  auto found = repo_->find(first.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->company_id, acme);
  EXPECT_EQ(found->kind, AlertKind::device_offline);
  EXPECT_EQ(found->dedup_key, first.dedup_key);
  EXPECT_EQ(found->recipients, first.recipients);
  EXPECT_EQ(found->subject, first.subject);
  EXPECT_EQ(found->body, first.body);
  EXPECT_EQ(found->created_at, kStart);
  EXPECT_EQ(found->attempts, 0);
  EXPECT_EQ(found->sent_at, 0);

  // Due now: the first two, in order; claimed, so not handed out twice until the lease ends.
  auto due = repo_->claim_due(kStart, kStart + 300, 10);
  ASSERT_TRUE(due) << due.error().message;
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].id, first.id);
  EXPECT_EQ((*due)[1].id, second.id);
  EXPECT_EQ((*due)[0].next_attempt_at, kStart + 300);
  EXPECT_TRUE(repo_->claim_due(kStart + 200, kStart + 500, 10)->size() == 1u);  // only `later`

  ASSERT_TRUE(repo_->mark_failed(first.id, kStart + 30, "smtp: Couldn't connect to server"));
  ASSERT_TRUE(repo_->mark_sent(second.id, kStart + 5));
  found = repo_->find(first.id);
  EXPECT_EQ(found->attempts, 1);
  EXPECT_EQ(found->last_error, "smtp: Couldn't connect to server");
  EXPECT_EQ(found->next_attempt_at, kStart + 30);
  EXPECT_EQ(repo_->find(second.id)->sent_at, kStart + 5);

  ASSERT_TRUE(repo_->mark_failed(first.id, kStart + 90, std::string(5000, 'e')));
  EXPECT_EQ(repo_->find(first.id)->attempts, 2);
  EXPECT_EQ(repo_->find(first.id)->last_error.size(), 1000u);
  EXPECT_TRUE(repo_->claim_due(kStart + 89, kStart + 400, 10)->empty());
  due = repo_->claim_due(kStart + 90, kStart + 400, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, first.id);
  EXPECT_EQ((*due)[0].attempts, 2);
  ASSERT_TRUE(repo_->mark_sent(first.id, kStart + 95));

  // Sent is final.
  EXPECT_EQ(repo_->mark_sent(first.id, kStart + 96).error().code, Errc::not_found);
  EXPECT_EQ(repo_->mark_failed(second.id, kStart + 96, "x").error().code, Errc::not_found);
  EXPECT_EQ(repo_->mark_sent("am_nope", kStart).error().field, "id");
  EXPECT_EQ(repo_->find(first.id)->sent_at, kStart + 95);
  ASSERT_TRUE(repo_->mark_sent(later.id, kStart + 600));
  EXPECT_TRUE(repo_->claim_due(kStart + 100000, kStart + 100300, 10)->empty());

  auto page = repo_->list(acme, {"", 2});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].id, first.id);
  auto rest = repo_->list(acme, {page->next, 2});
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].id, later.id);
  EXPECT_TRUE(rest->next.empty());
  EXPECT_TRUE(repo_->list("co_other", {})->items.empty());
}

TEST_P(AlertStoreTest, ConcurrentClaimsHandEachMessageToOneCaller) {
  const std::string acme = company("Acme");
  constexpr int kMessages = 40;
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(*repo_->enqueue(message(acme, "k" + std::to_string(i), kStart)));
  SqlAlertRepository a(*db_);
  SqlAlertRepository b(*db_);
  std::vector<std::string> claimed_a, claimed_b;
  auto worker = [](SqlAlertRepository& repo, std::vector<std::string>& claimed) {
    for (int round = 0; round < 20; ++round) {
      auto due = repo.claim_due(kStart, kStart + 300, 3);
      ASSERT_TRUE(due) << due.error().message;
      for (const auto& m : *due) claimed.push_back(m.id);
    }
  };
  std::thread ta(worker, std::ref(a), std::ref(claimed_a));
  std::thread tb(worker, std::ref(b), std::ref(claimed_b));
  ta.join();
  tb.join();
  std::set<std::string> all(claimed_a.begin(), claimed_a.end());
  for (const auto& id : claimed_b) EXPECT_TRUE(all.insert(id).second) << id << " claimed twice";
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kMessages));
}

INSTANTIATE_TEST_SUITE_P(Backends, AlertStoreTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& info) { return info.param == Backend::sqlite ? "sqlite" : "postgresql"; });

}  // namespace
}  // namespace carillon::store
