// The regularised objective of the seed design:
//
//   J(θ) = L(θ) + λ₁‖θ‖² + λ₂‖∇L(θ)‖
//   ∇J  = ∇L + 2λ₁θ + λ₂ H(θ)∇L / ‖∇L‖          (the penalty's gradient is a Hessian-vector product)
//
// L is the network's mean loss on the batch (sum over tasks = call it on the pooled batch).
#pragma once

#include "nn/mlp.h"

namespace metaids::nn {

struct Regularization {
  double weight_decay = 0;        // λ₁
  double gradient_penalty = 0;    // λ₂
};

template <typename S>
S regularized_loss_and_gradient(const Mlp<S>& mlp, const Vector<S>& theta, const Batch<S>& batch,
                                const Regularization& reg, Vector<S>& gradient, Workspace<S>& ws);

}  // namespace metaids::nn
