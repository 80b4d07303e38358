#include "golden_support.h"

#include <arpa/inet.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace metaids::flow::test {
namespace {

class CollectingSink : public FlowSink {
 public:
  explicit CollectingSink(std::vector<MeteredFlow>& flows) : flows_(flows) {}
  void on_flow(const FlowState& flow, FlowEnd /*reason*/) override {
    MeteredFlow f;
    f.identity = identify(flow);
    f.features = compute_features(flow);
    f.start_us = flow.start_us;
    f.ip_version = flow.key.ip_version;
    flows_.push_back(std::move(f));
  }

 private:
  std::vector<MeteredFlow>& flows_;
};

std::filesystem::path gunzip_to_temporary(const std::filesystem::path& path) {
  gzFile in = gzopen(path.c_str(), "rb");
  if (in == nullptr) throw std::runtime_error("cannot open " + path.string());
  const auto out_path = std::filesystem::temp_directory_path() /
                        ("metaids_golden_" + std::to_string(::getpid()) + "_" + path.stem().string());
  std::ofstream out(out_path, std::ios::binary);
  char buffer[1 << 16];
  int n = 0;
  while ((n = gzread(in, buffer, sizeof(buffer))) > 0) out.write(buffer, n);
  gzclose(in);
  return out_path;
}

std::string canonical_ip(const std::string& text) {
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), bytes) == 1) return text;
  if (inet_pton(AF_INET6, text.c_str(), bytes) == 1 && inet_ntop(AF_INET6, bytes, out, sizeof(out)) != nullptr) {
    return out;
  }
  return text;
}

}  // namespace

MeterRun run_meter(const std::filesystem::path& capture, const FlowTableConfig& config) {
  MeterRun run;
  std::filesystem::path path = capture;
  const bool gz = capture.extension() == ".gz";
  if (gz) path = gunzip_to_temporary(capture);
  CollectingSink sink(run.flows);
  FlowMeter meter(config, sink);
  CaptureSummary summary;
  read_capture_file(path.string(), meter, summary);
  meter.finish();
  run.stats = meter.stats();
  run.summary = format_summary(meter.stats(), meter.table(), summary);
  if (gz) std::filesystem::remove(path);
  return run;
}

std::vector<CsvRow> read_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<CsvRow> rows;
  std::string line;
  std::vector<std::string> header;
  auto split = [](const std::string& text) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream stream(text);
    while (std::getline(stream, field, ',')) fields.push_back(field);
    if (!text.empty() && text.back() == ',') fields.emplace_back();
    return fields;
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (header.empty()) {
      header = split(line);
      continue;
    }
    const auto fields = split(line);
    CsvRow row;
    for (size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

int64_t parse_utc_timestamp_us(const std::string& text) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%d", &year, &month, &day, &hour, &minute, &second) != 6) {
    throw std::runtime_error("bad timestamp " + text);
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t micros = 0;
  const auto dot = text.find('.');
  if (dot != std::string::npos) {
    std::string fraction = text.substr(dot + 1);
    fraction.resize(6, '0');
    micros = std::stoll(fraction);
  }
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000 + micros;
}

std::string tuple_key(int protocol, const std::string& ip1, int port1, const std::string& ip2, int port2) {
  std::string a = canonical_ip(ip1) + ":" + std::to_string(port1);
  std::string b = canonical_ip(ip2) + ":" + std::to_string(port2);
  if (b < a) std::swap(a, b);
  return std::to_string(protocol) + "|" + a + "|" + b;
}

std::vector<std::filesystem::path> shared_captures(const std::filesystem::path& reference_dir) {
  std::vector<std::filesystem::path> captures;
  const std::string suffix = ".cicflowmeter-fork.csv";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(reference_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      const auto relative = std::filesystem::relative(entry.path(), reference_dir);
      captures.push_back(relative.parent_path() / name.substr(0, name.size() - suffix.size()));
    }
  }
  std::sort(captures.begin(), captures.end());
  return captures;
}

}  // namespace metaids::flow::test
