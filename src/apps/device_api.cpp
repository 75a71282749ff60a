#include "apps/device_api.hpp"

#include <algorithm>
#include <thread>

#include "http/problem.hpp"

namespace carillon::apps {

namespace {

http::Response upload_snapshot(DeviceApiContext& c, const http::Request& request) {
  if (request.client_common_name.empty())
    return http::problem(Error{Errc::unauthenticated, "a device certificate is required", ""});
  auto device = c.devices.find_by_serial(request.client_common_name);
  if (!device || device->revoked) return http::problem(Error{Errc::forbidden, "this device is not (or no longer) claimed", ""});
  auto it = request.query.find("call_id");
  if (it == request.query.end() || it->second.empty() || it->second.size() > 256)
    return http::problem(Error{Errc::invalid_argument, "is required (the SIP Call-ID, at most 256 characters)", "call_id"});
  const auto& sip_call_id = it->second;
  auto deadline = std::chrono::steady_clock::now() + c.record_wait;
  Result<calls::CallRecord> call = c.calls.find_call_by_sip_id(sip_call_id);
  while (!call && call.error().code == Errc::not_found && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    call = c.calls.find_call_by_sip_id(sip_call_id);
  }
  if (!call) {
    if (call.error().code == Errc::not_found) return http::problem(Error{Errc::not_found, "no such call", "call_id"});
    return http::problem(call.error());
  }
  // Only a party of the call (its caller or one of the rung members) may attach a picture.
  bool party = call->caller_id == device->id ||
               std::any_of(call->legs.begin(), call->legs.end(), [&](const calls::CallLeg& l) { return l.member == device->id; });
  if (!party || call->company_id != device->company_id)
    return http::problem(Error{Errc::not_found, "no such call", "call_id"});
  if (auto s = c.recorder.attach_snapshot(sip_call_id, request.body); !s) return http::problem(s.error());
  return http::json_response(201, {{"call_id", sip_call_id}, {"bytes", request.body.size()}});
}

http::Response download_firmware(DeviceApiContext& c, const http::Request& request) {
  if (request.client_common_name.empty())
    return http::problem(Error{Errc::unauthenticated, "a device certificate is required", ""});
  if (!c.firmware) return http::problem(Error{Errc::unavailable, "firmware management is not running", ""});
  // Only a device that is part of an active rollout of this image gets it; anyone else gets
  // the answer an unknown image gets.
  auto file = c.firmware->image_for_device(request.client_common_name, request.params.at("image_id"));
  if (!file) return http::problem(file.error());
  http::Response response;
  response.content_type = "application/octet-stream";
  response.file = *file;
  return response;
}

}  // namespace

void add_device_routes(http::Router& router, DeviceApiContext& context) {
  router.add("POST", "/device/v1/snapshots", [&context](const http::Request& r) { return upload_snapshot(context, r); });
  router.add("GET", "/device/v1/firmware/{image_id}", [&context](const http::Request& r) { return download_firmware(context, r); });
}

}  // namespace carillon::apps
