// Cost of the device config document on the paths that run once per device: validate_config
// (every change and every emulated device applying one) and merge_config (every PATCH and
// every device of a bulk-config request). The full document has 16 call buttons and 2 door
// openers, the largest a door station accepts, so the regex checks run at their maximum.

#include <string>

#include <benchmark/benchmark.h>

#include "devices/config.hpp"

namespace {

using namespace carillon;
using nlohmann::json;

json full_config() {
  json c = devices::default_config("Main entrance", "door-station");
  for (int i = 0; i < 16; ++i) {
    // Appending instead of "b" + std::to_string(i): GCC 12 at -O3 reports a false -Wrestrict
    // on the temporary concatenation.
    std::string n = std::to_string(i);
    std::string id = "b", label = "Flat ", target = "ring-group-";
    id += n;
    label += n;
    target += n;
    c["call_buttons"].push_back({{"id", id}, {"label", label}, {"target", target}});
  }
  c["door_openers"] = json::array({{{"id", 1}, {"name", "Main door"}, {"dtmf", "*1"}, {"output", 1}, {"pulse_ms", 3000}},
                                   {{"id", 2}, {"name", "Garage"}, {"dtmf", "*2"}, {"output", 2}}});
  return c;
}

void BM_ValidateDefault(benchmark::State& state) {
  const json c = devices::default_config("Main entrance", "door-station");
  for (auto _ : state) {
    auto s = devices::validate_config(c);
    if (!s) state.SkipWithError(s.error().message.c_str());
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ValidateDefault)->Unit(benchmark::kMicrosecond);

void BM_ValidateFull(benchmark::State& state) {
  const json c = full_config();
  for (auto _ : state) {
    auto s = devices::validate_config(c);
    if (!s) state.SkipWithError(s.error().message.c_str());
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ValidateFull)->Unit(benchmark::kMicrosecond);

// The bulk-config benchmark's change: one field of one nested object.
void BM_MergeOneField(benchmark::State& state) {
  const json current = state.range(0) ? full_config() : devices::default_config("Main entrance", "door-station");
  const json patch = {{"audio", {{"speaker_volume", 42}}}};
  for (auto _ : state) {
    auto merged = devices::merge_config(current, patch);
    if (!merged) state.SkipWithError(merged.error().message.c_str());
    benchmark::DoNotOptimize(merged);
  }
}
BENCHMARK(BM_MergeOneField)->Arg(0)->Arg(1)->ArgName("full")->Unit(benchmark::kMicrosecond);

// Replacing the whole button list (the portal's button editor saves the array).
void BM_MergeButtons(benchmark::State& state) {
  const json current = devices::default_config("Main entrance", "door-station");
  const json patch = {{"call_buttons", full_config()["call_buttons"]}};
  for (auto _ : state) {
    auto merged = devices::merge_config(current, patch);
    if (!merged) state.SkipWithError(merged.error().message.c_str());
    benchmark::DoNotOptimize(merged);
  }
}
BENCHMARK(BM_MergeButtons)->Unit(benchmark::kMicrosecond);

// What every change also pays: serialising the document for the database and for MQTT.
void BM_DumpFull(benchmark::State& state) {
  const json c = full_config();
  for (auto _ : state) {
    auto text = c.dump();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(c.dump().size());
}
BENCHMARK(BM_DumpFull)->Unit(benchmark::kMicrosecond);

void BM_ParseFull(benchmark::State& state) {
  const std::string text = full_config().dump();
  for (auto _ : state) {
    auto c = json::parse(text);
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_ParseFull)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
