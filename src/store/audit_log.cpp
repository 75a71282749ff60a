#include "store/audit_log.hpp"

#include <soci/soci.h>

#include "store/sql_support.hpp"

namespace carillon::store {

using detail::Query;

Status SqlAuditLog::append(const AuditEvent& event) {
  return detail::guarded(db_, [&](soci::session& sql) -> Status {
    // In a transaction, not autocommit, so that a connection lost mid-statement means "not
    // written" and guarded() may retry it (see Transaction::commit()).
    detail::Transaction tx(sql, db_.kind());
    detail::insert_audit(sql, event);
    tx.commit();
    return {};
  });
}

Result<Page<AuditEvent>> SqlAuditLog::list(const AuditFilter& filter) {
  return detail::guarded(db_, [&](soci::session& sql) -> Result<Page<AuditEvent>> {
    const int limit = detail::page_limit(filter.page.limit);
    Query q("SELECT id, at, actor, action, target_type, target_id, company_id, source, details FROM audit_events "
            "WHERE 1 = 1");
    if (!filter.company_id.empty()) {
      q << " AND company_id = ";
      q.bind(filter.company_id);
    }
    if (!filter.target_id.empty()) {
      q << " AND target_id = ";
      q.bind(filter.target_id);
    }
    if (!filter.action.empty()) {
      q << " AND action = ";
      q.bind(filter.action);
    }
    if (!filter.page.after.empty()) {
      q << " AND id > ";
      q.bind(filter.page.after);
    }
    q << " ORDER BY id LIMIT ";
    q.bind(static_cast<std::int64_t>(limit) + 1);
    struct Row {
      AuditEvent event;
      std::string details;
      void bind(soci::statement& st) {
        st.exchange(soci::into(event.id));
        st.exchange(soci::into(event.at));
        st.exchange(soci::into(event.actor));
        st.exchange(soci::into(event.action));
        st.exchange(soci::into(event.target_type));
        st.exchange(soci::into(event.target_id));
        st.exchange(soci::into(event.company_id));
        st.exchange(soci::into(event.source));
        st.exchange(soci::into(details));
      }
    } row;
    Page<AuditEvent> page;
    q.each(sql, row, [&] {
      AuditEvent event = row.event;
      event.details = nlohmann::json::parse(row.details);
      page.items.push_back(std::move(event));
    });
    if (static_cast<int>(page.items.size()) > limit) {
      page.items.pop_back();
      page.next = page.items.back().id;
    }
    return page;
  });
}

}  // namespace carillon::store
