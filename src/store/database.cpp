#include "store/database.hpp"

#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <chrono>
#include <thread>

#include "common/clock.hpp"
#include "store/migrations.hpp"
#include "store/sql_support.hpp"

namespace carillon::store {

namespace {

bool starts_with(const std::string& text, std::string_view prefix) { return text.rfind(prefix, 0) == 0; }

// Arbitrary but fixed: serialises migrations across `carillon serve` nodes on one database.
constexpr std::int64_t kMigrationLockKey = 0x6361726c6c6f6e;

// SQLite's own busy timeout sleeps 1, 2, 5, 10 ... 100 ms between retries. Two writers that
// alternate - an API request writing one device after another while the MQTT worker records
// each device's acknowledgement - then lose milliseconds on most writes (BENCHMARKS.md:
// bulk-config of 1,000 devices took 7-14 s). Write transactions last well under a millisecond,
// so retry every 100 us for the first ~0.1 s, then every 10 ms; about 5 s in all, as before.
int retry_while_busy(void*, int attempts) {
  constexpr int kShortRetries = 1000;
  constexpr int kLongRetries = 490;
  if (attempts >= kShortRetries + kLongRetries) return 0;
  std::this_thread::sleep_for(attempts < kShortRetries ? std::chrono::microseconds(100) : std::chrono::microseconds(10000));
  return 1;
}

void configure_sqlite(soci::session& sql) {
  detail::exec(sql, "PRAGMA foreign_keys = ON");
  auto* backend = static_cast<soci::sqlite3_session_backend*>(sql.get_backend());
  sqlite_api::sqlite3_busy_handler(backend->conn_, &retry_while_busy, nullptr);
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the
  // last transactions, and it avoids an fsync per commit.
  detail::exec(sql, "PRAGMA synchronous = NORMAL");
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
          detail::Query wal("PRAGMA journal_mode = WAL");
          const std::string mode = detail::query_text(sql, wal).value_or("");
          if (mode != "wal") {
            return fail(Errc::unavailable, "sqlite refused WAL mode (got '" + mode + "')", "database_url");
          }
        }
        configure_sqlite(sql);
      } else {
        sql.open(soci::postgresql, target);
        detail::configure_postgresql(sql);
      }
    }
    return std::unique_ptr<Database>(new Database(kind, std::move(pool)));
  } catch (const std::exception& e) {
    return fail(Errc::unavailable, std::string("cannot open database: ") + e.what(), "database_url");
  }
}

std::string Database::backend() const { return kind_ == Backend::sqlite ? "sqlite" : "postgresql"; }

Status Database::migrate() {
  return detail::guarded(*this, [&](soci::session& sql) -> Status {
    for (const Migration& migration : migrations()) {
      detail::Transaction tx(sql, kind_);
      if (kind_ == Backend::postgresql) {
        detail::Query lock("SELECT pg_advisory_xact_lock(");
        lock.bind(kMigrationLockKey) << ")";
        detail::query_text(sql, lock);
      }
      detail::exec(sql, "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)");
      const std::int64_t version = migration.version;
      detail::Query applied("SELECT COUNT(*) FROM schema_migrations WHERE version = ");
      applied.bind(version);
      if (detail::query_int(sql, applied).value_or(0) > 0) continue;  // rolled back: nothing was written
      for (std::string_view statement : migration.statements) detail::exec(sql, std::string(statement));
      detail::Query record("INSERT INTO schema_migrations (version, applied_at) VALUES (");
      record.bind(version) << ",";
      record.bind(SystemClock().now()) << ")";
      record.execute(sql);
      tx.commit();
    }
    return {};
  });
}

Result<int> Database::schema_version() {
  return detail::guarded(*this, [&](soci::session& sql) -> Result<int> {
    detail::Query q("SELECT MAX(version) FROM schema_migrations");
    return static_cast<int>(detail::query_int(sql, q).value_or(0));
  });
}

Status Database::ping() {
  auto status = detail::guarded(*this, [&](soci::session& sql) -> Status {
    detail::Query q("SELECT 1");
    if (detail::query_int(sql, q) != 1) return fail(Errc::unavailable, "database did not answer SELECT 1");
    return {};
  });
  if (!status) return fail(Errc::unavailable, status.error().message);
  return status;
}

}  // namespace carillon::store
