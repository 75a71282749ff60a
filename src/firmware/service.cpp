#include "firmware/service.hpp"

#include <algorithm>
#include <system_error>

#include "firmware/compatibility.hpp"
#include "firmware/policy.hpp"
#include "firmware/rollout.hpp"

namespace carillon::firmware {

namespace {

using nlohmann::json;

// The service's own reads (device sites, policies up the tree) see every company.
Actor system_actor() {
  Actor actor;
  actor.id = "system";
  actor.platform_admin = true;
  actor.can_write = true;
  return actor;
}

std::optional<tenancy::NodeKind> kind_of(const std::string& id) {
  if (id.rfind("co_", 0) == 0) return tenancy::NodeKind::company;
  if (id.rfind("pr_", 0) == 0) return tenancy::NodeKind::project;
  if (id.rfind("si_", 0) == 0) return tenancy::NodeKind::site;
  return std::nullopt;
}

void remove_quietly(const std::filesystem::path& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

// Every device of a company (optionally one site), paging through the repository.
Result<std::vector<devices::Device>> all_devices(devices::DeviceRepository& repository, const std::string& company_id,
                                                 const std::string& site_id) {
  std::vector<devices::Device> out;
  devices::DeviceFilter filter;
  filter.company_id = company_id;
  filter.site_id = site_id;
  filter.page.limit = 500;
  for (;;) {
    auto page = repository.list(filter);
    if (!page) return tl::unexpected(page.error());
    for (auto& d : page->items) {
      if (!d.revoked) out.push_back(std::move(d));
    }
    if (page->next.empty()) return out;
    filter.page.after = page->next;
  }
}

}  // namespace

const char* to_string(FirmwareStatus status) {
  switch (status) {
    case FirmwareStatus::current: return "current";
    case FirmwareStatus::update_available: return "update_available";
    case FirmwareStatus::updating: return "updating";
    case FirmwareStatus::failed: return "failed";
  }
  return "current";
}

FirmwareService::FirmwareService(FirmwareRepository& repository, devices::DeviceRepository& devices,
                                 tenancy::TenancyService& tenancy, const FirmwareSigner& signer,
                                 devices::DeviceChannel& channel, EventBus& events, IdGenerator& ids,
                                 const Clock& clock, TimeZoneDb& zones, FirmwareSettings settings)
    : repository_(repository),
      devices_(devices),
      tenancy_(tenancy),
      signer_(signer),
      channel_(channel),
      events_(events),
      ids_(ids),
      clock_(clock),
      zones_(zones),
      settings_(std::move(settings)) {}

AuditEvent FirmwareService::audit_event(const Actor& actor, const std::string& action, const std::string& target_type,
                                        const std::string& target_id, const std::string& company_id) const {
  AuditEvent e;
  e.id = ids_.next(id_prefix::audit);
  e.at = clock_.now();
  e.actor = actor.id;
  e.action = action;
  e.target_type = target_type;
  e.target_id = target_id;
  e.company_id = company_id;
  e.source = actor.source;
  return e;
}

// ---- images ---------------------------------------------------------------------------------

Result<Image> FirmwareService::upload(const Actor& actor, const ImageUpload& upload) {
  auto fail_and_remove = [&](Error error) -> Result<Image> {
    remove_quietly(upload.file);
    return tl::unexpected(std::move(error));
  };
  if (!actor.platform_admin) {
    return fail_and_remove({Errc::forbidden, "only platform administrators manage the firmware catalogue", {}});
  }
  Manifest manifest;
  manifest.family = upload.family;
  manifest.version = upload.version;
  manifest.sha256 = upload.sha256;
  manifest.size = upload.size;
  manifest.security_critical = upload.security_critical;
  manifest.models = upload.models;
  // manifest_from_json carries every field check (family, version, digest, models).
  auto checked = manifest_from_json(to_json(manifest));
  if (!checked) return fail_and_remove(checked.error());
  if (upload.size <= 0) return fail_and_remove({Errc::invalid_argument, "the image is empty", "body"});
  if (auto s = check_manifest_models(manifest); !s) return fail_and_remove(s.error());
  if (upload.release_notes.size() > 16 * 1024) {
    return fail_and_remove({Errc::invalid_argument, "release notes are limited to 16 KiB", "release_notes"});
  }

  Image image;
  image.id = ids_.next("fw");
  image.manifest = manifest;
  image.signature = signer_.sign(manifest);
  image.release_notes = upload.release_notes;
  image.file_name = image.id + ".bin";
  image.created_at = clock_.now();
  image.created_by = actor.id;

  std::error_code ec;
  std::filesystem::create_directories(settings_.image_dir, ec);
  const auto target = settings_.image_dir / image.file_name;
  std::filesystem::rename(upload.file, target, ec);
  if (ec) return fail_and_remove({Errc::internal, "cannot store the image: " + ec.message(), {}});

  auto audit = audit_event(actor, "firmware.upload", "firmware_image", image.id, "");
  audit.details = {{"family", manifest.family}, {"version", manifest.version}, {"sha256", manifest.sha256},
                   {"size", manifest.size}, {"security_critical", manifest.security_critical}};
  if (auto s = repository_.insert_image(image, audit); !s) {
    remove_quietly(target);
    if (s.error().code == Errc::conflict) {
      return fail(Errc::conflict, "version " + manifest.version + " of family " + manifest.family + " exists already",
                  "version");
    }
    return tl::unexpected(s.error());
  }
  events_.publish({"firmware.available", "", {{"id", image.id}, {"family", manifest.family},
                                               {"version", manifest.version},
                                               {"security_critical", manifest.security_critical}}});
  return image;
}

Result<Image> FirmwareService::image(const Actor&, const std::string& id) { return repository_.find_image(id); }

Result<Page<Image>> FirmwareService::images(const Actor&, const std::string& family, const PageRequest& page) {
  if (!family.empty() && family != "MX" && family != "BF") {
    return fail(Errc::invalid_argument, "family must be MX or BF", "family");
  }
  return repository_.list_images(family, page);
}

Result<std::filesystem::path> FirmwareService::image_for_device(const std::string& serial,
                                                                const std::string& image_id) {
  auto device = devices_.find_by_serial(serial);
  if (!device || device->revoked) return fail(Errc::not_found, "no such firmware image", "id");
  auto member = repository_.in_active_rollout(device->id, image_id);
  if (!member) return tl::unexpected(member.error());
  if (!*member) return fail(Errc::not_found, "no such firmware image", "id");
  auto image = repository_.find_image(image_id);
  if (!image) return tl::unexpected(image.error());
  return settings_.image_dir / image->file_name;
}

// ---- policies -------------------------------------------------------------------------------

Result<tenancy::Node> FirmwareService::visible_scope(const Actor& actor, const std::string& scope_id) {
  auto kind = kind_of(scope_id);
  if (!kind) return fail(Errc::not_found, "no such company, project or site", "scope_id");
  auto node = tenancy_.get(actor, *kind, scope_id);
  if (!node) return fail(Errc::not_found, "no such company, project or site", "scope_id");
  return node;
}

Result<EffectivePolicy> FirmwareService::policy(const Actor& actor, const std::string& scope_id) {
  auto node = visible_scope(actor, scope_id);
  if (!node) return tl::unexpected(node.error());
  // Walk up: site -> project -> company; the nearest stored policy wins.
  std::string id = scope_id;
  auto system = system_actor();
  for (;;) {
    auto stored = repository_.find_policy(id);
    if (!stored) return tl::unexpected(stored.error());
    if (*stored) return EffectivePolicy{**stored, id};
    auto kind = kind_of(id);
    if (!kind || *kind == tenancy::NodeKind::company) break;
    auto current = tenancy_.get(system, *kind, id);
    if (!current) return tl::unexpected(current.error());
    id = current->parent_id;
  }
  EffectivePolicy none;
  none.policy.scope_id = scope_id;
  return none;
}

Result<EffectivePolicy> FirmwareService::policy_for_site(const std::string& site_id) {
  return policy(system_actor(), site_id);
}

Result<UpdatePolicy> FirmwareService::put_policy(const Actor& actor, const std::string& scope_id,
                                                 const UpdatePolicy& policy) {
  auto node = visible_scope(actor, scope_id);
  if (!node) return tl::unexpected(node.error());
  if (!actor.can_change(node->company_id)) {
    return fail(Errc::forbidden, "your role may not change update policies", {});
  }
  if (auto s = check_window(policy.window); !s) return tl::unexpected(s.error());
  UpdatePolicy stored = policy;
  stored.scope_id = scope_id;
  stored.updated_at = clock_.now();
  auto audit = audit_event(actor, "update_policy.put", "update_policy", scope_id, node->company_id);
  audit.details = {{"mode", to_string(stored.mode)}};
  if (auto s = repository_.put_policy(stored, audit); !s) return tl::unexpected(s.error());
  return stored;
}

// ---- rollouts -------------------------------------------------------------------------------

Result<Rollout> FirmwareService::start_rollout(const Actor& actor, const NewRollout& request) {
  auto company = tenancy_.get(actor, tenancy::NodeKind::company, request.company_id);
  if (!company) return fail(Errc::not_found, "no such company", "company_id");
  if (!actor.can_change(request.company_id)) {
    return fail(Errc::forbidden, "your role may not start rollouts", {});
  }
  if (auto s = check_rollout_spec(request.waves, request.failure_threshold_percent); !s) {
    return tl::unexpected(s.error());
  }
  auto image = repository_.find_image(request.image_id);
  if (!image) return fail(Errc::not_found, "no such firmware image", "image_id");
  if (!request.site_id.empty()) {
    auto site = tenancy_.get(actor, tenancy::NodeKind::site, request.site_id);
    if (!site || site->company_id != request.company_id) return fail(Errc::not_found, "no such site", "site_id");
  }

  std::vector<std::pair<std::string, std::string>> chosen;  // device id, current version
  if (!request.device_ids.empty()) {
    for (std::size_t i = 0; i < request.device_ids.size(); ++i) {
      const std::string field = "device_ids[" + std::to_string(i) + "]";
      auto device = devices_.find(request.device_ids[i]);
      if (!device || device->revoked || device->company_id != request.company_id ||
          (!request.site_id.empty() && device->site_id != request.site_id)) {
        return fail(Errc::not_found, "no such device in this company", field);
      }
      if (auto fits = check_image_fits(device->model, device->hardware_revision, image->manifest); !fits) {
        return fail(Errc::invalid_argument, device->name + ": " + fits.error().message, field);
      }
      if (std::any_of(chosen.begin(), chosen.end(), [&](const auto& c) { return c.first == device->id; })) {
        return fail(Errc::invalid_argument, "device listed twice", field);
      }
      chosen.emplace_back(device->id, device->firmware_version);
    }
  } else {
    auto candidates = all_devices(devices_, request.company_id, request.site_id);
    if (!candidates) return tl::unexpected(candidates.error());
    for (const auto& d : *candidates) {
      if (!check_image_fits(d.model, d.hardware_revision, image->manifest)) continue;
      if (check_version(d.firmware_version, "firmware_version") &&
          compare_versions(d.firmware_version, image->manifest.version) >= 0) {
        continue;  // already there or newer
      }
      auto policy = policy_for_site(d.site_id);
      if (!policy) return tl::unexpected(policy.error());
      if (!offers(policy->policy, image->manifest)) continue;
      chosen.emplace_back(d.id, d.firmware_version);
    }
    if (chosen.empty()) {
      return fail(Errc::invalid_argument,
                  "no device here can take version " + image->manifest.version +
                      " (model, hardware revision, current version or update policy)",
                  "image_id");
    }
  }

  Rollout rollout;
  rollout.id = ids_.next("ro");
  rollout.company_id = request.company_id;
  rollout.image_id = image->id;
  rollout.waves = request.waves;
  rollout.failure_threshold_percent = request.failure_threshold_percent;
  rollout.created_at = rollout.updated_at = clock_.now();
  rollout.created_by = actor.id;
  auto planned = plan_devices(rollout.id, chosen, rollout.waves);
  for (auto& d : planned) d.updated_at = rollout.created_at;
  auto audit = audit_event(actor, "rollout.start", "rollout", rollout.id, rollout.company_id);
  audit.details = {{"image_id", image->id}, {"version", image->manifest.version}, {"devices", planned.size()},
                   {"waves", rollout.waves}};
  {
    std::lock_guard lock(mutex_);
    if (auto s = repository_.insert_rollout(rollout, planned, audit); !s) return tl::unexpected(s.error());
  }
  publish_rollout(rollout);
  tick();  // the first wave starts now, not at the next period
  return repository_.find_rollout(rollout.id);
}

Result<RolloutView> FirmwareService::rollout(const Actor& actor, const std::string& id) {
  auto found = repository_.find_rollout(id);
  if (!found || !actor.can_see(found->company_id)) return fail(Errc::not_found, "no such rollout", "id");
  RolloutView view;
  view.rollout = *found;
  auto image = repository_.find_image(found->image_id);
  if (!image) return tl::unexpected(image.error());
  view.image = *image;
  auto members = repository_.rollout_devices(id);
  if (!members) return tl::unexpected(members.error());
  view.devices = std::move(*members);
  for (const auto& m : view.devices) {
    if (auto d = devices_.find(m.device_id)) view.device_names[m.device_id] = d->name;
  }
  return view;
}

Result<Page<Rollout>> FirmwareService::rollouts(const Actor& actor, const std::string& company_id,
                                                const PageRequest& page) {
  std::string company = company_id;
  if (!actor.platform_admin) {
    if (!company.empty() && company != actor.company_id) return Page<Rollout>{};
    company = actor.company_id;
  }
  return repository_.list_rollouts(company, page);
}

Result<Rollout> FirmwareService::change_state(const Actor& actor, const std::string& id, const char* action,
                                              Status (*transition)(Rollout&)) {
  Rollout rollout;
  {
    std::lock_guard lock(mutex_);
    auto found = repository_.find_rollout(id);
    if (!found || !actor.can_see(found->company_id)) return fail(Errc::not_found, "no such rollout", "id");
    if (!actor.can_change(found->company_id)) {
      return fail(Errc::forbidden, "your role may not change rollouts", {});
    }
    rollout = *found;
    if (auto s = transition(rollout); !s) return tl::unexpected(s.error());
    rollout.updated_at = clock_.now();
    auto audit = audit_event(actor, action, "rollout", id, rollout.company_id);
    if (auto s = repository_.update_rollout(rollout, &audit); !s) return tl::unexpected(s.error());
  }
  publish_rollout(rollout);
  if (rollout.state == RolloutState::running) tick();
  return rollout;
}

Result<Rollout> FirmwareService::pause(const Actor& actor, const std::string& id) {
  return change_state(actor, id, "rollout.pause", &firmware::pause);
}
Result<Rollout> FirmwareService::resume(const Actor& actor, const std::string& id) {
  return change_state(actor, id, "rollout.resume", &firmware::resume);
}
Result<Rollout> FirmwareService::cancel(const Actor& actor, const std::string& id) {
  return change_state(actor, id, "rollout.cancel", &firmware::cancel);
}

// ---- driving rollouts -----------------------------------------------------------------------

bool FirmwareService::may_start(const devices::Device& device) {
  if (!device.online) return false;
  auto policy = policy_for_site(device.site_id);
  if (!policy) return false;
  if (policy->policy.window.weekdays == 0) return true;
  auto site = tenancy_.get(system_actor(), tenancy::NodeKind::site, device.site_id);
  if (!site) return false;
  auto zone = zones_.get(site->time_zone.empty() ? "UTC" : site->time_zone);
  if (!zone) return false;
  return in_window(policy->policy.window, **zone, clock_.now());
}

void FirmwareService::ask_device(const Rollout& rollout, const Image& image, const devices::Device& device) {
  json command{{"schema", 1},
               {"id", ids_.next(id_prefix::command)},
               {"type", "update-firmware"},
               {"args",
                {{"rollout_id", rollout.id},
                 {"image_id", image.id},
                 {"url", settings_.download_base_url + image.id},
                 {"manifest", to_json(image.manifest)},
                 {"signature", image.signature}}}};
  // A lost command shows up as a silent device and times out like one.
  (void)channel_.send_command(device.serial, command);
}

void FirmwareService::publish_device(const Rollout& rollout, const RolloutDevice& device) {
  events_.publish({"rollout.progress", rollout.company_id,
                   {{"rollout_id", rollout.id},
                    {"device_id", device.device_id},
                    {"state", to_string(device.state)},
                    {"percent", device.percent},
                    {"error", device.error}}});
}

void FirmwareService::publish_rollout(const Rollout& rollout) {
  events_.publish({"rollout.changed", rollout.company_id,
                   {{"rollout_id", rollout.id},
                    {"state", to_string(rollout.state)},
                    {"current_wave", rollout.current_wave},
                    {"stop_reason", rollout.stop_reason}}});
}

void FirmwareService::tick() {
  std::vector<Rollout> changed_rollouts;
  std::vector<std::pair<Rollout, RolloutDevice>> changed_devices;
  {
    std::lock_guard lock(mutex_);
    auto active = repository_.active_rollouts();
    if (!active) return;
    for (auto rollout : *active) {
      if (rollout.state != RolloutState::running) continue;
      auto members = repository_.rollout_devices(rollout.id);
      auto image = repository_.find_image(rollout.image_id);
      if (!members || !image) continue;
      std::map<std::string, devices::Device> known;
      for (auto& m : *members) {
        auto d = devices_.find(m.device_id);
        if (d && !d->revoked) {
          known.emplace(m.device_id, *d);
        } else if (!is_terminal(m.state)) {
          // Revoked (or gone) before it finished: it never will, and its wave must not wait.
          m.state = DeviceUpdateState::failed;
          m.error = "the device was revoked during the rollout";
          m.updated_at = clock_.now();
          if (repository_.update_rollout_device(m)) changed_devices.emplace_back(rollout, m);
        }
      }
      StepInput input;
      input.now = clock_.now();
      input.device_timeout_seconds = settings_.device_timeout_seconds;
      input.may_start_now = [&](const std::string& device_id) {
        auto it = known.find(device_id);
        return it != known.end() && may_start(it->second);
      };
      const auto before = rollout;
      auto result = step(rollout, *members, input);
      for (const auto& d : result.changed) {
        if (repository_.update_rollout_device(d)) changed_devices.emplace_back(rollout, d);
      }
      // step() marked them asked (in `changed`, stored above) before they are asked.
      for (const auto& id : result.start) {
        if (known.count(id)) ask_device(rollout, *image, known.at(id));
      }
      if (result.rollout_changed) {
        rollout.updated_at = input.now;
        AuditEvent audit;
        AuditEvent* audit_ptr = nullptr;
        if (rollout.state != before.state) {
          audit = audit_event(system_actor(), std::string("rollout.") + to_string(rollout.state), "rollout",
                              rollout.id, rollout.company_id);
          audit.details = {{"stop_reason", rollout.stop_reason}, {"wave", rollout.current_wave}};
          audit_ptr = &audit;
        }
        if (repository_.update_rollout(rollout, audit_ptr)) changed_rollouts.push_back(rollout);
      }
    }
  }
  for (const auto& [rollout, device] : changed_devices) publish_device(rollout, device);
  for (const auto& rollout : changed_rollouts) publish_rollout(rollout);
}

void FirmwareService::handle_progress(const std::string& serial, const json& event) {
  const auto rollout_id = event.value("rollout_id", std::string());
  auto reported = parse_device_update_state(event.value("state", std::string()));
  if (rollout_id.empty() || !reported) return;
  auto device = devices_.find_by_serial(serial);
  if (!device) return;
  Rollout rollout;
  RolloutDevice member;
  {
    std::lock_guard lock(mutex_);
    auto found = repository_.find_rollout(rollout_id);
    if (!found || found->company_id != device->company_id) return;
    rollout = *found;
    auto members = repository_.rollout_devices(rollout_id);
    if (!members) return;
    auto it = std::find_if(members->begin(), members->end(), [&](const auto& m) { return m.device_id == device->id; });
    if (it == members->end()) return;
    member = *it;
    const int percent = event.contains("percent") && event["percent"].is_number_integer() ? event["percent"].get<int>() : 0;
    if (!apply_report(member, *reported, percent, event.value("error", std::string()), clock_.now())) return;
    if (!repository_.update_rollout_device(member)) return;
  }
  publish_device(rollout, member);
  // A finished device may complete its wave: decide now rather than at the next period.
  if (is_terminal(member.state)) tick();
}

Result<std::map<std::string, FirmwareStatus>> FirmwareService::statuses(
    const std::vector<devices::DeviceSummary>& devices) {
  std::map<std::string, FirmwareStatus> out;
  auto active = repository_.active_rollouts();
  if (!active) return tl::unexpected(active.error());
  std::map<std::string, DeviceUpdateState> in_rollout;
  for (const auto& r : *active) {
    auto members = repository_.rollout_devices(r.id);
    if (!members) return tl::unexpected(members.error());
    for (const auto& m : *members) in_rollout[m.device_id] = m.state;
  }
  // Newest image per family (the catalogue is small).
  std::vector<Image> catalogue;
  PageRequest page;
  page.limit = 500;
  for (;;) {
    auto images = repository_.list_images("", page);
    if (!images) return tl::unexpected(images.error());
    catalogue.insert(catalogue.end(), images->items.begin(), images->items.end());
    if (images->next.empty()) break;
    page.after = images->next;
  }
  std::map<std::string, EffectivePolicy> policies;  // per site
  for (const auto& d : devices) {
    auto r = in_rollout.find(d.id);
    if (r != in_rollout.end()) {
      if (r->second == DeviceUpdateState::failed || r->second == DeviceUpdateState::rolled_back) {
        out[d.id] = FirmwareStatus::failed;
      } else if (r->second != DeviceUpdateState::done) {
        out[d.id] = FirmwareStatus::updating;
      } else {
        out[d.id] = FirmwareStatus::current;
      }
      continue;
    }
    auto policy = policies.find(d.site_id);
    if (policy == policies.end()) {
      auto p = policy_for_site(d.site_id);
      if (!p) return tl::unexpected(p.error());
      policy = policies.emplace(d.site_id, *p).first;
    }
    bool newer = false;
    const bool version_known = static_cast<bool>(check_version(d.firmware_version, "firmware_version"));
    for (const auto& image : catalogue) {
      if (!check_image_fits(d.model, d.hardware_revision, image.manifest)) continue;
      if (version_known && compare_versions(image.manifest.version, d.firmware_version) <= 0) continue;
      if (policy->second.policy.mode != UpdateMode::manual && !offers(policy->second.policy, image.manifest)) continue;
      newer = true;
      break;
    }
    out[d.id] = newer ? FirmwareStatus::update_available : FirmwareStatus::current;
  }
  return out;
}

}  // namespace carillon::firmware
