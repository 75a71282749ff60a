#include "store/device_repository.hpp"

#include <optional>

#include <soci/soci.h>

#include "store/sql_support.hpp"

namespace carillon::store {

using detail::Query;
using devices::ClaimCode;
using devices::Device;

namespace {

constexpr const char* kClaimCodeColumns =
    "id, code_hash, company_id, site_id, role, config, created_at, expires_at, used_at, device_id, created_by";

struct ClaimCodeRow {
  ClaimCode code;
  std::string config;
  void bind(soci::statement& st) {
    st.exchange(soci::into(code.id));
    st.exchange(soci::into(code.code_hash));
    st.exchange(soci::into(code.company_id));
    st.exchange(soci::into(code.site_id));
    st.exchange(soci::into(code.role));
    st.exchange(soci::into(config));
    st.exchange(soci::into(code.created_at));
    st.exchange(soci::into(code.expires_at));
    st.exchange(soci::into(code.used_at));
    st.exchange(soci::into(code.device_id));
    st.exchange(soci::into(code.created_by));
  }
  ClaimCode get() const {
    ClaimCode out = code;
    out.config = nlohmann::json::parse(config);
    return out;
  }
};

constexpr const char* kDeviceColumns =
    "id, serial, company_id, site_id, name, role, model, hardware_revision, firmware_version, capabilities, online, "
    "last_seen, cert_serial, cert_expires_at, revoked, desired_config, desired_version, applied_version, "
    "applied_error, created_at, updated_at";

struct DeviceRow {
  Device device;
  std::string capabilities, desired_config;
  std::int64_t online = 0, revoked = 0;
  void bind(soci::statement& st) {
    st.exchange(soci::into(device.id));
    st.exchange(soci::into(device.serial));
    st.exchange(soci::into(device.company_id));
    st.exchange(soci::into(device.site_id));
    st.exchange(soci::into(device.name));
    st.exchange(soci::into(device.role));
    st.exchange(soci::into(device.model));
    st.exchange(soci::into(device.hardware_revision));
    st.exchange(soci::into(device.firmware_version));
    st.exchange(soci::into(capabilities));
    st.exchange(soci::into(online));
    st.exchange(soci::into(device.last_seen));
    st.exchange(soci::into(device.cert_serial));
    st.exchange(soci::into(device.cert_expires_at));
    st.exchange(soci::into(revoked));
    st.exchange(soci::into(desired_config));
    st.exchange(soci::into(device.desired_version));
    st.exchange(soci::into(device.applied_version));
    st.exchange(soci::into(device.applied_error));
    st.exchange(soci::into(device.created_at));
    st.exchange(soci::into(device.updated_at));
  }
  Device get() const {
    Device out = device;
    out.capabilities = nlohmann::json::parse(capabilities);
    out.desired_config = nlohmann::json::parse(desired_config);
    out.online = online != 0;
    out.revoked = revoked != 0;
    return out;
  }
};

std::optional<Device> select_device(soci::session& sql, Query& q) {
  DeviceRow row;
  std::optional<Device> found;
  q.each(sql, row, [&] {
    if (!found) found = row.get();
  });
  return found;
}

std::optional<Device> device_by_id(soci::session& sql, const std::string& id) {
  Query q(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE id = ");
  q.bind(id);
  return select_device(sql, q);
}

bool exists(soci::session& sql, Query q) {
  struct Row {
    std::int64_t n = 0;
    void bind(soci::statement& st) { st.exchange(soci::into(n)); }
  } row;
  q.each(sql, row, [] {});
  return row.n > 0;
}

// Runs an UPDATE on the live device with `serial`; not_found when there is none.
Status update_live(soci::session& sql, Query& update, const std::string& serial) {
  if (update.execute(sql) > 0) return {};
  Query q("SELECT COUNT(*) FROM devices WHERE revoked = 0 AND serial = ");
  q.bind(serial);
  if (!exists(sql, q)) return fail(Errc::not_found, "no live device with this serial", "serial");
  return {};
}

Status check_document_version(const nlohmann::json& config, std::int64_t version) {
  if (config.is_object() && config.contains("version") &&
      !(config["version"].is_number_integer() && config["version"].get<std::int64_t>() == version)) {
    return fail(Errc::invalid_argument, "document version differs from the version stored", "version");
  }
  return {};
}

// The UPDATE + audit of one desired config change, inside the caller's transaction.
Status store_desired_config(soci::session& sql, const std::string& id, const nlohmann::json& config,
                            std::int64_t version, std::int64_t at, const AuditEvent& audit) {
  Query q("UPDATE devices SET desired_config = ");
  q.bind(config.dump()) << ", desired_version = ";
  q.bind(version) << ", ";
  // The document's name is the device's name: a rename is a config change.
  if (config.is_object() && config.contains("name") && config["name"].is_string()) {
    q << "name = ";
    q.bind(config["name"].get<std::string>()) << ", ";
  }
  q << "updated_at = ";
  q.bind(at) << " WHERE id = ";
  q.bind(id) << " AND desired_version = ";
  q.bind(version - 1);
  if (q.execute(sql) != 1) {
    if (!device_by_id(sql, id)) return fail(Errc::not_found, "device not found", "id");
    return fail(Errc::conflict, "config version must be the stored version + 1", "version");
  }
  detail::insert_audit(sql, audit);
  return {};
}

}  // namespace

Status SqlDeviceRepository::insert_claim_code(const ClaimCode& code, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query site("SELECT COUNT(*) FROM nodes WHERE kind = 'site' AND id = ");
    site.bind(code.site_id) << " AND company_id = ";
    site.bind(code.company_id);
    if (!exists(sql, site)) return fail(Errc::not_found, "site not found", "site_id");
    Query q(std::string("INSERT INTO claim_codes (") + kClaimCodeColumns + ") VALUES (");
    q.bind(code.id) << ",";
    q.bind(code.code_hash) << ",";
    q.bind(code.company_id) << ",";
    q.bind(code.site_id) << ",";
    q.bind(code.role) << ",";
    q.bind(code.config.dump()) << ",";
    q.bind(code.created_at) << ",";
    q.bind(code.expires_at) << ",";
    q.bind(code.used_at) << ",";
    q.bind(code.device_id) << ",";
    q.bind(code.created_by) << ")";
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<ClaimCode> SqlDeviceRepository::find_claim_code_by_hash(const std::string& code_hash) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<ClaimCode> {
    Query q(std::string("SELECT ") + kClaimCodeColumns + " FROM claim_codes WHERE code_hash = ");
    q.bind(code_hash);
    ClaimCodeRow row;
    std::optional<ClaimCode> found;
    q.each(sql, row, [&] { found = row.get(); });
    if (!found) return fail(Errc::not_found, "claim code not found", "code");
    return *found;
  });
}

Result<Page<ClaimCode>> SqlDeviceRepository::list_claim_codes(const std::string& site_id, const PageRequest& page) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<ClaimCode>> {
    const int limit = detail::page_limit(page.limit);
    Query q(std::string("SELECT ") + kClaimCodeColumns + " FROM claim_codes WHERE site_id = ");
    q.bind(site_id);
    if (!page.after.empty()) {
      q << " AND id > ";
      q.bind(page.after);
    }
    q << " ORDER BY id";
    ClaimCodeRow row;
    auto out = fetch_page<ClaimCode>(sql, q, row, limit, [&] { return row.get(); });
    return out;
  });
}

Status SqlDeviceRepository::claim(const std::string& claim_code_id, std::int64_t now, const Device& device,
                                  const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    // Race-safe: of two concurrent claims only one UPDATE matches `used_at = 0` (PostgreSQL
    // re-checks the condition after waiting for the row lock; SQLite serialises writers).
    Query use("UPDATE claim_codes SET used_at = ");
    use.bind(now) << ", device_id = ";
    use.bind(device.id) << " WHERE id = ";
    use.bind(claim_code_id) << " AND used_at = 0 AND expires_at > ";
    use.bind(now);
    if (use.execute(sql) != 1) {
      Query known("SELECT COUNT(*) FROM claim_codes WHERE id = ");
      known.bind(claim_code_id);
      if (!exists(sql, known)) return fail(Errc::not_found, "claim code not found", "claim_code_id");
      return fail(Errc::conflict, "claim code already used or expired", "claim_code_id");
    }
    Query live("SELECT COUNT(*) FROM devices WHERE revoked = 0 AND serial = ");
    live.bind(device.serial);
    if (exists(sql, live)) return fail(Errc::conflict, "serial already claimed", "serial");
    Query q(std::string("INSERT INTO devices (") + kDeviceColumns + ") VALUES (");
    q.bind(device.id) << ",";
    q.bind(device.serial) << ",";
    q.bind(device.company_id) << ",";
    q.bind(device.site_id) << ",";
    q.bind(device.name) << ",";
    q.bind(device.role) << ",";
    q.bind(device.model) << ",";
    q.bind(device.hardware_revision) << ",";
    q.bind(device.firmware_version) << ",";
    q.bind(device.capabilities.dump()) << ",";
    q.bind(std::int64_t{device.online ? 1 : 0}) << ",";
    q.bind(device.last_seen) << ",";
    q.bind(device.cert_serial) << ",";
    q.bind(device.cert_expires_at) << ",";
    q.bind(std::int64_t{device.revoked ? 1 : 0}) << ",";
    q.bind(device.desired_config.dump()) << ",";
    q.bind(device.desired_version) << ",";
    q.bind(device.applied_version) << ",";
    q.bind(device.applied_error) << ",";
    q.bind(device.created_at) << ",";
    q.bind(device.updated_at) << ")";
    q.execute(sql);
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<Device> SqlDeviceRepository::find(const std::string& id) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Device> {
    auto device = device_by_id(sql, id);
    if (!device) return fail(Errc::not_found, "device not found", "id");
    return *device;
  });
}

Result<Device> SqlDeviceRepository::find_by_serial(const std::string& serial) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Device> {
    Query q(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE serial = ");
    q.bind(serial) << " ORDER BY revoked, id DESC LIMIT 1";
    auto device = select_device(sql, q);
    if (!device) return fail(Errc::not_found, "device not found", "serial");
    return *device;
  });
}

namespace {

// The company / project / site part of a device filter ("" = any).
void append_scope(Query& q, const devices::DeviceFilter& filter) {
  if (!filter.company_id.empty()) {
    q << " AND company_id = ";
    q.bind(filter.company_id);
  }
  if (!filter.site_id.empty()) {
    q << " AND site_id = ";
    q.bind(filter.site_id);
  }
  if (!filter.project_id.empty()) {
    q << " AND site_id IN (SELECT id FROM nodes WHERE kind = 'site' AND parent_id = ";
    q.bind(filter.project_id) << ")";
  }
}

}  // namespace

Result<Page<Device>> SqlDeviceRepository::list(const devices::DeviceFilter& filter) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<Device>> {
    const int limit = detail::page_limit(filter.page.limit);
    Query q(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE 1 = 1");
    append_scope(q, filter);
    if (filter.online) {
      q << " AND online = ";
      q.bind(std::int64_t{*filter.online ? 1 : 0});
    }
    if (!filter.query.empty()) {
      const std::string pattern = detail::like_substring(filter.query);
      q << " AND (LOWER(name) LIKE LOWER(";
      q.bind(pattern) << ") ESCAPE '!' OR LOWER(serial) LIKE LOWER(";
      q.bind(pattern) << ") ESCAPE '!')";
    }
    if (!filter.page.after.empty()) {
      q << " AND id > ";
      q.bind(filter.page.after);
    }
    q << " ORDER BY id";
    DeviceRow row;
    auto out = fetch_page<Device>(sql, q, row, limit, [&] { return row.get(); });
    return out;
  });
}

Result<std::vector<devices::DeviceSummary>> SqlDeviceRepository::summaries(const devices::DeviceFilter& filter,
                                                                          const std::vector<std::string>& site_ids) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<devices::DeviceSummary>> {
    Query q("SELECT id, company_id, site_id, role, model, hardware_revision, firmware_version, online, capabilities"
            " FROM devices"
            " WHERE revoked = 0");
    append_scope(q, filter);
    if (!site_ids.empty()) {
      q << " AND site_id IN ";
      detail::bind_list(q, site_ids);
    }
    q << " ORDER BY id";
    struct Row {
      devices::DeviceSummary d;
      std::int64_t online = 0;
      std::string capabilities;
      void bind(soci::statement& st) {
        st.exchange(soci::into(d.id));
        st.exchange(soci::into(d.company_id));
        st.exchange(soci::into(d.site_id));
        st.exchange(soci::into(d.role));
        st.exchange(soci::into(d.model));
        st.exchange(soci::into(d.hardware_revision));
        st.exchange(soci::into(d.firmware_version));
        st.exchange(soci::into(online));
        st.exchange(soci::into(capabilities));
      }
    } row;
    std::vector<devices::DeviceSummary> out;
    q.each(sql, row, [&] {
      auto d = row.d;
      d.online = row.online != 0;
      // Capabilities are a short JSON array of strings; a substring test avoids parsing 10k of them.
      d.gateway = row.capabilities.find("\"gateway\"") != std::string::npos;
      out.push_back(std::move(d));
    });
    return out;
  });
}

Status SqlDeviceRepository::set_online(const std::string& serial, bool online, std::int64_t at) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE devices SET online = ");
    q.bind(std::int64_t{online ? 1 : 0}) << ", last_seen = ";
    q.bind(at) << " WHERE revoked = 0 AND serial = ";
    q.bind(serial);
    auto status = update_live(sql, q, serial);
    if (!status) return status;
    tx.commit();
    return {};
  });
}

Status SqlDeviceRepository::set_report(const std::string& serial, const devices::DeviceReport& report,
                                       std::int64_t at) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE devices SET model = ");
    q.bind(report.model) << ", hardware_revision = ";
    q.bind(report.hardware_revision) << ", firmware_version = ";
    q.bind(report.firmware_version) << ", capabilities = ";
    q.bind(report.capabilities.dump()) << ", last_seen = ";
    q.bind(at) << ", updated_at = ";
    q.bind(at) << " WHERE revoked = 0 AND serial = ";
    q.bind(serial);
    auto status = update_live(sql, q, serial);
    if (!status) return status;
    tx.commit();
    return {};
  });
}

Status SqlDeviceRepository::set_desired_config(const std::string& id, const nlohmann::json& config,
                                               std::int64_t version, std::int64_t at, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    if (auto checked = check_document_version(config, version); !checked) return checked;
    detail::Transaction tx(sql, db_.kind());
    if (auto stored = store_desired_config(sql, id, config, version, at, audit); !stored) return stored;
    tx.commit();
    return {};
  });
}

Status SqlDeviceRepository::set_desired_configs(const std::vector<devices::DesiredConfigChange>& changes,
                                                std::int64_t at) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    for (const auto& c : changes) {
      if (auto checked = check_document_version(c.config, c.version); !checked) return checked;
    }
    if (changes.empty()) return {};
    detail::Transaction tx(sql, db_.kind());
    for (const auto& c : changes) {
      if (auto stored = store_desired_config(sql, c.id, c.config, c.version, at, c.audit); !stored) return stored;
    }
    tx.commit();
    return {};
  });
}

Status SqlDeviceRepository::set_applied(const std::string& serial, std::int64_t version, const std::string& error,
                                        std::int64_t at) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE devices SET ");
    if (error.empty()) {
      q << "applied_version = ";
      q.bind(version) << ", applied_error = '', ";
    } else {
      q << "applied_error = ";
      q.bind(error) << ", ";
    }
    q << "last_seen = ";
    q.bind(at) << ", updated_at = ";
    q.bind(at) << " WHERE revoked = 0 AND serial = ";
    q.bind(serial) << " AND applied_version <= ";
    q.bind(version);
    auto status = update_live(sql, q, serial);
    if (!status) return status;
    tx.commit();
    return {};
  });
}

Status SqlDeviceRepository::revoke(const std::string& id, std::int64_t at, const AuditEvent& audit) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    detail::Transaction tx(sql, db_.kind());
    Query q("UPDATE devices SET revoked = 1, online = 0, updated_at = ");
    q.bind(at) << " WHERE revoked = 0 AND id = ";
    q.bind(id);
    if (q.execute(sql) != 1) {
      if (!device_by_id(sql, id)) return fail(Errc::not_found, "device not found", "id");
      return fail(Errc::conflict, "device already revoked", "id");
    }
    detail::insert_audit(sql, audit);
    tx.commit();
    return {};
  });
}

Result<std::vector<std::string>> SqlDeviceRepository::revoked_cert_serials() {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<std::vector<std::string>> {
    struct Row {
      std::string serial;
      void bind(soci::statement& st) { st.exchange(soci::into(serial)); }
    } row;
    Query q("SELECT cert_serial FROM devices WHERE revoked = 1 AND cert_serial <> '' ORDER BY id");
    std::vector<std::string> out;
    q.each(sql, row, [&] { out.push_back(row.serial); });
    return out;
  });
}

}  // namespace carillon::store
