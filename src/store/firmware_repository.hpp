#pragma once

#include "firmware/model.hpp"
#include "store/database.hpp"

namespace carillon::store {

// firmware_images, update_policies, rollouts, rollout_devices (migration 7).
class SqlFirmwareRepository final : public firmware::FirmwareRepository {
 public:
  explicit SqlFirmwareRepository(Database& db) : db_(db) {}

  Status insert_image(const firmware::Image& image, const AuditEvent& audit) override;
  Result<firmware::Image> find_image(const std::string& id) override;
  Result<Page<firmware::Image>> list_images(const std::string& family, const PageRequest& page) override;

  Status put_policy(const firmware::UpdatePolicy& policy, const AuditEvent& audit) override;
  Result<std::optional<firmware::UpdatePolicy>> find_policy(const std::string& scope_id) override;

  Status insert_rollout(const firmware::Rollout& rollout, const std::vector<firmware::RolloutDevice>& devices,
                        const AuditEvent& audit) override;
  Result<firmware::Rollout> find_rollout(const std::string& id) override;
  Result<Page<firmware::Rollout>> list_rollouts(const std::string& company_id, const PageRequest& page) override;
  Result<std::vector<firmware::Rollout>> active_rollouts() override;
  Status update_rollout(const firmware::Rollout& rollout, const AuditEvent* audit) override;
  Result<std::vector<firmware::RolloutDevice>> rollout_devices(const std::string& rollout_id) override;
  Status update_rollout_device(const firmware::RolloutDevice& device) override;
  Result<bool> in_active_rollout(const std::string& device_id, const std::string& image_id) override;

 private:
  Database& db_;
};

}  // namespace carillon::store
