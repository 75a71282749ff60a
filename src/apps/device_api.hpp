#pragma once
// The device-facing HTTPS listener (mutual TLS: only certificates of the platform CA get in).
// Devices upload what they capture during a call here:
//   POST /device/v1/snapshots?call_id=<SIP Call-ID>   body: image/jpeg -> 201
// and download firmware images they were asked to install (HTTP Range, so downloads resume):
//   GET /device/v1/firmware/{image_id}                 -> 200/206 application/octet-stream
// The certificate's CN is the device serial; revoked devices and calls the device is not part
// of are refused. Kept apart from the portal's listener so browsers are never asked for a
// client certificate.

#include <chrono>

#include "calls/recorder.hpp"
#include "devices/model.hpp"
#include "firmware/service.hpp"
#include "http/router.hpp"

namespace carillon::apps {

struct DeviceApiContext {
  devices::DeviceRepository& devices;
  calls::CallsRepository& calls;
  calls::CallRecorder& recorder;
  // The edge reports call.start at the same moment the device sends its snapshot: wait this
  // long for the call record to appear before answering 404.
  std::chrono::milliseconds record_wait{3000};
  firmware::FirmwareService* firmware = nullptr;  // unset: no firmware downloads
};

void add_device_routes(http::Router& router, DeviceApiContext& context);

}  // namespace carillon::apps
