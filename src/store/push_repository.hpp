#pragma once

#include "notify/subscriptions.hpp"
#include "store/database.hpp"

namespace carillon::store {

// push_subscriptions: the browsers' Web Push subscriptions, one row per endpoint.
class SqlPushRepository final : public notify::SubscriptionRepository {
 public:
  explicit SqlPushRepository(Database& db) : db_(db) {}

  Result<Saved> save(const notify::StoredSubscription& subscription) override;
  Result<notify::StoredSubscription> find(const std::string& id) override;
  Result<std::vector<notify::StoredSubscription>> for_users(const std::vector<std::string>& user_ids) override;
  Status remove(const std::string& id) override;

 private:
  Database& db_;
};

}  // namespace carillon::store
