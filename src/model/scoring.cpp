#include "model/scoring.h"

#include <cmath>

#include "core/error.h"

namespace metaids::model {

Scorer::Scorer(const Model& model) : state_(model.shared_state()), calibration_(model.calibration) {
  require(state_ != nullptr, "internal error: scoring with a model that was not adapted");
}

void Scorer::score(const Matrix<float>& x, std::vector<Verdict>& out) {
  state_->score(x, logits_, novelty_, ws_);
  const Eigen::Index n = x.cols();
  const Eigen::Index classes = logits_.rows();
  thresholds_.resize(static_cast<size_t>(classes));
  for (Eigen::Index k = 1; k < classes; ++k)
    thresholds_[static_cast<size_t>(k)] = static_cast<float>(calibration_.threshold_for(static_cast<int>(k)));
  const double novelty_threshold = calibration_.novelty_threshold;
  out.resize(static_cast<size_t>(n));
  for (Eigen::Index j = 0; j < n; ++j) {
    const float* l = logits_.data() + j * classes;
    Eigen::Index best = 0, best_attack = 1;
    float best_excess = l[1] - l[0] - thresholds_[1];
    for (Eigen::Index k = 1; k < classes; ++k) {
      if (l[k] > l[best]) best = k;
      const float excess = l[k] - l[0] - thresholds_[static_cast<size_t>(k)];
      if (excess > best_excess) {
        best_excess = excess;
        best_attack = k;
      }
    }
    float total = 0;
    for (Eigen::Index k = 0; k < classes; ++k) total += std::exp(l[k] - l[best]);
    Verdict& v = out[static_cast<size_t>(j)];
    v.predicted = static_cast<int>(best);
    v.probability = 1.0f / total;
    v.margin = best_excess;
    v.novelty = novelty_(j);
    // A NaN anywhere must alert, never pass as benign (fail closed).
    v.unknown = !(static_cast<double>(v.novelty) <= novelty_threshold);
    const bool attack = !(v.margin < 0.0f);
    v.alert = v.unknown || attack;
    v.reported = v.unknown ? Verdict::kUnknown : attack ? static_cast<int>(best_attack) : 0;
  }
}

void class_margins(const Model& model, const Matrix<float>& x, Matrix<float>& margins, std::vector<float>& novelty) {
  const auto& state = model.state();
  meta::DeployedState<float>::Workspace ws;
  Matrix<float> logits;
  Vector<float> nov;
  margins.resize(state.classes(), x.cols());
  novelty.resize(static_cast<size_t>(x.cols()));
  constexpr Eigen::Index kChunk = 4096;
  for (Eigen::Index start = 0; start < x.cols(); start += kChunk) {
    const Eigen::Index count = std::min(kChunk, x.cols() - start);
    state.score(x.middleCols(start, count), logits, nov, ws);
    for (Eigen::Index j = 0; j < count; ++j) {
      margins.col(start + j) = logits.col(j).array() - logits(0, j);
      novelty[static_cast<size_t>(start + j)] = nov(j);
    }
  }
}

}  // namespace metaids::model
