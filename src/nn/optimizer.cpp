#include "nn/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace metaids::nn {

template <typename S>
Adam<S>::Adam(AdamConfig config, std::int64_t size)
    : config_(config),
      m_(Vector<S>::Zero(size)),
      v_(Vector<S>::Zero(size)),
      m_next_(Vector<S>::Zero(size)),
      v_next_(Vector<S>::Zero(size)) {
  require(config.learning_rate > 0 && std::isfinite(config.learning_rate), "Adam learning rate must be > 0, got {}",
          config.learning_rate);
  require(config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1,
          "Adam betas must be in [0, 1)");
}

namespace {
// One Adam step on a range: m_out, v_out, theta_out may be m, v, theta themselves.
template <typename S>
void adam_range(const AdamConfig& config, Eigen::Ref<const Vector<S>> theta, Eigen::Ref<Vector<S>> theta_out,
                Eigen::Ref<const Vector<S>> m, Eigen::Ref<Vector<S>> m_out, Eigen::Ref<const Vector<S>> v,
                Eigen::Ref<Vector<S>> v_out, Eigen::Ref<const Vector<S>> g, std::int64_t step_number) {
  const S b1 = static_cast<S>(config.beta1), b2 = static_cast<S>(config.beta2);
  m_out = b1 * m + (S(1) - b1) * g;
  v_out = b2 * v + (S(1) - b2) * g.cwiseProduct(g);
  const double c1 = 1 - std::pow(config.beta1, static_cast<double>(step_number));
  const double c2 = 1 - std::pow(config.beta2, static_cast<double>(step_number));
  const S step = static_cast<S>(config.learning_rate / c1);
  const S inv_sqrt_c2 = static_cast<S>(1 / std::sqrt(c2));
  const S eps = static_cast<S>(config.epsilon);
  theta_out.array() = theta.array() - step * m_out.array() / ((v_out.array().sqrt() * inv_sqrt_c2) + eps);
}
}  // namespace

template <typename S>
void Adam<S>::step(Vector<S>& theta, const Vector<S>& gradient) {
  adam_range<S>(config_, theta, theta, m_, m_, v_, v_, gradient, t_ + 1);
  ++t_;
}

template <typename S>
void Adam<S>::update_into(const Vector<S>& theta, Vector<S>& theta_out, const Vector<S>& gradient,
                          Eigen::Index begin, Eigen::Index count) {
  adam_range<S>(config_, theta.segment(begin, count), theta_out.segment(begin, count), m_.segment(begin, count),
                m_next_.segment(begin, count), v_.segment(begin, count), v_next_.segment(begin, count),
                gradient.segment(begin, count), t_ + 1);
}

template <typename S>
void Adam<S>::restore(Vector<S> m, Vector<S> v, std::int64_t t) {
  require(m.size() == m_.size() && v.size() == v_.size(), "optimizer state has the wrong size");
  m_ = std::move(m);
  v_ = std::move(v);
  m_next_.resize(m_.size());
  v_next_.resize(v_.size());
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
