#include "nn/mlp.h"

#include <gtest/gtest.h>

#include <random>

#include "common/gradient_check.h"
#include "core/error.h"

namespace metaids::nn {
namespace {

using test::numerical_gradient;
using test::numerical_hessian_vector_product;
using test::relative_error;
using test::VectorD;

Batch<double> random_batch(const MlpSpec& spec, int n, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  Batch<double> batch;
  batch.x = Matrix<double>::NullaryExpr(spec.inputs(), n, [&] { return normal(rng); });
  const int classes = spec.outputs() == 1 ? 2 : spec.outputs();
  for (int i = 0; i < n; ++i) batch.y.push_back(i % classes);
  return batch;
}

struct Case {
  std::vector<int> sizes;
  Activation activation;
  Loss loss;
};

class MlpGradientTest : public ::testing::TestWithParam<Case> {};

TEST_P(MlpGradientTest, GradientMatchesFiniteDifferences) {
  const Case& c = GetParam();
  const MlpSpec spec{c.sizes, c.activation, c.loss};
  const Mlp<double> mlp(spec);
  std::mt19937_64 rng(7);
  const VectorD theta = mlp.initial_parameters(rng) + 0.05 * VectorD::Random(mlp.parameter_count());
  const Batch<double> batch = random_batch(spec, 9, rng);
  Workspace<double> ws;
  VectorD grad;
  const double value = mlp.loss_and_gradient(theta, batch, grad, ws);
  EXPECT_NEAR(value, mlp.loss(theta, batch, ws), 1e-14);
  const VectorD numeric = numerical_gradient([&](const VectorD& t) { return mlp.loss(t, batch, ws); }, theta);
  EXPECT_LE(relative_error(grad, numeric), 1e-6);
}

TEST_P(MlpGradientTest, HessianVectorProductMatchesFiniteDifferences) {
  const Case& c = GetParam();
  const MlpSpec spec{c.sizes, c.activation, c.loss};
  const Mlp<double> mlp(spec);
  std::mt19937_64 rng(11);
  const VectorD theta = mlp.initial_parameters(rng) + 0.05 * VectorD::Random(mlp.parameter_count());
  const Batch<double> batch = random_batch(spec, 7, rng);
  const VectorD v = VectorD::Random(mlp.parameter_count());
  Workspace<double> ws;
  VectorD hv, grad, grad_plain;
  mlp.hessian_vector_product(theta, batch, v, hv, &grad, ws);
  mlp.loss_and_gradient(theta, batch, grad_plain, ws);
  EXPECT_LE(relative_error(grad, grad_plain), 1e-14);
  auto gradient_at = [&](const VectorD& t) {
    VectorD g;
    mlp.loss_and_gradient(t, batch, g, ws);
    return g;
  };
  EXPECT_LE(relative_error(hv, numerical_hessian_vector_product(gradient_at, theta, v)), 1e-6);
}

TEST_P(MlpGradientTest, HeadOnlyDirectionSkipsBodyButStaysExact) {
  const Case& c = GetParam();
  const MlpSpec spec{c.sizes, c.activation, c.loss};
  const Mlp<double> mlp(spec);
  std::mt19937_64 rng(13);
  const VectorD theta = mlp.initial_parameters(rng);
  const Batch<double> batch = random_batch(spec, 6, rng);
  VectorD v = VectorD::Zero(mlp.parameter_count());
  const auto head = spec.weight_offset(spec.layers() - 1);
  v.tail(mlp.parameter_count() - head).setRandom();
  Workspace<double> ws;
  VectorD hv;
  mlp.hessian_vector_product(theta, batch, v, hv, nullptr, ws);
  auto gradient_at = [&](const VectorD& t) {
    VectorD g;
    mlp.loss_and_gradient(t, batch, g, ws);
    return g;
  };
  EXPECT_LE(relative_error(hv, numerical_hessian_vector_product(gradient_at, theta, v)), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, MlpGradientTest,
    ::testing::Values(Case{{5, 4, 3}, Activation::relu, Loss::softmax_cross_entropy},
                      Case{{6, 8, 8, 3}, Activation::relu, Loss::softmax_cross_entropy},
                      Case{{6, 8, 8, 3}, Activation::tanh, Loss::softmax_cross_entropy},
                      Case{{4, 7, 5, 6, 4}, Activation::leaky_relu, Loss::softmax_cross_entropy},
                      Case{{5, 6, 2}, Activation::identity, Loss::softmax_cross_entropy},
                      Case{{7, 8, 1}, Activation::relu, Loss::sigmoid_binary_cross_entropy},
                      Case{{7, 6, 5, 1}, Activation::tanh, Loss::sigmoid_binary_cross_entropy},
                      Case{{4, 3}, Activation::relu, Loss::softmax_cross_entropy}));

TEST(Mlp, FlatLayoutMatchesViews) {
  const MlpSpec spec{{3, 4, 2}, Activation::relu, Loss::softmax_cross_entropy};
  const Mlp<double> mlp(spec);
  EXPECT_EQ(mlp.parameter_count(), 4 * 3 + 4 + 2 * 4 + 2);
  VectorD theta = VectorD::LinSpaced(mlp.parameter_count(), 0, static_cast<double>(mlp.parameter_count() - 1));
  // W_0 is column-major (4 × 3): element (i, j) at i + 4 j.
  EXPECT_EQ(mlp.weight(theta, 0)(1, 2), 1 + 4 * 2);
  EXPECT_EQ(mlp.bias(theta, 0)(0), 12);
  EXPECT_EQ(mlp.weight(theta, 1)(0, 0), 16);
  EXPECT_EQ(mlp.bias(theta, 1)(1), 25);
}

TEST(Mlp, SeedDesignIsExpressible) {
  // in → 64 ReLU → 1 sigmoid with binary cross-entropy.
  const MlpSpec spec{{78, 64, 1}, Activation::relu, Loss::sigmoid_binary_cross_entropy};
  const Mlp<float> mlp(spec);
  std::mt19937_64 rng(1);
  const auto theta = mlp.initial_parameters(rng);
  Batch<float> batch;
  batch.x = Matrix<float>::Random(78, 10);
  batch.y = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
  Workspace<float> ws;
  Vector<float> grad;
  const float value = mlp.loss_and_gradient(theta, batch, grad, ws);
  EXPECT_TRUE(std::isfinite(value));
  EXPECT_EQ(grad.size(), mlp.parameter_count());
}

TEST(Mlp, FloatAgreesWithDouble) {
  const MlpSpec spec{{10, 16, 16, 4}, Activation::relu, Loss::softmax_cross_entropy};
  const Mlp<double> md(spec);
  const Mlp<float> mf(spec);
  std::mt19937_64 rng(3);
  const VectorD theta = md.initial_parameters(rng);
  Batch<double> bd = random_batch(spec, 12, rng);
  Batch<float> bf{bd.x.cast<float>(), bd.y};
  Workspace<double> wd;
  Workspace<float> wf;
  VectorD gd;
  Vector<float> gf;
  const double ld = md.loss_and_gradient(theta, bd, gd, wd);
  const float lf = mf.loss_and_gradient(theta.cast<float>(), bf, gf, wf);
  EXPECT_NEAR(ld, lf, 1e-5);
  EXPECT_LE(relative_error(gd, gf.cast<double>()), 1e-5);
}

TEST(Mlp, BadInputThrowsError) {
  EXPECT_THROW(Mlp<double>(MlpSpec{{4}, Activation::relu, Loss::softmax_cross_entropy}), Error);
  EXPECT_THROW(Mlp<double>(MlpSpec{{4, 0, 2}, Activation::relu, Loss::softmax_cross_entropy}), Error);
  EXPECT_THROW(Mlp<double>(MlpSpec{{4, 2}, Activation::relu, Loss::sigmoid_binary_cross_entropy}), Error);
  const Mlp<double> mlp(MlpSpec{{3, 2}, Activation::relu, Loss::softmax_cross_entropy});
  VectorD theta = VectorD::Zero(mlp.parameter_count());
  Workspace<double> ws;
  Batch<double> wrong_width{Matrix<double>::Zero(4, 2), {0, 1}};
  EXPECT_THROW(mlp.loss(theta, wrong_width, ws), Error);
  Batch<double> bad_label{Matrix<double>::Zero(3, 2), {0, 5}};
  EXPECT_THROW(mlp.loss(theta, bad_label, ws), Error);
  EXPECT_THROW(activation_from_string("swish"), Error);
}

TEST(Mlp, ScoresAndPredictions) {
  Matrix<double> logits(3, 2);
  logits << 1, 0, 2, 0, 0, 5;
  EXPECT_EQ(predict_classes<double>(logits), (std::vector<int>{1, 2}));
  const auto scores = class_scores<double>(logits, 1);
  EXPECT_NEAR(scores[0], std::exp(2) / (std::exp(1) + std::exp(2) + 1), 1e-12);
}

}  // namespace
}  // namespace metaids::nn
