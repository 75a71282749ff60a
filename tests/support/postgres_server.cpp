#include "support/postgres_server.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace carillon::testing {

namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";

int run(const std::string& command) { return std::system(command.c_str()); }

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

PostgresServer::PostgresServer() {
  const std::string dir = dir_.path().string();
  const std::string data = dir + "/data";
  if (run("chown postgres:postgres '" + dir + "'") != 0) throw std::runtime_error("chown of " + dir + " failed");
  if (run("runuser -u postgres -- " + kBin + "initdb -D '" + data +
          "' -A trust -U postgres -E UTF8 --locale=C > '" + dir + "/initdb.log' 2>&1") != 0) {
    throw std::runtime_error("initdb failed: " + slurp(dir_.path() / "initdb.log"));
  }
  // Another process may take the port between free_port() and the bind; retry a few times.
  for (int attempt = 0; attempt < 5 && !started_; ++attempt) {
    port_ = free_port();
    const std::string options = "-p " + std::to_string(port_) + " -k " + dir +
                                " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
                                " -c full_page_writes=off -c max_connections=200";
    started_ = run("runuser -u postgres -- " + kBin + "pg_ctl -w -t 60 -D '" + data + "' -o '" + options +
                   "' -l '" + dir + "/server.log' start > /dev/null 2>&1") == 0;
    if (!started_) run("runuser -u postgres -- " + kBin + "pg_ctl -D '" + data + "' -m immediate stop > /dev/null 2>&1");
  }
  if (!started_) throw std::runtime_error("postgres did not start: " + slurp(dir_.path() / "server.log"));
}

PostgresServer::~PostgresServer() {
  if (started_) {
    run("runuser -u postgres -- " + kBin + "pg_ctl -D '" + dir_.path().string() +
        "/data' -m immediate stop > /dev/null 2>&1");
  }
}

void PostgresServer::stop() {
  if (!started_) return;
  if (run("runuser -u postgres -- " + kBin + "pg_ctl -w -t 60 -D '" + dir_.path().string() +
          "/data' -m fast stop > /dev/null 2>&1") != 0) {
    throw std::runtime_error("pg_ctl stop failed: " + slurp(dir_.path() / "server.log"));
  }
  started_ = false;
}

std::string PostgresServer::url_for(const std::string& dbname) const {
  return "postgresql:host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + dbname + " user=postgres";
}

std::string PostgresServer::url() const { return url_for("postgres"); }

std::string PostgresServer::create_database(const std::string& name) const {
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      throw std::invalid_argument("database name must be [a-z0-9_]+: " + name);
    }
  }
  if (run(kBin + "psql -q -h 127.0.0.1 -p " + std::to_string(port_) +
          " -U postgres -d postgres -v ON_ERROR_STOP=1 -c 'CREATE DATABASE " + name + "' > /dev/null") != 0) {
    throw std::runtime_error("CREATE DATABASE " + name + " failed");
  }
  return url_for(name);
}

}  // namespace carillon::testing
