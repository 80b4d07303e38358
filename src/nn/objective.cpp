#include "nn/objective.h"

#include <cmath>

namespace metaids::nn {

template <typename S>
S regularized_loss_and_gradient(const Mlp<S>& mlp, const Vector<S>& theta, const Batch<S>& batch,
                                const Regularization& reg, Vector<S>& gradient, Workspace<S>& ws) {
  S value = mlp.loss_and_gradient(theta, batch, gradient, ws);
  if (reg.gradient_penalty != 0) {
    const S norm = gradient.norm();
    if (norm > S(0)) {
      const Vector<S> unit = gradient / norm;
      Vector<S> hv;
      mlp.hessian_vector_product(theta, batch, unit, hv, nullptr, ws);
      value += static_cast<S>(reg.gradient_penalty) * norm;
      gradient += static_cast<S>(reg.gradient_penalty) * hv;
    }
  }
  if (reg.weight_decay != 0) {
    value += static_cast<S>(reg.weight_decay) * theta.squaredNorm();
    gradient += static_cast<S>(2 * reg.weight_decay) * theta;
  }
  return value;
}

template float regularized_loss_and_gradient<float>(const Mlp<float>&, const Vector<float>&, const Batch<float>&,
                                                    const Regularization&, Vector<float>&, Workspace<float>&);
template double regularized_loss_and_gradient<double>(const Mlp<double>&, const Vector<double>&,
                                                      const Batch<double>&, const Regularization&, Vector<double>&,
                                                      Workspace<double>&);

}  // namespace metaids::nn
