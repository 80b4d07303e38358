#include "nn/gemm.h"

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <vector>

#ifdef METAIDS_HAVE_LIBXSMM
#include <libxsmm.h>
#endif

namespace metaids::nn {

namespace {

std::atomic<bool> reference_products{false};
thread_local std::uint64_t fast_calls = 0;

template <typename S>
using ConstMap = Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>, 0, Eigen::OuterStride<>>;
template <typename S>
using MutMap = Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>, 0, Eigen::OuterStride<>>;

// The reference: Eigen's product on strided views.
template <typename S>
void eigen_gemm(Op op_a, Op op_b, Eigen::Index m, Eigen::Index n, Eigen::Index k, const S* a, Eigen::Index lda,
                const S* b, Eigen::Index ldb, S* c, Eigen::Index ldc, bool accumulate) {
  const ConstMap<S> A(a, op_a == Op::none ? m : k, op_a == Op::none ? k : m, Eigen::OuterStride<>(lda));
  const ConstMap<S> B(b, op_b == Op::none ? k : n, op_b == Op::none ? n : k, Eigen::OuterStride<>(ldb));
  MutMap<S> C(c, m, n, Eigen::OuterStride<>(ldc));
  if (!accumulate) C.setZero();
  if (op_a == Op::none && op_b == Op::none) C.noalias() += A * B;
  else if (op_a == Op::none) C.noalias() += A * B.transpose();
  else if (op_b == Op::none) C.noalias() += A.transpose() * B;
  else C.noalias() += A.transpose() * B.transpose();
}

#ifdef METAIDS_HAVE_LIBXSMM
struct LibxsmmInit {
  LibxsmmInit() { libxsmm_init(); }
};

// Dispatched kernels, cached per thread: a lookup in libxsmm's registry (shared by all
// threads) costs about 25 ns, against a product of 1–5 µs here, and the engine uses a dozen
// shapes at most, so a short per-thread list serves them without touching shared state.
template <typename Kernel>
struct KernelCache {
  struct Entry {
    libxsmm_blasint m, n, k, lda, ldb, ldc;
    int flags;
    bool accumulate;
    Kernel kernel;
  };
  std::vector<Entry> entries;
};

template <typename S>
bool xsmm_gemm(Op op_b, Eigen::Index m, Eigen::Index n, Eigen::Index k, const S* a, Eigen::Index lda, const S* b,
               Eigen::Index ldb, S* c, Eigen::Index ldc, bool accumulate) {
  static const LibxsmmInit init;
  using Kernel = std::conditional_t<std::is_same_v<S, float>, libxsmm_smmfunction, libxsmm_dmmfunction>;
  const libxsmm_blasint mm = static_cast<libxsmm_blasint>(m), nn = static_cast<libxsmm_blasint>(n),
                        kk = static_cast<libxsmm_blasint>(k), la = static_cast<libxsmm_blasint>(lda),
                        lb = static_cast<libxsmm_blasint>(ldb), lc = static_cast<libxsmm_blasint>(ldc);
  const int flags = op_b == Op::transpose ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
  thread_local KernelCache<Kernel> cache;
  Kernel kernel = nullptr;
  bool found = false;
  for (const auto& e : cache.entries) {
    if (e.m == mm && e.n == nn && e.k == kk && e.lda == la && e.ldb == lb && e.ldc == lc && e.flags == flags &&
        e.accumulate == accumulate) {
      kernel = e.kernel;
      found = true;
      break;
    }
  }
  if (!found) {
    // Explicitly none: a null prefetch means libxsmm's automatic choice, which the environment
    // (LIBXSMM_GEMM_PREFETCH) can turn into a kernel taking prefetch arguments we do not pass.
    const int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    const S alpha = 1, beta = accumulate ? 1 : 0;
    if constexpr (std::is_same_v<S, float>) {
      kernel = libxsmm_smmdispatch(mm, nn, kk, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
    } else {
      kernel = libxsmm_dmmdispatch(mm, nn, kk, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
    }
    if (cache.entries.size() >= 64) cache.entries.erase(cache.entries.begin());  // many shapes: forget the oldest
    cache.entries.push_back({mm, nn, kk, la, lb, lc, flags, accumulate, kernel});
  }
  if (kernel == nullptr) return false;
  kernel(a, b, c);
  ++fast_calls;
  return true;
}
#endif

}  // namespace

bool fast_products_available() {
#ifdef METAIDS_HAVE_LIBXSMM
  return true;
#else
  return false;
#endif
}

void use_reference_products(bool reference) { reference_products.store(reference, std::memory_order_relaxed); }
bool using_reference_products() { return reference_products.load(std::memory_order_relaxed); }
std::uint64_t fast_product_calls() { return fast_calls; }

template <typename S>
void gemm(Op op_a, Op op_b, Eigen::Index m, Eigen::Index n, Eigen::Index k, const S* a, Eigen::Index lda, const S* b,
          Eigen::Index ldb, S* c, Eigen::Index ldc, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) MutMap<S>(c, m, n, Eigen::OuterStride<>(ldc)).setZero();
    return;
  }
#ifdef METAIDS_HAVE_LIBXSMM
  if (!reference_products.load(std::memory_order_relaxed) && op_a == Op::none) {
    if (xsmm_gemm<S>(op_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate)) return;
  } else if (!reference_products.load(std::memory_order_relaxed)) {
    // Aᵀ into a per-thread buffer, then the untransposed kernel. A here is a weight matrix
    // (k × m ≤ a few thousand entries), so the copy is cheap next to the product.
    thread_local std::vector<S> buffer;
    buffer.resize(static_cast<size_t>(m * k));
    MutMap<S>(buffer.data(), m, k, Eigen::OuterStride<>(m)) = ConstMap<S>(a, k, m, Eigen::OuterStride<>(lda)).transpose();
    if (xsmm_gemm<S>(op_b, m, n, k, buffer.data(), m, b, ldb, c, ldc, accumulate)) return;
  }
#endif
  eigen_gemm<S>(op_a, op_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

template void gemm<float>(Op, Op, Eigen::Index, Eigen::Index, Eigen::Index, const float*, Eigen::Index, const float*,
                          Eigen::Index, float*, Eigen::Index, bool);
template void gemm<double>(Op, Op, Eigen::Index, Eigen::Index, Eigen::Index, const double*, Eigen::Index,
                           const double*, Eigen::Index, double*, Eigen::Index, bool);

}  // namespace metaids::nn
