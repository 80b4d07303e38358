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

// update_into over 1024-element ranges + commit is step() written aside: the same bits, and
// nothing moves (θ, m, v, the step count) until commit, so a step given up halfway leaves the
// optimizer as it was.
TEST(Adam, WrittenAsideIsTheInPlaceStepAndWaitsForCommit) {
  const Eigen::Index n = 2500;  // several ranges, one of them short
  Adam<float> in_place(AdamConfig{0.01}, n), aside(AdamConfig{0.01}, n);
  Vector<float> a = Vector<float>::Random(n), b = a, out(n);
  for (int step = 1; step <= 4; ++step) {
    const Vector<float> g = Vector<float>::Random(n) * static_cast<float>(step);
    const Vector<float> m = aside.first_moment(), v = aside.second_moment();
    in_place.step(a, g);
    for (Eigen::Index begin = 0; begin < n; begin += 1024)
      aside.update_into(b, out, g, begin, std::min<Eigen::Index>(1024, n - begin));
    if (step == 3) {  // given up: b, m, v and the count stay as they were; redone below
      EXPECT_EQ(aside.steps(), 2);
      EXPECT_FALSE(b == a);
      EXPECT_TRUE(aside.first_moment() == m && aside.second_moment() == v);
      for (Eigen::Index begin = 0; begin < n; begin += 1024)
        aside.update_into(b, out, g, begin, std::min<Eigen::Index>(1024, n - begin));
    }
    b.swap(out);
    aside.commit();
    EXPECT_TRUE(a == b) << "step " << step;
    EXPECT_TRUE(in_place.first_moment() == aside.first_moment());
    EXPECT_TRUE(in_place.second_moment() == aside.second_moment());
    EXPECT_EQ(in_place.steps(), aside.steps());
  }
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
