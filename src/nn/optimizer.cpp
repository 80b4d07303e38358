#include "nn/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace metaids::nn {

template <typename S>
Adam<S>::Adam(AdamConfig config, std::int64_t size)
    : config_(config), m_(Vector<S>::Zero(size)), v_(Vector<S>::Zero(size)) {
  require(config.learning_rate > 0 && std::isfinite(config.learning_rate), "Adam learning rate must be > 0, got {}",
          config.learning_rate);
  require(config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1,
          "Adam betas must be in [0, 1)");
}

template <typename S>
void Adam<S>::step(Vector<S>& theta, const Vector<S>& gradient) {
  update(theta, gradient, t_ + 1, 0, theta.size());
  finish_step();
}

template <typename S>
void Adam<S>::update(Vector<S>& theta, const Vector<S>& gradient, std::int64_t step_number, Eigen::Index begin,
                     Eigen::Index count) {
  const S b1 = static_cast<S>(config_.beta1), b2 = static_cast<S>(config_.beta2);
  auto m = m_.segment(begin, count);
  auto v = v_.segment(begin, count);
  const auto g = gradient.segment(begin, count);
  m = b1 * m + (S(1) - b1) * g;
  v = b2 * v + (S(1) - b2) * g.cwiseProduct(g);
  const double c1 = 1 - std::pow(config_.beta1, static_cast<double>(step_number));
  const double c2 = 1 - std::pow(config_.beta2, static_cast<double>(step_number));
  const S step = static_cast<S>(config_.learning_rate / c1);
  const S inv_sqrt_c2 = static_cast<S>(1 / std::sqrt(c2));
  const S eps = static_cast<S>(config_.epsilon);
  theta.segment(begin, count).array() -= step * m.array() / ((v.array().sqrt() * inv_sqrt_c2) + eps);
}

template <typename S>
void Adam<S>::restore(Vector<S> m, Vector<S> v, std::int64_t t) {
  require(m.size() == m_.size() && v.size() == v_.size(), "optimizer state has the wrong size");
  m_ = std::move(m);
  v_ = std::move(v);
  t_ = t;
}

template <typename S>
void Sgd<S>::step(Vector<S>& theta, const Vector<S>& gradient) {
  if (momentum_ == 0) {
    theta -= static_cast<S>(lr_) * gradient;
    return;
  }
  if (velocity_.size() != gradient.size()) velocity_ = Vector<S>::Zero(gradient.size());
  velocity_ = static_cast<S>(momentum_) * velocity_ + gradient;
  theta -= static_cast<S>(lr_) * velocity_;
}

template class Adam<float>;
template class Adam<double>;
template class Sgd<float>;
template class Sgd<double>;

}  // namespace metaids::nn
