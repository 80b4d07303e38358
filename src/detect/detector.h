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
// of its flow ending. Memory: one batch of rows, whatever the traffic (two when pipelined).
//
// Pipelined (DetectorOptions::pipeline): a second thread transforms, scores and writes each
// full batch while the caller's thread goes on metering and filling the next one; batches are
// written in the order they were filled, so the output is byte for byte that of one thread.
// flush() returns once everything handed over is written; an error on the scoring thread
// (a write that failed) is thrown from the next add()/on_flow()/flush() on the caller's thread.
// on_verdict runs on the scoring thread; stats() is whole after flush().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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
  bool pipeline = false;          // score and write on a second thread (see above)
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
  ~Detector() override;
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

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
  // Scores and writes the pending flows now; when pipelined, also waits for the batch in hand.
  void flush();

  const DetectorStats& stats() const { return stats_; }
  const model::Scorer& scorer() const { return scorer_; }
  const EveFormatter& formatter() const { return formatter_; }
  // "detect: flows=… alerts=… (class=n …) unknown=… elapsed=…s flows/s=…"
  std::string summary(double elapsed_s) const;
  // Every flow's verdict, as it is scored (tests, evaluation); empty callback by default.
  // Pipelined, it runs on the scoring thread.
  std::function<void(const FlowRecord&, const model::Verdict&)> on_verdict;

 private:
  // Rows and records of up to kBatch flows, filled by the caller's thread.
  struct Batch {
    Matrix<float> raw;  // (inputs × kBatch): raw rows, kept for the EVE features
    std::vector<FlowRecord> records;
    Eigen::Index size = 0;
  };
  void hand_over();               // the filling batch to the scorer (or scores it here)
  void wait_idle();               // pipelined: until the scoring thread holds nothing
  void score_and_write(Batch& batch);
  void scoring_thread();

  std::shared_ptr<const model::Model> model_;
  EveOutput& output_;
  DetectorOptions options_;
  std::optional<FeatureMapper> mapper_;  // made at the first flow from packets
  model::Scorer scorer_;
  EveFormatter formatter_;
  Batch batches_[2];
  int filling_ = 0;     // the batch the caller's thread fills; the other is the scorer's
  // Used by score_and_write only (the scoring thread when pipelined).
  Matrix<float> x_;     // a batch's rows, transformed
  std::vector<model::Verdict> verdicts_;
  std::string lines_;
  std::vector<std::uint64_t> batch_alerts_;  // alerts of the batch by class index + 1 (0: unknown)
  DetectorStats stats_;
  // The hand-over (pipelined).
  std::mutex mutex_;
  std::condition_variable changed_;
  bool busy_ = false;   // batches_[1 - filling_] is the scorer's until it clears this
  bool quit_ = false;
  std::exception_ptr error_;  // the scoring thread's, thrown on the caller's thread
  std::thread worker_;
};

}  // namespace metaids::detect
