#include "meta/trainer.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "meta/synthetic.h"

namespace metaids::meta {
namespace {

SyntheticTable small_family() {
  SyntheticFamilyConfig config;
  config.features = 12;
  config.signal_dims = 3;
  config.classes = 20;
  config.rows_per_class = 12;
  return make_synthetic_family(config);
}

LearnerConfig small_learner(Algorithm algorithm) {
  LearnerConfig config;
  config.algorithm = algorithm;
  config.inputs = 12;
  config.ways = 3;
  config.hidden = {32, 32};  // > 1024 parameters: the reduction is split across threads
  config.embedding = 8;
  config.inner_steps = 2;
  return config;
}

Vector<float> train(Algorithm algorithm, int threads, int iterations, const std::filesystem::path& checkpoint = {},
                    const std::filesystem::path& resume = {}, int meta_batch = 6) {
  const SyntheticTable table = small_family();
  const auto learner = make_learner<float>(small_learner(algorithm));
  EpisodeSampler sampler(table.view(), class_range(0, 20), 11);
  TrainerConfig config;
  config.iterations = iterations;
  config.meta_batch = meta_batch;
  config.shots = 2;
  config.queries = 3;
  config.threads = threads;
  config.seed = 5;
  config.checkpoint_path = checkpoint;
  config.checkpoint_every = checkpoint.empty() ? 0 : 1;
  MetaTrainer trainer(*learner, config, sampler);
  if (!resume.empty()) trainer.load_checkpoint(resume);
  trainer.run();
  return trainer.current_parameters();
}

TEST(MetaTrainer, SameSeedGivesIdenticalParametersWithOneAndTwoThreads) {
  for (Algorithm algorithm : all_algorithms()) {
    const Vector<float> one = train(algorithm, 1, 8);
    const Vector<float> two = train(algorithm, 2, 8);
    EXPECT_TRUE(one == two) << to_string(algorithm) << ": max difference " << (one - two).cwiseAbs().maxCoeff();
    const Vector<float> again = train(algorithm, 2, 8);
    EXPECT_TRUE(two == again) << to_string(algorithm);
    const Vector<float> three = train(algorithm, 3, 8);  // uneven shares of tasks and parameter chunks
    EXPECT_TRUE(one == three) << to_string(algorithm);
  }
}

// The fixed shape of the sum (front half left to right, back half right to left) holds for
// odd and tiny meta-batches and for more threads than the two that own the halves.
TEST(MetaTrainer, IdenticalParametersForOddMetaBatchesAndMoreThreads) {
  for (int meta_batch : {1, 2, 5}) {
    const Vector<float> one = train(Algorithm::fomaml, 1, 4, {}, {}, meta_batch);
    for (int threads : {2, 3, 4}) {
      const Vector<float> many = train(Algorithm::fomaml, threads, 4, {}, {}, meta_batch);
      EXPECT_TRUE(one == many) << "meta-batch " << meta_batch << ", " << threads << " threads";
    }
  }
}

// Steps of one task run on one thread, larger ones on several: mixing them, and loading a
// checkpoint between them, still gives the one-thread parameters.
TEST(MetaTrainer, MixedStepSizesAndCheckpointsKeepThreadsInStep) {
  const auto dir = std::filesystem::temp_directory_path() / ("metaids_mixed_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const SyntheticTable table = small_family();
  const auto learner = make_learner<float>(small_learner(Algorithm::metasgd));
  EpisodeSampler sampler(table.view(), class_range(0, 20), 4);
  std::vector<Task<float>> one_task, four_tasks;
  one_task.push_back(sampler.sample(3, 2, 3));
  for (int i = 0; i < 4; ++i) four_tasks.push_back(sampler.sample(3, 2, 3));
  auto run = [&](int threads) {
    TrainerConfig config;
    config.threads = threads;
    MetaTrainer trainer(*learner, config, sampler);
    trainer.step(four_tasks);
    trainer.step(one_task);
    trainer.step(four_tasks);
    trainer.save_checkpoint(dir / ("t" + std::to_string(threads) + ".json"));
    trainer.step(four_tasks);  // moves φ on; the checkpoint below takes it back
    trainer.load_checkpoint(dir / ("t" + std::to_string(threads) + ".json"));
    trainer.step(four_tasks);
    trainer.step(four_tasks);
    return trainer.current_parameters();
  };
  const Vector<float> one = run(1);
  EXPECT_TRUE(one == run(2));
  EXPECT_TRUE(one == run(3));
  std::filesystem::remove_all(dir);
}

TEST(MetaTrainer, ResumingFromACheckpointIsBitIdentical) {
  const auto dir = std::filesystem::temp_directory_path() / ("metaids_ckpt_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const Vector<float> straight = train(Algorithm::metasgd, 1, 10);
  // Train 4 iterations (a checkpoint every iteration), then resume to 10.
  train(Algorithm::metasgd, 1, 4, dir / "a.json");
  const Vector<float> resumed = train(Algorithm::metasgd, 2, 10, {}, dir / "a.json");
  EXPECT_TRUE(straight == resumed);
  // A checkpoint of another algorithm, or a corrupt one, is refused.
  EXPECT_THROW(train(Algorithm::maml, 1, 10, {}, dir / "a.json"), Error);
  std::ofstream(dir / "bad.json") << "{\"format\": \"metaids-checkpoint\"";
  EXPECT_THROW(train(Algorithm::metasgd, 1, 10, {}, dir / "bad.json"), Error);
  std::filesystem::remove_all(dir);
}

// A meta-step that fails (a task whose meta-gradient is not finite) changes nothing: the
// parameters, the iteration and Adam's state are those before it, with 1, 2 and 3 threads.
TEST(MetaTrainer, AFailedStepLeavesTheParametersUnchanged) {
  for (int threads : {1, 2, 3}) {
    const SyntheticTable table = small_family();
    const auto learner = make_learner<float>(small_learner(Algorithm::fomaml));
    EpisodeSampler sampler(table.view(), class_range(0, 20), 3);
    TrainerConfig config;
    config.meta_batch = 4;
    config.threads = threads;
    MetaTrainer trainer(*learner, config, sampler);
    std::vector<Task<float>> tasks;
    for (int i = 0; i < 4; ++i) tasks.push_back(sampler.sample(3, 2, 3));
    trainer.step(tasks);
    const Vector<float> before = trainer.current_parameters();
    std::vector<Task<float>> poisoned = tasks;
    poisoned[2].query.x(0, 0) = std::numeric_limits<float>::infinity();
    EXPECT_THROW(trainer.step(poisoned), Error) << threads << " threads";
    EXPECT_TRUE(trainer.current_parameters() == before);
    EXPECT_EQ(trainer.iteration(), 1);
    // A task that throws, first, in either half or last: the error comes out, nothing waits.
    for (int bad : {0, 1, 2, 3}) {
      std::vector<Task<float>> broken = tasks;
      broken[static_cast<size_t>(bad)].query.x.conservativeResize(11, Eigen::NoChange);
      EXPECT_THROW(trainer.step(broken), Error) << threads << " threads, task " << bad;
      EXPECT_TRUE(trainer.current_parameters() == before);
      EXPECT_EQ(trainer.iteration(), 1);
    }
    // The next good step is the one an untouched trainer takes.
    MetaTrainer reference(*learner, config, sampler);
    reference.step(tasks);
    reference.step(tasks);
    trainer.step(tasks);
    EXPECT_TRUE(trainer.current_parameters() == reference.current_parameters()) << threads << " threads";
  }
}

TEST(MetaTrainer, ReportsProgressAndKeepsTheBestValidation) {
  const SyntheticTable table = small_family();
  const auto learner = make_learner<float>(small_learner(Algorithm::protonet));
  EpisodeSampler train_sampler(table.view(), class_range(0, 14), 1);
  EpisodeSampler validation_sampler(table.view(), class_range(14, 20), 2);
  TrainerConfig config;
  config.iterations = 20;
  config.meta_batch = 4;
  config.shots = 2;
  config.queries = 3;
  config.log_every = 5;
  config.validate_every = 10;
  config.validation_episodes = 10;
  MetaTrainer trainer(*learner, config, train_sampler, &validation_sampler);
  std::vector<TrainingProgress> reports;
  trainer.run([&](const TrainingProgress& p) { reports.push_back(p); });
  ASSERT_EQ(reports.size(), 4u);
  EXPECT_EQ(reports.back().iteration, 20);
  EXPECT_GT(reports.back().tasks_per_second, 0);
  EXPECT_TRUE(std::isfinite(reports.back().validation_accuracy));
  EXPECT_GE(trainer.best_validation_accuracy(), reports.back().validation_accuracy);
}

}  // namespace
}  // namespace metaids::meta
