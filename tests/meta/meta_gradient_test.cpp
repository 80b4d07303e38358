// Every meta-gradient against central finite differences of the WHOLE inner loop plus the
// query loss, in double precision.
#include <gtest/gtest.h>

#include "common/gradient_check.h"
#include "core/error.h"
#include "meta/learner.h"
#include "meta/maml.h"

namespace metaids::meta {
namespace {

using test::numerical_gradient;
using test::relative_error;
using test::VectorD;

Task<double> random_task(int inputs, int ways, int shots, int queries, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  Task<double> task;
  task.ways = ways;
  auto fill = [&](Batch<double>& batch, int per_class) {
    batch.x.resize(inputs, ways * per_class);
    for (int c = 0; c < ways; ++c)
      for (int i = 0; i < per_class; ++i) {
        for (int f = 0; f < inputs; ++f) batch.x(f, c * per_class + i) = normal(rng) + (f % ways == c ? 1.0 : 0.0);
        batch.y.push_back(c);
      }
  };
  fill(task.support, shots);
  fill(task.query, queries);
  return task;
}

LearnerConfig small_config(Algorithm algorithm, int steps, nn::Activation activation = nn::Activation::tanh) {
  LearnerConfig config;
  config.algorithm = algorithm;
  config.inputs = 6;
  config.ways = 3;
  config.hidden = {8, 8};
  config.embedding = 4;
  config.activation = activation;
  config.inner_steps = steps;
  config.inner_learning_rate = 0.3;
  config.weight_decay = 1e-3;
  return config;
}

struct MetaCase {
  Algorithm algorithm;
  int steps;
  nn::Activation activation;
};

class MetaGradientTest : public ::testing::TestWithParam<MetaCase> {};

TEST_P(MetaGradientTest, MatchesFiniteDifferencesOfTheWholeInnerLoop) {
  const auto [algorithm, steps, activation] = GetParam();
  const auto learner = make_learner<double>(small_config(algorithm, steps, activation));
  std::mt19937_64 rng(42);
  VectorD phi = learner->initial_meta_parameters(rng);
  if (algorithm == Algorithm::metasgd) phi.tail(phi.size() / 2) += 0.05 * VectorD::Random(phi.size() / 2);
  const Task<double> task = random_task(6, 3, 4, 5, rng);
  Scratch<double> scratch;
  VectorD gradient;
  const double value = learner->meta_gradient(phi, task, gradient, scratch);
  EXPECT_NEAR(value, learner->meta_loss(phi, task, scratch), 1e-12);
  ASSERT_TRUE(learner->exact_gradient());
  const VectorD numeric =
      numerical_gradient([&](const VectorD& p) { return learner->meta_loss(p, task, scratch); }, phi, 1e-6);
  EXPECT_LE(relative_error(gradient, numeric), 1e-6) << to_string(algorithm) << " S=" << steps;
  if (algorithm == Algorithm::metasgd) {  // the learning-rate part on its own
    const auto n = phi.size() / 2;
    EXPECT_LE(relative_error(gradient.tail(n), numeric.tail(n)), 1e-6);
    EXPECT_GT(gradient.tail(n).norm(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Learners, MetaGradientTest,
    ::testing::Values(MetaCase{Algorithm::maml, 1, nn::Activation::tanh}, MetaCase{Algorithm::maml, 5, nn::Activation::tanh},
                      MetaCase{Algorithm::maml, 1, nn::Activation::relu}, MetaCase{Algorithm::maml, 5, nn::Activation::relu},
                      MetaCase{Algorithm::anil, 1, nn::Activation::tanh}, MetaCase{Algorithm::anil, 5, nn::Activation::relu},
                      MetaCase{Algorithm::metasgd, 1, nn::Activation::tanh},
                      MetaCase{Algorithm::metasgd, 5, nn::Activation::relu},
                      MetaCase{Algorithm::protonet, 1, nn::Activation::tanh},
                      MetaCase{Algorithm::protonet, 1, nn::Activation::relu}),
    [](const auto& param_info) {
      return to_string(param_info.param.algorithm) + "_" + std::to_string(param_info.param.steps) + "_" +
             nn::to_string(param_info.param.activation);
    });

TEST(FirstOrderMaml, IsMamlWithTheHessianTermRemoved) {
  for (int steps : {1, 5}) {
    LearnerConfig config = small_config(Algorithm::fomaml, steps);
    config.weight_decay = 0;
    const auto fomaml = make_learner<double>(config);
    config.algorithm = Algorithm::maml;
    const auto maml = make_learner<double>(config);
    std::mt19937_64 rng(3);
    const VectorD phi = fomaml->initial_meta_parameters(rng);
    const Task<double> task = random_task(6, 3, 4, 5, rng);
    Scratch<double> scratch;
    VectorD g_first, g_second;
    fomaml->meta_gradient(phi, task, g_first, scratch);
    maml->meta_gradient(phi, task, g_second, scratch);
    // Independently: run the inner loop by hand and take the query gradient at θ_S.
    const auto& net = fomaml->network();
    nn::Workspace<double> ws;
    VectorD theta = phi, g;
    for (int s = 0; s < steps; ++s) {
      net.loss_and_gradient(theta, task.support, g, ws);
      theta -= config.inner_learning_rate * g;
    }
    VectorD query_gradient;
    net.loss_and_gradient(theta, task.query, query_gradient, ws);
    EXPECT_LE(relative_error(g_first, query_gradient), 1e-14);
    // …and the Hessian term matters: the two differ.
    EXPECT_GT(relative_error(g_first, g_second), 1e-3);
  }
}

TEST(Reptile, DirectionIsInitialMinusAdapted) {
  LearnerConfig config = small_config(Algorithm::reptile, 3);
  config.weight_decay = 0;
  const auto reptile = make_learner<double>(config);
  std::mt19937_64 rng(5);
  const VectorD phi = reptile->initial_meta_parameters(rng);
  const Task<double> task = random_task(6, 3, 4, 5, rng);
  Scratch<double> scratch;
  VectorD direction;
  reptile->meta_gradient(phi, task, direction, scratch);
  const auto& net = reptile->network();
  Batch<double> whole;
  concatenate_into(task.support, task.query, whole);
  nn::Workspace<double> ws;
  VectorD theta = phi, g;
  for (int s = 0; s < 3; ++s) {
    net.loss_and_gradient(theta, whole, g, ws);
    theta -= config.inner_learning_rate * g;
  }
  EXPECT_LE(relative_error(direction, phi - theta), 1e-14);
  EXPECT_FALSE(reptile->exact_gradient());
}

TEST(MetaLearner, RejectsMismatchedTasks) {
  const auto maml = make_learner<double>(small_config(Algorithm::maml, 1));
  std::mt19937_64 rng(1);
  const VectorD phi = maml->initial_meta_parameters(rng);
  Scratch<double> scratch;
  VectorD g;
  const Task<double> two_way = random_task(6, 2, 3, 3, rng);
  EXPECT_THROW(maml->meta_gradient(phi, two_way, g, scratch), Error);
  const Task<double> wrong_width = random_task(5, 3, 3, 3, rng);
  EXPECT_THROW(maml->meta_gradient(phi, wrong_width, g, scratch), Error);
  LearnerConfig bad = small_config(Algorithm::maml, 1);
  bad.inner_learning_rate = -1;
  EXPECT_THROW(make_learner<double>(bad), Error);
  bad = small_config(Algorithm::maml, 0);
  EXPECT_THROW(make_learner<double>(bad), Error);
  EXPECT_THROW(algorithm_from_string("mamba"), Error);
}

}  // namespace
}  // namespace metaids::meta

namespace metaids::meta {
namespace {

TEST(Anil, FastPathEqualsTheMaskedWholeNetworkInnerLoop) {
  // The ANIL learner computes body features once; the generic learner runs the masked inner
  // loop through the whole network. Meta-gradients and adapted heads must agree.
  const LearnerConfig config = small_config(Algorithm::anil, 4, nn::Activation::relu);
  const auto fast = make_learner<double>(config);
  const GradientMetaLearner<double> generic(config);
  std::mt19937_64 rng(21);
  const VectorD phi = fast->initial_meta_parameters(rng);
  const Task<double> task = random_task(6, 3, 4, 5, rng);
  Scratch<double> scratch;
  VectorD g_fast, g_generic;
  const double l_fast = fast->meta_gradient(phi, task, g_fast, scratch);
  const double l_generic = generic.meta_gradient(phi, task, g_generic, scratch);
  EXPECT_NEAR(l_fast, l_generic, 1e-12);
  EXPECT_LE(relative_error(g_fast, g_generic), 1e-12);
  const auto a_fast = fast->adapt(phi, task.support, 3, scratch, 7);
  const auto a_generic = generic.adapt(phi, task.support, 3, scratch, 7);
  EXPECT_LE(relative_error(a_fast.theta, a_generic.theta), 1e-12);
}

}  // namespace
}  // namespace metaids::meta
