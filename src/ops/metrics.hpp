#pragma once
// Prometheus text exposition for a handful of counters, gauges and one latency histogram per
// route. Owned by the app; handed to whoever records.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace carillon::ops {

class Metrics {
 public:
  // HTTP requests by method, route pattern (not raw path: bounded label values) and status.
  void observe_request(const std::string& method, const std::string& route, int status, double seconds);
  void increment(const std::string& name, const std::string& help, double by = 1);
  // Gauges are sampled when scraped.
  void gauge(const std::string& name, const std::string& help, std::function<double()> sample);
  std::string render() const;

 private:
  struct Histogram {
    std::vector<std::uint64_t> buckets;  // cumulative at render time
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::pair<std::string, double>> counters_;  // name -> help, value
  std::map<std::string, std::pair<std::string, std::function<double()>>> gauges_;
  std::map<std::string, std::uint64_t> requests_;  // label set -> count
  std::map<std::string, Histogram> latency_;       // label set -> histogram
};

}  // namespace carillon::ops
