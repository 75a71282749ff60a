#pragma once
// A real PostgreSQL 15 server for tests: initdb in a temp dir (owned by user postgres, since
// postgres refuses to run as root), started with pg_ctl on a free port bound to 127.0.0.1,
// trust authentication, fsync off. Stopped (immediate) and deleted in the destructor.

#include <string>

#include "support/temp_dir.hpp"

namespace carillon::testing {

class PostgresServer {
 public:
  // Throws std::runtime_error (with the server log) when the server cannot be started.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Store url of the "postgres" database: "postgresql:host=127.0.0.1 port=N dbname=postgres user=postgres".
  std::string url() const;
  // Creates an empty database (name: [a-z0-9_]+) and returns its store url.
  std::string create_database(const std::string& name) const;
  unsigned short port() const { return port_; }
  // Shuts the server down (fast mode: open sessions are terminated with SQLSTATE 57P01) and
  // waits until it has exited; the data directory stays until destruction.
  void stop();

 private:
  std::string url_for(const std::string& dbname) const;

  TempDir dir_;
  unsigned short port_ = 0;
  bool started_ = false;
};

}  // namespace carillon::testing
