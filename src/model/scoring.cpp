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
  const auto threshold = static_cast<float>(calibration_.threshold);
  const double novelty_threshold = calibration_.novelty_threshold;
  out.resize(static_cast<size_t>(n));
  for (Eigen::Index j = 0; j < n; ++j) {
    const float* l = logits_.data() + j * classes;
    Eigen::Index best = 0, best_attack = 1;
    for (Eigen::Index k = 1; k < classes; ++k) {
      if (l[k] > l[best]) best = k;
      if (l[k] > l[best_attack]) best_attack = k;
    }
    float total = 0;
    for (Eigen::Index k = 0; k < classes; ++k) total += std::exp(l[k] - l[best]);
    Verdict& v = out[static_cast<size_t>(j)];
    v.predicted = static_cast<int>(best);
    v.probability = 1.0f / total;
    v.margin = l[best_attack] - l[0];
    v.novelty = novelty_(j);
    // A NaN anywhere must alert, never pass as benign (fail closed).
    v.unknown = !(static_cast<double>(v.novelty) <= novelty_threshold);
    const bool attack = !(v.margin < threshold);
    v.alert = v.unknown || attack;
    v.reported = v.unknown ? Verdict::kUnknown : attack ? static_cast<int>(best_attack) : 0;
  }
}

void margins_and_novelty(const Model& model, const Matrix<float>& x, std::vector<float>& margin,
                         std::vector<float>& novelty) {
  Scorer scorer(model);
  std::vector<Verdict> verdicts;
  margin.clear();
  novelty.clear();
  constexpr Eigen::Index kChunk = 4096;
  for (Eigen::Index start = 0; start < x.cols(); start += kChunk) {
    const Eigen::Index count = std::min(kChunk, x.cols() - start);
    scorer.score(x.middleCols(start, count), verdicts);
    for (const auto& v : verdicts) {
      margin.push_back(v.margin);
      novelty.push_back(v.novelty);
    }
  }
}

}  // namespace metaids::model
