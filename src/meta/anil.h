// ANIL (Raghu et al. 2020): MAML whose inner loop adapts only the output layer ("head").
//
// The body's parameters do not change in the inner loop, so its features H = f_body(x) are
// computed once per task for support and query, the inner loop runs on the linear head alone,
// and the exact second-order meta-gradient needs one backward pass through the body:
//   head:  v ← ∇_head L_Q(head_S);  v ← v − α H_hh(s) v          (s = S−1 … 0)
//   body:  ∂L/∂H_Q from the query loss, and ∂L/∂H_S += −α ∂/∂H (∇_head L_S(s) · v_{s+1})
//          at every step (a mixed second derivative), summed, then back through the body once.
// meta_loss() evaluates the objective through the generic masked inner loop over the whole
// network, an independent path that the gradient checks compare against.
#pragma once

#include "meta/learner.h"

namespace metaids::meta {

template <typename S>
class Anil final : public MetaLearner<S> {
 public:
  explicit Anil(LearnerConfig config);
  S meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient, Scratch<S>& scratch) const override;
  S meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const override;
  Adapted<S> adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                   int steps = -1) const override;

 protected:
  Vector<S> adaptation_step_sizes(const Vector<S>& phi) const override;

 private:
  // H = act(body(x)) for the columns of x; keeps the body's parameters in scratch.body_theta
  // and its forward pass in scratch.query.
  Matrix<S> features(const Vector<S>& phi, const Matrix<S>& x, Matrix<S>& body_pre, Scratch<S>& scratch) const;

  nn::Mlp<S> body_;  // layers 0 … L−2, output = pre-activation of the last hidden layer
  std::int64_t head_offset_;
  int head_inputs_;
};

}  // namespace metaids::meta
