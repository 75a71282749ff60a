#pragma once
// In-memory settings and outbox for the engine and dispatcher tests (the SQL ones are tested in
// tests/store/alert_repository_test.cpp against SQLite and PostgreSQL). Either can be switched
// to fail like a database that is down.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "alerts/model.hpp"

namespace carillon::alerts::testing {

class MemorySettings final : public AlertSettingsRepository {
 public:
  Result<AlertSettings> get(const std::string& company_id) override {
    if (down) return fail(Errc::unavailable, "database down");
    auto it = settings.find(company_id);
    if (it != settings.end()) return it->second;
    AlertSettings defaults;
    defaults.company_id = company_id;
    return defaults;
  }
  Status put(const AlertSettings& s) override {
    if (down) return fail(Errc::unavailable, "database down");
    settings[s.company_id] = s;
    return {};
  }
  Result<std::vector<AlertSettings>> with_recipients() override {
    if (down) return fail(Errc::unavailable, "database down");
    std::vector<AlertSettings> out;
    for (const auto& [id, s] : settings) {
      if (!s.recipients.empty()) out.push_back(s);
    }
    return out;
  }

  std::map<std::string, AlertSettings> settings;
  bool down = false;
};

class MemoryOutbox final : public OutboxRepository {
 public:
  Result<bool> enqueue(const OutboxMessage& m) override {
    if (down) return fail(Errc::unavailable, "database down");
    for (const auto& existing : messages) {
      if (existing.dedup_key == m.dedup_key) return false;
    }
    messages.push_back(m);
    return true;
  }
  Result<std::vector<OutboxMessage>> claim_due(std::int64_t now, std::int64_t lease_until, int limit) override {
    if (down) return fail(Errc::unavailable, "database down");
    std::vector<OutboxMessage*> due;
    for (auto& m : messages) {
      if (m.sent_at == 0 && m.next_attempt_at <= now) due.push_back(&m);
    }
    std::stable_sort(due.begin(), due.end(),
                     [](const OutboxMessage* a, const OutboxMessage* b) { return a->next_attempt_at < b->next_attempt_at; });
    std::vector<OutboxMessage> out;
    for (auto* m : due) {
      if (static_cast<int>(out.size()) == limit) break;
      m->next_attempt_at = lease_until;
      out.push_back(*m);
    }
    return out;
  }
  Status mark_sent(const std::string& id, std::int64_t at) override {
    if (down || mark_sent_down) return fail(Errc::unavailable, "database down");
    auto* m = unsent(id);
    if (m == nullptr) return fail(Errc::not_found, "no such unsent alert message", "id");
    m->sent_at = at;
    return {};
  }
  Status mark_failed(const std::string& id, std::int64_t next_attempt_at, const std::string& error) override {
    if (down) return fail(Errc::unavailable, "database down");
    auto* m = unsent(id);
    if (m == nullptr) return fail(Errc::not_found, "no such unsent alert message", "id");
    ++m->attempts;
    m->last_error = error;
    m->next_attempt_at = next_attempt_at;
    return {};
  }
  Result<OutboxMessage> find(const std::string& id) override {
    for (const auto& m : messages) {
      if (m.id == id) return m;
    }
    return fail(Errc::not_found, "no such alert message", "id");
  }
  Result<Page<OutboxMessage>> list(const std::string& company_id, const PageRequest&) override {
    Page<OutboxMessage> page;
    for (const auto& m : messages) {
      if (m.company_id == company_id) page.items.push_back(m);
    }
    return page;
  }

  std::vector<OutboxMessage> messages;
  bool down = false;
  bool mark_sent_down = false;

 private:
  OutboxMessage* unsent(const std::string& id) {
    for (auto& m : messages) {
      if (m.id == id && m.sent_at == 0) return &m;
    }
    return nullptr;
  }
};

}  // namespace carillon::alerts::testing
