#include "calls/recorder.hpp"

#include <algorithm>

namespace carillon::calls {

using nlohmann::json;

Result<EdgeCallEvent> EdgeCallEvent::from_json(const json& j) {
  if (!j.is_object() || !j.contains("event") || !j["event"].is_string())
    return fail(Errc::invalid_argument, "not an edge event", "event");
  const std::string name = j["event"].get<std::string>();
  EdgeCallEvent e;
  if (name == "call.start") e.type = Type::call_start;
  else if (name == "leg.ringing") e.type = Type::leg_ringing;
  else if (name == "leg.answered") e.type = Type::leg_answered;
  else if (name == "leg.failed") e.type = Type::leg_failed;
  else if (name == "call.answered") e.type = Type::call_answered;
  else if (name == "call.end") e.type = Type::call_end;
  else return fail(Errc::invalid_argument, "not a call event: " + name, "event");
  auto text = [&](const char* key, std::string& out, bool required) -> Status {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) return fail(Errc::invalid_argument, "is required", key);
      return {};
    }
    if (!j[key].is_string()) return fail(Errc::invalid_argument, "must be a string", key);
    out = j[key].get<std::string>();
    return {};
  };
  if (auto s = text("call_id", e.call_id, true); !s) return tl::unexpected(s.error());
  if (e.call_id.empty()) return fail(Errc::invalid_argument, "is empty", "call_id");
  const bool start = e.type == Type::call_start;
  const bool leg = e.type != Type::call_start && e.type != Type::call_end;
  if (auto s = text("caller", e.caller, start); !s) return tl::unexpected(s.error());
  if (auto s = text("target", e.target, start); !s) return tl::unexpected(s.error());
  if (auto s = text("company", e.company, start); !s) return tl::unexpected(s.error());
  if (auto s = text("member", e.member, leg); !s) return tl::unexpected(s.error());
  if (auto s = text("reason", e.reason, false); !s) return tl::unexpected(s.error());
  if (j.contains("code") && !j["code"].is_null()) {
    if (!j["code"].is_number_integer()) return fail(Errc::invalid_argument, "must be an integer", "code");
    e.code = j["code"].get<int>();
  }
  if (!j.contains("ts") || !j["ts"].is_number_integer()) return fail(Errc::invalid_argument, "is required", "ts");
  e.ts = j["ts"].get<std::int64_t>();
  return e;
}

CallRecorder::CallRecorder(CallsRepository& repository, IdGenerator& ids) : repository_(repository), ids_(ids) {}

DialStatus CallRecorder::unanswered_status(int end_code, const std::vector<CallLeg>& legs) {
  auto busy = [](int code) { return code == 486 || code == 600; };
  auto timeout = [](int code) { return code == 408 || code == 480; };
  if (busy(end_code)) return DialStatus::busy;
  if (end_code == 603) return DialStatus::rejected;
  if (end_code == 487) return DialStatus::missed;
  if (timeout(end_code)) return DialStatus::timed_out;
  // The edge may end with a generic code; the legs tell why nobody answered.
  std::vector<const CallLeg*> failed;
  for (const auto& leg : legs) {
    if (leg.status == LegStatus::failed) failed.push_back(&leg);
  }
  if (!failed.empty() && failed.size() == legs.size()) {
    if (std::any_of(failed.begin(), failed.end(), [](const CallLeg* l) { return l->code == 603; })) return DialStatus::rejected;
    if (std::all_of(failed.begin(), failed.end(), [&](const CallLeg* l) { return busy(l->code); })) return DialStatus::busy;
    if (std::all_of(failed.begin(), failed.end(), [&](const CallLeg* l) { return timeout(l->code); }))
      return DialStatus::timed_out;
  }
  return DialStatus::failed;
}

Result<CallRecord> CallRecorder::start(const EdgeCallEvent& e) {
  CallRecord call;
  call.id = ids_.next(id_prefix::call);
  call.sip_call_id = e.call_id;
  call.company_id = e.company;
  call.target = e.target;
  call.started_at = e.ts;
  std::string caller_site;
  if (auto caller = repository_.find_party(e.caller); caller && caller->company_id == e.company) {
    call.caller_kind = to_string(caller->kind);
    call.caller_id = caller->id;
    call.caller_name = caller->display_name;
    caller_site = caller->site_id;
  } else if (!caller && caller.error().code != Errc::not_found) {
    return tl::unexpected(caller.error());
  } else {
    call.caller_id = e.caller;  // an account the platform no longer knows: keep what the edge said
  }
  if (is_valid_id(e.target, id_prefix::ring_group)) {
    auto group = repository_.find_ring_group(e.target);
    if (group && group->company_id == e.company) {
      call.ring_group_id = group->id;
      call.site_id = group->site_id;
    } else if (!group && group.error().code != Errc::not_found) {
      return tl::unexpected(group.error());
    }
  } else if (auto callee = repository_.find_party(e.target); callee && callee->company_id == e.company) {
    call.site_id = callee->site_id;
  }
  if (call.site_id.empty()) call.site_id = caller_site;
  return call;
}

Status CallRecorder::handle(const EdgeCallEvent& e) {
  std::lock_guard lock(mutex_);
  auto found = repository_.find_call_by_sip_id(e.call_id);
  if (!found && found.error().code != Errc::not_found) return tl::unexpected(found.error());
  if (e.type == EdgeCallEvent::Type::call_start) {
    if (found) return {};
    auto call = start(e);
    if (!call) return tl::unexpected(call.error());
    return repository_.save_call(*call);
  }
  if (!found) return fail(Errc::not_found, "no call with Call-ID " + e.call_id, "call_id");
  CallRecord call = std::move(*found);
  if (call.status != DialStatus::in_progress) return {};

  auto leg_of = [&call](const std::string& member) -> CallLeg& {
    for (auto& leg : call.legs) {
      if (leg.member == member) return leg;
    }
    CallLeg leg;
    leg.member = member;
    call.legs.push_back(std::move(leg));
    return call.legs.back();
  };
  auto open = [](const CallLeg& leg) { return leg.status == LegStatus::trying || leg.status == LegStatus::ringing; };

  switch (e.type) {
    case EdgeCallEvent::Type::call_start: break;
    case EdgeCallEvent::Type::leg_ringing: {
      CallLeg& leg = leg_of(e.member);
      if (leg.status == LegStatus::trying) {
        leg.status = LegStatus::ringing;
        leg.ringing_at = e.ts;
      }
      break;
    }
    case EdgeCallEvent::Type::leg_answered: {
      CallLeg& leg = leg_of(e.member);
      if (open(leg)) {
        leg.status = LegStatus::answered;
        leg.answered_at = e.ts;
      }
      break;
    }
    case EdgeCallEvent::Type::leg_failed: {
      CallLeg& leg = leg_of(e.member);
      if (open(leg)) {
        leg.status = LegStatus::failed;
        leg.ended_at = e.ts;
        leg.code = e.code;
        leg.reason = e.reason;
      }
      break;
    }
    case EdgeCallEvent::Type::call_answered: {
      if (call.answered_at != 0) break;
      call.answered_at = e.ts;
      call.answered_by = e.member;
      CallLeg& winner = leg_of(e.member);
      if (winner.status != LegStatus::answered) {
        winner.status = LegStatus::answered;
        winner.answered_at = e.ts;
      }
      // The other members stop ringing (the edge CANCELs them).
      for (auto& leg : call.legs) {
        if (open(leg)) {
          leg.status = LegStatus::cancelled;
          leg.ended_at = e.ts;
        }
      }
      break;
    }
    case EdgeCallEvent::Type::call_end: {
      call.ended_at = std::max(e.ts, call.started_at);
      call.end_code = e.code;
      call.end_reason = e.reason;
      for (auto& leg : call.legs) {
        if (leg.status == LegStatus::answered && leg.ended_at == 0) leg.ended_at = call.ended_at;
        if (open(leg)) {
          leg.status = LegStatus::cancelled;
          leg.ended_at = call.ended_at;
        }
      }
      if (call.answered_at != 0) {
        call.status = DialStatus::answered;
        call.duration_seconds = (call.ended_at - call.answered_at + 500) / 1000;
      } else {
        call.status = unanswered_status(e.code, call.legs);
      }
      break;
    }
  }
  return repository_.save_call(call);
}

Status CallRecorder::door_opened(const std::string& sip_call_id, const std::string& device_id, const std::string& door,
                                 std::int64_t at_ms) {
  std::lock_guard lock(mutex_);
  auto call = repository_.find_call_by_sip_id(sip_call_id);
  if (!call) return tl::unexpected(call.error());
  call->door_events.push_back({device_id, door, at_ms});
  return repository_.save_call(*call);
}

Status CallRecorder::attach_snapshot(const std::string& sip_call_id, const std::string& jpeg) {
  if (jpeg.size() < 4 || static_cast<unsigned char>(jpeg[0]) != 0xFF || static_cast<unsigned char>(jpeg[1]) != 0xD8 ||
      static_cast<unsigned char>(jpeg[2]) != 0xFF)
    return fail(Errc::invalid_argument, "a snapshot must be a JPEG image", "snapshot");
  if (jpeg.size() > kMaxSnapshotBytes) return fail(Errc::too_large, "snapshot larger than 2 MiB", "snapshot");
  std::lock_guard lock(mutex_);
  auto call = repository_.find_call_by_sip_id(sip_call_id);
  if (!call) return tl::unexpected(call.error());
  return repository_.save_snapshot(call->id, jpeg);
}

}  // namespace carillon::calls
