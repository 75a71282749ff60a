#include "emulator/firmware_updater.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/files.hpp"
#include "common/log.hpp"
#include "firmware/compatibility.hpp"
#include "firmware/signing.hpp"

namespace carillon::emulator {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxHeaderBytes = 4096;
constexpr std::size_t kCopyChunk = 64 * 1024;

Result<std::string> string_arg(const json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_string() || it->get<std::string>().empty())
    return fail(Errc::invalid_argument, std::string(name) + " must be a non-empty string", name);
  return it->get<std::string>();
}

std::string other_slot(const std::string& slot) { return slot == "a" ? "b" : "a"; }

std::string seconds_text(std::chrono::milliseconds d) {
  auto tenths = d.count() / 100;
  return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "") + " s";
}

// Writes `source` over `target` like flashing a partition: in place, chunk by chunk, synced at
// the end. `after_first_chunk` returning true stops right there (a power cut in the middle).
Result<bool> flash(const fs::path& source, const fs::path& target, const std::function<bool()>& after_first_chunk) {
  int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return fail(Errc::internal, "cannot open " + source.string() + ": " + std::strerror(errno));
  int out = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    int error = errno;
    ::close(in);
    return fail(Errc::internal, "cannot open " + target.string() + ": " + std::strerror(error));
  }
  std::vector<char> buffer(kCopyChunk);
  bool first = true;
  Result<bool> result = false;
  for (;;) {
    ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result = fail(Errc::internal, "cannot read " + source.string() + ": " + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buffer.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        result = fail(Errc::internal, "cannot write " + target.string() + ": " + std::strerror(errno));
        break;
      }
      done += w;
    }
    if (!result) break;
    if (first) {
      first = false;
      if (after_first_chunk()) {
        result = true;
        break;
      }
    }
  }
  if (result && !*result && ::fsync(out) != 0)
    result = fail(Errc::internal, "cannot sync " + target.string() + ": " + std::strerror(errno));
  ::close(out);
  ::close(in);
  return result;
}

}  // namespace

Result<FirmwareUpdateRequest> parse_firmware_update_args(const json& args) {
  if (!args.is_object()) return fail(Errc::invalid_argument, "args must be an object", "args");
  FirmwareUpdateRequest request;
  auto rollout = string_arg(args, "rollout_id");
  if (!rollout) return tl::unexpected(rollout.error());
  auto image = string_arg(args, "image_id");
  if (!image) return tl::unexpected(image.error());
  auto url = string_arg(args, "url");
  if (!url) return tl::unexpected(url.error());
  auto manifest = args.find("manifest");
  if (manifest == args.end() || !manifest->is_object())
    return fail(Errc::invalid_argument, "manifest must be an object", "manifest");
  auto signature = args.find("signature");
  if (signature == args.end() || !signature->is_string())
    return fail(Errc::invalid_argument, "signature must be a string", "signature");
  request.rollout_id = *rollout;
  request.image_id = *image;
  request.url = *url;
  request.manifest = *manifest;
  request.signature = signature->get<std::string>();
  return request;
}

DownloadFunction https_download(http::ClientOptions options) {
  return [options](const std::string& url, const fs::path& destination,
                   const std::function<bool(std::int64_t, std::int64_t)>& on_progress) -> Status {
    http::Client client(options);
    auto response = client.download(url, destination, [&](const http::DownloadProgress& progress) {
      return on_progress(static_cast<std::int64_t>(progress.received), static_cast<std::int64_t>(progress.total));
    });
    if (!response) return tl::unexpected(response.error());
    if (response->status != 200 && response->status != 206)
      return fail(Errc::unavailable, "the image server answered " + std::to_string(response->status));
    return {};
  };
}

std::optional<ImageHeader> read_image_header(const fs::path& image) {
  std::ifstream in(image, std::ios::binary);
  if (!in) return std::nullopt;
  std::string line;
  char c;
  while (line.size() < kMaxHeaderBytes && in.get(c) && c != '\n') line.push_back(c);
  auto header = json::parse(line, nullptr, false);
  if (header.is_discarded() || !header.is_object() || header.value("carillon_firmware", 0) != 1) return std::nullopt;
  auto version = header.find("version");
  auto family = header.find("family");
  auto boot = header.find("boot");
  if (version == header.end() || !version->is_string() || family == header.end() || !family->is_string() ||
      boot == header.end() || !boot->is_string())
    return std::nullopt;
  return ImageHeader{version->get<std::string>(), family->get<std::string>(), boot->get<std::string>() == "ok"};
}

json progress_event(const std::string& rollout_id, const std::string& image_id, const std::string& state, int percent,
                    const std::string& error, const std::string& version) {
  return json{{"type", "firmware.progress"}, {"rollout_id", rollout_id}, {"image_id", image_id}, {"state", state},
              {"percent", percent},           {"error", error},           {"version", version}};
}

FirmwareUpdater::FirmwareUpdater(FirmwareUpdaterOptions options, FirmwareUpdaterHooks hooks, const Clock& clock)
    : options_(std::move(options)), hooks_(std::move(hooks)), clock_(clock) {}

FirmwareUpdater::~FirmwareUpdater() { stop(); }

// ---- boot state -----------------------------------------------------------------------------

FirmwareUpdater::BootState FirmwareUpdater::load_boot_state() const {
  BootState state;
  auto text = read_file(options_.dir / "boot.json");
  if (!text) return state;
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    // write_file renames a complete file into place, so this is damage, not a torn write: the
    // factory image is the only one known to be good.
    log::get("device")->warn("ignoring unreadable {}", (options_.dir / "boot.json").string());
    return state;
  }
  auto slot = [](const std::string& s) { return s == "a" || s == "b" ? s : std::string(); };
  state.active = slot(j.value("active", ""));
  state.trial = slot(j.value("trial", ""));
  state.tried = j.value("tried", false);
  state.rollout_id = j.value("rollout_id", "");
  state.image_id = j.value("image_id", "");
  state.from_version = j.value("from_version", "");
  return state;
}

Status FirmwareUpdater::save_boot_state(const BootState& state) const {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) return fail(Errc::internal, "cannot create " + options_.dir.string() + ": " + ec.message());
  json j{{"active", state.active}, {"trial", state.trial}, {"tried", state.tried}};
  if (!state.trial.empty()) {
    j["rollout_id"] = state.rollout_id;
    j["image_id"] = state.image_id;
    j["from_version"] = state.from_version;
  }
  return write_file(options_.dir / "boot.json", j.dump(2));
}

std::string FirmwareUpdater::slot_version(const std::string& slot) const {
  if (slot.empty()) return options_.factory_version;
  auto text = read_file(slot_dir(slot) / "manifest.json");
  if (!text) return "unknown";
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "unknown";
  return j.value("version", "unknown");
}

bool FirmwareUpdater::boot() {
  std::lock_guard lock(mutex_);
  auto state = load_boot_state();
  if (!state.trial.empty()) {
    if (!state.tried) {
      state.tried = true;
      if (auto s = save_boot_state(state); !s) {
        // Without the mark a crash of the trial image would be retried forever: stay on the old one.
        log::get("device")->warn("not trying slot {}: {}", state.trial, s.error().message);
      } else {
        running_slot_ = state.trial;
        auto header = read_image_header(slot_dir(state.trial) / "image.bin");
        return header && header->boots;
      }
    } else {
      abandoned_ = state;
      boot_outcome_ = Outcome{"rolled_back", "the new image did not confirm its health before the next restart"};
    }
    state.trial.clear();
    state.tried = false;
    if (auto s = save_boot_state(state); !s) log::get("device")->warn("cannot store the boot state: {}", s.error().message);
  }
  running_slot_ = state.active;
  return true;
}

std::string FirmwareUpdater::running_version() const {
  std::lock_guard lock(mutex_);
  return slot_version(running_slot_);
}

// ---- threads --------------------------------------------------------------------------------

void FirmwareUpdater::launch(std::function<void()> work) {
  if (worker_.joinable()) worker_.join();
  busy_ = true;
  worker_ = std::thread([this, work = std::move(work)] {
    work();
    busy_ = false;
  });
}

Status FirmwareUpdater::start(FirmwareUpdateRequest request) {
  std::lock_guard lock(thread_mutex_);
  if (stopping_) return fail(Errc::unavailable, "the device is shutting down");
  if (busy_) return fail(Errc::conflict, "a firmware update is already running");
  launch([this, request = std::move(request)] { run_update(request); });
  return {};
}

void FirmwareUpdater::resume() {
  std::lock_guard lock(thread_mutex_);
  if (stopping_ || busy_) return;
  std::optional<Outcome> outcome;
  BootState abandoned;
  std::string running;
  {
    std::lock_guard state_lock(mutex_);
    outcome = std::exchange(boot_outcome_, std::nullopt);
    abandoned = abandoned_;
    running = running_slot_;
  }
  if (outcome) {
    launch([this, outcome = *outcome, abandoned] {
      if (!wait_link_up(options_.health_timeout)) return;
      publish(abandoned.rollout_id, abandoned.image_id, outcome.state, 100, outcome.error);
    });
    return;
  }
  auto state = load_boot_state();
  if (!state.trial.empty() && state.trial == running)
    launch([this, state] { finish_trial(state.rollout_id, state.image_id); });
}

void FirmwareUpdater::stop() {
  stopping_ = true;
  std::lock_guard lock(thread_mutex_);
  if (worker_.joinable()) worker_.join();
}

bool FirmwareUpdater::wait_link_up(std::chrono::milliseconds timeout) {
  // In slices, so that stop() does not wait for a whole health timeout.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (stopping_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto slice = std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(100));
    if (hooks_.wait_link_up(slice)) return true;
    if (left <= std::chrono::milliseconds(0)) return false;
  }
}

bool FirmwareUpdater::power_cut(std::string_view point) {
  if (!hooks_.cut_power_for_test || !hooks_.cut_power_for_test(point)) return false;
  stopping_ = true;
  return true;
}

void FirmwareUpdater::publish(const std::string& rollout_id, const std::string& image_id, const std::string& state,
                              int percent, const std::string& error) {
  if (stopping_) return;
  hooks_.publish(progress_event(rollout_id, image_id, state, percent, error, running_version()));
}

// ---- the update -----------------------------------------------------------------------------

void FirmwareUpdater::run_update(const FirmwareUpdateRequest& request) {
  const auto& rollout = request.rollout_id;
  const auto& image = request.image_id;
  auto failed = [&](const std::string& error, int percent) {
    log::get("device")->warn("firmware update rollout={} image={} failed: {}", rollout, image, error);
    publish(rollout, image, "failed", percent, error);
  };

  auto manifest = firmware::manifest_from_json(request.manifest);
  if (!manifest) return failed("manifest invalid: " + manifest.error().message, 0);
  if (options_.public_key_pem.empty()) return failed("signature invalid: the device has no firmware key", 0);
  if (auto s = firmware::verify_manifest(options_.public_key_pem, *manifest, request.signature); !s)
    return failed("signature invalid", 0);
  if (auto s = firmware::check_image_fits(options_.model, options_.hardware_revision, *manifest); !s)
    return failed("image does not fit this device: " + s.error().message, 0);
  if (manifest->version == running_version()) {
    // A retried command after a report that got lost: the update already happened.
    publish(rollout, image, "done", 100);
    return;
  }

  int percent = 0;
  publish(rollout, image, "downloading", 0);
  if (auto s = download(request, *manifest, percent); !s) {
    if (stopping_) return;
    return failed("download failed: " + s.error().message, percent);
  }
  if (stopping_) return;

  publish(rollout, image, "verifying", 100);
  const auto part = options_.dir / "download.part";
  auto discard = [&] {
    std::error_code ec;
    fs::remove(part, ec);
    fs::remove(options_.dir / "download.part.etag", ec);
    fs::remove(options_.dir / "download.json", ec);
  };
  std::error_code ec;
  auto size = static_cast<std::int64_t>(fs::file_size(part, ec));
  if (ec || size != manifest->size) {
    discard();
    return failed("sha256 mismatch: the image has " + std::to_string(ec ? 0 : size) + " bytes, the manifest says " +
                      std::to_string(manifest->size),
                  100);
  }
  auto digest = firmware::sha256_file_hex(part);
  if (!digest) return failed("cannot read the downloaded image: " + digest.error().message, 100);
  if (*digest != manifest->sha256) {
    discard();
    return failed("sha256 mismatch", 100);
  }

  publish(rollout, image, "installing", 100);
  std::string from_slot;
  {
    std::lock_guard lock(mutex_);
    from_slot = running_slot_;
  }
  auto from_version = running_version();
  auto target = other_slot(from_slot);
  if (auto s = install(target, *manifest); !s) {
    if (stopping_) return;
    return failed("install failed: " + s.error().message, 100);
  }
  if (stopping_) return;
  BootState state;
  state.active = from_slot;
  state.trial = target;
  state.rollout_id = rollout;
  state.image_id = image;
  state.from_version = from_version;
  if (auto s = save_boot_state(state); !s) return failed("install failed: " + s.error().message, 100);
  if (power_cut("boot-state")) return;
  discard();

  publish(rollout, image, "rebooting", 100);
  hooks_.reboot();
  finish_trial(rollout, image);
}

Status FirmwareUpdater::download(const FirmwareUpdateRequest& request, const firmware::Manifest& manifest, int& percent) {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) return fail(Errc::internal, "cannot create " + options_.dir.string() + ": " + ec.message());
  const auto part = options_.dir / "download.part";
  const auto meta_file = options_.dir / "download.json";
  // A partial file continues only the same signed image; anything else starts over.
  bool same_image = false;
  if (auto text = read_file(meta_file)) {
    auto meta = json::parse(*text, nullptr, false);
    same_image = !meta.is_discarded() && meta.is_object() && meta.value("sha256", "") == manifest.sha256 &&
                 meta.value("size", std::int64_t{-1}) == manifest.size;
  }
  if (!same_image) {
    fs::remove(part, ec);
    fs::remove(options_.dir / "download.part.etag", ec);
    if (auto s = write_file(meta_file, json{{"sha256", manifest.sha256}, {"size", manifest.size}}.dump()); !s) return s;
  }
  std::int64_t have = fs::exists(part, ec) ? static_cast<std::int64_t>(fs::file_size(part, ec)) : 0;
  if (ec) have = 0;
  if (have > manifest.size) {
    fs::remove(part, ec);
    have = 0;
  }
  auto to_percent = [&](std::int64_t bytes) {
    return static_cast<int>(std::clamp<std::int64_t>(bytes * 100 / manifest.size, 0, 100));
  };
  percent = to_percent(have);
  if (have == manifest.size) return {};  // complete already; verifying decides whether it is right

  int published = percent;
  auto published_at = clock_.now();
  return hooks_.download(request.url, part, [&](std::int64_t received, std::int64_t) {
    if (stopping_) return false;
    percent = to_percent(received);
    auto now = clock_.now();
    if (percent >= published + options_.progress_step_percent ||
        (percent > published && now >= published_at + options_.progress_interval_seconds)) {
      publish(request.rollout_id, request.image_id, "downloading", percent);
      published = percent;
      published_at = now;
    }
    return true;
  });
}

Status FirmwareUpdater::install(const std::string& slot, const firmware::Manifest& manifest) {
  const auto dir = slot_dir(slot);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Errc::internal, "cannot create " + dir.string() + ": " + ec.message());
  // A slot without manifest.json is empty: a half-written image is never taken for a good one.
  fs::remove(dir / "manifest.json", ec);
  if (ec) return fail(Errc::internal, "cannot clear " + dir.string() + ": " + ec.message());
  auto cut = flash(options_.dir / "download.part", dir / "image.bin", [this] { return power_cut("image-partial"); });
  if (!cut) return tl::unexpected(cut.error());
  if (*cut || power_cut("image")) return fail(Errc::unavailable, "power cut");
  if (auto s = write_file(dir / "manifest.json", firmware::to_json(manifest).dump(2)); !s) return s;
  if (power_cut("manifest")) return fail(Errc::unavailable, "power cut");
  return {};
}

void FirmwareUpdater::finish_trial(const std::string& rollout_id, const std::string& image_id) {
  auto state = load_boot_state();
  std::string running;
  {
    std::lock_guard lock(mutex_);
    running = running_slot_;
  }
  std::string reason;
  if (state.trial.empty() || running != state.trial) {
    // boot() abandoned it (another restart came first).
    reason = "the new image did not confirm its health before the next restart";
  } else {
    auto expected = slot_version(state.trial);
    auto header = read_image_header(slot_dir(state.trial) / "image.bin");
    if (!header) reason = "the new image has no readable header and cannot start";
    else if (!header->boots) reason = "the new image did not come up (boot: fail)";
    else if (header->version != expected)
      reason = "the new image reports version " + header->version + " but its manifest says " + expected;
    else if (!wait_link_up(options_.health_timeout)) {
      if (stopping_) return;  // not confirmed: the next boot abandons it
      reason = "the new image did not reach the platform within " + seconds_text(options_.health_timeout);
    }
  }
  if (stopping_) return;

  if (reason.empty()) {
    BootState committed;
    committed.active = state.trial;
    if (auto s = save_boot_state(committed); !s) {
      reason = "cannot commit the new image: " + s.error().message;
    } else {
      log::get("device")->info("firmware rollout={} image={} committed slot {}", rollout_id, image_id, state.trial);
      publish(rollout_id, image_id, "done", 100);
      return;
    }
  }

  log::get("device")->warn("firmware rollout={} image={} rolled back: {}", rollout_id, image_id, reason);
  if (!state.trial.empty()) {
    BootState previous;
    previous.active = state.active;
    if (auto s = save_boot_state(previous); !s) log::get("device")->warn("cannot store the boot state: {}", s.error().message);
    hooks_.reboot();
  }
  if (!wait_link_up(options_.health_timeout)) return;
  publish(rollout_id, image_id, "rolled_back", 100, reason);
}

}  // namespace carillon::emulator
