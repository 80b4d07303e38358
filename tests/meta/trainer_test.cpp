#include "meta/trainer.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>

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
  for (int meta_batch : {1, 2, 3, 5, 7, 9}) {
    const Vector<float> one = train(Algorithm::fomaml, 1, 4, {}, {}, meta_batch);
    for (int threads : {2, 3, 4}) {
      const Vector<float> many = train(Algorithm::fomaml, threads, 4, {}, {}, meta_batch);
      EXPECT_TRUE(one == many) << "meta-batch " << meta_batch << ", " << threads << " threads";
    }
  }
}

// Steps of one task run on one thread, larger ones on several (even where the configured
// meta-batch is one task): mixing them, and loading a checkpoint between them, still gives the
// one-thread parameters.
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
    config.meta_batch = 1;  // run() would draw one task a step; step() takes any number
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

// A learner that forwards to a real one and calls a hook after each task's meta-gradient
// (with the task's index in the meta-batch and the thread), to force interleavings, delays,
// exceptions and non-finite values where a test wants them.
class Hooked : public MetaLearner<float> {
 public:
  using Hook = std::function<void(int task, int thread, Vector<float>& gradient)>;
  Hooked(const LearnerConfig& config, const std::vector<Task<float>>& tasks, Hook hook)
      : MetaLearner<float>(config), inner_(make_learner<float>(config)), tasks_(tasks), hook_(std::move(hook)) {}
  std::int64_t meta_parameter_count() const override { return inner_->meta_parameter_count(); }
  Vector<float> initial_meta_parameters(std::mt19937_64& rng) const override {
    return inner_->initial_meta_parameters(rng);
  }
  float meta_gradient(const Vector<float>& phi, const Task<float>& task, Vector<float>& gradient,
                      Scratch<float>& scratch) const override {
    const float loss = inner_->meta_gradient(phi, task, gradient, scratch);
    hook_(static_cast<int>(&task - tasks_.data()), core::ThreadTeam::member(), gradient);
    return loss;
  }
  float meta_loss(const Vector<float>& phi, const Task<float>& task, Scratch<float>& scratch) const override {
    return inner_->meta_loss(phi, task, scratch);
  }
  Adapted<float> adapt(const Vector<float>& phi, const Batch<float>& support, int ways, Scratch<float>& scratch,
                       int steps) const override {
    return inner_->adapt(phi, support, ways, scratch, steps);
  }

 private:
  std::unique_ptr<MetaLearner<float>> inner_;
  const std::vector<Task<float>>& tasks_;
  Hook hook_;
};

// Three meta-steps on fixed tasks; the parameters after them.
Vector<float> three_steps(const MetaLearner<float>& learner, EpisodeSampler& sampler,
                          const std::vector<Task<float>>& tasks, int threads) {
  TrainerConfig config;
  config.threads = threads;
  config.meta_batch = static_cast<int>(tasks.size());
  MetaTrainer trainer(learner, config, sampler);
  for (int i = 0; i < 3; ++i) trainer.step(tasks);
  return trainer.current_parameters();
}

// One thread held back until the others have run every other task: thread 1 then sums tasks
// of the front half that thread 0 owns, or thread 0 tasks of the back half; with 3 and 4
// threads the extra ones take tasks of both owners. The bits stay those of one thread.
TEST(MetaTrainer, ForcedInterleavingsGiveTheSameBits) {
  const SyntheticTable table = small_family();
  EpisodeSampler sampler(table.view(), class_range(0, 20), 8);
  for (int n : {2, 3, 4, 5, 7, 9}) {
    std::vector<Task<float>> tasks;
    for (int i = 0; i < n; ++i) tasks.push_back(sampler.sample(3, 2, 3));
    const auto plain = make_learner<float>(small_learner(Algorithm::fomaml));
    const Vector<float> one = three_steps(*plain, sampler, tasks, 1);
    for (int held : {0, 1}) {
      for (int threads : {2, 3, 4}) {
        std::atomic<int> others_done{0};
        std::mutex mutex;
        std::vector<int> ran_by(static_cast<size_t>(n), -1);
        Hooked hooked(small_learner(Algorithm::fomaml), tasks, [&](int task, int thread, Vector<float>&) {
          {
            std::lock_guard<std::mutex> lock(mutex);
            ran_by[static_cast<size_t>(task)] = thread;
          }
          if (thread != held) {
            ++others_done;
            return;
          }
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (others_done.load() < n - 1 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
        });
        TrainerConfig config;
        config.threads = threads;
        config.meta_batch = n;
        MetaTrainer trainer(hooked, config, sampler);
        bool crossed = false;
        for (int i = 0; i < 3; ++i) {
          others_done = 0;  // the held thread waits again in each step
          trainer.step(tasks);
          const int front_end = (n + 1) / 2;
          for (int t = 0; t < n; ++t) {
            const int by = ran_by[static_cast<size_t>(t)];
            if ((t < front_end && by == 1) || (t >= front_end && by == 0) || by >= 2) crossed = true;
          }
        }
        EXPECT_TRUE(trainer.current_parameters() == one) << n << " tasks, " << threads << " threads, thread " << held
                                                        << " held back";
        if (n >= 4 || (held == 0 && n >= 3)) {
          EXPECT_TRUE(crossed) << n << " tasks, " << threads << " threads";
        }
      }
    }
  }
}

// A NaN in the last entry of one task's gradient (the last parameter chunk, which another
// thread checks) fails the step and changes nothing, wherever the task is and however late.
TEST(MetaTrainer, ANonFiniteEntryInOneChunkFailsTheStep) {
  const SyntheticTable table = small_family();
  EpisodeSampler sampler(table.view(), class_range(0, 20), 9);
  std::vector<Task<float>> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back(sampler.sample(3, 2, 3));
  ASSERT_GT(make_learner<float>(small_learner(Algorithm::fomaml))->meta_parameter_count(), 1024);
  for (int threads : {1, 2, 3}) {
    for (int poisoned : {0, 2, 3, 5}) {
      bool armed = false;
      Hooked hooked(small_learner(Algorithm::fomaml), tasks, [&](int task, int, Vector<float>& gradient) {
        if (!armed || task != poisoned) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        gradient[gradient.size() - 1] = std::numeric_limits<float>::quiet_NaN();
      });
      TrainerConfig config;
      config.threads = threads;
      config.meta_batch = 6;
      MetaTrainer trainer(hooked, config, sampler);
      trainer.step(tasks);
      const Vector<float> before = trainer.current_parameters();
      armed = true;
      EXPECT_THROW(trainer.step(tasks), Error) << threads << " threads, task " << poisoned;
      EXPECT_TRUE(trainer.current_parameters() == before) << threads << " threads, task " << poisoned;
      EXPECT_EQ(trainer.iteration(), 1);
      armed = false;
      MetaTrainer reference(hooked, config, sampler);
      reference.step(tasks);
      reference.step(tasks);
      trainer.step(tasks);
      EXPECT_TRUE(trainer.current_parameters() == reference.current_parameters()) << threads << " threads";
    }
  }
}

// A task that throws while the owners of the sums wait for it: the error comes out, nothing hangs.
TEST(MetaTrainer, AnExceptionWhileOthersWaitComesOut) {
  const SyntheticTable table = small_family();
  EpisodeSampler sampler(table.view(), class_range(0, 20), 10);
  std::vector<Task<float>> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back(sampler.sample(3, 2, 3));
  for (int threads : {2, 3}) {
    for (int bad : {0, 2, 3, 5}) {
      Hooked hooked(small_learner(Algorithm::fomaml), tasks, [&](int task, int, Vector<float>&) {
        if (task != bad) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        fail("task {} refused", task);
      });
      TrainerConfig config;
      config.threads = threads;
      config.meta_batch = 6;
      MetaTrainer trainer(hooked, config, sampler);
      const Vector<float> before = trainer.current_parameters();
      EXPECT_THROW(trainer.step(tasks), Error) << threads << " threads, task " << bad;
      EXPECT_TRUE(trainer.current_parameters() == before);
      EXPECT_EQ(trainer.iteration(), 0);
    }
  }
}

// Trainers with threads of their own, run as the work items of a parallel loop: each trains,
// with the bits of one thread.
TEST(MetaTrainer, TrainsInsideAParallelLoop) {
  const Vector<float> one = train(Algorithm::fomaml, 1, 4);
  std::vector<Vector<float>> nested(3);
  parallel_for(3, 2, [&](int i, int) { nested[static_cast<size_t>(i)] = train(Algorithm::fomaml, 2, 4); });
  for (const auto& parameters : nested) EXPECT_TRUE(one == parameters);
}

TEST(ParallelFor, RunsEveryIndexOnceAndANestedLoopInOrder) {
  for (int threads : {1, 2, 3}) {
    for (int n : {0, 1, 2, 7, 100}) {
      // With one thread (or one item) the loop runs in order on this thread, not on a team, so
      // a loop inside it may use threads of its own; inside a team's work it runs in order.
      const bool on_a_team = std::min(threads, n) > 1;
      std::vector<std::atomic<int>> calls(static_cast<size_t>(n));
      parallel_for(n, threads, [&](int i, int thread) {
        EXPECT_GE(thread, 0);
        EXPECT_LT(thread, std::max(1, threads));
        ++calls[static_cast<size_t>(i)];
        std::mutex mutex;
        std::vector<int> order, inner_threads;
        parallel_for(4, 2, [&](int j, int inner_thread) {
          std::lock_guard<std::mutex> lock(mutex);
          order.push_back(j);
          inner_threads.push_back(inner_thread);
        });
        if (on_a_team) {
          EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
          EXPECT_EQ(inner_threads, (std::vector<int>{0, 0, 0, 0}));
        } else {
          std::sort(order.begin(), order.end());
          EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
        }
      });
      for (int i = 0; i < n; ++i)
        EXPECT_EQ(calls[static_cast<size_t>(i)].load(), 1) << threads << " threads, n " << n << ", index " << i;
    }
  }
}

// Items take 1 ms but one, which fails at once: the loop stops taking items long before the
// thousand are done (with trivial items a fast thread could finish them all while the failing
// one still unwinds, as under the sanitizers).
TEST(ParallelFor, AnErrorComesOutAndStopsTheLoop) {
  for (int threads : {1, 2, 3}) {
    std::atomic<int> ran{0};
    EXPECT_THROW(parallel_for(1000, threads,
                              [&](int i, int) {
                                ++ran;
                                if (i == 3) fail("item {} failed", i);
                                std::this_thread::sleep_for(std::chrono::milliseconds(1));
                              }),
                 Error);
    EXPECT_LT(ran.load(), 100) << threads << " threads: the loop went on after the error";
  }
}

TEST(MetaTrainer, DescribesProgressInOneLine) {
  TrainingProgress p;
  p.iteration = 300;
  p.iterations = 1000;
  p.meta_loss = 0.43214;
  p.tasks_per_second = 21000.4;
  EXPECT_EQ(describe(p), "iteration 300/1000 meta-loss 0.4321 (21000 tasks/s)");
  p.validation_accuracy = 0.87654;
  EXPECT_EQ(describe(p), "iteration 300/1000 meta-loss 0.4321 validation accuracy 0.8765 (21000 tasks/s)");
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
