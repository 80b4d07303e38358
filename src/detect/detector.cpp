#include "detect/detector.h"

#include <cmath>

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
      raw_(model_->features(), kBatch),
      x_(model_->features(), kBatch),
      records_(static_cast<size_t>(kBatch)) {
  if (!std::isnan(options.threshold)) {
    require(std::isfinite(options.threshold), "--threshold must be a finite number");
    scorer_.set_threshold(options.threshold);
  }
}

void Detector::replace_model(std::shared_ptr<const model::Model> model) {
  require(model != nullptr, "internal error: no model to replace with");
  require(model->input_columns() == model_->input_columns(),
          "the new model reads other columns than the one it replaces ({} against {})", model->features(),
          model_->features());
  flush();
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
  const flow::FeatureVector features = flow::compute_features(flow);
  float* column = raw_.data() + pending_ * raw_.rows();
  mapper_->map(features, flow.key.protocol, std::span<float>(column, static_cast<size_t>(raw_.rows())));
  records_[static_cast<size_t>(pending_)] = flow_record(flow);
  if (++pending_ == kBatch) flush();
}

void Detector::add(const FlowRecord& record, std::span<const float> raw) {
  require(static_cast<Eigen::Index>(raw.size()) == raw_.rows(), "a flow has {} inputs, the model reads {}", raw.size(),
          raw_.rows());
  std::copy(raw.begin(), raw.end(), raw_.data() + pending_ * raw_.rows());
  records_[static_cast<size_t>(pending_)] = record;
  if (++pending_ == kBatch) flush();
}

void Detector::flush() {
  if (pending_ == 0) return;
  const Eigen::Index n = pending_;
  pending_ = 0;
  const Eigen::Index d = raw_.rows();
  if (x_.cols() != n) x_.resize(d, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    x_.col(j) = raw_.col(j);
    model_->transform.apply_row_in_place(std::span<float>(x_.data() + j * d, static_cast<size_t>(d)));
  }
  scorer_.score(x_, verdicts_);
  lines_.clear();
  batch_alerts_.assign(model_->classes.size() + 1, 0);  // [0]: unknown, then the classes
  for (Eigen::Index j = 0; j < n; ++j) {
    const FlowRecord& record = records_[static_cast<size_t>(j)];
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
    formatter_.append(lines_, record, v, std::span<const float>(raw_.data() + j * d, static_cast<size_t>(d)),
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
