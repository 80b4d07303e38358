// Meta-training: meta-batches of episodes, their meta-gradients computed across threads and
// summed in one fixed shape (so a seed gives bit-identical parameters whatever the thread
// count), an Adam step on φ, periodic validation on held-out episodes, checkpoints.
#pragma once

#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "core/thread_team.h"
#include "meta/learner.h"
#include "nn/optimizer.h"

namespace metaids::meta {

struct TrainerConfig {
  int iterations = 1000;
  int meta_batch = 16;
  int shots = 5;
  int queries = 15;
  int anchor_class = -1;  // >= 0: every episode has this class (e.g. benign) as label 0
  nn::AdamConfig outer{1e-3};
  int threads = 1;
  std::uint64_t seed = 0;
  int validate_every = 0;        // 0: no validation
  int validation_episodes = 100;
  bool keep_best = true;         // meta_parameters() returns the best-validating φ
  int log_every = 50;
  std::filesystem::path checkpoint_path;  // empty: no checkpoints
  int checkpoint_every = 0;
  // Asked before every meta-step; true stops run() there (a signal: the caller checkpoints).
  std::function<bool()> should_stop;

  void validate() const;
};

struct TrainingProgress {
  int iteration = 0;
  int iterations = 0;
  double meta_loss = 0;  // mean over the meta-batches since the last report
  double validation_accuracy = std::numeric_limits<double>::quiet_NaN();
  double tasks_per_second = 0;
};

// "iteration 300/1000 meta-loss 0.4321 validation accuracy 0.8765 (21000 tasks/s)" (the
// accuracy only when validated): the progress line of train, experiment and demo.
std::string describe(const TrainingProgress& progress);

class MetaTrainer {
 public:
  // `train` draws the meta-training episodes; `validation` (optional) the held-out ones.
  MetaTrainer(const MetaLearner<float>& learner, TrainerConfig config, EpisodeSampler& train,
              EpisodeSampler* validation = nullptr);

  // Trains from the current iteration up to config.iterations, reporting every log_every.
  void run(const std::function<void(const TrainingProgress&)>& on_progress = {});

  // One meta-step on the given tasks; returns the mean meta-loss.
  double step(const std::vector<Task<float>>& tasks);

  // Mean query accuracy after adaptation on the fixed validation episodes.
  double validation_accuracy();

  const Vector<float>& meta_parameters() const;  // best-validating if keep_best, else current
  const Vector<float>& current_parameters() const { return phi_; }
  int iteration() const { return iteration_; }
  bool stopped() const { return stopped_; }  // run() returned early because should_stop said so
  double best_validation_accuracy() const { return best_accuracy_; }

  void save_checkpoint(const std::filesystem::path& path) const;
  void load_checkpoint(const std::filesystem::path& path);

 private:
  Task<float> draw_task();

  const MetaLearner<float>& learner_;
  TrainerConfig config_;
  EpisodeSampler& train_;
  std::vector<Task<float>> validation_tasks_;
  Vector<float> phi_, phi_next_, best_phi_;  // phi_next_: Adam's step, written aside
  double best_accuracy_ = -1;
  nn::Adam<float> adam_;
  int iteration_ = 0;
  bool stopped_ = false;
  std::vector<Scratch<float>> scratch_;
  std::vector<Vector<float>> task_gradients_;
  std::vector<Vector<float>> spare_gradients_;  // per thread: a task gradient added to a sum at once
  Vector<float> gradient_;
  std::unique_ptr<core::ThreadTeam> team_;  // threads > 1: the meta-step's team (made once)
};

// Runs `fn(i, thread)` for i in [0, n) on `threads` threads (a core::ThreadTeam made for the
// call; in order on the calling thread when it is itself running a team's work, as a nested
// loop would only oversubscribe the cores). Work items must write only their own slot;
// reductions happen afterwards in index order.
void parallel_for(int n, int threads, const std::function<void(int index, int thread)>& fn);

}  // namespace metaids::meta
