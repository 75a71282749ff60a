#pragma once

#include "alerts/model.hpp"
#include "store/database.hpp"

namespace carillon::store {

// alert_outbox (the e-mails, sent or waiting) and alert_settings + alert_recipients (per company).
class SqlAlertRepository final : public alerts::OutboxRepository, public alerts::AlertSettingsRepository {
 public:
  explicit SqlAlertRepository(Database& db) : db_(db) {}

  Result<bool> enqueue(const alerts::OutboxMessage& message) override;
  Result<std::vector<alerts::OutboxMessage>> claim_due(std::int64_t now, std::int64_t lease_until, int limit) override;
  Status mark_sent(const std::string& id, std::int64_t at) override;
  Status mark_failed(const std::string& id, std::int64_t next_attempt_at, const std::string& error) override;
  Result<alerts::OutboxMessage> find(const std::string& id) override;
  Result<Page<alerts::OutboxMessage>> list(const std::string& company_id, const PageRequest& page) override;

  Result<alerts::AlertSettings> get(const std::string& company_id) override;
  Status put(const alerts::AlertSettings& settings) override;
  Result<std::vector<alerts::AlertSettings>> with_recipients() override;

 private:
  Database& db_;
};

}  // namespace carillon::store
