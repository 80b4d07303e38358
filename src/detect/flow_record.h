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
//   FlowCsvReader reader("flows.csv", model);
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
#include "model/model.h"

namespace metaids::data {
class CsvReader;
}

namespace metaids::detect {

struct FlowRecord {
  bool has_identity = false;  // false: a CSV without addresses (alerts carry none)
  std::string src_ip, dst_ip;
  std::array<std::uint8_t, 16> src_address{}, dst_address{};
  std::uint8_t ip_version = 4;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint8_t protocol = 0;
  std::uint8_t icmp_type = 0, icmp_code = 0;
  std::int64_t start_us = 0, end_us = 0;  // 0: unknown
  std::uint64_t pkts_toserver = 0, pkts_toclient = 0, bytes_toserver = 0, bytes_toclient = 0;
  std::uint64_t line = 0;     // CSV line of the record (0 for flows from packets)
  std::string label;          // the CSV's label, when it has one
};

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
  std::vector<bool> integer_;   // printed as an integer by the flow writer
};

struct CsvReadReport {
  std::uint64_t records = 0;  // data records seen
  std::uint64_t rows = 0;     // returned
  std::uint64_t skipped = 0;  // malformed (wrong number of fields)
  std::uint64_t bad_cells = 0;  // empty, NaN, infinite or non-numeric feature cells (read as 0)
  std::vector<std::string> examples;
  std::string summary() const;
};

// Reads a flow CSV in the model's schema (header names through its aliases, any column order;
// a headerless file by the schema's column names). Feature cells that are empty, NaN,
// infinite or not numbers read as 0 (the schema's default policy) and are counted; a record
// with the wrong number of fields is skipped and counted. Identity columns (Src IP, Src Port,
// Dst IP, Dst Port, Protocol, Timestamp) are read when present; the label column too.
class FlowCsvReader {
 public:
  FlowCsvReader(const std::filesystem::path& path, const model::Model& model);
  ~FlowCsvReader();
  FlowCsvReader(const FlowCsvReader&) = delete;
  FlowCsvReader& operator=(const FlowCsvReader&) = delete;

  // Next usable row: identity into `record`, raw features into `row` (model input layout).
  bool next(FlowRecord& record, std::span<float> row);
  bool has_identity() const { return src_ip_ >= 0 && dst_ip_ >= 0; }
  bool has_label() const { return label_ >= 0; }
  const CsvReadReport& report() const { return report_; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::unique_ptr<data::CsvReader> reader_;
  std::vector<std::string_view> fields_;
  size_t columns_ = 0;
  std::vector<int> numeric_field_;  // CSV field of each numeric input column
  struct OneHot {
    int field = -1;
    size_t offset = 0;
    std::vector<std::string> values;
  };
  std::vector<OneHot> one_hot_;
  int src_ip_ = -1, dst_ip_ = -1, src_port_ = -1, dst_port_ = -1, protocol_ = -1, timestamp_ = -1, label_ = -1;
  int duration_ = -1, fwd_packets_ = -1, bwd_packets_ = -1, fwd_bytes_ = -1, bwd_bytes_ = -1;
  int fwd_header_ = -1, bwd_header_ = -1;
  CsvReadReport report_;
};

}  // namespace metaids::detect
