// Scoring flows with a loaded model: logits and novelty from the learner's adapted state, then
// the model's calibration decides. One rule for every consumer (predict, detect, the service):
//
//   margin_k = logit_k − logit_benign            (log-odds of attack class k against benign)
//   excess   = max_{k≠benign} margin_k − t_k     (t_k: the calibration's threshold of class k)
//   unknown  = novelty > calibration.novelty_threshold  (far from every known class)
//   alert    = unknown or excess ≥ 0
//   reported = unknown → "unknown"; alert → the class of the largest excess; else benign
//
//   Scorer scorer(model);                 // one per thread; shares the model's adapted state
//   scorer.score(x, verdicts);            // x: transformed flows (features × n)
#pragma once

#include <memory>
#include <vector>

#include "model/model.h"

namespace metaids::model {

struct Verdict {
  int predicted = 0;        // argmax class
  int reported = 0;         // what is reported: a class index, or kUnknown
  bool alert = false;
  bool unknown = false;
  float margin = 0;         // the excess over the threshold (see above): ≥ 0 alerts
  float probability = 0;    // softmax probability of `predicted`
  float novelty = 0;
  static constexpr int kUnknown = -1;
};

class Scorer {
 public:
  explicit Scorer(const Model& model);
  // Verdicts of the columns of x (features × n); `out` is resized to n.
  void score(const Matrix<float>& x, std::vector<Verdict>& out);
  const Calibration& calibration() const { return calibration_; }
  // Overrides the model's alert thresholds with one for every class (`--threshold`).
  void set_threshold(double threshold) {
    calibration_.threshold = threshold;
    calibration_.class_thresholds.clear();
    calibration_.method = "manual";
  }

 private:
  std::shared_ptr<const meta::DeployedState<float>> state_;
  Calibration calibration_;
  meta::DeployedState<float>::Workspace ws_;
  Matrix<float> logits_;
  Vector<float> novelty_;
  std::vector<float> thresholds_;  // per class, from the calibration
};

// Margins (classes × n: logit_k − logit_benign; row 0 is zero) and novelties of the columns
// of x, without the calibration's decisions.
void class_margins(const Model& model, const Matrix<float>& x, Matrix<float>& margins, std::vector<float>& novelty);

}  // namespace metaids::model
