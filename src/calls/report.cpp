#include "calls/report.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace carillon::calls {

std::string csv_field(std::string_view text) {
  std::string value;
  if (!text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@' || text[0] == '\t' ||
                        text[0] == '\r'))
    value = "'";
  value += text;
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string iso_time_ms(std::int64_t ms) {
  if (ms == 0) return "";
  const std::int64_t seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const std::int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  const std::int64_t sod = seconds - days * 86400;
  const CivilDate d = civil_from_days(days);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", d.year, d.month, d.day, sod / 3600,
                     (sod / 60) % 60, sod % 60, ms - seconds * 1000);
}

std::string csv_header() {
  return "id,started_at,answered_at,ended_at,status,duration_seconds,company_id,site_id,ring_group_id,target,"
         "caller_kind,caller_id,caller_name,answered_by,end_code,end_reason,legs,door_opened,snapshot\r\n";
}

std::string csv_row(const CallRecord& c) {
  const std::vector<std::string> fields = {c.id,
                                           iso_time_ms(c.started_at),
                                           iso_time_ms(c.answered_at),
                                           iso_time_ms(c.ended_at),
                                           to_string(c.status),
                                           std::to_string(c.duration_seconds),
                                           c.company_id,
                                           c.site_id,
                                           c.ring_group_id,
                                           c.target,
                                           c.caller_kind,
                                           c.caller_id,
                                           c.caller_name,
                                           c.answered_by,
                                           c.end_code ? std::to_string(c.end_code) : "",
                                           c.end_reason,
                                           std::to_string(c.legs.size()),
                                           std::to_string(c.door_events.size()),
                                           c.has_snapshot ? "yes" : "no"};
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += ',';
    line += csv_field(fields[i]);
  }
  return line + "\r\n";
}

RetentionJob::RetentionJob(CallsRepository& repository, IdGenerator& ids) : repository_(repository), ids_(ids) {}

Result<std::size_t> RetentionJob::run(std::int64_t now) {
  auto companies = repository_.companies_with_calls();
  if (!companies) return tl::unexpected(companies.error());
  std::size_t total = 0;
  for (const auto& company : *companies) {
    auto days = repository_.retention_days(company);
    if (!days) return tl::unexpected(days.error());
    // Never keep more than the maximum, whatever is stored.
    const int keep = std::clamp(*days, 1, kDefaultRetentionDays);
    const std::int64_t before_ms = (now - static_cast<std::int64_t>(keep) * 86400) * 1000;
    AuditEvent audit;
    audit.id = ids_.next("au");
    audit.at = now;
    audit.actor = "system";
    audit.action = "call.purge";
    audit.target_type = "company";
    audit.target_id = company;
    audit.company_id = company;
    audit.details = {{"retention_days", keep}, {"before_ms", before_ms}};
    auto purged = repository_.purge_calls(company, before_ms, audit);
    if (!purged) return tl::unexpected(purged.error());
    total += *purged;
  }
  return total;
}

}  // namespace carillon::calls
