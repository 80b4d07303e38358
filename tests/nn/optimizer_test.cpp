#include "nn/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace metaids::nn {
namespace {

TEST(Adam, FirstStepMovesEachCoordinateByTheLearningRate) {
  // With bias correction the first step is lr · g / (|g| + eps') = lr · sign(g).
  Adam<double> adam(AdamConfig{0.1, 0.9, 0.999, 1e-12}, 3);
  Eigen::VectorXd theta(3), grad(3);
  theta << 1, 2, 3;
  grad << 0.5, -2, 1e-3;
  adam.step(theta, grad);
  EXPECT_NEAR(theta(0), 0.9, 1e-9);
  EXPECT_NEAR(theta(1), 2.1, 1e-9);
  EXPECT_NEAR(theta(2), 2.9, 1e-6);
}

TEST(Adam, MinimisesAQuadratic) {
  Adam<double> adam(AdamConfig{0.05}, 2);
  Eigen::VectorXd theta(2);
  theta << 3, -4;
  for (int i = 0; i < 2000; ++i) {
    const Eigen::VectorXd grad = 2 * theta;
    adam.step(theta, grad);
  }
  EXPECT_LT(theta.norm(), 1e-2);
}

TEST(Adam, RejectsBadLearningRate) { EXPECT_THROW(Adam<float>(AdamConfig{-1}, 2), Error); }

TEST(Sgd, StepAndMomentum) {
  Sgd<double> sgd(0.5);
  Eigen::VectorXd theta = Eigen::VectorXd::Ones(2);
  sgd.step(theta, Eigen::VectorXd::Ones(2));
  EXPECT_DOUBLE_EQ(theta(0), 0.5);
  Sgd<double> momentum(1.0, 0.5);
  Eigen::VectorXd t2 = Eigen::VectorXd::Zero(1);
  momentum.step(t2, Eigen::VectorXd::Ones(1));
  momentum.step(t2, Eigen::VectorXd::Ones(1));
  EXPECT_DOUBLE_EQ(t2(0), -2.5);
}

}  // namespace
}  // namespace metaids::nn
