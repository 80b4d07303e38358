// Meta-training a learner for an FSND-1 task and scoring episodes with it.
//
//   Split split = make_split(experiment_data);
//   TrainedLearner t = train_meta_learner(split, Algorithm::protonet, TaskKind::detection, 5, seed, options);
//   Matrix<float> logits = adapted_logits(*t.learner, t.phi, episode, scratch);
//
// Detection learners meta-train 2-way episodes whose label 0 is always benign; classification
// learners `ways`-way episodes, benign plus ways − 1 meta-train families. The validation family
// of the config (a held-out META-TRAIN family, never a test family) is left out of the
// training episodes and drives early stopping: validation episodes are {benign, validation
// family} for detection, and {benign, validation family, the first ways − 2 training
// families} for classification, so every validation episode contains the held-out family.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "data/experiment.h"
#include "eval/episodes.h"
#include "meta/learner.h"
#include "meta/trainer.h"

namespace metaids::eval {

using meta::Matrix;
using meta::Task;
using meta::Vector;

// The FSND-1 class split as views and class ids over the transformed tables of ExperimentData
// (which must outlive the split).
struct Split {
  meta::LabelledView train;        // meta_train_x
  meta::LabelledView test;         // meta_test_x
  int benign = -1;
  std::vector<int> train_families; // meta-train families minus the validation family
  int validation_family = -1;      // -1: none
  std::vector<int> test_families;
  std::vector<int> rare_families;
  std::vector<std::string> class_names;  // by class id

  EpisodeSource test_source() const;
  std::string name(int class_id) const;
};

Split make_split(const data::ExperimentData& data);

// Hyperparameters of meta-training, shared by every algorithm unless noted. Read from the
// config's free-form "training" section (unknown keys rejected) and command-line overrides.
struct MetaTrainingOptions {
  int iterations = 1000;
  int meta_batch = 16;
  int train_shots = 0;          // K of the training episodes; 0: the K of the evaluation setting
  int queries = 15;
  double outer_learning_rate = 1e-3;
  int inner_steps = 5;
  double inner_learning_rate = 0.1;       // MAML, FOMAML, ANIL, Meta-SGD (initial α)
  double reptile_learning_rate = 0.05;    // Reptile's inner SGD step
  int adapt_steps = 10;                   // inner steps at test time
  double weight_decay = 0;                // λ₁: λ₁‖θ‖² added to the meta-objective
  double gradient_penalty = 0;            // λ₂: λ₂‖∇L‖ added to it (meta::MetaLearner::objective_gradient)
  int validate_every = 100;               // 0: no early stopping
  int validation_episodes = 100;
  int threads = 1;
  int log_every = 100;
  std::filesystem::path checkpoint_path;  // empty: none
  int checkpoint_every = 0;
  bool resume = false;                    // load checkpoint_path first if it exists
  // Asked before every meta-step: true stops training there, and the checkpoint (if a path is
  // set) is written so that --resume continues (SIGINT/SIGTERM).
  std::function<bool()> should_stop;

  void apply_json(const nlohmann::json& training);  // throws on unknown keys / bad values
  // Every key of apply_json; "gradient_penalty" only when it is not 0 (absent means 0, and
  // the models written before it keep their bytes).
  nlohmann::json to_json() const;
};

meta::LearnerConfig learner_config(meta::Algorithm algorithm, int inputs, int ways, const MetaTrainingOptions& options);

struct TrainedLearner {
  meta::LearnerConfig config;
  std::unique_ptr<meta::MetaLearner<float>> learner;
  Vector<float> phi;                 // best-validating meta-parameters
  double validation_accuracy = -1;   // of phi on the validation episodes (-1: no validation)
  int iterations = 0;
  int shots = 0;
  double seconds = 0;
  bool interrupted = false;          // should_stop ended training early
};

using ProgressFn = std::function<void(const meta::TrainingProgress&)>;

TrainedLearner train_meta_learner(const Split& split, meta::Algorithm algorithm, TaskKind task, int ways, int shots,
                                  std::uint64_t seed, const MetaTrainingOptions& options, const ProgressFn& progress = {});

// Rebuilds a learner from its config and meta-parameters (a loaded model).
TrainedLearner restore_learner(const meta::LearnerConfig& config, Vector<float> phi);

// Logits (ways × queries) of the task's query set after adapting to its support set.
Matrix<float> adapted_logits(const meta::MetaLearner<float>& learner, const Vector<float>& phi, const Task<float>& task,
                             meta::Scratch<float>& scratch);

}  // namespace metaids::eval
