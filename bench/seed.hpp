#pragma once
// Seeds a claimed device straight through the repository: the same rows and audit events a
// real claim writes (claim code + claim), without the TLS and MQTT round trips. For list
// benchmarks that need 10,000 devices in seconds.

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "devices/config.hpp"
#include "devices/model.hpp"

namespace carillon::bench {

// Device number `i` ("LIST-000042") in `site` of `company`; two thirds of them online.
inline Status seed_claimed_device(devices::DeviceRepository& repo, IdGenerator& ids, const Clock& clock,
                                  Random& random, const std::string& company, const std::string& site, int i) {
  auto now = clock.now();
  devices::ClaimCode code;
  code.id = ids.next(id_prefix::claim_code);
  code.code_hash = random.hex(32);
  code.company_id = company;
  code.site_id = site;
  code.role = "door-station";
  code.created_at = now;
  code.expires_at = now + 3600;
  code.created_by = "bench";
  AuditEvent created{ids.next(id_prefix::audit), now, "bench", "claim_code.create", "claim_code", code.id, company, "",
                     nlohmann::json::object()};
  devices::Device d;
  d.id = ids.next(id_prefix::device);
  char serial[32];
  std::snprintf(serial, sizeof serial, "LIST-%06d", i);
  d.serial = serial;
  d.company_id = company;
  d.site_id = site;
  d.name = "Door " + std::to_string(i);
  d.role = "door-station";
  d.model = "ID5 TD";
  d.hardware_revision = "AD";
  d.firmware_version = "1.0.0";
  d.capabilities = nlohmann::json::array({"audio", "video", "door-opener", "dtmf", "hearing-loop"});
  d.online = i % 3 != 0;
  d.last_seen = now;
  d.cert_serial = random.hex(16);
  d.cert_expires_at = now + 365 * 86400;
  d.desired_config = devices::default_config(d.name, d.role);
  d.desired_version = 1;
  d.applied_version = 1;
  d.created_at = d.updated_at = now;
  AuditEvent claimed{ids.next(id_prefix::audit), now, "device:" + d.serial, "device.claim", "device", d.id, company,
                     "bench", nlohmann::json::object()};
  if (auto s = repo.insert_claim_code(code, created); !s) return s;
  return repo.claim(code.id, now, d, claimed);
}

}  // namespace carillon::bench
