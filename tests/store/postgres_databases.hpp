#pragma once
// One real PostgreSQL server per test binary (tests/support/postgres_server.hpp), started when a
// test first asks for a database and stopped after the last test; each test gets a database of
// its own. Shared by every store test so a binary starts PostgreSQL once, not once per file.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/database.hpp"
#include "support/postgres_server.hpp"

namespace carillon::store {

class PostgresDatabases : public ::testing::Environment {
 public:
  std::string fresh_database(const std::string& prefix) {
    if (!server_) server_ = std::make_unique<testing::PostgresServer>();
    return server_->create_database(prefix + std::to_string(++databases_));
  }
  void TearDown() override { server_.reset(); }

 private:
  std::unique_ptr<testing::PostgresServer> server_;
  int databases_ = 0;
};

// Registered with GoogleTest once per program (an inline variable is initialised once).
inline PostgresDatabases* const postgres_databases =
    static_cast<PostgresDatabases*>(::testing::AddGlobalTestEnvironment(new PostgresDatabases));

// A migrated database of `backend`: an SQLite file `name`.db in `dir`, or a fresh PostgreSQL
// database. Null (with the test failed) when it cannot be opened or migrated.
inline std::unique_ptr<Database> migrated_database(Backend backend, const std::filesystem::path& dir,
                                                   const std::string& name) {
  const std::string url = backend == Backend::sqlite ? "sqlite:" + (dir / (name + ".db")).string()
                                                     : postgres_databases->fresh_database(name);
  auto db = Database::open(url);
  if (!db) {
    ADD_FAILURE() << db.error().message;
    return nullptr;
  }
  if (auto s = (*db)->migrate(); !s) {
    ADD_FAILURE() << s.error().message;
    return nullptr;
  }
  return std::move(*db);
}

}  // namespace carillon::store
