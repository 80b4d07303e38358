#include "nn/gemm.h"

#include <gtest/gtest.h>

#include <random>

#include "nn/mlp.h"

namespace metaids::nn {
namespace {

template <typename S>
using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

// Naive triple loop in double: the reference for both product paths.
template <typename S>
M<double> naive(Op op_a, Op op_b, const M<S>& a, const M<S>& b) {
  const M<double> A = op_a == Op::none ? a.template cast<double>() : M<double>(a.template cast<double>().transpose());
  const M<double> B = op_b == Op::none ? b.template cast<double>() : M<double>(b.template cast<double>().transpose());
  M<double> c = M<double>::Zero(A.rows(), B.cols());
  for (Eigen::Index i = 0; i < A.rows(); ++i)
    for (Eigen::Index j = 0; j < B.cols(); ++j)
      for (Eigen::Index p = 0; p < A.cols(); ++p) c(i, j) += A(i, p) * B(p, j);
  return c;
}

struct Shape {
  int m, n, k;
};

class ReferenceSwitch : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { use_reference_products(GetParam()); }
  void TearDown() override { use_reference_products(false); }
};

template <typename S>
void check_all_ops(S tolerance) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  const Shape shapes[] = {{64, 100, 78}, {64, 78, 100}, {5, 100, 64}, {64, 25, 5}, {1, 1, 1}, {3, 7, 2},
                          {17, 33, 9},   {64, 4096, 78}, {2, 1, 64},  {1, 64, 1}};
  for (const Shape& s : shapes) {
    for (Op op_a : {Op::none, Op::transpose}) {
      for (Op op_b : {Op::none, Op::transpose}) {
        // Stored matrices sit inside larger ones, so leading dimensions differ from row counts.
        const Eigen::Index ar = op_a == Op::none ? s.m : s.k, ac = op_a == Op::none ? s.k : s.m;
        const Eigen::Index br = op_b == Op::none ? s.k : s.n, bc = op_b == Op::none ? s.n : s.k;
        M<S> big_a = M<S>::NullaryExpr(ar + 3, ac, [&] { return static_cast<S>(u(rng)); });
        M<S> big_b = M<S>::NullaryExpr(br + 2, bc, [&] { return static_cast<S>(u(rng)); });
        M<S> big_c = M<S>::NullaryExpr(s.m + 1, s.n, [&] { return static_cast<S>(u(rng)); });
        const M<S> a = big_a.topRows(ar), b = big_b.topRows(br), c0 = big_c.topRows(s.m);
        const M<double> expected = naive<S>(op_a, op_b, a, b);
        for (bool accumulate : {false, true}) {
          M<S> c = big_c;
          gemm<S>(op_a, op_b, s.m, s.n, s.k, big_a.data(), big_a.outerStride(), big_b.data(), big_b.outerStride(), c.data(),
                  c.outerStride(), accumulate);
          const M<double> want = accumulate ? M<double>(expected + c0.template cast<double>()) : expected;
          const double err = (c.topRows(s.m).template cast<double>() - want).cwiseAbs().maxCoeff();
          EXPECT_LE(err, tolerance * (1 + s.k)) << s.m << "x" << s.n << "x" << s.k << " op_a=" << (op_a == Op::transpose)
                                                << " op_b=" << (op_b == Op::transpose) << " acc=" << accumulate;
          // The row below C's block is untouched.
          EXPECT_EQ(c.row(s.m), big_c.row(s.m));
        }
      }
    }
  }
}

TEST_P(ReferenceSwitch, FloatProductsMatchNaiveLoops) {
  const std::uint64_t fast_before = fast_product_calls();
  check_all_ops<float>(2e-6f);
  // The fast path is really taken when it is built in (and never when the reference is asked).
  if (fast_products_available() && !GetParam()) {
    EXPECT_GT(fast_product_calls(), fast_before);
  }
  if (GetParam()) {
    EXPECT_EQ(fast_product_calls(), fast_before);
  }
}
TEST_P(ReferenceSwitch, DoubleProductsMatchNaiveLoops) { check_all_ops<double>(1e-13); }

TEST_P(ReferenceSwitch, EmptyInnerDimensionGivesZeroOrLeavesC) {
  M<float> c = M<float>::Constant(4, 3, 7.0f);
  const float dummy = 0;
  gemm<float>(Op::none, Op::none, 4, 3, 0, &dummy, 4, &dummy, 1, c.data(), 4, true);
  EXPECT_EQ(c, M<float>::Constant(4, 3, 7.0f));
  gemm<float>(Op::none, Op::none, 4, 3, 0, &dummy, 4, &dummy, 1, c.data(), 4, false);
  EXPECT_EQ(c, M<float>::Zero(4, 3));
}

INSTANTIATE_TEST_SUITE_P(Paths, ReferenceSwitch, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? std::string("eigen") : std::string("fast"); });

// The float network on the standard workload gives the same loss, gradient and Hessian-vector
// product with the fast products as with Eigen's, to float rounding.
TEST(FastProducts, NetworkAgreesWithReferenceProducts) {
  const Mlp<float> mlp(MlpSpec{{78, 64, 64, 5}, Activation::relu, Loss::softmax_cross_entropy});
  std::mt19937_64 rng(11);
  const Vector<float> theta = mlp.initial_parameters(rng);
  const Vector<float> v = Vector<float>::Random(mlp.parameter_count());
  Batch<float> batch;
  batch.x = Matrix<float>::Random(78, 100);
  for (int i = 0; i < 100; ++i) batch.y.push_back(i % 5);
  Workspace<float> ws;
  Vector<float> g_fast, g_ref, hv_fast, hv_ref;
  use_reference_products(false);
  const float l_fast = mlp.loss_and_gradient(theta, batch, g_fast, ws);
  mlp.hessian_vector_product(theta, batch, v, hv_fast, nullptr, ws);
  use_reference_products(true);
  const float l_ref = mlp.loss_and_gradient(theta, batch, g_ref, ws);
  mlp.hessian_vector_product(theta, batch, v, hv_ref, nullptr, ws);
  use_reference_products(false);
  EXPECT_NEAR(l_fast, l_ref, 1e-5f * std::abs(l_ref));
  EXPECT_LE((g_fast - g_ref).norm(), 1e-5f * g_ref.norm());
  EXPECT_LE((hv_fast - hv_ref).norm(), 1e-5f * hv_ref.norm());
}

}  // namespace
}  // namespace metaids::nn
