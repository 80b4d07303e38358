// Optimisers on one flat parameter vector. State is plain vectors so it can be checkpointed.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "nn/mlp.h"

namespace metaids::nn {

struct AdamConfig {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
};

// Adam (Kingma & Ba) with bias correction.
template <typename S>
class Adam {
 public:
  Adam() = default;
  Adam(AdamConfig config, std::int64_t size);

  void step(Vector<S>& theta, const Vector<S>& gradient);
  // The same step split by parameter range and written aside, so that threads can share it
  // and a step given up halfway (say, on a non-finite gradient) changes nothing: for ranges
  // covering the vector, θ's new values go into `theta_out` and m's and v's into staging
  // vectors; commit() then makes the staged moments current (the caller swaps θ and
  // theta_out) and counts the step. Keep the split fixed (ranges starting at multiples of the
  // SIMD width): Eigen's vectorised float square root is not the scalar one, so a split that
  // moved could change the last bit.
  void update_into(const Vector<S>& theta, Vector<S>& theta_out, const Vector<S>& gradient, Eigen::Index begin,
                   Eigen::Index count);
  void commit() {
    m_.swap(m_next_);
    v_.swap(v_next_);
    ++t_;
  }
  const AdamConfig& config() const { return config_; }
  void set_learning_rate(double lr) { config_.learning_rate = lr; }
  std::int64_t steps() const { return t_; }

  // Checkpointing: m, v and the step count.
  const Vector<S>& first_moment() const { return m_; }
  const Vector<S>& second_moment() const { return v_; }
  void restore(Vector<S> m, Vector<S> v, std::int64_t t);

 private:
  AdamConfig config_;
  Vector<S> m_, v_, m_next_, v_next_;
  std::int64_t t_ = 0;
};

// θ ← θ − lr·g (with optional momentum).
template <typename S>
class Sgd {
 public:
  explicit Sgd(double learning_rate = 0.01, double momentum = 0) : lr_(learning_rate), momentum_(momentum) {}
  void step(Vector<S>& theta, const Vector<S>& gradient);

 private:
  double lr_, momentum_;
  Vector<S> velocity_;
};

extern template class Adam<float>;
extern template class Adam<double>;
extern template class Sgd<float>;
extern template class Sgd<double>;

}  // namespace metaids::nn
