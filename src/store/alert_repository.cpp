#include "store/alert_repository.hpp"

#include <map>

#include "store/sql_support.hpp"

namespace carillon::store {

namespace {

using alerts::AlertKind;
using alerts::AlertSettings;
using alerts::OutboxMessage;
using detail::Query;

constexpr const char* kColumns =
    "id, company_id, kind, dedup_key, recipients, subject, body, created_at, next_attempt_at, attempts, last_error, "
    "sent_at";
constexpr std::size_t kMaxErrorLength = 1000;

// Addresses never hold a newline (validate_address), so one per line.
std::string join_lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += '\n';
    out += item;
  }
  return out;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(separator, start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

struct OutboxRow {
  std::string id, company_id, kind, dedup_key, recipients, subject, body, last_error;
  std::int64_t created_at = 0, next_attempt_at = 0, attempts = 0, sent_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(id));
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(kind));
    st.exchange(soci::into(dedup_key));
    st.exchange(soci::into(recipients));
    st.exchange(soci::into(subject));
    st.exchange(soci::into(body));
    st.exchange(soci::into(created_at));
    st.exchange(soci::into(next_attempt_at));
    st.exchange(soci::into(attempts));
    st.exchange(soci::into(last_error));
    st.exchange(soci::into(sent_at));
  }
  OutboxMessage get() const {
    OutboxMessage m;
    m.id = id;
    m.company_id = company_id;
    m.kind = alerts::parse_alert_kind(kind, "kind").value_or(AlertKind::device_offline);
    m.dedup_key = dedup_key;
    m.recipients = split(recipients, '\n');
    m.subject = subject;
    m.body = body;
    m.created_at = created_at;
    m.next_attempt_at = next_attempt_at;
    m.attempts = static_cast<int>(attempts);
    m.last_error = last_error;
    m.sent_at = sent_at;
    return m;
  }
};

struct SettingsRow {
  std::string company_id, kinds;
  std::int64_t offline_after_minutes = 0, updated_at = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(offline_after_minutes));
    st.exchange(soci::into(kinds));
    st.exchange(soci::into(updated_at));
  }
  AlertSettings get() const {
    AlertSettings s;
    s.company_id = company_id;
    s.offline_after_minutes = static_cast<int>(offline_after_minutes);
    s.enabled.clear();
    for (const auto& name : split(kinds, ',')) {
      if (auto kind = alerts::parse_alert_kind(name, "enabled")) s.enabled.push_back(*kind);
    }
    s.updated_at = updated_at;
    return s;
  }
};

struct RecipientRow {
  std::string company_id, address;
  void bind(soci::statement& st) {
    st.exchange(soci::into(company_id));
    st.exchange(soci::into(address));
  }
};

std::optional<OutboxMessage> select_message(soci::session& sql, const std::string& id) {
  Query q(std::string("SELECT ") + kColumns + " FROM alert_outbox WHERE id = ");
  q.bind(id);
  OutboxRow row;
  std::optional<OutboxMessage> found;
  q.each(sql, row, [&] { found = row.get(); });
  return found;
}

}  // namespace

Result<bool> SqlAlertRepository::enqueue(const OutboxMessage& m) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<bool> {
    detail::Transaction tx(sql, db_.kind());
    // Both SQLite (3.24+) and PostgreSQL skip the row on a dedup key seen before, inside the
    // transaction, where catching a unique violation would abort a PostgreSQL transaction.
    Query q(std::string("INSERT INTO alert_outbox (") + kColumns + ") VALUES (");
    q.bind(m.id) << ",";
    q.bind(m.company_id) << ",";
    q.bind(std::string(alerts::to_string(m.kind))) << ",";
    q.bind(m.dedup_key) << ",";
    q.bind(join_lines(m.recipients)) << ",";
    q.bind(m.subject) << ",";
    q.bind(m.body) << ",";
    q.bind(m.created_at) << ",";
    q.bind(m.next_attempt_at) << ",";
    q.bind(std::int64_t{m.attempts}) << ",";
    q.bind(m.last_error) << ",";
    q.bind(m.sent_at) << ") ON CONFLICT (dedup_key) DO NOTHING";
    const bool stored = q.execute(sql) == 1;
    tx.commit();
    return stored;
  });
}

Result<std::vector<OutboxMessage>> SqlAlertRepository::claim_due(std::int64_t now, std::int64_t lease_until, int limit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<OutboxMessage>> {
    detail::Transaction tx(sql, db_.kind());
    Query q(std::string("SELECT ") + kColumns + " FROM alert_outbox WHERE sent_at = 0 AND next_attempt_at <= ");
    q.bind(now) << " ORDER BY next_attempt_at, id LIMIT ";
    q.bind(static_cast<std::int64_t>(detail::page_limit(limit)));
    OutboxRow row;
    std::vector<OutboxMessage> candidates;
    q.each(sql, row, [&] { candidates.push_back(row.get()); });
    std::vector<OutboxMessage> claimed;
    for (auto& m : candidates) {
      // Another node may have claimed it since the SELECT (PostgreSQL, READ COMMITTED): then its
      // next_attempt_at moved and this UPDATE matches nothing.
      Query claim("UPDATE alert_outbox SET next_attempt_at = ");
      claim.bind(lease_until) << " WHERE id = ";
      claim.bind(m.id) << " AND sent_at = 0 AND next_attempt_at = ";
      claim.bind(m.next_attempt_at);
      if (claim.execute(sql) != 1) continue;
      m.next_attempt_at = lease_until;
      claimed.push_back(std::move(m));
    }
    tx.commit();
    return claimed;
  });
}

Status SqlAlertRepository::mark_sent(const std::string& id, std::int64_t at) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE alert_outbox SET sent_at = ");
    q.bind(at) << " WHERE id = ";
    q.bind(id) << " AND sent_at = 0";
    if (q.execute(sql) != 1) return fail(Errc::not_found, "no such unsent alert message", "id");
    tx.commit();
    return {};
  });
}

Status SqlAlertRepository::mark_failed(const std::string& id, std::int64_t next_attempt_at, const std::string& error) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE alert_outbox SET attempts = attempts + 1, last_error = ");
    q.bind(error.substr(0, kMaxErrorLength)) << ", next_attempt_at = ";
    q.bind(next_attempt_at) << " WHERE id = ";
    q.bind(id) << " AND sent_at = 0";
    if (q.execute(sql) != 1) return fail(Errc::not_found, "no such unsent alert message", "id");
    tx.commit();
    return {};
  });
}

Result<OutboxMessage> SqlAlertRepository::find(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<OutboxMessage> {
    auto found = select_message(sql, id);
    if (!found) return fail(Errc::not_found, "no such alert message", "id");
    return std::move(*found);
  });
}

Result<Page<OutboxMessage>> SqlAlertRepository::list(const std::string& company_id, const PageRequest& page) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<OutboxMessage>> {
    Query q(std::string("SELECT ") + kColumns + " FROM alert_outbox WHERE company_id = ");
    q.bind(company_id);
    if (!page.after.empty()) {
      q << " AND id > ";
      q.bind(page.after);
    }
    q << " ORDER BY id";
    OutboxRow row;
    return detail::fetch_page<OutboxMessage>(sql, q, row, detail::page_limit(page.limit), [&] { return row.get(); });
  });
}

Result<AlertSettings> SqlAlertRepository::get(const std::string& company_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<AlertSettings> {
    Query q("SELECT company_id, offline_after_minutes, enabled_kinds, updated_at FROM alert_settings WHERE company_id = ");
    q.bind(company_id);
    SettingsRow row;
    std::optional<AlertSettings> found;
    q.each(sql, row, [&] { found = row.get(); });
    if (!found) {
      AlertSettings defaults;
      defaults.company_id = company_id;
      return defaults;
    }
    Query r("SELECT company_id, address FROM alert_recipients WHERE company_id = ");
    r.bind(company_id) << " ORDER BY position";
    RecipientRow recipient;
    r.each(sql, recipient, [&] { found->recipients.push_back(recipient.address); });
    return std::move(*found);
  });
}

Status SqlAlertRepository::put(const AlertSettings& s) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    std::string kinds;
    for (AlertKind kind : s.enabled) {
      if (!kinds.empty()) kinds += ',';
      kinds += alerts::to_string(kind);
    }
    Query q("INSERT INTO alert_settings (company_id, offline_after_minutes, enabled_kinds, updated_at) VALUES (");
    q.bind(s.company_id) << ",";
    q.bind(std::int64_t{s.offline_after_minutes}) << ",";
    q.bind(kinds) << ",";
    q.bind(s.updated_at)
        << ") ON CONFLICT (company_id) DO UPDATE SET offline_after_minutes = excluded.offline_after_minutes,"
           " enabled_kinds = excluded.enabled_kinds, updated_at = excluded.updated_at";
    q.execute(sql);
    Query d("DELETE FROM alert_recipients WHERE company_id = ");
    d.bind(s.company_id);
    d.execute(sql);
    for (std::size_t i = 0; i < s.recipients.size(); ++i) {
      Query r("INSERT INTO alert_recipients (company_id, position, address) VALUES (");
      r.bind(s.company_id) << ",";
      r.bind(static_cast<std::int64_t>(i)) << ",";
      r.bind(s.recipients[i]) << ")";
      r.execute(sql);
    }
    tx.commit();
    return {};
  });
}

Result<std::vector<AlertSettings>> SqlAlertRepository::with_recipients() {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<AlertSettings>> {
    std::map<std::string, std::vector<std::string>> recipients;
    Query r("SELECT company_id, address FROM alert_recipients ORDER BY company_id, position");
    RecipientRow recipient;
    r.each(sql, recipient, [&] { recipients[recipient.company_id].push_back(recipient.address); });
    std::vector<AlertSettings> out;
    if (recipients.empty()) return out;
    Query q("SELECT company_id, offline_after_minutes, enabled_kinds, updated_at FROM alert_settings"
            " WHERE company_id IN (SELECT company_id FROM alert_recipients) ORDER BY company_id");
    SettingsRow row;
    q.each(sql, row, [&] {
      AlertSettings s = row.get();
      s.recipients = recipients[s.company_id];
      out.push_back(std::move(s));
    });
    return out;
  });
}

}  // namespace carillon::store
