#pragma once
// The SQL database behind every repository: SQLite (embedded default) or PostgreSQL (several
// `carillon serve` nodes), with the same versioned migrations. SQL lives in src/store only.

#include <memory>
#include <string>

#include "common/result.hpp"

namespace soci {
class connection_pool;
}

namespace carillon::store {

enum class Backend { sqlite, postgresql };

class Database {
 public:
  // url: "sqlite:/path/to/file.db" (also "sqlite:///path"; the path must not contain '=') opens
  // SQLite in WAL mode with foreign keys on and a 5 s busy timeout on every pooled connection.
  // "postgresql://..." / "postgres://..." is a libpq URI; "postgresql:<conninfo>" a libpq
  // keyword/value string, e.g. "postgresql:host=127.0.0.1 port=5433 dbname=carillon user=postgres".
  // invalid_argument for other schemes or pool_size < 1; unavailable when it cannot connect.
  static Result<std::unique_ptr<Database>> open(const std::string& url, int pool_size = 4);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Applies the migrations not yet recorded in schema_migrations, each in its own transaction
  // (on PostgreSQL under an advisory lock, so several nodes may start at once). Idempotent.
  Status migrate();
  // A trivial query on a pooled connection (for /readyz).
  Status ping();
  // "sqlite" | "postgresql"
  std::string backend() const;
  Backend kind() const { return kind_; }
  // Highest applied migration version (after migrate(); an error before it).
  Result<int> schema_version();

  // For the repositories in this module.
  soci::connection_pool& pool() { return *pool_; }

 private:
  Database(Backend kind, std::unique_ptr<soci::connection_pool> pool);

  Backend kind_;
  std::unique_ptr<soci::connection_pool> pool_;
};

}  // namespace carillon::store
