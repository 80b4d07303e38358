// The shared gradient-check harness (double precision). First order by central differences;
// second order (Hessian-vector products) by central differences of gradients. Every case
// picks its own eps and tolerance; the error measure is ‖a − b‖ / max(‖a‖ + ‖b‖, floor).
#pragma once

#include <Eigen/Core>
#include <functional>

namespace metaids::test {

using VectorD = Eigen::VectorXd;

// ‖a − b‖ / max(‖a‖ + ‖b‖, floor): 0 for equal vectors, 1 for opposite ones.
inline double relative_error(const VectorD& a, const VectorD& b, double floor = 1e-12) {
  return (a - b).norm() / std::max(a.norm() + b.norm(), floor);
}

// ∂f/∂x_i ≈ (f(x + eps e_i) − f(x − eps e_i)) / 2eps for every i.
inline VectorD numerical_gradient(const std::function<double(const VectorD&)>& f, const VectorD& x,
                                  double eps = 1e-6) {
  VectorD g(x.size());
  VectorD probe = x;
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const double saved = probe(i);
    probe(i) = saved + eps;
    const double up = f(probe);
    probe(i) = saved - eps;
    const double down = f(probe);
    probe(i) = saved;
    g(i) = (up - down) / (2 * eps);
  }
  return g;
}

// H v ≈ (∇f(x + eps v) − ∇f(x − eps v)) / 2eps.
inline VectorD numerical_hessian_vector_product(const std::function<VectorD(const VectorD&)>& gradient,
                                                const VectorD& x, const VectorD& v, double eps = 1e-6) {
  return (gradient(x + eps * v) - gradient(x - eps * v)) / (2 * eps);
}

}  // namespace metaids::test
