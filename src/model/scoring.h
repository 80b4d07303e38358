// Scoring flows with a loaded model: logits and novelty from the learner's adapted state, then
// the model's calibration decides. One rule for every consumer (predict, detect, the service):
//
//   margin   = max_{k≠benign} logit_k − logit_benign   (log-odds of the likeliest attack)
//   unknown  = novelty > calibration.novelty_threshold  (far from every known class)
//   alert    = unknown or margin ≥ calibration.threshold
//   reported = unknown → "unknown"; alert → the likeliest attack class; else benign
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
  float margin = 0;         // attack margin (see above)
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
  // Overrides the model's alert threshold (`--threshold`).
  void set_threshold(double threshold) { calibration_.threshold = threshold; }

 private:
  std::shared_ptr<const meta::DeployedState<float>> state_;
  Calibration calibration_;
  meta::DeployedState<float>::Workspace ws_;
  Matrix<float> logits_;
  Vector<float> novelty_;
};

// Attack margins and novelties of the columns of x, without the calibration's decisions.
void margins_and_novelty(const Model& model, const Matrix<float>& x, std::vector<float>& margin,
                         std::vector<float>& novelty);

}  // namespace metaids::model
