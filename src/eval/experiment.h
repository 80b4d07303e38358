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
// xgboost, maml, fomaml, reptile, anil, metasgd, protonet.
const std::vector<std::string>& all_methods();
bool is_meta_learner(const std::string& method);

struct EpisodeMetrics {
  double accuracy = 0;
  double f1 = 0;       // 2-way episodes only (attack = label 1 positive); NaN otherwise
  double roc_auc = 0;  // of the attack score logit₁ − logit₀; NaN for more than 2 ways
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
  XgboostConfig xgboost;
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
  nlohmann::json results = nlohmann::json::object();  // method → task → K → metric → summary
  nlohmann::json run = nlohmann::json::object();      // settings, seeds, timings, skipped families
  std::string markdown;
};

ExperimentReport run_experiment(const data::ExperimentData& data, const ExperimentOptions& options);

// FSND-1 for one already meta-trained learner (a saved model, `metaids eval`): the settings of
// options.tasks with its adaptation, results stored under `name`.
ExperimentReport evaluate_learner(const data::ExperimentData& data, const TrainedLearner& learner, const std::string& name,
                                  const ExperimentOptions& options);

// The results tables as Markdown (methods in all_methods() order, then any others).
std::string results_markdown(const nlohmann::json& results, const std::string& title);

}  // namespace metaids::eval
