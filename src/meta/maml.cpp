#include "meta/maml.h"

#include "core/error.h"

namespace metaids::meta {

template <typename S>
GradientMetaLearner<S>::GradientMetaLearner(LearnerConfig config) : MetaLearner<S>(std::move(config)) {
  theta_count_ = this->network_.parameter_count();
  head_offset_ = this->network_.spec().weight_offset(this->network_.spec().layers() - 1);
}

template <typename S>
std::int64_t GradientMetaLearner<S>::meta_parameter_count() const {
  return this->config_.algorithm == Algorithm::metasgd ? 2 * theta_count_ : theta_count_;
}

template <typename S>
Vector<S> GradientMetaLearner<S>::initial_meta_parameters(std::mt19937_64& rng) const {
  Vector<S> phi(meta_parameter_count());
  phi.head(theta_count_) = this->network_.initial_parameters(rng);
  if (this->config_.algorithm == Algorithm::metasgd)
    phi.tail(theta_count_).setConstant(static_cast<S>(this->config_.inner_learning_rate));
  return phi;
}

template <typename S>
void GradientMetaLearner<S>::step_sizes(const Vector<S>& phi, Vector<S>& out) const {
  const S alpha = static_cast<S>(this->config_.inner_learning_rate);
  switch (this->config_.algorithm) {
    case Algorithm::metasgd: out = phi.tail(theta_count_); break;
    case Algorithm::anil:
      out.setZero(theta_count_);
      out.tail(theta_count_ - head_offset_).setConstant(alpha);
      break;
    default: out.setConstant(theta_count_, alpha); break;
  }
}

template <typename S>
void GradientMetaLearner<S>::inner_loop(const Vector<S>& phi, const Batch<S>& support, int steps,
                                        Scratch<S>& scratch) const {
  const auto& net = this->network_;
  step_sizes(phi, scratch.step_size);
  scratch.steps.resize(static_cast<size_t>(steps) + 1);
  scratch.thetas.resize(static_cast<size_t>(steps) + 1);
  scratch.gradients.resize(static_cast<size_t>(steps) + 1);
  scratch.thetas[0] = phi.head(theta_count_);
  for (int s = 0; s < steps; ++s) {
    const auto i = static_cast<size_t>(s);
    net.loss_and_gradient(scratch.thetas[i], support, scratch.gradients[i], scratch.steps[i]);
    scratch.thetas[i + 1] = scratch.thetas[i] - scratch.step_size.cwiseProduct(scratch.gradients[i]);
  }
}

template <typename S>
S GradientMetaLearner<S>::meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const {
  this->check_task(task);
  const int steps = this->config_.inner_steps;
  inner_loop(phi, task.support, steps, scratch);
  const Vector<S>& theta0 = scratch.thetas[0];
  S value = this->network_.loss(scratch.thetas[static_cast<size_t>(steps)], task.query, scratch.query);
  if (this->config_.weight_decay != 0) value += static_cast<S>(this->config_.weight_decay) * theta0.squaredNorm();
  return value;
}

template <typename S>
S GradientMetaLearner<S>::meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient,
                                        Scratch<S>& scratch) const {
  this->check_task(task);
  const auto& net = this->network_;
  const int steps = this->config_.inner_steps;
  const Algorithm algorithm = this->config_.algorithm;
  inner_loop(phi, task.support, steps, scratch);

  // v = ∇L_Q(θ_S)
  S value = net.loss_and_gradient(scratch.thetas[static_cast<size_t>(steps)], task.query, scratch.v, scratch.query);
  gradient.setZero(meta_parameter_count());
  if (algorithm != Algorithm::fomaml) {
    // Back through θ_{s+1} = θ_s − α⊙g_s(θ_s):  v_s = v_{s+1} − H_s(α⊙v_{s+1}).
    for (int s = steps - 1; s >= 0; --s) {
      const auto i = static_cast<size_t>(s);
      if (algorithm == Algorithm::metasgd) gradient.tail(theta_count_) -= scratch.gradients[i].cwiseProduct(scratch.v);
      const Vector<S> direction = scratch.step_size.cwiseProduct(scratch.v);
      net.hessian_vector_product_after_forward(scratch.thetas[i], task.support.x, direction, scratch.hv, nullptr,
                                               scratch.steps[i]);
      scratch.v -= scratch.hv;
    }
  }
  gradient.head(theta_count_) = scratch.v;
  if (this->config_.weight_decay != 0) {
    const Vector<S>& theta0 = scratch.thetas[0];
    value += static_cast<S>(this->config_.weight_decay) * theta0.squaredNorm();
    gradient.head(theta_count_) += static_cast<S>(2 * this->config_.weight_decay) * theta0;
  }
  return value;
}

template <typename S>
Adapted<S> GradientMetaLearner<S>::adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                                         int steps) const {
  require(ways == this->config_.ways, "a {}-way support set cannot adapt a {}-way {} network", ways, this->config_.ways,
          to_string(this->config_.algorithm));
  require(support.x.rows() == this->config_.inputs, "support set has {} features but the model expects {}",
          support.x.rows(), this->config_.inputs);
  const int n = steps < 0 ? this->config_.adapt_steps : steps;
  step_sizes(phi, scratch.step_size);
  Adapted<S> adapted;
  adapted.theta = phi.head(theta_count_);
  Vector<S>& grad = scratch.v;
  for (int s = 0; s < n; ++s) {
    this->network_.loss_and_gradient(adapted.theta, support, grad, scratch.query);
    adapted.theta -= scratch.step_size.cwiseProduct(grad);
  }
  return adapted;
}

template <typename S>
Vector<S> GradientMetaLearner<S>::adaptation_step_sizes(const Vector<S>& phi) const {
  Vector<S> out;
  step_sizes(phi, out);
  return out;
}

template class GradientMetaLearner<float>;
template class GradientMetaLearner<double>;

}  // namespace metaids::meta
