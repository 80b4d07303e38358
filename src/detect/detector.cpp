#include "detect/detector.h"

#include <pthread.h>

#include <cmath>
#include <csignal>

#include "core/error.h"

namespace metaids::detect {

Detector::Detector(const model::Model& model, const DetectorOptions& options, EveOutput& output)
    : Detector(std::make_shared<const model::Model>(model), options, output) {}

Detector::Detector(std::shared_ptr<const model::Model> model, const DetectorOptions& options, EveOutput& output)
    : model_(std::move(model)),
      output_(output),
      options_(options),
      formatter_(*model_, options.include_features),
      lane_(make_lane(*model_)) {
  slot(filling_).raw.resize(model_->features(), kBatch);  // the others when first used
  slot(filling_).records.resize(static_cast<size_t>(kBatch));
  if (options_.pipeline) {
    worker_lane_.emplace(make_lane(*model_));
    worker_ = std::thread([this] { scoring_thread(); });
  }
}

Detector::Lane Detector::make_lane(const model::Model& model) const {
  Lane lane{model::Scorer(model), Matrix<float>(model.features(), kBatch)};
  if (!std::isnan(options_.threshold)) {
    require(std::isfinite(options_.threshold), "--threshold must be a finite number");
    lane.scorer.set_threshold(options_.threshold);
  }
  return lane;
}

Detector::~Detector() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void Detector::replace_model(std::shared_ptr<const model::Model> model) {
  require(model != nullptr, "internal error: no model to replace with");
  require(model->input_columns() == model_->input_columns(),
          "the new model reads other columns than the one it replaces ({} against {})", model->features(),
          model_->features());
  flush();  // after this the second thread holds nothing and reads nothing until the next hand-over
  std::optional<FeatureMapper> mapper;
  if (mapper_) mapper.emplace(*model);
  Lane lane = make_lane(*model);
  std::optional<Lane> worker_lane;
  if (worker_lane_) worker_lane.emplace(make_lane(*model));
  EveFormatter formatter(*model, options_.include_features);
  // Nothing above throws after this point: the swap is whole or not at all.
  model_ = std::move(model);
  mapper_ = std::move(mapper);
  lane_ = std::move(lane);
  worker_lane_ = std::move(worker_lane);
  formatter_ = std::move(formatter);
}

void Detector::on_flow(const flow::FlowState& flow, flow::FlowEnd /*reason*/) {
  if (!mapper_) mapper_.emplace(*model_);
  Batch& b = slot(filling_);
  const flow::FeatureVector features = flow::compute_features(flow);
  float* column = b.raw.data() + b.size * b.raw.rows();
  mapper_->map(features, flow.key.protocol, std::span<float>(column, static_cast<size_t>(b.raw.rows())));
  b.records[static_cast<size_t>(b.size)] = flow_record(flow);
  if (++b.size == kBatch) hand_over();
}

void Detector::add(const FlowRecord& record, std::span<const float> raw) {
  Batch& b = slot(filling_);
  require(static_cast<Eigen::Index>(raw.size()) == b.raw.rows(), "a flow has {} inputs, the model reads {}", raw.size(),
          b.raw.rows());
  std::copy(raw.begin(), raw.end(), b.raw.data() + b.size * b.raw.rows());
  b.records[static_cast<size_t>(b.size)] = record;
  if (++b.size == kBatch) hand_over();
}

void Detector::flush() {
  if (slot(filling_).size > 0) hand_over();
  std::unique_lock lock(mutex_);
  help_until(lock, [this] { return committed_ == filled_; });
  if (error_) fail(lock);
}

void Detector::fail(std::unique_lock<std::mutex>& lock) {
  // Every batch handed over is finished first (skipped: nothing is written after an error), so
  // that no slot is in use on the other thread when the caller's thread fills one again.
  help_until(lock, [this] { return committed_ == filled_; });
  slot(filling_).size = 0;
  std::rethrow_exception(error_);
}

void Detector::hand_over() {
  std::unique_lock lock(mutex_);
  if (error_) fail(lock);  // the output failed: nothing more can be written
  filled_ = filling_++;
  changed_.notify_all();
  if (!options_.pipeline) {
    help_until(lock, [this] { return committed_ == filled_; });  // at once, on this thread
  } else {
    // The next batch's slot must be free (committed); meanwhile this thread scores too.
    help_until(lock, [this] { return committed_ + kPool >= filling_; });
  }
  if (error_) fail(lock);
  Batch& next = slot(filling_);
  if (next.raw.size() == 0) {  // first use of this slot
    next.raw.resize(model_->features(), kBatch);
    next.records.resize(static_cast<size_t>(kBatch));
  }
}

template <typename Done>
void Detector::help_until(std::unique_lock<std::mutex>& lock, Done done) {
  while (!done()) {  // after an error batches are skipped, so this ends too
    if (taken_ < filled_)
      score_taken(lane_, lock);
    else
      changed_.wait(lock);
  }
}

void Detector::score_taken(Lane& lane, std::unique_lock<std::mutex>& lock) {
  const std::uint64_t seq = ++taken_;
  Batch& b = slot(seq);
  const bool failed = error_ != nullptr;
  lock.unlock();
  std::exception_ptr error;
  if (!failed) {  // after an error nothing more is scored or written
    try {
      score(lane, b);
    } catch (...) {
      error = std::current_exception();
    }
  }
  lock.lock();
  if (error && !error_) error_ = error;
  if (!failed) {
    ++stats_.batches;
    if (options_.pipeline && &lane == &lane_) ++stats_.batches_scored_by_caller;
  }
  b.scored = true;
  commit_ready(lock);
}

void Detector::commit_ready(std::unique_lock<std::mutex>& lock) {
  if (committing_) return;  // the thread committing now takes this one too when it comes
  committing_ = true;
  while (committed_ < taken_ && slot(committed_ + 1).scored) {
    Batch& b = slot(committed_ + 1);
    const bool failed = error_ != nullptr;
    lock.unlock();
    std::exception_ptr error;
    if (!failed) {  // after an error nothing more is written
      try {
        commit(b);
      } catch (...) {
        error = std::current_exception();
      }
    }
    lock.lock();
    if (error && !error_) error_ = error;
    b.scored = false;
    b.size = 0;
    ++committed_;
  }
  committing_ = false;
  changed_.notify_all();
}

void Detector::scoring_thread() {
  // Signals are the caller's thread's business (stop, reopen): none is delivered here.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return taken_ < filled_ || quit_; });
    if (taken_ >= filled_) return;  // quit, nothing left to take
    score_taken(*worker_lane_, lock);
  }
}

void Detector::score(Lane& lane, Batch& batch) {
  const Eigen::Index n = batch.size;
  const Eigen::Index d = batch.raw.rows();
  if (lane.x.cols() != n) lane.x.resize(d, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    lane.x.col(j) = batch.raw.col(j);
    model_->transform.apply_row_in_place(std::span<float>(lane.x.data() + j * d, static_cast<size_t>(d)));
  }
  lane.scorer.score(lane.x, batch.verdicts);
  if (lane.x.cols() != kBatch) lane.x.resize(d, kBatch);
  batch.lines.clear();
  for (Eigen::Index j = 0; j < n; ++j)
    formatter_.append(batch.lines, batch.records[static_cast<size_t>(j)], batch.verdicts[static_cast<size_t>(j)],
                      std::span<const float>(batch.raw.data() + j * d, static_cast<size_t>(d)), options_.all_flows);
}

void Detector::commit(Batch& batch) {
  batch_alerts_.assign(model_->classes.size() + 1, 0);  // [0]: unknown, then the classes
  for (Eigen::Index j = 0; j < batch.size; ++j) {
    const FlowRecord& record = batch.records[static_cast<size_t>(j)];
    const model::Verdict& v = batch.verdicts[static_cast<size_t>(j)];
    ++stats_.flows;
    if (v.alert) {
      ++stats_.alerts;
      ++batch_alerts_[static_cast<size_t>(v.reported + 1)];  // by name after the batch
    }
    if (v.unknown) ++stats_.unknown;
    if (!record.label.empty()) {
      ++stats_.flows_by_label[record.label];
      ++stats_.reported_by_label[record.label][formatter_.reported_name(v)];
    }
    if (on_verdict) on_verdict(record, v);
  }
  for (size_t k = 0; k < batch_alerts_.size(); ++k)
    if (batch_alerts_[k] != 0)
      stats_.alerts_by_class[k == 0 ? std::string(model::kUnknownClass) : model_->classes[k - 1].name] += batch_alerts_[k];
  output_.write(batch.lines);
}

size_t Detector::buffer_bytes() const {
  size_t bytes = 0;
  for (const Batch& b : batches_)
    bytes += static_cast<size_t>(b.raw.size()) * sizeof(float) + b.records.capacity() * sizeof(FlowRecord) +
             b.verdicts.capacity() * sizeof(model::Verdict) + b.lines.capacity();
  bytes += static_cast<size_t>(lane_.x.size()) * sizeof(float);
  if (worker_lane_) bytes += static_cast<size_t>(worker_lane_->x.size()) * sizeof(float);
  return bytes;
}

std::string Detector::summary(double elapsed_s) const {
  std::string classes;
  for (const auto& [name, count] : stats_.alerts_by_class) classes += fmt::format("{}{}={}", classes.empty() ? "" : " ", name, count);
  return fmt::format("detect: flows={} alerts={}{}{}{} unknown={} thresholds=\"{}\" elapsed={:.3f}s flows/s={:.0f}",
                     stats_.flows, stats_.alerts, classes.empty() ? "" : " (", classes, classes.empty() ? "" : ")",
                     stats_.unknown, lane_.scorer.calibration().describe_thresholds(), elapsed_s,
                     elapsed_s > 0 ? static_cast<double>(stats_.flows) / elapsed_s : 0.0);
}

}  // namespace metaids::detect
