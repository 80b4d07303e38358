#include "nn/objective.h"

#include <gtest/gtest.h>

#include "common/gradient_check.h"

namespace metaids::nn {
namespace {

TEST(RegularizedObjective, GradientMatchesFiniteDifferences) {
  for (const Activation act : {Activation::relu, Activation::tanh}) {
    for (const Loss loss : {Loss::softmax_cross_entropy, Loss::sigmoid_binary_cross_entropy}) {
      const int out = loss == Loss::softmax_cross_entropy ? 3 : 1;
      const Mlp<double> mlp(MlpSpec{{5, 7, 6, out}, act, loss});
      std::mt19937_64 rng(5);
      const Eigen::VectorXd theta = mlp.initial_parameters(rng);
      // Seeded data (not Eigen's std::rand-based Random, whose state depends on which tests ran
      // before in the process). With ReLU, ∇L jumps where a pre-activation crosses zero, so the
      // gradient-norm penalty is only piecewise smooth: this seed keeps every pre-activation
      // well away from zero within the finite-difference steps.
      std::normal_distribution<double> normal(0.0, 1.0);
      Batch<double> batch{Eigen::MatrixXd::NullaryExpr(5, 8, [&] { return normal(rng); }), {0, 1, 0, 1, 0, 1, 0, 1}};
      if (out == 3) batch.y = {0, 1, 2, 0, 1, 2, 0, 1};
      const Regularization reg{0.01, 0.3};
      Workspace<double> ws;
      Eigen::VectorXd grad;
      regularized_loss_and_gradient(mlp, theta, batch, reg, grad, ws);
      const auto numeric = test::numerical_gradient(
          [&](const Eigen::VectorXd& t) {
            Eigen::VectorXd g;
            return regularized_loss_and_gradient(mlp, t, batch, reg, g, ws);
          },
          theta);
      EXPECT_LE(test::relative_error(grad, numeric), 1e-6) << to_string(act) << " " << to_string(loss);
    }
  }
}

TEST(RegularizedObjective, ZeroRegularizationIsThePlainLoss) {
  const Mlp<double> mlp(MlpSpec{{4, 5, 2}, Activation::relu, Loss::softmax_cross_entropy});
  std::mt19937_64 rng(2);
  const Eigen::VectorXd theta = mlp.initial_parameters(rng);
  Batch<double> batch{Eigen::MatrixXd::Random(4, 6), {0, 1, 0, 1, 0, 1}};
  Workspace<double> ws;
  Eigen::VectorXd g1, g2;
  EXPECT_EQ(regularized_loss_and_gradient(mlp, theta, batch, {}, g1, ws), mlp.loss_and_gradient(theta, batch, g2, ws));
  EXPECT_EQ(g1, g2);
}

}  // namespace
}  // namespace metaids::nn
