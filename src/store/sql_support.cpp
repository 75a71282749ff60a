#include "store/sql_support.hpp"

#include <algorithm>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

namespace carillon::store::detail {

Error translate(const soci::soci_error& error) {
  const std::string message = error.what();
  bool unique = false;
  bool foreign_key = false;
  if (const auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&error)) {
    const std::string state = pg->sqlstate();
    unique = state == "23505";
    foreign_key = state == "23503";
  }
  // SQLite reports every constraint as SQLITE_CONSTRAINT; the kind is only in the text.
  unique = unique || message.find("UNIQUE constraint failed") != std::string::npos ||
           message.find("duplicate key value violates unique constraint") != std::string::npos;
  foreign_key = foreign_key || message.find("FOREIGN KEY constraint failed") != std::string::npos;
  if (unique) return Error{Errc::conflict, "already exists: " + message, {}};
  if (foreign_key) return Error{Errc::conflict, "referenced object missing or still in use: " + message, {}};
  return Error{Errc::internal, message, {}};
}

bool connection_broken(soci::session& sql, Backend backend, const soci::soci_error& error) {
  if (backend != Backend::postgresql) return false;
  if (sql.get_backend() == nullptr) return true;
  if (const auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&error)) {
    const std::string state = pg->sqlstate();
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" || state == "25006") {
      return true;
    }
  }
  // A server that went away often surfaces without an SQLSTATE ("server closed the connection
  // unexpectedly"); libpq has then marked the connection bad.
  const auto* session = static_cast<soci::postgresql_session_backend*>(sql.get_backend());
  return PQstatus(session->conn_) != CONNECTION_OK;
}

bool reconnect(soci::session& sql, Backend backend) {
  try {
    sql.reconnect();
    if (backend == Backend::postgresql) configure_postgresql(sql);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void configure_postgresql(soci::session& sql) {
  // libpq prints NOTICEs (e.g. "already exists, skipping") to stderr; keep logs clean.
  exec(sql, "SET client_min_messages = warning");
}

Transaction::Transaction(soci::session& sql, Backend backend) : sql_(sql), backend_(backend) {
  exec(sql_, backend == Backend::sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
}

Transaction::~Transaction() {
  if (done_) return;
  try {
    exec(sql_, "ROLLBACK");
  } catch (const std::exception&) {
    // The transaction may already be gone (e.g. the connection broke); nothing left to undo.
  }
}

void Transaction::commit() {
  done_ = true;
  try {
    exec(sql_, "COMMIT");
  } catch (const soci::soci_error& e) {
    if (connection_broken(sql_, backend_, e)) throw CommitInDoubt(e.what());
    throw;  // e.g. a deferred constraint: the server answered, the transaction is rolled back
  }
}

Query& Query::bind(std::string value) {
  strings_.push_back(std::move(value));
  order_.emplace_back(true, strings_.size() - 1);
  text_ += ":p" + std::to_string(order_.size());
  return *this;
}

Query& Query::bind(std::int64_t value) {
  ints_.push_back(value);
  order_.emplace_back(false, ints_.size() - 1);
  text_ += ":p" + std::to_string(order_.size());
  return *this;
}

void Query::bind_uses(soci::statement& st) {
  for (const auto& [is_string, index] : order_) {
    if (is_string) {
      st.exchange(soci::use(strings_[index]));
    } else {
      st.exchange(soci::use(ints_[index]));
    }
  }
}

std::int64_t Query::execute(soci::session& sql) {
  soci::statement st(sql);
  bind_uses(st);
  st.alloc();
  st.prepare(text_, kStatementType);
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

void exec(soci::session& sql, const std::string& text) {
  Query query(text);
  query.execute(sql);
}

namespace {

template <class T>
std::optional<T> first_value(soci::session& sql, Query& query) {
  struct Row {
    T value{};
    soci::indicator indicator = soci::i_null;
    void bind(soci::statement& st) { st.exchange(soci::into(value, indicator)); }
  } row;
  std::optional<T> out;
  query.each(sql, row, [&] {
    if (!out && row.indicator == soci::i_ok) out = row.value;
  });
  return out;
}

}  // namespace

std::optional<std::int64_t> query_int(soci::session& sql, Query& query) {
  return first_value<std::int64_t>(sql, query);
}

std::optional<std::string> query_text(soci::session& sql, Query& query) {
  return first_value<std::string>(sql, query);
}

void bind_list(Query& query, const std::vector<std::string>& values) {
  query << "(";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) query << ",";
    query.bind(values[i]);
  }
  query << ")";
}

void insert_audit(soci::session& sql, const AuditEvent& event) {
  Query q("INSERT INTO audit_events (id, at, actor, action, target_type, target_id, company_id, source, details) "
          "VALUES (");
  q.bind(event.id) << ",";
  q.bind(event.at) << ",";
  q.bind(event.actor) << ",";
  q.bind(event.action) << ",";
  q.bind(event.target_type) << ",";
  q.bind(event.target_id) << ",";
  q.bind(event.company_id) << ",";
  q.bind(event.source) << ",";
  q.bind(event.details.dump()) << ")";
  q.execute(sql);
}

int page_limit(int requested) { return std::clamp(requested, 1, 500); }

std::string like_substring(const std::string& text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '!') out += '!';
    out += c;
  }
  out += '%';
  return out;
}

}  // namespace carillon::store::detail
