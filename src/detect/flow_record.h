// Flows as the detector sees them: the flow's identity (addresses, ports, times, counters) and
// its raw feature row in the model's input layout, from the flow meter in memory or from a
// CIC-style flow CSV. Both paths give the same row for the same flow (a test asserts it on
// every shared capture): the CSV path parses the text the flow writer printed, the memory
// path converts the same doubles the way that text parses.
//
//   FeatureMapper mapper(model);                      // throws naming missing columns
//   mapper.map(flow::compute_features(state), state.key.protocol, row);  // model.input_columns() order
//   FlowRecord record = flow_record(state);
//
//   FlowCsvReader reader("flows.csv", input_layout(model));   // detect/flow_csv.h
//   while (reader.next(record, row)) ...            // malformed rows counted and skipped
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "flow/features.h"
#include "flow/flow_state.h"
#include "detect/flow_csv.h"
#include "model/model.h"

namespace metaids::detect {


// The columns a model reads, for FlowCsvReader.
InputLayout input_layout(const model::Model& model);

// The identity of a finished flow (forward direction = to server).
FlowRecord flow_record(const flow::FlowState& flow);

// The float a CSV parser gets from the flow writer's text of `value` (shortest round-trip
// decimal): static_cast<float> except when `value` sits next to a float rounding midpoint.
// Non-finite values become 0, as the schema's default bad-value policy makes them.
float csv_equivalent_float(double value);

// Maps the flow meter's feature vector onto a model's input columns.
class FeatureMapper {
 public:
  explicit FeatureMapper(const model::Model& model);  // throws if the model reads other columns
  // `protocol`: the flow's IP protocol ("Protocol" is an identity column of the flow meter
  // and a feature of CIC-IDS2017 models).
  void map(const flow::FeatureVector& features, std::uint8_t protocol, std::span<float> row) const;
  size_t width() const { return source_.size(); }
  static constexpr size_t kProtocol = flow::kFeatureCount;  // source_ value of "Protocol"

 private:
  std::vector<size_t> source_;  // flow feature index of each model input column
  std::vector<std::uint8_t> integer_;  // printed as an integer by the flow writer
};

}  // namespace metaids::detect
