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
#include <utility>

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
// C (+)= op(A)·op(B) on Eigen column-major operands; `c` is resized when it is a Matrix.
template <Op op_a, Op op_b, typename A, typename B, typename C>
void multiply(const A& a, const B& b, C&& c, bool accumulate) {
  static_assert(!std::decay_t<A>::IsRowMajor && !std::decay_t<B>::IsRowMajor && !std::decay_t<C>::IsRowMajor,
                "nn::gemm takes column-major operands");
  using S = typename std::decay_t<C>::Scalar;
  static_assert(std::is_same_v<typename std::decay_t<A>::Scalar, S> && std::is_same_v<typename std::decay_t<B>::Scalar, S>);
  const Eigen::Index m = op_a == Op::none ? a.rows() : a.cols(), k = op_a == Op::none ? a.cols() : a.rows();
  const Eigen::Index n = op_b == Op::none ? b.cols() : b.rows();
  eigen_assert(k == (op_b == Op::none ? b.rows() : b.cols()));
  if constexpr (requires { c.resize(m, n); }) {
    if (!accumulate) c.resize(m, n);
  }
  eigen_assert(c.rows() == m && c.cols() == n);
  gemm<S>(op_a, op_b, m, n, k, a.data(), a.outerStride(), b.data(), b.outerStride(), c.data(), c.outerStride(),
          accumulate);
}
}  // namespace detail

// Eigen-facing helpers. `c` is resized when it is a Matrix; a Map must already have the size.
template <typename A, typename B, typename C>
void multiply(const A& a, const B& b, C&& c, bool accumulate = false) {  // C (+)= A·B
  detail::multiply<Op::none, Op::none>(a, b, std::forward<C>(c), accumulate);
}
template <typename A, typename B, typename C>
void multiply_transposed_b(const A& a, const B& b, C&& c, bool accumulate = false) {  // C (+)= A·Bᵀ
  detail::multiply<Op::none, Op::transpose>(a, b, std::forward<C>(c), accumulate);
}
template <typename A, typename B, typename C>
void multiply_transposed_a(const A& a, const B& b, C&& c, bool accumulate = false) {  // C (+)= Aᵀ·B
  detail::multiply<Op::transpose, Op::none>(a, b, std::forward<C>(c), accumulate);
}

}  // namespace metaids::nn
