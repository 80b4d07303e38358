// Collecting flows for calibration and adaptation: from capture files (optionally a BPF
// selection and a time window), a live interface for a while, a flow CSV, or alerts an analyst
// confirmed in an EVE file. Rows are raw (the model's input layout, before the transform).
//
//   CollectedFlows c = collect_from_captures({"site.pcap"}, "host 10.0.0.5", model, table, window);
//   model::add_support(model, transform_rows(model, c.raw), "New attack", event);
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "data/feature_table.h"
#include "detect/flow_record.h"
#include "flow/capture.h"
#include "flow/flow_table.h"
#include "model/model.h"

namespace metaids::detect {

struct CollectedFlows {
  data::FeatureMatrix raw;           // flows × model inputs, raw
  std::vector<FlowRecord> records;   // one per row
  std::string summary;               // what was read, for the user
};

// Flows whose first packet lies in [from_us, to_us] (microseconds since the epoch).
struct TimeWindow {
  std::int64_t from_us = std::numeric_limits<std::int64_t>::min();
  std::int64_t to_us = std::numeric_limits<std::int64_t>::max();
  bool contains(std::int64_t t) const { return t >= from_us && t <= to_us; }
};
// "2023-11-14T22:13:20Z", "2023-11-14 22:13:20.5" (UTC) or seconds since the epoch → µs.
std::int64_t parse_time(const std::string& text, const char* option);

CollectedFlows collect_from_captures(const std::vector<std::string>& paths, const std::string& bpf,
                                     const model::Model& model, const flow::FlowTableConfig& table,
                                     const TimeWindow& window = {});
CollectedFlows collect_live(const flow::LiveOptions& options, double seconds, const model::Model& model,
                            const flow::FlowTableConfig& table);
CollectedFlows collect_from_csv(const std::string& path, const model::Model& model);
// The records of `flow_ids` in an EVE file written by `metaids detect` with features; every id
// must be found, and the alerts must have been written with the model's columns.
CollectedFlows collect_from_eve(const std::string& path, const std::vector<std::uint64_t>& flow_ids,
                                const model::Model& model);
// The same from a stream (`source` names it in messages); see detect/eve_reader.h.
CollectedFlows collect_from_eve(std::istream& in, const std::string& source, const std::vector<std::uint64_t>& flow_ids,
                                const model::Model& model);

// The transform applied to raw rows (flows × inputs), as scoring does.
data::FeatureMatrix transform_rows(const model::Model& model, const data::FeatureMatrix& raw);
// The first `count` rows (deterministic), for --shots.
void keep_first(CollectedFlows& flows, size_t count);

}  // namespace metaids::detect
