// The service's counters and latency histograms, written in Prometheus' text exposition format
// (GET /metrics):
//
//   metaids_flows_scored_total                    flows scored
//   metaids_alerts_total{class="DoS Hulk"}        alerts by the class reported ("unknown" too)
//   metaids_unknown_total                         flows reported unknown (far from every class)
//   metaids_adaptations_total, metaids_rollbacks_total
//   metaids_model_info{version="3f2a9c81d0e4"} 1  the model in use; metaids_model_classes
//   metaids_http_requests_total{endpoint="score",code="2xx"}
//   metaids_http_request_duration_seconds_bucket{endpoint="score",le="0.001"}   (+ _sum, _count)
//
// Durations are the handler's time: from the request's body being read to its response being
// ready (reading the body and writing the answer are the kernel's and the client's).
// Lock-free counters; the per-class alert counts take a lock once per scored batch.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace metaids::serve {

enum class Endpoint : int {
  score, adapt, model, model_file, rollback, versions, alerts, flows, healthz, metrics, console, other, count
};
const char* endpoint_name(Endpoint e);

class Metrics {
 public:
  static constexpr std::array<double, 15> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};

  void observe(Endpoint endpoint, int status, double seconds);
  void add_scored(std::uint64_t flows, std::uint64_t unknown, const std::map<std::string, std::uint64_t>& alerts);
  void add_adaptation() { adaptations_.fetch_add(1, std::memory_order_relaxed); }
  void add_rollback() { rollbacks_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t flows_scored() const { return flows_.load(std::memory_order_relaxed); }
  std::uint64_t requests(Endpoint endpoint) const;

  // The exposition text; `version` and `classes` describe the model in use, `write_errors` counts
  // the version store's failed writes and syncs (a version that may not survive a restart).
  std::string render(const std::string& version, size_t classes, std::uint64_t write_errors) const;

 private:
  struct PerEndpoint {
    std::array<std::atomic<std::uint64_t>, 4> by_code{};  // 2xx 3xx 4xx 5xx
    std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets{};  // last: +Inf
    std::atomic<std::uint64_t> sum_ns{0};
  };
  std::array<PerEndpoint, static_cast<size_t>(Endpoint::count)> endpoints_;
  std::atomic<std::uint64_t> flows_{0}, unknown_{0}, adaptations_{0}, rollbacks_{0};
  mutable std::mutex alerts_mutex_;
  std::map<std::string, std::uint64_t> alerts_;
};

}  // namespace metaids::serve
