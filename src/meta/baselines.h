// Baselines that need no meta-training: nearest centroid in the input space and the same
// network trained from scratch (or fine-tuned from given parameters) on the support set.
#pragma once

#include <random>

#include "nn/mlp.h"
#include "nn/objective.h"
#include "nn/optimizer.h"

namespace metaids::meta {

using nn::Batch;
using nn::Matrix;
using nn::Vector;

// Logits −‖x − c_k‖² with c_k the class means of the support set.
template <typename S>
Matrix<S> nearest_centroid_logits(const Batch<S>& support, int ways, const Matrix<S>& x);

struct FineTuneConfig {
  int steps = 100;
  nn::AdamConfig adam{1e-2};
  nn::Regularization regularization{};
};

// Full-batch Adam on the (regularised) support loss starting from theta0; returns the result.
template <typename S>
Vector<S> fine_tune(const nn::Mlp<S>& mlp, Vector<S> theta0, const Batch<S>& support, const FineTuneConfig& config);

}  // namespace metaids::meta
