// Flow CSVs as the detector reads them (`detect --flows`, `predict`, `adapt --flows`): each
// record's identity and its raw feature row in a model's input layout. Kept apart from the
// model and the flow meter so that it can be fuzzed on its own (fuzz/fuzz_flow_csv.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/schema.h"
#include "data/transform.h"

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

// What a model reads: its numeric columns, its one-hot categorical columns, the schema its CSV
// inputs are written in (header aliases, delimiter, label and timestamp columns).
struct InputLayout {
  std::vector<std::string> numeric;
  std::vector<data::FeatureTransform::Categories> categories;
  data::DatasetSchema schema;
  size_t width() const;  // numeric columns plus every one-hot column
};

struct CsvReadReport {
  std::uint64_t records = 0;  // data records seen
  std::uint64_t rows = 0;     // returned
  std::uint64_t skipped = 0;  // malformed (wrong number of fields)
  std::uint64_t bad_cells = 0;  // empty, NaN, infinite or non-numeric feature cells (read as 0)
  std::vector<std::string> examples;
  std::string summary() const;
};

// Reads a flow CSV in a model's schema (header names through its aliases, any column order;
// a headerless file by the schema's column names). Feature cells that are empty, NaN,
// infinite or not numbers read as 0 (the schema's default policy) and are counted; a record
// with the wrong number of fields is skipped and counted. Identity columns (Src IP, Src Port,
// Dst IP, Dst Port, Protocol, Timestamp) are read when present; the label column too.
class FlowCsvReader {
 public:
  FlowCsvReader(const std::filesystem::path& path, const InputLayout& layout);
  // Reads CSV text in memory (`text` must outlive the reader): tests and fuzzing.
  FlowCsvReader(std::string_view text, std::string_view source, const InputLayout& layout);
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
  void read_header(const InputLayout& layout);
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
