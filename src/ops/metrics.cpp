#include "ops/metrics.hpp"

#include <array>

#include <fmt/format.h>

namespace carillon::ops {

namespace {
constexpr std::array<double, 9> kBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}
}  // namespace

void Metrics::observe_request(const std::string& method, const std::string& route, int status, double seconds) {
  auto labels = fmt::format("method=\"{}\",route=\"{}\"", escape(method), escape(route));
  std::lock_guard lock(mutex_);
  requests_[fmt::format("{},status=\"{}\"", labels, status)]++;
  auto& h = latency_[labels];
  if (h.buckets.empty()) h.buckets.assign(kBounds.size(), 0);
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) h.buckets[i]++;
  }
  h.count++;
  h.sum += seconds;
}

void Metrics::increment(const std::string& name, const std::string& help, double by) {
  std::lock_guard lock(mutex_);
  auto& c = counters_[name];
  c.first = help;
  c.second += by;
}

void Metrics::gauge(const std::string& name, const std::string& help, std::function<double()> sample) {
  std::lock_guard lock(mutex_);
  gauges_[name] = {help, std::move(sample)};
}

std::string Metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, c] : counters_)
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, c.first, c.second);
  for (const auto& [name, g] : gauges_)
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, g.first, g.second());
  out += "# HELP carillon_http_requests_total HTTP requests by route and status.\n"
         "# TYPE carillon_http_requests_total counter\n";
  for (const auto& [labels, n] : requests_) out += fmt::format("carillon_http_requests_total{{{}}} {}\n", labels, n);
  out += "# HELP carillon_http_request_duration_seconds HTTP handler latency.\n"
         "# TYPE carillon_http_request_duration_seconds histogram\n";
  for (const auto& [labels, h] : latency_) {
    for (std::size_t i = 0; i < kBounds.size(); ++i)
      out += fmt::format("carillon_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels, kBounds[i], h.buckets[i]);
    out += fmt::format("carillon_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels, h.count);
    out += fmt::format("carillon_http_request_duration_seconds_sum{{{}}} {}\n", labels, h.sum);
    out += fmt::format("carillon_http_request_duration_seconds_count{{{}}} {}\n", labels, h.count);
  }
  return out;
}

}  // namespace carillon::ops
