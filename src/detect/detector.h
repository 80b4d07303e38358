// The detector: the flow meter's sink. Finished flows become feature rows in memory (no CSV
// round trip), are transformed and scored in batches with the model's adapted state, and
// alerts are written as EVE JSON lines as soon as their batch is scored.
//
//   model::Model model = model::load(path);
//   EveOutput out("eve.json");
//   Detector detector(model, options, out);
//   flow::FlowMeter meter(table_config, detector);   // finished flows go to the detector
//   ... meter.process(...) ...; meter.finish();
//   detector.flush();                                // scores and writes what is pending
//   fmt::print("{}\n", detector.summary());
//
// Latency: a batch is scored when it is full (kBatch flows) or when flush() is called, which
// live capture does at every tick (about every 100 ms), so an alert is written within a tick
// of its flow ending. Memory: one batch of rows, whatever the traffic.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "detect/eve.h"
#include "detect/flow_record.h"
#include "flow/flow_table.h"
#include "model/model.h"
#include "model/scoring.h"

namespace metaids::detect {

using model::Matrix;

struct DetectorOptions {
  bool all_flows = false;         // also write event_type "flow" records for every flow
  bool include_features = true;   // metaids.features in each record (for `adapt --eve`)
  double threshold = std::numeric_limits<double>::quiet_NaN();  // NaN: the model's
};

struct DetectorStats {
  std::uint64_t flows = 0;
  std::uint64_t alerts = 0;
  std::uint64_t unknown = 0;
  std::map<std::string, std::uint64_t> alerts_by_class;  // "unknown" included
  std::map<std::string, std::uint64_t> flows_by_label;   // CSV input with a label column
  std::map<std::string, std::map<std::string, std::uint64_t>> reported_by_label;
};

class Detector : public flow::FlowSink {
 public:
  static constexpr Eigen::Index kBatch = 256;

  Detector(const model::Model& model, const DetectorOptions& options, EveOutput& output);
  Detector(std::shared_ptr<const model::Model> model, const DetectorOptions& options, EveOutput& output);

  // Scores the pending flows with the current model, then scores every later flow with
  // `model` (a sensor that follows a service swaps models between batches). A model that reads
  // other columns is refused before anything changes. --threshold, if given, stays in force.
  void replace_model(std::shared_ptr<const model::Model> model);
  const model::Model& model() const { return *model_; }

  // A finished flow from the flow meter (the model must read only flow-meter columns:
  // FeatureMapper's constructor says which it lacks).
  void on_flow(const flow::FlowState& flow, flow::FlowEnd reason) override;
  // A flow from elsewhere (CSV): its record and raw inputs in the model's layout.
  void add(const FlowRecord& record, std::span<const float> raw);
  // Scores and writes the pending flows now.
  void flush();

  const DetectorStats& stats() const { return stats_; }
  const model::Scorer& scorer() const { return scorer_; }
  const EveFormatter& formatter() const { return formatter_; }
  // "detect: flows=… alerts=… (class=n …) unknown=… elapsed=…s flows/s=…"
  std::string summary(double elapsed_s) const;
  // Every flow's verdict, as it is scored (tests, evaluation); empty callback by default.
  std::function<void(const FlowRecord&, const model::Verdict&)> on_verdict;

 private:
  std::shared_ptr<const model::Model> model_;
  EveOutput& output_;
  DetectorOptions options_;
  std::optional<FeatureMapper> mapper_;  // made at the first flow from packets
  model::Scorer scorer_;
  EveFormatter formatter_;
  Matrix<float> raw_;   // (inputs × kBatch): raw rows, kept for the EVE features
  Matrix<float> x_;     // the same, transformed
  std::vector<FlowRecord> records_;
  Eigen::Index pending_ = 0;
  std::vector<model::Verdict> verdicts_;
  std::string lines_;
  std::vector<std::uint64_t> batch_alerts_;  // alerts of the batch by class index + 1 (0: unknown)
  DetectorStats stats_;
};

}  // namespace metaids::detect
