// What the service has scored recently: a bounded ring of flows (every flow scored) and a
// bounded ring of alerts (so that alerts outlive the benign flows scored after them), each
// entry with its raw features so that an analyst can label it (POST /v1/adapt with flow ids).
// Memory is fixed when the service starts: capacity × (inputs × 4 bytes + ~200 bytes).
//
//   RecentFlows recent(65536, 10000, model.features());
//   recent.add(entries);                           // after a batch is scored
//   recent.find(ids, rows, missing);               // raw rows of flows scored recently
//   recent.alerts({.signature = "DDoS", .host = "10.0.0.5"}, 100);
//
// Thread-safe (one lock, held for copies only).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "detect/flow_csv.h"

namespace metaids::serve {

struct ScoredFlow {
  std::uint64_t id = 0;
  detect::FlowRecord record;
  std::string reported;   // the class reported: a class name, "unknown", or the benign class
  std::string predicted;  // the most likely class
  bool alert = false;
  bool unknown = false;
  float margin = 0, probability = 0, novelty = 0;
  std::string version;       // the model version that scored it
  std::int64_t scored_us = 0;  // wall clock, µs since the epoch
};

struct AlertFilter {
  std::string signature;  // class name ("" = any)
  std::string host;       // source or destination address ("" = any)
  std::int64_t since_us = 0;
};

class RecentFlows {
 public:
  RecentFlows(size_t flow_capacity, size_t alert_capacity, size_t width);

  // Stores scored flows (raw: n × width row-major); alerts go to the alert ring too.
  void add(std::vector<ScoredFlow>&& flows, std::span<const float> raw);
  // The raw rows of `ids` (in the order given) into `rows` (n × width row-major), with their
  // entries; ids not found go to `missing`.
  void find(const std::vector<std::uint64_t>& ids, std::vector<float>& rows, std::vector<ScoredFlow>& found,
            std::vector<std::uint64_t>& missing) const;
  // Newest alerts first, at most `limit`.
  std::vector<ScoredFlow> alerts(const AlertFilter& filter, size_t limit) const;
  // Newest flows first whose source or destination is `host` (any when empty), at most `limit`.
  std::vector<ScoredFlow> flows(const std::string& host, size_t limit) const;

 private:
  struct Ring {
    std::vector<ScoredFlow> entries;
    std::vector<float> raw;
    size_t next = 0, size = 0;
    std::unordered_map<std::uint64_t, size_t> slot_of;
    void put(ScoredFlow&& flow, const float* row, size_t width);
    const ScoredFlow* get(std::uint64_t id, const float** row, size_t width) const;
  };
  size_t width_;
  mutable std::mutex mutex_;
  Ring flows_, alerts_;
};

}  // namespace metaids::serve
