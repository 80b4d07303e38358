#include "meta/reptile.h"

#include "core/error.h"

namespace metaids::meta {

template <typename S>
S Reptile<S>::meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient, Scratch<S>& scratch) const {
  this->check_task(task);
  Batch<S>& whole = scratch.both;
  concatenate_into(task.support, task.query, whole);
  const S alpha = static_cast<S>(this->config_.inner_learning_rate);
  Vector<S>& theta = scratch.hv;
  theta = phi;
  S value = 0;
  for (int s = 0; s < this->config_.inner_steps; ++s) {
    value = this->network_.loss_and_gradient(theta, whole, scratch.v, scratch.query);
    theta -= alpha * scratch.v;
  }
  gradient = phi - theta;
  if (this->config_.weight_decay != 0) gradient += static_cast<S>(2 * this->config_.weight_decay) * phi;
  return value;
}

template <typename S>
S Reptile<S>::meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const {
  this->check_task(task);
  const Adapted<S> adapted = adapt(phi, task.support, task.ways, scratch, this->config_.inner_steps);
  return this->network_.loss(adapted.theta, task.query, scratch.query);
}

template <typename S>
Adapted<S> Reptile<S>::adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                             int steps) const {
  require(ways == this->config_.ways, "a {}-way support set cannot adapt a {}-way reptile network", ways,
          this->config_.ways);
  const int n = steps < 0 ? this->config_.adapt_steps : steps;
  const S alpha = static_cast<S>(this->config_.inner_learning_rate);
  Adapted<S> adapted;
  adapted.theta = phi;
  for (int s = 0; s < n; ++s) {
    this->network_.loss_and_gradient(adapted.theta, support, scratch.v, scratch.query);
    adapted.theta -= alpha * scratch.v;
  }
  return adapted;
}

template class Reptile<float>;
template class Reptile<double>;

}  // namespace metaids::meta
