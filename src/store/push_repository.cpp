#include "store/push_repository.hpp"

#include "store/sql_support.hpp"

namespace carillon::store {

namespace {

using detail::Query;
using notify::StoredSubscription;

constexpr const char* kColumns = "id, user_id, company_id, endpoint, p256dh, auth, created_at";

struct Row {
  std::string id, user_id, company_id, endpoint, p256dh, auth;
  std::int64_t created_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(user_id));
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(endpoint));
    st.exchange(soci::into(p256dh));
    st.exchange(soci::into(auth));
    st.exchange(soci::into(created_at));
  }
  StoredSubscription to_subscription() const { return {id, user_id, company_id, endpoint, p256dh, auth, created_at}; }
};

std::optional<StoredSubscription> select_one(soci::session& sql, const char* column, const std::string& value) {
  Query q(std::string("SELECT ") + kColumns + " FROM push_subscriptions WHERE " + column + " = ");
  q.bind(value);
  Row row;
  std::optional<StoredSubscription> found;
  q.each(sql, row, [&] { found = row.to_subscription(); });
  return found;
}

}  // namespace

Result<SqlPushRepository::Saved> SqlPushRepository::save(const StoredSubscription& s) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Saved> {
    detail::Transaction tx(sql, db_.kind());
    Saved saved;
    if (auto existing = select_one(sql, "endpoint", s.endpoint)) {
      Query q("UPDATE push_subscriptions SET user_id = ");
      q.bind(s.user_id) << ", company_id = ";
      q.bind(s.company_id) << ", p256dh = ";
      q.bind(s.p256dh) << ", auth = ";
      q.bind(s.auth) << " WHERE id = ";
      q.bind(existing->id);
      q.execute(sql);
      saved.subscription = s;
      saved.subscription.id = existing->id;
      saved.subscription.created_at = existing->created_at;
    } else {
      Query q("INSERT INTO push_subscriptions (id, user_id, company_id, endpoint, p256dh, auth, created_at) VALUES (");
      q.bind(s.id) << ",";
      q.bind(s.user_id) << ",";
      q.bind(s.company_id) << ",";
      q.bind(s.endpoint) << ",";
      q.bind(s.p256dh) << ",";
      q.bind(s.auth) << ",";
      q.bind(s.created_at) << ")";
      q.execute(sql);
      saved.subscription = s;
      saved.created = true;
    }
    tx.commit();
    return saved;
  });
}

Result<StoredSubscription> SqlPushRepository::find(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<StoredSubscription> {
    auto found = select_one(sql, "id", id);
    if (!found) return fail(Errc::not_found, "no such push subscription", "id");
    return std::move(*found);
  });
}

Result<std::vector<StoredSubscription>> SqlPushRepository::for_users(const std::vector<std::string>& user_ids) {
  if (user_ids.empty()) return std::vector<StoredSubscription>{};
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<StoredSubscription>> {
    Query q(std::string("SELECT ") + kColumns + " FROM push_subscriptions WHERE user_id IN ");
    detail::bind_list(q, user_ids);
    q << " ORDER BY id";
    Row row;
    std::vector<StoredSubscription> out;
    q.each(sql, row, [&] { out.push_back(row.to_subscription()); });
    return out;
  });
}

Status SqlPushRepository::remove(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("DELETE FROM push_subscriptions WHERE id = ");
    q.bind(id);
    if (q.execute(sql) == 0) return fail(Errc::not_found, "no such push subscription", "id");
    tx.commit();
    return {};
  });
}

}  // namespace carillon::store
