// Device list queries straight on the repository (no HTTP, no JSON rendering): SQLite in a temp
// dir, 10,000 devices in one company (2 projects x 5 sites, two thirds online), pages of 50 in
// the filter shapes the portal uses. The API figures in BENCHMARKS.md add TLS, auth and JSON
// on top of these.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "common/random.hpp"
#include "devices/config.hpp"
#include "seed.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/tenancy_repository.hpp"

namespace {

using namespace carillon;

constexpr int kDevices = 10000;

// Benches build without the test support library, so the scratch directory is made here.
struct ScratchDir {
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "carillon-bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path path_;
};

struct Fleet {
  ScratchDir dir;
  SystemClock clock;
  SodiumRandom random;
  IdGenerator ids{clock, random};
  std::unique_ptr<store::Database> db;
  std::unique_ptr<store::SqlDeviceRepository> devices;
  std::string company;
  std::vector<std::string> projects;
  std::vector<std::string> sites;
  std::string middle_of_site0;

  Fleet() {
    auto opened = store::Database::open("sqlite:" + (dir.path() / "bench.db").string());
    if (!opened) throw std::runtime_error(opened.error().message);
    db = std::move(*opened);
    if (auto s = db->migrate(); !s) throw std::runtime_error(s.error().message);
    devices = std::make_unique<store::SqlDeviceRepository>(*db);
    store::SqlTenancyRepository tenancy(*db);
    auto node = [&](tenancy::NodeKind kind, const std::string& parent, const std::string& name) {
      tenancy::Node n;
      n.id = ids.next(kind == tenancy::NodeKind::company ? id_prefix::company
                      : kind == tenancy::NodeKind::project ? id_prefix::project
                                                           : id_prefix::site);
      n.kind = kind;
      n.parent_id = parent;
      n.company_id = kind == tenancy::NodeKind::company ? n.id : company;
      n.name = name;
      n.time_zone = kind == tenancy::NodeKind::site ? "Europe/Zurich" : "";
      n.created_at = n.updated_at = clock.now();
      AuditEvent e{ids.next(id_prefix::audit), n.created_at, "bench", "node.create", "node", n.id, n.company_id, "", {}};
      if (auto s = tenancy.insert(n, e); !s) throw std::runtime_error(s.error().message);
      return n.id;
    };
    company = node(tenancy::NodeKind::company, "", "Bench");
    for (int p = 0; p < 2; ++p) {
      projects.push_back(node(tenancy::NodeKind::project, company, fmt::format("P{}", p)));
      for (int s = 0; s < 5; ++s) sites.push_back(node(tenancy::NodeKind::site, projects.back(), fmt::format("S{}", s)));
    }
    for (int i = 0; i < kDevices; ++i) seed(i);
    devices::DeviceFilter f;
    f.site_id = sites[0];
    f.page.limit = 500;
    auto page = devices->list(f);
    if (!page || page->items.empty()) throw std::runtime_error("seeding failed");
    middle_of_site0 = page->items[page->items.size() / 2].id;
  }

  void seed(int i) {
    auto s = bench::seed_claimed_device(*devices, ids, clock, random, company, sites[static_cast<std::size_t>(i % 10)], i);
    if (!s) throw std::runtime_error(s.error().message);
  }

};

void run_list(benchmark::State& state, Fleet& fleet, devices::DeviceFilter filter) {
  std::size_t items = 0;
  for (auto _ : state) {
    auto page = fleet.devices->list(filter);
    if (!page) {
      state.SkipWithError(page.error().message.c_str());
      return;
    }
    items = page->items.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["items"] = static_cast<double>(items);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  Fleet fleet;
  auto add = [&](const char* name, auto configure) {
    devices::DeviceFilter filter;
    filter.page.limit = 50;
    configure(filter);
    benchmark::RegisterBenchmark(name, [&fleet, filter](benchmark::State& state) { run_list(state, fleet, filter); })
        ->Unit(benchmark::kMicrosecond);
  };
  add("BM_List10k/all", [](devices::DeviceFilter&) {});
  add("BM_List10k/company", [&](devices::DeviceFilter& f) { f.company_id = fleet.company; });
  add("BM_List10k/company_online", [&](devices::DeviceFilter& f) {
    f.company_id = fleet.company;
    f.online = true;
  });
  add("BM_List10k/project", [&](devices::DeviceFilter& f) { f.project_id = fleet.projects[0]; });
  add("BM_List10k/project_offline", [&](devices::DeviceFilter& f) {
    f.project_id = fleet.projects[1];
    f.online = false;
  });
  add("BM_List10k/site", [&](devices::DeviceFilter& f) { f.site_id = fleet.sites[3]; });
  add("BM_List10k/site_online", [&](devices::DeviceFilter& f) {
    f.site_id = fleet.sites[3];
    f.online = true;
  });
  add("BM_List10k/site_offline_after_middle", [&](devices::DeviceFilter& f) {
    f.site_id = fleet.sites[0];
    f.online = false;
    f.page.after = fleet.middle_of_site0;
  });
  add("BM_List10k/search_serial", [&](devices::DeviceFilter& f) {
    f.company_id = fleet.company;
    f.query = "LIST-00042";
  });
  add("BM_List10k/search_no_match", [&](devices::DeviceFilter& f) {
    f.company_id = fleet.company;
    f.query = "nomatch";
  });
  add("BM_List10k/company_limit500", [&](devices::DeviceFilter& f) {
    f.company_id = fleet.company;
    f.page.limit = 500;
  });
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
