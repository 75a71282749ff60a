#pragma once
// Helpers shared by the end-to-end tests that drive a real `carillon up` (tests/support/platform.hpp).

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/random.hpp"
#include "emulator/device.hpp"
#include "support/platform.hpp"

namespace carillon::apps {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Platform;
using namespace std::chrono_literals;

// Polls `condition` every `step` until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 50ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

struct Tenant {
  std::string company, project, site;
};

inline Tenant make_tenant(const Platform& p, const std::string& token, const std::string& name) {
  Tenant t;
  auto company = p.call("POST", "/api/v1/companies", token, json{{"name", name}});
  if (company.status != 201) throw std::runtime_error("company: " + company.raw);
  t.company = company.body["id"];
  auto project = p.call("POST", "/api/v1/projects", token, json{{"name", name + " project"}, {"company_id", t.company}});
  if (project.status != 201) throw std::runtime_error("project: " + project.raw);
  t.project = project.body["id"];
  auto site = p.call("POST", "/api/v1/sites", token,
                     json{{"name", name + " site"}, {"project_id", t.project}, {"time_zone", "Europe/Berlin"}});
  if (site.status != 201) throw std::runtime_error("site: " + site.raw);
  t.site = site.body["id"];
  return t;
}

inline std::string make_claim_code(const Platform& p, const std::string& token, const std::string& site,
                                   const json& config = json::object(), const std::string& role = "door-station") {
  auto r = p.call("POST", "/api/v1/claim-codes", token, json{{"site_id", site}, {"role", role}, {"config", config}});
  if (r.status != 201) throw std::runtime_error("claim code: " + r.raw);
  return r.body["code"];
}

// The device with this serial as the API shows it, or null.
inline json device_by_serial(const Platform& p, const std::string& token, const std::string& serial) {
  auto r = p.call("GET", "/api/v1/devices?q=" + serial, token);
  if (r.status != 200) throw std::runtime_error("devices: " + r.raw);
  for (const auto& d : r.body["items"]) {
    if (d["serial"] == serial) return d;
  }
  return nullptr;
}

inline json device_by_id(const Platform& p, const std::string& token, const std::string& id) {
  auto r = p.call("GET", "/api/v1/devices/" + id, token);
  if (r.status != 200) throw std::runtime_error("device " + id + ": " + r.raw);
  return r.body;
}

inline std::string first_error_field(const Platform::Reply& r) {
  if (!r.body.is_object() || !r.body.contains("errors") || r.body["errors"].empty()) return "";
  return r.body["errors"][0].value("field", "");
}

// An emulated device in this process, claimed on `platform` (or loaded from `state`).
inline std::unique_ptr<emulator::EmulatedDevice> start_device(const Platform& platform, const fs::path& state,
                                                              const std::string& claim_code, Random& random,
                                                              const std::string& serial = "",
                                                              emulator::StationOptions station = {}) {
  emulator::DeviceOptions o;
  o.station = std::move(station);
  o.platform_url = platform.url();
  o.ca_file = platform.ca_file();
  o.state_dir = state;
  o.claim_code = claim_code;
  o.serial = serial;
  o.keepalive_seconds = 5;
  auto device = std::make_unique<emulator::EmulatedDevice>(o, random);
  if (auto s = device->start(); !s) throw std::runtime_error("device did not start: " + s.error().message);
  return device;
}

}  // namespace carillon::apps
