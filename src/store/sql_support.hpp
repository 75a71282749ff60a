#pragma once
// Internal to src/store: transactions, exception translation and a small query builder that
// always binds values (never splices them into SQL text).

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <soci/soci.h>

#include "common/audit.hpp"
#include "common/page.hpp"
#include "common/result.hpp"
#include "store/database.hpp"

namespace carillon::store::detail {

// unique/foreign-key violations -> conflict, anything else -> internal with the message.
Error translate(const soci::soci_error& error);

// True when `error`, thrown by a statement on `sql`, means the connection itself is unusable:
// PostgreSQL SQLSTATE class 08, 57P01-57P03 (server shutdown, crash, not yet accepting) and
// 25006 (read-only transaction: a demoted primary), a libpq connection no longer OK, or a
// session left without a backend by a failed reconnect. Always false for SQLite.
bool connection_broken(soci::session& sql, Backend backend, const soci::soci_error& error);

// Reopens `sql` (a pooled session keeps its slot) with the same parameters and session settings.
// False when the server cannot be reached; `sql` must then not be used again (SOCI's pooled
// proxy keeps a stale backend pointer), only released - the next lease sees no backend, which
// connection_broken() reports. How long a connect attempt may take is the url's connect_timeout.
bool reconnect(soci::session& sql, Backend backend);

// Per-connection settings, applied on open and after each reconnect.
void configure_postgresql(soci::session& sql);

// Thrown by Transaction::commit() when the connection broke during COMMIT: the server may have
// committed and only its answer been lost, so the transaction must not be re-run.
class CommitInDoubt : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Pauses before each reconnect-and-retry of a guarded call: bounded, so a database that stays
// down turns into Errc::unavailable after about a quarter of a second (plus the connect attempts).
inline constexpr std::array<std::chrono::milliseconds, 2> kReconnectBackoff{std::chrono::milliseconds(50),
                                                                          std::chrono::milliseconds(200)};

// Leases a pooled session, runs `body(session)` and turns any exception into an Error, so none
// escapes a repository.
//
// When the connection broke (connection_broken()), the session is reconnected and the whole
// body re-run, up to kReconnectBackoff.size() more times; a failure that persists is
// Errc::unavailable. Re-running is safe because every write in a body happens inside a
// Transaction (never autocommit) and nothing but `return` follows its commit(): a connection
// that broke before COMMIT was sent means the server rolled the transaction back (PostgreSQL
// aborts the open transaction of a lost session), so nothing of the failed attempt persists.
// The one ambiguous case - the connection broke while COMMIT was in flight, so it may or may not
// have been applied - is not retried: Transaction::commit() throws CommitInDoubt and the caller
// gets Errc::unavailable ("outcome unknown"), like any HTTP client whose request timed out.
// Bodies holding several transactions (Database::migrate) must make each one idempotent.
template <class F>
auto guarded(Database& db, F&& body) -> decltype(body(std::declval<soci::session&>())) {
  for (std::size_t attempt = 0;; ++attempt) {
    soci::session sql(db.pool());
    try {
      return body(sql);
    } catch (const CommitInDoubt& e) {
      reconnect(sql, db.kind());  // for the next caller; this one gets the unknown outcome
      return tl::unexpected<Error>(
          Error{Errc::unavailable, std::string("database connection lost during COMMIT, outcome unknown: ") + e.what(), {}});
    } catch (const soci::soci_error& e) {
      if (!connection_broken(sql, db.kind(), e)) return tl::unexpected<Error>(translate(e));
      if (attempt == kReconnectBackoff.size()) {
        return tl::unexpected<Error>(Error{Errc::unavailable, std::string("database connection lost: ") + e.what(), {}});
      }
      std::this_thread::sleep_for(kReconnectBackoff[attempt]);
      reconnect(sql, db.kind());  // on failure the next attempt fails fast and lands here again
    } catch (const std::exception& e) {
      return tl::unexpected<Error>(Error{Errc::internal, e.what(), {}});
    }
  }
}

// A write transaction. On SQLite it starts with BEGIN IMMEDIATE so the write lock is taken
// up front (waiting up to busy_timeout) instead of failing with SQLITE_BUSY when a deferred
// read transaction later tries to upgrade. Rolled back unless commit() was reached.
class Transaction {
 public:
  Transaction(soci::session& sql, Backend backend);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  // Throws CommitInDoubt when the connection broke during COMMIT.
  void commit();

 private:
  soci::session& sql_;
  Backend backend_;
  bool done_ = false;
};

// Every statement is run once (a Query is built per call). As a "one-time" statement SOCI's
// PostgreSQL backend sends it with its parameters in one round trip (PQexecParams); the default
// "repeatable" kind costs three (PQprepare, PQexecPrepared and a DEALLOCATE when the statement
// ends), which tripled the database time of every repository call (BENCHMARKS.md).
inline constexpr soci::details::statement_type kStatementType = soci::details::st_one_time_query;

// SQL text plus bound values. bind() appends a placeholder; values live in deques so their
// addresses stay valid while SOCI holds them.
class Query {
 public:
  explicit Query(std::string_view text = {}) : text_(text) {}
  Query& operator<<(std::string_view text) {
    text_ += text;
    return *this;
  }
  Query& bind(std::string value);
  Query& bind(std::int64_t value);
  const std::string& text() const { return text_; }

  // Executes a statement without results; returns the number of affected rows.
  std::int64_t execute(soci::session& sql);

  // Runs a SELECT; `row.bind(statement)` attaches one into() per column, `on_row()` is called
  // after each fetched row.
  template <class Row, class F>
  void each(soci::session& sql, Row& row, F&& on_row) {
    soci::statement st(sql);
    bind_uses(st);
    row.bind(st);
    st.alloc();
    st.prepare(text_, kStatementType);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) on_row();
  }

 private:
  void bind_uses(soci::statement& st);

  std::string text_;
  std::deque<std::string> strings_;
  std::deque<std::int64_t> ints_;
  std::vector<std::pair<bool, std::size_t>> order_;  // (is_string, index)
};

// Keyset pagination: runs `query` (ordered, without LIMIT) for limit + 1 rows, keeps `limit`
// and sets `next` to the last kept id when there are more.
template <class T, class Row, class Convert>
Page<T> fetch_page(soci::session& sql, Query& query, Row& row, int limit, Convert convert) {
  query << " LIMIT ";
  query.bind(static_cast<std::int64_t>(limit) + 1);
  Page<T> page;
  query.each(sql, row, [&] { page.items.push_back(convert()); });
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.pop_back();
    page.next = page.items.back().id;
  }
  return page;
}

// Statements go through soci::statement only, never `session << ...`: the latter's
// ref_counted_statement has no exported typeinfo in Debian's SOCI 4.0.3, so anything using it
// fails to link under -fsanitize=vptr (part of the CI sanitizer build).
void exec(soci::session& sql, const std::string& text);
// The first column of the first row; nullopt when there is no row or it is NULL.
std::optional<std::int64_t> query_int(soci::session& sql, Query& query);
std::optional<std::string> query_text(soci::session& sql, Query& query);

// Appends "(:p1,:p2,...)" for an IN list; `values` must not be empty.
void bind_list(Query& query, const std::vector<std::string>& values);

// The audit row, written inside the caller's transaction.
void insert_audit(soci::session& sql, const AuditEvent& event);

// Clamps a page size to 1..500 (the API validates; this keeps a bad caller from scanning all).
int page_limit(int requested);

// `LIKE` pattern matching `text` as a literal substring, with '!' as the escape character.
std::string like_substring(const std::string& text);

}  // namespace carillon::store::detail
