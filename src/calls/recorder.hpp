#pragma once
// Call records (VoIP reports, C3/S7) built from the SIP edge's call events and the devices'
// own reports (door opened, snapshot). Every event is applied to the stored record at once, so
// a restart of serve loses nothing and several serve nodes can share the work.

#include <cstdint>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "calls/model.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"

namespace carillon::calls {

// One call event of the edge (docs/sip-edge.md, "Events flow back").
struct EdgeCallEvent {
  enum class Type { call_start, leg_ringing, leg_answered, leg_failed, call_answered, call_end };
  Type type = Type::call_start;
  std::string call_id;  // SIP Call-ID
  std::string caller;   // call.start: the caller's SIP username
  std::string target;   // call.start: the dialled user part
  std::string company;  // call.start: the caller's company
  std::string member;   // leg.* and call.answered
  int code = 0;         // leg.failed, call.end: SIP status
  std::string reason;
  std::int64_t ts = 0;  // Unix milliseconds

  // The contract's JSON; invalid_argument for other events ("register") or missing fields.
  static Result<EdgeCallEvent> from_json(const nlohmann::json& event);
};

class CallRecorder {
 public:
  CallRecorder(CallsRepository& repository, IdGenerator& ids);

  // Applies one event. call.start for a known Call-ID is ignored (the edge may repeat it);
  // any other event for an unknown Call-ID is not_found. Events after call.end change nothing.
  Status handle(const EdgeCallEvent& event);
  // A device reported that it opened `door` during the call with this SIP Call-ID.
  Status door_opened(const std::string& sip_call_id, const std::string& device_id, const std::string& door,
                     std::int64_t at_ms);
  // A JPEG (checked by its magic bytes, at most kMaxSnapshotBytes) taken during the call;
  // replaces an earlier one.
  Status attach_snapshot(const std::string& sip_call_id, const std::string& jpeg);

  // The final dial status of an unanswered call from its end code and its legs.
  static DialStatus unanswered_status(int end_code, const std::vector<CallLeg>& legs);

 private:
  Result<CallRecord> start(const EdgeCallEvent& event);

  CallsRepository& repository_;
  IdGenerator& ids_;
  std::mutex mutex_;  // one event at a time: each is read-modify-write of a record
};

}  // namespace carillon::calls
