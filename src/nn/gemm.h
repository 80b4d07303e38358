// The engine's matrix products: C = op(A)·op(B), or C += op(A)·op(B), column-major.
//
// The networks of metaids are small (78 → 64 → 64 → 5) and their batches short (25–100
// columns), where a general GEMM spends much of its time packing. With libxsmm (Debian's
// libxsmm-dev, found at configure time) the products run through its JIT-generated small-matrix
// kernels, 1.6–2× Eigen's GEMM at these shapes (docs/performance.md); Eigen's product is the
// reference beside them, used for shapes libxsmm declines, when libxsmm is absent, and when
// `use_reference_products(true)` asks for it (tests compare the two).
//
// Both paths give the same result for the same shapes every time, whatever the thread count.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <type_traits>

namespace metaids::nn {

enum class Op { none, transpose };

// C (m × n) = op(A) (m × k) · op(B) (k × n), or += when `accumulate`. Leading dimensions are
// column strides of the stored matrices. op(A) = transpose is done by copying Aᵀ into a
// per-thread buffer (libxsmm's JIT has no transposed-A kernel).
template <typename S>
void gemm(Op op_a, Op op_b, Eigen::Index m, Eigen::Index n, Eigen::Index k, const S* a, Eigen::Index lda, const S* b,
          Eigen::Index ldb, S* c, Eigen::Index ldc, bool accumulate);

// Whether the fast path was compiled in, and a switch to force the Eigen reference (per
// process; for tests and benchmarks).
bool fast_products_available();
void use_reference_products(bool reference);
bool using_reference_products();
// Products this thread has run through the fast kernels (tests check the path is taken).
std::uint64_t fast_product_calls();

namespace detail {
template <typename A, typename B, typename C>
constexpr void check_operands() {
  static_assert(!std::decay_t<A>::IsRowMajor && !std::decay_t<B>::IsRowMajor && !std::decay_t<C>::IsRowMajor,
                "nn::gemm takes column-major operands");
  static_assert(std::is_same_v<typename std::decay_t<A>::Scalar, typename std::decay_t<C>::Scalar> &&
                std::is_same_v<typename std::decay_t<B>::Scalar, typename std::decay_t<C>::Scalar>);
}
}  // namespace detail

// Eigen-facing helpers. `c` is resized when it is a Matrix; a Map must already have the size.
template <typename A, typename B, typename C>
void multiply(const A& a, const B& b, C&& c, bool accumulate = false) {  // C (+)= A·B
  detail::check_operands<A, B, C>();
  eigen_assert(a.cols() == b.rows());
  if constexpr (requires { c.resize(a.rows(), b.cols()); }) {
    if (!accumulate) c.resize(a.rows(), b.cols());
  }
  eigen_assert(c.rows() == a.rows() && c.cols() == b.cols());
  gemm<typename std::decay_t<C>::Scalar>(Op::none, Op::none, a.rows(), b.cols(), a.cols(), a.data(), a.outerStride(),
                                         b.data(), b.outerStride(), c.data(), c.outerStride(), accumulate);
}

template <typename A, typename B, typename C>
void multiply_transposed_b(const A& a, const B& b, C&& c, bool accumulate = false) {  // C (+)= A·Bᵀ
  detail::check_operands<A, B, C>();
  eigen_assert(a.cols() == b.cols());
  if constexpr (requires { c.resize(a.rows(), b.rows()); }) {
    if (!accumulate) c.resize(a.rows(), b.rows());
  }
  eigen_assert(c.rows() == a.rows() && c.cols() == b.rows());
  gemm<typename std::decay_t<C>::Scalar>(Op::none, Op::transpose, a.rows(), b.rows(), a.cols(), a.data(),
                                         a.outerStride(), b.data(), b.outerStride(), c.data(), c.outerStride(),
                                         accumulate);
}

template <typename A, typename B, typename C>
void multiply_transposed_a(const A& a, const B& b, C&& c, bool accumulate = false) {  // C (+)= Aᵀ·B
  detail::check_operands<A, B, C>();
  eigen_assert(a.rows() == b.rows());
  if constexpr (requires { c.resize(a.cols(), b.cols()); }) {
    if (!accumulate) c.resize(a.cols(), b.cols());
  }
  eigen_assert(c.rows() == a.cols() && c.cols() == b.cols());
  gemm<typename std::decay_t<C>::Scalar>(Op::transpose, Op::none, a.cols(), b.cols(), a.rows(), a.data(),
                                         a.outerStride(), b.data(), b.outerStride(), c.data(), c.outerStride(),
                                         accumulate);
}

}  // namespace metaids::nn
