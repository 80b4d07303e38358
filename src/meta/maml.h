// MAML (exact second order), first-order MAML, ANIL and Meta-SGD: one inner loop of SGD on
// the support set, differentiated back through the trajectory with Hessian-vector products.
#pragma once

#include "meta/learner.h"

namespace metaids::meta {

template <typename S>
class GradientMetaLearner final : public MetaLearner<S> {
 public:
  explicit GradientMetaLearner(LearnerConfig config);

  std::int64_t meta_parameter_count() const override;
  Vector<S> initial_meta_parameters(std::mt19937_64& rng) const override;
  S meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient, Scratch<S>& scratch) const override;
  S meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const override;
  bool exact_gradient() const override { return this->config_.algorithm != Algorithm::fomaml; }
  Adapted<S> adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                   int steps = -1) const override;

 protected:
  Vector<S> adaptation_step_sizes(const Vector<S>& phi) const override;

 private:
  // The per-parameter inner step size: α everywhere (MAML, FOMAML), α on the output layer
  // and 0 elsewhere (ANIL), or the learned α vector (Meta-SGD).
  void step_sizes(const Vector<S>& phi, Vector<S>& out) const;
  // Runs `steps` inner SGD steps from θ₀ = φ's θ; keeps θ_s and the forward pass of each step
  // in `scratch`. Returns the final parameters in scratch.thetas[steps].
  void inner_loop(const Vector<S>& phi, const Batch<S>& support, int steps, Scratch<S>& scratch) const;

  std::int64_t theta_count_;
  std::int64_t head_offset_;
};

}  // namespace metaids::meta
