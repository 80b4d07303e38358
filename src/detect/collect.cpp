#include "detect/collect.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "data/feature_table.h"
#include "detect/eve.h"
#include "detect/eve_reader.h"

namespace metaids::detect {

namespace {

// Keeps finished flows (raw rows and records) that start inside a time window.
class Collector : public flow::FlowSink {
 public:
  Collector(const model::Model& model, const TimeWindow& window)
      : mapper_(model), width_(static_cast<size_t>(model.features())), window_(window) {}
  void on_flow(const flow::FlowState& flow, flow::FlowEnd /*reason*/) override {
    if (!window_.contains(flow.start_us)) {
      ++outside_;
      return;
    }
    const size_t at = values_.size();
    values_.resize(at + width_);
    mapper_.map(flow::compute_features(flow), flow.key.protocol, std::span<float>(values_.data() + at, width_));
    records_.push_back(flow_record(flow));
  }
  CollectedFlows take() {
    CollectedFlows out;
    out.raw = Eigen::Map<const data::FeatureMatrix>(values_.data(), static_cast<Eigen::Index>(records_.size()),
                                                    static_cast<Eigen::Index>(width_));
    out.records = std::move(records_);
    return out;
  }
  std::uint64_t outside() const { return outside_; }

 private:
  FeatureMapper mapper_;
  size_t width_;
  TimeWindow window_;
  std::vector<float> values_;
  std::vector<FlowRecord> records_;
  std::uint64_t outside_ = 0;
};

}  // namespace

std::int64_t parse_time(const std::string& text, const char* option) {
  double seconds = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (r.ec == std::errc() && r.ptr == text.data() + text.size() && std::isfinite(seconds) && seconds >= 0 &&
      seconds < 1e11)
    return static_cast<std::int64_t>(std::llround(seconds * 1e6));
  std::string t = text;
  if (!t.empty() && (t.back() == 'Z' || t.back() == 'z')) t.pop_back();
  if (t.size() > 6 && (t.ends_with("+00:00") || t.ends_with("+0000"))) t.erase(t.rfind('+'));
  std::int64_t us = 0;
  require(data::parse_timestamp(t, us), "{} must be a UTC time (2023-11-14T22:13:20Z) or seconds since 1970, got '{}'",
          option, text);
  return us;
}

CollectedFlows collect_from_captures(const std::vector<std::string>& paths, const std::string& bpf,
                                     const model::Model& model, const flow::FlowTableConfig& table,
                                     const TimeWindow& window) {
  require(!paths.empty(), "no capture files given");
  Collector collector(model, window);
  std::uint64_t frames = 0, packets = 0;
  for (const std::string& path : paths) {
    flow::FlowMeter meter(table, collector);
    flow::CaptureSummary summary;
    flow::read_capture_file(path, meter, summary, bpf);
    meter.finish();
    frames += meter.stats().frames;
    packets += meter.stats().packets;
    require(summary.read_error.empty(), "reading {} stopped early: {}", path, summary.read_error);
    if (summary.stopped_by_signal != 0) break;
  }
  const std::uint64_t outside = collector.outside();
  CollectedFlows out = collector.take();
  out.summary = fmt::format("{} flows from {} packets of {} capture(s){}{}", out.records.size(), packets, paths.size(),
                            bpf.empty() ? "" : fmt::format(" matching '{}'", bpf),
                            outside > 0 ? fmt::format(" ({} flows outside the time window left out)", outside) : "");
  return out;
}

CollectedFlows collect_live(const flow::LiveOptions& options, double seconds, const model::Model& model,
                            const flow::FlowTableConfig& table) {
  require(std::isfinite(seconds) && seconds > 0 && seconds <= 7 * 86400, "--duration must be in (0, 604800] seconds");
  Collector collector(model, {});
  flow::LiveCapture capture(options);
  flow::FlowMeter meter(table, collector);
  flow::CaptureSummary summary;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  flow::install_stop_signals();
  capture.run(meter, summary, [&] {
    if (std::chrono::steady_clock::now() >= deadline) flow::request_stop();
  });
  meter.finish();
  require(summary.read_error.empty(), "capture on {} failed: {}", options.interface, summary.read_error);
  CollectedFlows out = collector.take();
  out.summary = fmt::format("{} flows from {} packets in {:.1f} s on {} (kernel dropped {})", out.records.size(),
                            meter.stats().packets, summary.elapsed_s, options.interface, summary.kernel_dropped);
  return out;
}

CollectedFlows collect_from_csv(const std::string& path, const model::Model& model) {
  FlowCsvReader reader(path, input_layout(model));
  std::vector<float> values;
  std::vector<FlowRecord> records;
  const auto width = static_cast<size_t>(model.features());
  FlowRecord record;
  std::vector<float> row(width);
  while (reader.next(record, row)) {
    values.insert(values.end(), row.begin(), row.end());
    records.push_back(record);
  }
  CollectedFlows out;
  out.raw = Eigen::Map<const data::FeatureMatrix>(values.data(), static_cast<Eigen::Index>(records.size()),
                                                  static_cast<Eigen::Index>(width));
  out.records = std::move(records);
  out.summary = fmt::format("{}: {}", path, reader.report().summary());
  return out;
}

CollectedFlows collect_from_eve(const std::string& path, const std::vector<std::uint64_t>& flow_ids,
                                const model::Model& model) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot read {}: {}", path, std::strerror(errno));
  return collect_from_eve(in, path, flow_ids, model);
}

CollectedFlows collect_from_eve(std::istream& in, const std::string& path, const std::vector<std::uint64_t>& flow_ids,
                                const model::Model& model) {
  const auto width = static_cast<size_t>(model.features());
  EveFlows flows = read_eve_flows(in, path, flow_ids, columns_hash(model.input_columns()), width);
  CollectedFlows out;
  out.raw.resize(static_cast<Eigen::Index>(flows.rows.size()), static_cast<Eigen::Index>(width));
  for (size_t r = 0; r < flows.rows.size(); ++r)
    out.raw.row(static_cast<Eigen::Index>(r)) =
        Eigen::Map<const Eigen::RowVectorXf>(flows.rows[r].data(), static_cast<Eigen::Index>(width));
  out.records = std::move(flows.records);
  out.summary = fmt::format("{} flows from {}", out.records.size(), path);
  return out;
}

data::FeatureMatrix transform_rows(const model::Model& model, const data::FeatureMatrix& raw) {
  data::FeatureMatrix x = raw;
  for (Eigen::Index r = 0; r < x.rows(); ++r)
    model.transform.apply_row_in_place(std::span<float>(x.data() + r * x.cols(), static_cast<size_t>(x.cols())));
  return x;
}

void keep_first(CollectedFlows& flows, size_t count) {
  if (flows.records.size() <= count) return;
  flows.raw.conservativeResize(static_cast<Eigen::Index>(count), Eigen::NoChange);
  flows.records.resize(count);
}

}  // namespace metaids::detect
