// The seed design's objective L + λ₁‖θ‖² + λ₂‖∇L‖: both terms reach meta-training from a
// config's "training" section (λ₂ through meta::MetaLearner::objective_gradient), change what
// is trained, and are recorded in the model and in run.json.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "data/experiment.h"
#include "eval/experiment.h"
#include "eval/learners.h"
#include "eval/model_builder.h"
#include "model/model.h"
#include "synthetic_flows.h"

namespace metaids::eval {
namespace {

// A 3-way task in `features` dimensions, three Gaussian clusters.
template <typename S>
Task<S> random_task(int features, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  Task<S> task;
  task.ways = 3;
  task.classes = {0, 1, 2};
  auto fill = [&](auto& batch, int per_class) {
    batch.x.resize(features, 3 * per_class);
    batch.y.clear();
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < per_class; ++i) {
        for (int j = 0; j < features; ++j)
          batch.x(j, c * per_class + i) = static_cast<S>(noise(rng) + (j % 3 == c ? 1.5 : 0.0));
        batch.y.push_back(c);
      }
  };
  fill(task.support, 2);
  fill(task.query, 4);
  return task;
}

meta::LearnerConfig small_config(meta::Algorithm algorithm) {
  meta::LearnerConfig c;
  c.algorithm = algorithm;
  c.inputs = 5;
  c.ways = 3;
  c.hidden = {7};
  c.embedding = 4;
  c.activation = nn::Activation::tanh;  // smooth, so that central differences of J are exact enough
  c.inner_steps = 2;
  c.inner_learning_rate = 0.1;
  return c;
}

TEST(ObjectiveTerms, GradientPenaltyZeroIsTheMetaGradientBitForBit) {
  for (meta::Algorithm algorithm : meta::all_algorithms()) {
    meta::LearnerConfig config = small_config(algorithm);
    config.weight_decay = 0.01;
    const auto learner = meta::make_learner<float>(config);
    std::mt19937_64 rng(3);
    const Vector<float> phi = learner->initial_meta_parameters(rng);
    const Task<float> task = random_task<float>(5, 9);
    meta::Scratch<float> scratch;
    Vector<float> g, h;
    const float a = learner->meta_gradient(phi, task, g, scratch);
    const float b = learner->objective_gradient(phi, task, h, scratch);
    EXPECT_EQ(a, b) << meta::to_string(algorithm);
    EXPECT_EQ(g, h) << meta::to_string(algorithm);
  }
}

// J(φ) = L(φ) + λ₁‖θ‖² + λ₂‖∇L(φ)‖ and ∇J by objective_gradient, against central differences
// of J along random directions (double precision; learners whose meta-gradient is exact).
TEST(ObjectiveTerms, GradientPenaltyGradientMatchesFiniteDifferences) {
  for (meta::Algorithm algorithm : {meta::Algorithm::maml, meta::Algorithm::anil, meta::Algorithm::metasgd,
                                    meta::Algorithm::protonet}) {
    meta::LearnerConfig config = small_config(algorithm);
    config.weight_decay = 0.003;
    config.gradient_penalty = 0.7;
    const auto learner = meta::make_learner<double>(config);
    std::mt19937_64 rng(5);
    const Vector<double> phi = learner->initial_meta_parameters(rng);
    const Task<double> task = random_task<double>(5, 11);
    meta::Scratch<double> scratch;
    Vector<double> gradient, unused;
    const double j0 = learner->objective_gradient(phi, task, gradient, scratch);
    // J is more than the meta-loss: the penalty is in it.
    Vector<double> g;
    const double loss = learner->meta_gradient(phi, task, g, scratch);
    EXPECT_GT(j0, loss + 1e-6) << meta::to_string(algorithm);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (int trial = 0; trial < 3; ++trial) {
      Vector<double> v(phi.size());
      for (Eigen::Index i = 0; i < v.size(); ++i) v[i] = normal(rng);
      v /= v.norm();
      const double h = 1e-5;
      const Vector<double> plus = phi + h * v, minus = phi - h * v;
      const double numeric = (learner->objective_gradient(plus, task, unused, scratch) -
                              learner->objective_gradient(minus, task, unused, scratch)) /
                             (2 * h);
      const double analytic = gradient.dot(v);
      EXPECT_NEAR(analytic, numeric, 1e-4 * std::max(1.0, std::fabs(numeric)))
          << meta::to_string(algorithm) << " trial " << trial;
    }
    // And the penalty's share is not negligible (the check above would not notice it otherwise).
    EXPECT_GT((gradient - g).norm(), 1e-3 * g.norm()) << meta::to_string(algorithm);
  }
}

TEST(ObjectiveTerms, TrainingSectionCarriesBothTermsAndRejectsBadValues) {
  MetaTrainingOptions o;
  o.apply_json(nlohmann::json::parse(R"({"weight_decay": 1e-4, "gradient_penalty": 0.05})"));
  EXPECT_EQ(o.weight_decay, 1e-4);
  EXPECT_EQ(o.gradient_penalty, 0.05);
  EXPECT_EQ(o.to_json()["gradient_penalty"], 0.05);
  EXPECT_EQ(learner_config(meta::Algorithm::maml, 4, 2, o).gradient_penalty, 0.05);
  EXPECT_EQ(learner_config(meta::Algorithm::maml, 4, 2, o).weight_decay, 1e-4);
  // λ₂ = 0 is left out of the JSON (older models read the same).
  EXPECT_FALSE(MetaTrainingOptions{}.to_json().contains("gradient_penalty"));
  EXPECT_FALSE(meta::LearnerConfig{}.to_json().contains("gradient_penalty"));
  MetaTrainingOptions bad;
  EXPECT_THROW(bad.apply_json(nlohmann::json::parse(R"({"gradient_penalty": -1})")), Error);
  EXPECT_THROW(bad.apply_json(nlohmann::json::parse(R"({"gradient_penalty": "high"})")), Error);
  EXPECT_THROW(bad.apply_json(nlohmann::json::parse(R"({"gradient_penality": 0.1})")), Error);  // misspelt: unknown
  meta::LearnerConfig negative;
  negative.inputs = 3;
  negative.gradient_penalty = -0.5;
  EXPECT_THROW(negative.validate(), Error);
}

TEST(ObjectiveTerms, NonZeroGradientPenaltyChangesTrainingAndIsRecorded) {
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
  const Split split = make_split(data);
  MetaTrainingOptions options;
  options.iterations = 20;
  options.meta_batch = 4;
  options.validate_every = 0;
  const TrainedLearner plain = train_meta_learner(split, meta::Algorithm::maml, TaskKind::detection, 2, 5, 0, options);
  options.gradient_penalty = 0.1;
  const TrainedLearner penalised = train_meta_learner(split, meta::Algorithm::maml, TaskKind::detection, 2, 5, 0, options);
  ASSERT_EQ(plain.phi.size(), penalised.phi.size());
  EXPECT_TRUE(penalised.phi.allFinite());
  EXPECT_GT((plain.phi - penalised.phi).norm(), 1e-4 * plain.phi.norm());
  // Deterministic: the same λ₂ gives the same parameters again.
  const TrainedLearner again = train_meta_learner(split, meta::Algorithm::maml, TaskKind::detection, 2, 5, 0, options);
  EXPECT_EQ(again.phi, penalised.phi);
  // The model records it (architecture = the learner's configuration) and reads it back.
  EXPECT_EQ(penalised.config.gradient_penalty, 0.1);
  ModelBuildOptions build;
  build.support_per_class = 3;
  build.benign_reference = 20;
  build.reference_per_class = 5;
  const model::Model m = build_model(data, split, penalised, TaskKind::detection, build);
  const auto path = dir.path() / "penalised.mids";
  model::save(path, m);
  const model::Model loaded = model::load(path);
  EXPECT_EQ(loaded.config.gradient_penalty, 0.1);
  EXPECT_EQ(loaded.config.to_json()["gradient_penalty"], 0.1);
  // And run.json names both terms.
  ExperimentOptions run;
  run.methods = {"nearest_centroid"};
  run.seeds = {0};
  run.tasks = {TaskKind::detection};
  run.shots = {1};
  run.episodes = 5;
  run.training.weight_decay = 2e-5;
  run.training.gradient_penalty = 0.25;
  const ExperimentReport report = run_experiment(data, run);
  EXPECT_EQ(report.run["training"]["objective"]["weight_decay"], 2e-5);
  EXPECT_EQ(report.run["training"]["objective"]["gradient_penalty"], 0.25);
  EXPECT_EQ(report.run["training"]["options"]["gradient_penalty"], 0.25);
}

}  // namespace
}  // namespace metaids::eval
