// Helpers for the golden tests: run the flow meter over a capture into memory, read the
// reference CSVs of ../shared/data/pcaps-reference, and match flows between the two.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "flow/capture.h"
#include "flow/features.h"
#include "flow/writer.h"

namespace metaids::flow::test {

// A finished flow as the golden tests see it.
struct MeteredFlow {
  FlowIdentity identity;
  FeatureVector features{};
  int64_t start_us = 0;
  uint8_t ip_version = 4;
};

struct MeterRun {
  std::vector<MeteredFlow> flows;
  MeterStats stats;
  std::string summary;
};

// Runs the meter over a capture file (gzip files are unpacked to a temporary file first).
MeterRun run_meter(const std::filesystem::path& capture, const FlowTableConfig& config = {});

// A row of a CSV file as column name -> text.
using CsvRow = std::map<std::string, std::string>;
std::vector<CsvRow> read_csv(const std::filesystem::path& path);

// "yyyy-MM-dd HH:mm:ss[.f...]" (UTC) -> microseconds since the epoch.
int64_t parse_utc_timestamp_us(const std::string& text);

// Direction-free name of a 5-tuple: "proto|lowip:port|highip:port" with canonical addresses.
std::string tuple_key(int protocol, const std::string& ip1, int port1, const std::string& ip2, int port2);

// The capture files of ../shared/data/pcaps (relative paths), per its README.
std::vector<std::filesystem::path> shared_captures(const std::filesystem::path& pcaps_dir);

}  // namespace metaids::flow::test
