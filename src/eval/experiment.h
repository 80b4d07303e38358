// The FSND-1 experiment: every method of ../shared/docs/PROTOCOL.md on the same test episodes,
// summarised per setting and over meta-training seeds.
//
//   ExperimentData data = data::prepare_experiment(config, data_dir);
//   ExperimentReport report = run_experiment(data, options);
//   report.results   // {method: {task: {K: {metric: {mean, ci95, n, seed_std, seeds}}}}}
//   report.markdown  // the tables
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/experiment.h"
#include "eval/baselines.h"
#include "eval/episodes.h"
#include "eval/learners.h"
#include "eval/metrics.h"

namespace metaids::eval {

// Method names, in report order: nearest_centroid, scratch, finetune, pretrained_centroid,
// random_forest, xgboost, maml, fomaml, reptile, anil, metasgd, protonet.
const std::vector<std::string>& all_methods();
bool is_meta_learner(const std::string& method);

struct EpisodeMetrics {
  double accuracy = 0;
  double f1 = 0;       // 2-way episodes only (attack = label 1 positive); NaN otherwise
  double roc_auc = 0;  // of the attack score logit₁ − logit₀; NaN for more than 2 ways
  int family = -1;     // 2-way episodes: the class id of the attack (label 1); -1 otherwise
};

// Metrics of one episode from the logits (ways × queries) of its query set.
EpisodeMetrics score_episode(const Matrix<float>& logits, const Task<float>& task);

// Logits of an episode's query set; `thread` indexes per-thread scratch memory.
using EpisodeSolver = std::function<Matrix<float>(const Task<float>& task, int episode, int thread)>;

// Runs `solver` on every episode (parallel over episodes; results in episode order). The
// stream is drawn a block at a time (episode_block_size): memory holds one block of episodes
// and one EpisodeMetrics (24 bytes) per episode.
std::vector<EpisodeMetrics> run_episodes(const EpisodeStream& stream, const EpisodeSolver& solver, int threads);
std::vector<EpisodeMetrics> run_episodes(const EpisodeSet& set, const EpisodeSolver& solver, int threads);

// {"accuracy": s} and, for detection and rare, "f1" and "roc_auc".
std::map<std::string, Summary> summarize_episodes(const std::vector<EpisodeMetrics>& metrics, TaskKind task);

// The 2-way episodes by attack family: family class id → {"accuracy", "roc_auc"} over the
// episodes that drew that family (empty for classification).
std::map<int, std::map<std::string, Summary>> summarize_by_family(const std::vector<EpisodeMetrics>& metrics);

struct ExperimentOptions {
  std::vector<std::uint64_t> seeds;        // empty: the config's seeds
  int episodes = 0;                        // 0: the config's
  std::vector<std::string> methods;        // empty: all_methods()
  std::vector<TaskKind> tasks{TaskKind::detection, TaskKind::classification, TaskKind::rare};
  std::vector<int> shots;                  // empty: the config's K values
  int threads = 1;
  MetaTrainingOptions training;
  ScratchConfig scratch;
  PretrainConfig pretrain;
  // The tree baselines. With tune_trees (the default) their settings are chosen per task and
  // K from the grids (empty: gradient_boosting_grid(), random_forest_grid()) by the accuracy on
  // `tuning_episodes` episodes drawn from META-TRAIN rows (benign and every meta-train family,
  // the validation family included; never a test family); the choice is in run["baselines"].
  // Without tuning, `xgboost` and `random_forest` are used as they are.
  XgboostConfig xgboost;
  XgboostConfig random_forest = random_forest_config();
  bool tune_trees = true;
  int tuning_episodes = 100;                   // per candidate and setting, in [1, 100000]
  std::vector<XgboostConfig> xgboost_grid;
  std::vector<XgboostConfig> random_forest_grid;
  std::function<void(const std::string&)> log;  // progress lines
  // Asked between methods and inside meta-training: true stops the run; the methods finished
  // are reported, the one interrupted is left out, and run["interrupted"] is true.
  std::function<bool()> should_stop;
};

// Throws metaids::Error (one line) unless: seeds distinct and at most data::kMaxSeeds;
// episodes in [0, kMaxEpisodes] (0: the config's); methods known and distinct; tasks
// non-empty and distinct; K values in [1, 1000] and distinct; threads in [1, 256].
// run_experiment and evaluate_learner call it first; commands call it before loading data.
void validate_options(const ExperimentOptions& options);

struct ExperimentReport {
  // method → task → K → metric → summary; for the 2-way tasks also
  // method → task → K → "by_family" → family → {"accuracy", "roc_auc"} → summary.
  nlohmann::json results = nlohmann::json::object();
  nlohmann::json run = nlohmann::json::object();      // settings, seeds, timings, skipped families
  std::string markdown;
};

ExperimentReport run_experiment(const data::ExperimentData& data, const ExperimentOptions& options);

// FSND-1 for one already meta-trained learner (a saved model, `metaids eval`): the settings of
// options.tasks with its adaptation, results stored under `name`.
ExperimentReport evaluate_learner(const data::ExperimentData& data, const TrainedLearner& learner, const std::string& name,
                                  const ExperimentOptions& options);

// The results tables as Markdown (methods in all_methods() order, then any others), then the
// per-family tables of the 2-way tasks (accuracy / ROC-AUC for each attack family).
std::string results_markdown(const nlohmann::json& results, const std::string& title);

// The episodes a tree baseline's settings are chosen on: `count` episodes of `task` at K =
// `shots` drawn from the meta-train rows of the split (benign as label 0, the meta-train
// families and the validation family as attacks; families with fewer than K + queries rows
// are left out), from a seed of their own (not the test seed). Deterministic.
std::vector<Task<float>> tuning_episodes(const Split& split, TaskKind task, int ways, int shots, int queries, int count);

}  // namespace metaids::eval
