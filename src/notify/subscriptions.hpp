#pragma once
// Where the browsers' push subscriptions are kept (src/store/push_repository.hpp has the SQL
// one). Header-only: the API and the sender talk to this interface, the store implements it.

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace carillon::notify {

// One browser of one user. The endpoint is unique: a browser that subscribes again (every page
// load does) replaces its earlier row instead of adding one.
struct StoredSubscription {
  std::string id;          // "ps_..."
  std::string user_id;
  std::string company_id;  // the user's company ("" for platform administrators)
  std::string endpoint;
  std::string p256dh;      // base64url, as the browser gave it
  std::string auth;
  std::int64_t created_at = 0;  // Unix seconds
};

class SubscriptionRepository {
 public:
  virtual ~SubscriptionRepository() = default;
  // Inserts `subscription`, or, when its endpoint is stored already, rebinds that row to the new
  // user, company and keys (keeping its id and created_at). Returns the stored row and whether it
  // is new. Errc::conflict when the user does not exist.
  struct Saved {
    StoredSubscription subscription;
    bool created = false;
  };
  virtual Result<Saved> save(const StoredSubscription& subscription) = 0;
  // Errc::not_found, field "id".
  virtual Result<StoredSubscription> find(const std::string& id) = 0;
  // Every subscription of these users, ordered by id.
  virtual Result<std::vector<StoredSubscription>> for_users(const std::vector<std::string>& user_ids) = 0;
  // Errc::not_found, field "id", when there is no such row.
  virtual Status remove(const std::string& id) = 0;
};

}  // namespace carillon::notify
