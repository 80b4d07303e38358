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
      scorer_(*model_),
      formatter_(*model_, options.include_features),
      x_(model_->features(), kBatch) {
  if (!std::isnan(options.threshold)) {
    require(std::isfinite(options.threshold), "--threshold must be a finite number");
    scorer_.set_threshold(options.threshold);
  }
  for (Batch& b : batches_) {
    b.raw.resize(model_->features(), kBatch);
    b.records.resize(static_cast<size_t>(kBatch));
  }
  if (options_.pipeline) worker_ = std::thread([this] { scoring_thread(); });
}

Detector::~Detector() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  worker_.join();  // a batch already handed over is written first
}

void Detector::replace_model(std::shared_ptr<const model::Model> model) {
  require(model != nullptr, "internal error: no model to replace with");
  require(model->input_columns() == model_->input_columns(),
          "the new model reads other columns than the one it replaces ({} against {})", model->features(),
          model_->features());
  flush();  // after this the scoring thread holds nothing and reads nothing until the next hand-over
  std::optional<FeatureMapper> mapper;
  if (mapper_) mapper.emplace(*model);
  model::Scorer scorer(*model);
  if (!std::isnan(options_.threshold)) scorer.set_threshold(options_.threshold);
  EveFormatter formatter(*model, options_.include_features);
  // Nothing above throws after this point: the swap is whole or not at all.
  model_ = std::move(model);
  mapper_ = std::move(mapper);
  scorer_ = std::move(scorer);
  formatter_ = std::move(formatter);
}

void Detector::on_flow(const flow::FlowState& flow, flow::FlowEnd /*reason*/) {
  if (!mapper_) mapper_.emplace(*model_);
  Batch& b = batches_[filling_];
  const flow::FeatureVector features = flow::compute_features(flow);
  float* column = b.raw.data() + b.size * b.raw.rows();
  mapper_->map(features, flow.key.protocol, std::span<float>(column, static_cast<size_t>(b.raw.rows())));
  b.records[static_cast<size_t>(b.size)] = flow_record(flow);
  if (++b.size == kBatch) hand_over();
}

void Detector::add(const FlowRecord& record, std::span<const float> raw) {
  Batch& b = batches_[filling_];
  require(static_cast<Eigen::Index>(raw.size()) == b.raw.rows(), "a flow has {} inputs, the model reads {}", raw.size(),
          b.raw.rows());
  std::copy(raw.begin(), raw.end(), b.raw.data() + b.size * b.raw.rows());
  b.records[static_cast<size_t>(b.size)] = record;
  if (++b.size == kBatch) hand_over();
}

void Detector::flush() {
  if (batches_[filling_].size > 0) hand_over();
  wait_idle();
}

void Detector::hand_over() {
  if (!options_.pipeline) {
    Batch& b = batches_[filling_];
    // Emptied first: a write that throws leaves no batch to be written twice.
    struct Empty {
      Batch& b;
      ~Empty() { b.size = 0; }
    } empty{b};
    score_and_write(b);
    return;
  }
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !busy_; });
    if (error_) {
      batches_[filling_].size = 0;  // the output failed: nothing more can be written
      std::rethrow_exception(error_);
    }
    busy_ = true;
    filling_ ^= 1;  // the scorer takes the full one, this thread the one it emptied
  }
  changed_.notify_all();
  batches_[filling_].size = 0;
}

void Detector::wait_idle() {
  if (!options_.pipeline) return;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !busy_; });
  if (error_) std::rethrow_exception(error_);
}

void Detector::scoring_thread() {
  // Signals are the caller's thread's business (stop, reopen): none is delivered here.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return busy_ || quit_; });
    if (!busy_) return;  // quit with nothing in hand
    Batch& b = batches_[filling_ ^ 1];
    lock.unlock();
    std::exception_ptr error;
    try {
      if (!error_) score_and_write(b);  // after a failed write nothing more is written
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error) error_ = error;
    busy_ = false;
    changed_.notify_all();
  }
}

void Detector::score_and_write(Batch& batch) {
  const Eigen::Index n = batch.size;
  if (n == 0) return;
  const Eigen::Index d = batch.raw.rows();
  if (x_.cols() != n) x_.resize(d, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    x_.col(j) = batch.raw.col(j);
    model_->transform.apply_row_in_place(std::span<float>(x_.data() + j * d, static_cast<size_t>(d)));
  }
  scorer_.score(x_, verdicts_);
  lines_.clear();
  batch_alerts_.assign(model_->classes.size() + 1, 0);  // [0]: unknown, then the classes
  for (Eigen::Index j = 0; j < n; ++j) {
    const FlowRecord& record = batch.records[static_cast<size_t>(j)];
    const model::Verdict& v = verdicts_[static_cast<size_t>(j)];
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
    formatter_.append(lines_, record, v, std::span<const float>(batch.raw.data() + j * d, static_cast<size_t>(d)),
                      options_.all_flows);
    if (on_verdict) on_verdict(record, v);
  }
  for (size_t k = 0; k < batch_alerts_.size(); ++k)
    if (batch_alerts_[k] != 0)
      stats_.alerts_by_class[k == 0 ? std::string(model::kUnknownClass) : model_->classes[k - 1].name] += batch_alerts_[k];
  if (x_.cols() != kBatch) x_.resize(d, kBatch);
  output_.write(lines_);
}

std::string Detector::summary(double elapsed_s) const {
  std::string classes;
  for (const auto& [name, count] : stats_.alerts_by_class) classes += fmt::format("{}{}={}", classes.empty() ? "" : " ", name, count);
  return fmt::format("detect: flows={} alerts={}{}{}{} unknown={} thresholds=\"{}\" elapsed={:.3f}s flows/s={:.0f}",
                     stats_.flows, stats_.alerts, classes.empty() ? "" : " (", classes, classes.empty() ? "" : ")",
                     stats_.unknown, scorer_.calibration().describe_thresholds(), elapsed_s,
                     elapsed_s > 0 ? static_cast<double>(stats_.flows) / elapsed_s : 0.0);
}

}  // namespace metaids::detect
