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
// of its flow ending. Memory: one batch of rows, whatever the traffic (kPool when pipelined).
//
// Pipelined (DetectorOptions::pipeline): full batches are handed to a second thread, which
// transforms, scores and formats them while the caller's thread goes on metering and filling
// the next ones (up to kPool batches in flight). When every batch is in flight, the caller's
// thread scores the oldest one not yet taken instead of waiting, so a burst of flows (a
// capture's end, a timeout sweep) uses both cores. Batches are committed (counted, passed to
// on_verdict, written) strictly in the order they were filled, one at a time, so the output is
// byte for byte that of one thread. flush() returns once everything is written; an error on
// either thread (a write that failed) is thrown from the next add()/on_flow()/flush() on the
// caller's thread, and nothing more is written after it. stats() is whole after flush().
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
  std::uint64_t batches = 0;                    // batches scored
  std::uint64_t batches_scored_by_caller = 0;   // pipelined: of them, on the caller's thread
};

class Detector : public flow::FlowSink {
 public:
  static constexpr Eigen::Index kBatch = 256;
  static constexpr std::uint64_t kPool = 4;  // batches in flight at most (pipelined)

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
  const model::Scorer& scorer() const { return lane_.scorer; }
  const EveFormatter& formatter() const { return formatter_; }
  // The detector's own buffers (batches, transformed rows, formatted lines), as allocated now:
  // bounded by kPool batches whatever the traffic (bench detect --parts memory).
  size_t buffer_bytes() const;
  // "detect: flows=… alerts=… (class=n …) unknown=… elapsed=…s flows/s=…"
  std::string summary(double elapsed_s) const;
  // Every flow's verdict, in the flows' order, as its batch is written (tests, evaluation); empty
  // callback by default. Pipelined, it runs on either thread, never on both at once.
  std::function<void(const FlowRecord&, const model::Verdict&)> on_verdict;

 private:
  // Up to kBatch flows: filled by the caller's thread, then scored, then committed.
  struct Batch {
    Matrix<float> raw;  // (inputs × kBatch): raw rows, kept for the EVE features
    std::vector<FlowRecord> records;
    Eigen::Index size = 0;
    bool scored = false;
    std::vector<model::Verdict> verdicts;
    std::string lines;
  };
  // What one thread needs to score a batch.
  struct Lane {
    model::Scorer scorer;
    Matrix<float> x;  // a batch's rows, transformed
  };
  Lane make_lane(const model::Model& model) const;
  Batch& slot(std::uint64_t seq) { return batches_[options_.pipeline ? seq % kPool : 0]; }
  void hand_over();  // the filling batch is full (or flushed)
  [[noreturn]] void fail(std::unique_lock<std::mutex>& lock);  // error_, once nothing is in flight
  // Takes, scores and commits batches on this thread until done() holds (under the lock); waits
  // while there is nothing to take. After an error, batches are taken and skipped.
  template <typename Done>
  void help_until(std::unique_lock<std::mutex>& lock, Done done);
  void score_taken(Lane& lane, std::unique_lock<std::mutex>& lock);  // the next batch not yet taken
  void commit_ready(std::unique_lock<std::mutex>& lock);              // every scored batch, in order
  void score(Lane& lane, Batch& batch);  // transform, score, format: touches only lane and batch
  void commit(Batch& batch);             // count, on_verdict, write
  void scoring_thread();

  std::shared_ptr<const model::Model> model_;
  EveOutput& output_;
  DetectorOptions options_;
  std::optional<FeatureMapper> mapper_;  // made at the first flow from packets
  EveFormatter formatter_;
  Batch batches_[kPool];        // the batch of sequence number k: slot(k); one thread uses one
  std::uint64_t filling_ = 1;   // the sequence number of the batch the caller's thread fills
  Lane lane_;                   // the caller's thread's
  std::optional<Lane> worker_lane_;
  std::vector<std::uint64_t> batch_alerts_;  // alerts of the batch by class index + 1 (0: unknown)
  DetectorStats stats_;
  // Under mutex_: batches 1..filled_ are handed over, 1..taken_ taken to be scored, 1..committed_
  // written (their slots free again).
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t filled_ = 0, taken_ = 0, committed_ = 0;
  bool committing_ = false;  // one thread commits at a time
  bool quit_ = false;
  std::exception_ptr error_;  // the first error of either thread, thrown on the caller's thread
  std::thread worker_;
};

}  // namespace metaids::detect
