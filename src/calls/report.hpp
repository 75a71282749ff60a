#pragma once
// CSV export of call records (RFC 4180) and the retention purge (P3).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "calls/model.hpp"
#include "common/ids.hpp"

namespace carillon::calls {

// One CSV field: quoted when it holds a comma, quote, CR or LF (quotes doubled). A field that
// starts with = + - @ (or tab / CR) gets a leading apostrophe first, so a spreadsheet opening
// the file shows it as text instead of evaluating it as a formula.
std::string csv_field(std::string_view text);
// "2024-03-31T01:00:00.000Z"; "" for 0.
std::string iso_time_ms(std::int64_t unix_ms);
// The header line and one line per call, CRLF line ends.
std::string csv_header();
std::string csv_row(const CallRecord& call);

// Purges every company's call data older than its retention period (default and maximum
// kDefaultRetentionDays). One audit event "call.purge" per company that lost calls, with the
// count, written in the purge's transaction.
class RetentionJob {
 public:
  RetentionJob(CallsRepository& repository, IdGenerator& ids);
  // `now` in Unix seconds; returns the number of calls purged. Stops at the first failure.
  Result<std::size_t> run(std::int64_t now);

 private:
  CallsRepository& repository_;
  IdGenerator& ids_;
};

}  // namespace carillon::calls
