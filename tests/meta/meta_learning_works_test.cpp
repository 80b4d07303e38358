// Meta-learning works: on held-out classes of a seeded synthetic task family, every
// meta-learner adapted from K = 5 samples beats the same network trained from scratch on the
// same support set, by a margin asserted here (0.15 accuracy; measured margins are 0.3 to 0.45).
#include <gtest/gtest.h>

#include "meta/baselines.h"
#include "meta/synthetic.h"
#include "meta/trainer.h"

namespace metaids::meta {
namespace {

constexpr int kWays = 5, kShots = 5, kQueries = 10, kTestEpisodes = 60;

struct Fixture {
  SyntheticTable table;
  std::vector<Task<float>> test_tasks;
  Fixture() {
    SyntheticFamilyConfig config;
    config.features = 24;
    config.signal_dims = 3;
    config.classes = 160;
    config.rows_per_class = 30;
    config.seed = 17;
    table = make_synthetic_family(config);
    EpisodeSampler test_sampler(table.view(), class_range(120, 160), 99);
    for (int e = 0; e < kTestEpisodes; ++e) test_tasks.push_back(test_sampler.sample(kWays, kShots, kQueries));
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

double scratch_accuracy() {
  const Fixture& f = fixture();
  LearnerConfig lc;
  lc.inputs = 24;
  lc.ways = kWays;
  lc.hidden = {32, 32};
  const nn::Mlp<float> mlp(lc.network_spec());
  std::mt19937_64 rng(1);
  double sum = 0;
  nn::Workspace<float> ws;
  for (const auto& task : f.test_tasks) {
    FineTuneConfig ft;
    ft.steps = 100;
    const Vector<float> theta = fine_tune(mlp, mlp.initial_parameters(rng), task.support, ft);
    sum += mlp.accuracy(theta, task.query, ws);
  }
  return sum / kTestEpisodes;
}

double meta_accuracy(Algorithm algorithm) {
  const Fixture& f = fixture();
  LearnerConfig lc;
  lc.algorithm = algorithm;
  lc.inputs = 24;
  lc.ways = kWays;
  lc.hidden = {32, 32};
  lc.embedding = 16;
  lc.inner_steps = algorithm == Algorithm::reptile ? 5 : 3;
  lc.inner_learning_rate = algorithm == Algorithm::reptile ? 0.05 : 0.3;
  lc.adapt_steps = 10;
  const auto learner = make_learner<float>(lc);
  EpisodeSampler train_sampler(f.table.view(), class_range(0, 120), 3);
  TrainerConfig tc;
  tc.iterations = 300;
  tc.meta_batch = 8;
  tc.shots = kShots;
  tc.queries = kQueries;
  tc.outer.learning_rate = 3e-3;
  tc.threads = 2;
  MetaTrainer trainer(*learner, tc, train_sampler);
  trainer.run();
  Scratch<float> scratch;
  double sum = 0;
  for (const auto& task : f.test_tasks) sum += adapted_accuracy(*learner, trainer.meta_parameters(), task, scratch);
  return sum / kTestEpisodes;
}

class MetaLearningWorks : public ::testing::TestWithParam<Algorithm> {};

TEST_P(MetaLearningWorks, BeatsTrainingFromScratchOnHeldOutClasses) {
  static const double scratch = scratch_accuracy();
  const double meta = meta_accuracy(GetParam());
  RecordProperty("scratch_accuracy", std::to_string(scratch));
  RecordProperty("meta_accuracy", std::to_string(meta));
  std::printf("%s: %.3f vs scratch %.3f\n", to_string(GetParam()).c_str(), meta, scratch);
  EXPECT_GT(meta, scratch + 0.15) << to_string(GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllLearners, MetaLearningWorks, ::testing::ValuesIn(all_algorithms()),
                         [](const auto& param_info) { return to_string(param_info.param); });

}  // namespace
}  // namespace metaids::meta
