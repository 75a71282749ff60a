#include "store/database.hpp"

#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include "common/clock.hpp"
#include "store/migrations.hpp"
#include "store/sql_support.hpp"

namespace carillon::store {

namespace {

bool starts_with(const std::string& text, std::string_view prefix) { return text.rfind(prefix, 0) == 0; }

// Arbitrary but fixed: serialises migrations across `carillon serve` nodes on one database.
constexpr std::int64_t kMigrationLockKey = 0x6361726c6c6f6e;

void configure_sqlite(soci::session& sql) {
  sql << "PRAGMA foreign_keys = ON";
  sql << "PRAGMA busy_timeout = 5000";
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the
  // last transactions, and it avoids an fsync per commit.
  sql << "PRAGMA synchronous = NORMAL";
}

}  // namespace

Database::Database(Backend kind, std::unique_ptr<soci::connection_pool> pool) : kind_(kind), pool_(std::move(pool)) {}

Database::~Database() = default;

Result<std::unique_ptr<Database>> Database::open(const std::string& url, int pool_size) {
  if (pool_size < 1) return fail(Errc::invalid_argument, "pool size must be at least 1", "pool_size");
  Backend kind;
  std::string target;
  if (starts_with(url, "sqlite:")) {
    kind = Backend::sqlite;
    target = url.substr(7);
    if (starts_with(target, "//")) target = target.substr(2);
    // SOCI's SQLite backend reads "key=value" options when the string holds '='.
    if (target.empty() || target.find('=') != std::string::npos) {
      return fail(Errc::invalid_argument, "sqlite path must be non-empty and must not contain '='", "database_url");
    }
  } else if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
    kind = Backend::postgresql;
    target = url;
  } else if (starts_with(url, "postgresql:")) {
    kind = Backend::postgresql;
    target = url.substr(11);
  } else {
    return fail(Errc::invalid_argument, "database url must start with sqlite: or postgresql:", "database_url");
  }
  try {
    auto pool = std::make_unique<soci::connection_pool>(static_cast<std::size_t>(pool_size));
    for (int i = 0; i < pool_size; ++i) {
      soci::session& sql = pool->at(static_cast<std::size_t>(i));
      if (kind == Backend::sqlite) {
        sql.open(soci::sqlite3, target);
        if (i == 0) {
          // WAL is a property of the file; set it once, before the other connections read.
          std::string mode;
          sql << "PRAGMA journal_mode = WAL", soci::into(mode);
          if (mode != "wal") {
            return fail(Errc::unavailable, "sqlite refused WAL mode (got '" + mode + "')", "database_url");
          }
        }
        configure_sqlite(sql);
      } else {
        sql.open(soci::postgresql, target);
        // libpq prints NOTICEs (e.g. "already exists, skipping") to stderr; keep logs clean.
        sql << "SET client_min_messages = warning";
      }
    }
    return std::unique_ptr<Database>(new Database(kind, std::move(pool)));
  } catch (const std::exception& e) {
    return fail(Errc::unavailable, std::string("cannot open database: ") + e.what(), "database_url");
  }
}

std::string Database::backend() const { return kind_ == Backend::sqlite ? "sqlite" : "postgresql"; }

Status Database::migrate() {
  return detail::guarded([&]() -> Status {
    soci::session sql(*pool_);
    for (const Migration& migration : migrations()) {
      detail::Transaction tx(sql, kind_);
      if (kind_ == Backend::postgresql) {
        sql << "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")";
      }
      sql << "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
      std::int64_t found = 0;
      const std::int64_t version = migration.version;
      sql << "SELECT COUNT(*) FROM schema_migrations WHERE version = :v", soci::use(version), soci::into(found);
      if (found > 0) continue;  // rolled back: nothing was written
      for (std::string_view statement : migration.statements) sql << std::string(statement);
      const std::int64_t now = SystemClock().now();
      sql << "INSERT INTO schema_migrations (version, applied_at) VALUES (:v, :at)", soci::use(version),
          soci::use(now);
      tx.commit();
    }
    return {};
  });
}

Result<int> Database::schema_version() {
  return detail::guarded([&]() -> Result<int> {
    soci::session sql(*pool_);
    std::int64_t version = 0;
    soci::indicator ind = soci::i_ok;
    sql << "SELECT MAX(version) FROM schema_migrations", soci::into(version, ind);
    return ind == soci::i_ok ? static_cast<int>(version) : 0;
  });
}

Status Database::ping() {
  auto status = detail::guarded([&]() -> Status {
    soci::session sql(*pool_);
    int one = 0;
    sql << "SELECT 1", soci::into(one);
    if (one != 1) return fail(Errc::unavailable, "database answered SELECT 1 with " + std::to_string(one));
    return {};
  });
  if (!status) return fail(Errc::unavailable, status.error().message);
  return status;
}

}  // namespace carillon::store
