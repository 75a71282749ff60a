#include "store/firmware_repository.hpp"

#include "store/sql_support.hpp"

namespace carillon::store {

namespace {

using detail::Query;
using firmware::Image;
using firmware::Rollout;
using firmware::RolloutDevice;
using firmware::UpdatePolicy;
using nlohmann::json;

constexpr const char* kImageColumns =
    "id, family, version, sha256, size, security_critical, models, signature, release_notes, file_name, created_at, "
    "created_by";

struct ImageRow {
  Image image;
  std::string models;
  std::int64_t critical = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(image.id));
    st.exchange(soci::into(image.manifest.family));
    st.exchange(soci::into(image.manifest.version));
    st.exchange(soci::into(image.manifest.sha256));
    st.exchange(soci::into(image.manifest.size));
    st.exchange(soci::into(critical));
    st.exchange(soci::into(models));
    st.exchange(soci::into(image.signature));
    st.exchange(soci::into(image.release_notes));
    st.exchange(soci::into(image.file_name));
    st.exchange(soci::into(image.created_at));
    st.exchange(soci::into(image.created_by));
  }
  Image get() const {
    Image out = image;
    out.manifest.security_critical = critical != 0;
    out.manifest.models = json::parse(models).get<std::vector<std::string>>();
    return out;
  }
};

constexpr const char* kRolloutColumns =
    "id, company_id, image_id, waves, failure_threshold, state, current_wave, stop_reason, created_at, updated_at, "
    "created_by";

struct RolloutRow {
  Rollout rollout;
  std::string waves, state;
  std::int64_t threshold = 0, current_wave = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(rollout.id));
    st.exchange(soci::into(rollout.company_id));
    st.exchange(soci::into(rollout.image_id));
    st.exchange(soci::into(waves));
    st.exchange(soci::into(threshold));
    st.exchange(soci::into(state));
    st.exchange(soci::into(current_wave));
    st.exchange(soci::into(rollout.stop_reason));
    st.exchange(soci::into(rollout.created_at));
    st.exchange(soci::into(rollout.updated_at));
    st.exchange(soci::into(rollout.created_by));
  }
  Rollout get() const {
    Rollout out = rollout;
    out.waves = json::parse(waves).get<std::vector<int>>();
    out.failure_threshold_percent = static_cast<int>(threshold);
    auto parsed = firmware::parse_rollout_state(state);
    if (!parsed) throw std::runtime_error("unknown rollout state in database: " + state);
    out.state = *parsed;
    out.current_wave = static_cast<int>(current_wave);
    return out;
  }
};

constexpr const char* kDeviceColumns =
    "rollout_id, device_id, wave, state, percent, error, from_version, started_at, updated_at";

struct DeviceRow {
  RolloutDevice device;
  std::string state;
  std::int64_t wave = 0, percent = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(device.rollout_id));
    st.exchange(soci::into(device.device_id));
    st.exchange(soci::into(wave));
    st.exchange(soci::into(state));
    st.exchange(soci::into(percent));
    st.exchange(soci::into(device.error));
    st.exchange(soci::into(device.from_version));
    st.exchange(soci::into(device.started_at));
    st.exchange(soci::into(device.updated_at));
  }
  RolloutDevice get() const {
    RolloutDevice out = device;
    out.wave = static_cast<int>(wave);
    out.percent = static_cast<int>(percent);
    auto parsed = firmware::parse_device_update_state(state);
    if (!parsed) throw std::runtime_error("unknown device update state in database: " + state);
    out.state = *parsed;
    return out;
  }
};

bool rollout_active(firmware::RolloutState state) {
  return state == firmware::RolloutState::running || state == firmware::RolloutState::paused;
}

std::optional<Rollout> select_rollout(soci::session& sql, const std::string& id) {
  Query q(std::string("SELECT ") + kRolloutColumns + " FROM rollouts WHERE id = ");
  q.bind(id);
  RolloutRow row;
  std::optional<Rollout> found;
  q.each(sql, row, [&] { found = row.get(); });
  return found;
}

}  // namespace

Status SqlFirmwareRepository::insert_image(const Image& image, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q(std::string("INSERT INTO firmware_images (") + kImageColumns + ") VALUES (");
    q.bind(image.id) << ",";
    q.bind(image.manifest.family) << ",";
    q.bind(image.manifest.version) << ",";
    q.bind(image.manifest.sha256) << ",";
    q.bind(image.manifest.size) << ",";
    q.bind(std::int64_t{image.manifest.security_critical ? 1 : 0}) << ",";
    q.bind(json(image.manifest.models).dump()) << ",";
    q.bind(image.signature) << ",";
    q.bind(image.release_notes) << ",";
    q.bind(image.file_name) << ",";
    q.bind(image.created_at) << ",";
    q.bind(image.created_by) << ")";
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<Image> SqlFirmwareRepository::find_image(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Image> {
    Query q(std::string("SELECT ") + kImageColumns + " FROM firmware_images WHERE id = ");
    q.bind(id);
    ImageRow row;
    std::optional<Image> found;
    q.each(sql, row, [&] { found = row.get(); });
    if (!found) return fail(Errc::not_found, "no such firmware image", "id");
    return std::move(*found);
  });
}

Result<Page<Image>> SqlFirmwareRepository::list_images(const std::string& family, const PageRequest& page) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<Image>> {
    Query q(std::string("SELECT ") + kImageColumns + " FROM firmware_images WHERE 1 = 1");
    if (!family.empty()) {
      q << " AND family = ";
      q.bind(family);
    }
    if (!page.after.empty()) {
      q << " AND id > ";
      q.bind(page.after);
    }
    q << " ORDER BY id";
    ImageRow row;
    return detail::fetch_page<Image>(sql, q, row, detail::page_limit(page.limit), [&] { return row.get(); });
  });
}

Status SqlFirmwareRepository::put_policy(const UpdatePolicy& policy, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query del("DELETE FROM update_policies WHERE scope_id = ");
    del.bind(policy.scope_id);
    del.execute(sql);
    Query q("INSERT INTO update_policies (scope_id, mode, weekdays, start_minute, end_minute, updated_at) VALUES (");
    q.bind(policy.scope_id) << ",";
    q.bind(std::string(firmware::to_string(policy.mode))) << ",";
    q.bind(static_cast<std::int64_t>(policy.window.weekdays)) << ",";
    q.bind(static_cast<std::int64_t>(policy.window.start_minute)) << ",";
    q.bind(static_cast<std::int64_t>(policy.window.end_minute)) << ",";
    q.bind(policy.updated_at) << ")";
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<std::optional<UpdatePolicy>> SqlFirmwareRepository::find_policy(const std::string& scope_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::optional<UpdatePolicy>> {
    Query q("SELECT scope_id, mode, weekdays, start_minute, end_minute, updated_at FROM update_policies WHERE scope_id = ");
    q.bind(scope_id);
    struct Row {
      UpdatePolicy policy;
      std::string mode;
      std::int64_t weekdays = 0, start = 0, end = 0;
      void bind(soci::statement& st) {
        st.exchange(soci::into(policy.scope_id));
        st.exchange(soci::into(mode));
        st.exchange(soci::into(weekdays));
        st.exchange(soci::into(start));
        st.exchange(soci::into(end));
        st.exchange(soci::into(policy.updated_at));
      }
    } row;
    std::optional<UpdatePolicy> found;
    std::string bad_mode;
    q.each(sql, row, [&] {
      auto mode = firmware::parse_update_mode(row.mode, "mode");
      if (!mode) {
        bad_mode = row.mode;
        return;
      }
      UpdatePolicy p = row.policy;
      p.mode = *mode;
      p.window = {static_cast<unsigned>(row.weekdays), static_cast<int>(row.start), static_cast<int>(row.end)};
      found = p;
    });
    if (!bad_mode.empty()) return fail(Errc::internal, "unknown update mode in database: " + bad_mode);
    return found;
  });
}

Status SqlFirmwareRepository::insert_rollout(const Rollout& rollout, const std::vector<RolloutDevice>& devices,
                                            const AuditEvent& audit) {
  auto result = detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q(std::string("INSERT INTO rollouts (") + kRolloutColumns + ") VALUES (");
    q.bind(rollout.id) << ",";
    q.bind(rollout.company_id) << ",";
    q.bind(rollout.image_id) << ",";
    q.bind(json(rollout.waves).dump()) << ",";
    q.bind(static_cast<std::int64_t>(rollout.failure_threshold_percent)) << ",";
    q.bind(std::string(firmware::to_string(rollout.state))) << ",";
    q.bind(static_cast<std::int64_t>(rollout.current_wave)) << ",";
    q.bind(rollout.stop_reason) << ",";
    q.bind(rollout.created_at) << ",";
    q.bind(rollout.updated_at) << ",";
    q.bind(rollout.created_by) << ")";
    q.execute(sql);
    for (const auto& d : devices) {
      Query qd(std::string("INSERT INTO rollout_devices (") + kDeviceColumns + ", active_device) VALUES (");
      qd.bind(d.rollout_id) << ",";
      qd.bind(d.device_id) << ",";
      qd.bind(static_cast<std::int64_t>(d.wave)) << ",";
      qd.bind(std::string(firmware::to_string(d.state))) << ",";
      qd.bind(static_cast<std::int64_t>(d.percent)) << ",";
      qd.bind(d.error) << ",";
      qd.bind(d.from_version) << ",";
      qd.bind(d.started_at) << ",";
      qd.bind(d.updated_at) << ",";
      if (firmware::is_terminal(d.state)) {
        qd << "NULL)";
      } else {
        qd.bind(d.device_id) << ")";
      }
      qd.execute(sql);
    }
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
  if (!result && result.error().code == Errc::conflict) {
    return fail(Errc::conflict, "a device is already part of another rollout that is running or paused", "device_ids");
  }
  return result;
}

Result<Rollout> SqlFirmwareRepository::find_rollout(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Rollout> {
    auto found = select_rollout(sql, id);
    if (!found) return fail(Errc::not_found, "no such rollout", "id");
    return std::move(*found);
  });
}

Result<Page<Rollout>> SqlFirmwareRepository::list_rollouts(const std::string& company_id, const PageRequest& page) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<Rollout>> {
    Query q(std::string("SELECT ") + kRolloutColumns + " FROM rollouts WHERE 1 = 1");
    if (!company_id.empty()) {
      q << " AND company_id = ";
      q.bind(company_id);
    }
    if (!page.after.empty()) {
      q << " AND id > ";
      q.bind(page.after);
    }
    q << " ORDER BY id";
    RolloutRow row;
    return detail::fetch_page<Rollout>(sql, q, row, detail::page_limit(page.limit), [&] { return row.get(); });
  });
}

Result<std::vector<Rollout>> SqlFirmwareRepository::active_rollouts() {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<Rollout>> {
    Query q(std::string("SELECT ") + kRolloutColumns + " FROM rollouts WHERE state IN ('running', 'paused') ORDER BY id");
    RolloutRow row;
    std::vector<Rollout> out;
    q.each(sql, row, [&] { out.push_back(row.get()); });
    return out;
  });
}

Status SqlFirmwareRepository::update_rollout(const Rollout& rollout, const AuditEvent* audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE rollouts SET state = ");
    q.bind(std::string(firmware::to_string(rollout.state))) << ", current_wave = ";
    q.bind(static_cast<std::int64_t>(rollout.current_wave)) << ", stop_reason = ";
    q.bind(rollout.stop_reason) << ", updated_at = ";
    q.bind(rollout.updated_at) << " WHERE id = ";
    q.bind(rollout.id);
    if (q.execute(sql) == 0) return fail(Errc::not_found, "no such rollout", "id");
    if (!rollout_active(rollout.state)) {
      // An ended rollout no longer holds its devices: they may join the next one.
      Query release("UPDATE rollout_devices SET active_device = NULL WHERE rollout_id = ");
      release.bind(rollout.id);
      release.execute(sql);
    }
    if (audit) detail::insert_audit(sql, *audit);
    tx.commit();
    return {};
  });
}

Result<std::vector<RolloutDevice>> SqlFirmwareRepository::rollout_devices(const std::string& rollout_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<RolloutDevice>> {
    Query q(std::string("SELECT ") + kDeviceColumns + " FROM rollout_devices WHERE rollout_id = ");
    q.bind(rollout_id) << " ORDER BY wave, device_id";
    DeviceRow row;
    std::vector<RolloutDevice> out;
    q.each(sql, row, [&] { out.push_back(row.get()); });
    return out;
  });
}

Result<bool> SqlFirmwareRepository::in_active_rollout(const std::string& device_id, const std::string& image_id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<bool> {
    Query q("SELECT COUNT(*) FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id WHERE d.device_id = ");
    q.bind(device_id) << " AND r.image_id = ";
    q.bind(image_id) << " AND r.state IN ('running', 'paused')";
    return detail::query_int(sql, q).value_or(0) > 0;
  });
}

Status SqlFirmwareRepository::update_rollout_device(const RolloutDevice& d) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE rollout_devices SET state = ");
    q.bind(std::string(firmware::to_string(d.state))) << ", percent = ";
    q.bind(static_cast<std::int64_t>(d.percent)) << ", error = ";
    q.bind(d.error) << ", started_at = ";
    q.bind(d.started_at) << ", updated_at = ";
    q.bind(d.updated_at);
    if (firmware::is_terminal(d.state)) q << ", active_device = NULL";
    q << " WHERE rollout_id = ";
    q.bind(d.rollout_id) << " AND device_id = ";
    q.bind(d.device_id);
    if (q.execute(sql) == 0) return fail(Errc::not_found, "no such device in this rollout", "device_id");
    tx.commit();
    return {};
  });
}

}  // namespace carillon::store
