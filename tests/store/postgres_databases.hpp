#pragma once
// One real PostgreSQL server per test binary (tests/support/postgres_server.hpp), started when a
// test first asks for a database and stopped after the last test; each test gets a database of
// its own. Shared by every store test so a binary starts PostgreSQL once, not once per file.

#include <gtest/gtest.h>

#include <memory>
#include <string>

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

}  // namespace carillon::store
