#pragma once
// Update policies (D2): which images are offered automatically and when devices may install
// them. Times are the site's local wall clock in its IANA time zone.

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "common/time_zone.hpp"
#include "firmware/model.hpp"

namespace carillon::firmware {

// The nearest policy wins (site > project > company); with none: mode all, no window.
UpdatePolicy effective_policy(const std::optional<UpdatePolicy>& company, const std::optional<UpdatePolicy>& project,
                              const std::optional<UpdatePolicy>& site);

// Whether an image is offered without an operator starting a rollout: all -> yes,
// security_only -> only security-critical images, manual -> never.
bool offers(const UpdatePolicy& policy, const Manifest& manifest);

// invalid_argument: minutes outside 0..1439 ("window.start"/"window.end"), weekdays >= 128
// ("window.weekdays"), or start == end with weekdays set ("window.end": an empty window).
Status check_window(const MaintenanceWindow& window);

// Whether `unix_seconds` lies in the window at the site's local time. A window wrapping past
// midnight belongs to the weekday it starts on (Mon 22:00-04:00 covers Tuesday 03:00, not
// Monday 03:00). No weekdays = no restriction (always true). Precondition: check_window passed.
bool in_window(const MaintenanceWindow& window, const TimeZone& zone, std::int64_t unix_seconds);

// The first instant >= now at which in_window() holds: `now` itself inside the window (or with
// no window), else the next opening. A window opening inside a skipped DST hour opens at the
// transition. Precondition: check_window passed.
std::int64_t next_window_start(const MaintenanceWindow& window, const TimeZone& zone, std::int64_t now);

// {"scope_id", "mode", "window": null | {"weekdays": ["mon", ...], "start": "HH:MM", "end": "HH:MM"},
//  "updated_at"}
nlohmann::json to_json(const UpdatePolicy& policy);
// Reads "mode" (required) and "window" (optional; null or absent = no window) as written by
// to_json; scope_id and updated_at are the caller's. Field errors: "mode", "window",
// "window.weekdays", "window.start", "window.end".
Result<UpdatePolicy> policy_from_json(const nlohmann::json& document);

}  // namespace carillon::firmware
