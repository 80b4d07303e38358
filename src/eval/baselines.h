// The FSND-1 baselines (../shared/docs/PROTOCOL.md, "Methods reported side by side"): each one
// turns an episode's support set into logits (ways × queries) for its query set.
//
//   nearest_centroid_episode      −‖x − c_k‖² in the transformed feature space, no training
//   scratch_episode               MLP in → 64 → 64 → ways from a seeded random init, Adam on the support
//   pretrain_supervised           MLP in → 64 → 64 → C trained on every meta-train class (class-balanced
//                                 mini-batches); then per episode
//     finetune_head_episode       a fresh linear head on the frozen 64-wide embedding, Adam on the support
//     embedding_centroid_episode  nearest centroid in that embedding
//   xgboost_episode               trees of libxgboost (exact, one thread) on the support: gradient
//                                 boosting with row and column subsampling (`xgboost`), or its
//                                 random-forest mode (`random_forest`: one round of many trees, each
//                                 on a row sample, each split choosing among √d of the d columns)
//   choose_tree_config            the settings of a tree baseline picked from a small grid by its
//                                 accuracy on episodes of META-TRAIN classes (never a test family)
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "meta/baselines.h"
#include "meta/task.h"

namespace metaids::eval {

using meta::Matrix;
using meta::Task;
using meta::Vector;

Matrix<float> nearest_centroid_episode(const Task<float>& task);

struct ScratchConfig {
  std::vector<int> hidden{64, 64};
  meta::FineTuneConfig fine_tune{100, nn::AdamConfig{1e-2}, {}};
};

// The initial parameters depend on (seed, episode) only, so results do not depend on threads.
Matrix<float> scratch_episode(const Task<float>& task, std::uint64_t seed, int episode, const ScratchConfig& config);

struct PretrainConfig {
  std::vector<int> hidden{64, 64};
  int steps = 2000;         // Adam steps
  int batch = 256;          // rows per step, classes drawn uniformly then a row of the class
  nn::AdamConfig adam{1e-3};
  double weight_decay = 1e-5;
  meta::FineTuneConfig head{100, nn::AdamConfig{1e-2}, {}};
};

struct Pretrained {
  nn::MlpSpec spec;          // in → hidden… → classes
  Vector<float> theta;
  std::vector<int> classes;  // table class id behind each output
  double final_loss = 0;
};

// Supervised pre-training on rows of `classes` in `table` (deterministic in seed).
Pretrained pretrain_supervised(const meta::LabelledView& table, const std::vector<int>& classes, std::uint64_t seed,
                               const PretrainConfig& config);

// The last hidden layer's output (hidden.back() × n).
Matrix<float> pretrained_embedding(const Pretrained& model, const Matrix<float>& x);

Matrix<float> finetune_head_episode(const Pretrained& model, const Task<float>& task, std::uint64_t seed, int episode,
                                    const PretrainConfig& config);
Matrix<float> embedding_centroid_episode(const Pretrained& model, const Task<float>& task);

// The defaults are the old fixed configuration: 50 rounds of one tree that sees every row and
// every column at every split (at K = 1 every tree then splits on the same column, and the
// score takes two values).
struct XgboostConfig {
  int rounds = 50;
  int max_depth = 3;
  double eta = 0.3;
  double min_child_weight = 0;  // few-shot: a leaf may hold a single flow
  double lambda = 1;
  double subsample = 1;         // share of the support rows each tree is grown on (drawn per tree)
  double colsample_bytree = 1;  // share of the columns each tree may use
  double colsample_bynode = 1;  // share of the tree's columns each split may choose from;
                                // 0: √d/d (d the number of columns), a random forest's usual setting
  int parallel_trees = 1;       // trees per round (num_parallel_tree); with rounds = 1 and eta = 1
                                // and subsampling, XGBoost's random-forest mode
  std::uint64_t seed = 0;       // of the row and column sampling (mixed with the episode index)

  // The column share of each split for `columns` columns (colsample_bynode, or √d/d for 0).
  double node_column_share(int columns) const;
  // Throws metaids::Error on values XGBoost would refuse or that make no sense here.
  void validate() const;
  // {"rounds", "max_depth", "eta", "min_child_weight", "lambda", "subsample",
  //  "colsample_bytree", "colsample_bynode" (the number, or "sqrt"), "parallel_trees", "seed"}
  nlohmann::json to_json() const;
  bool operator==(const XgboostConfig&) const = default;
};

// The random forest of XGBoost's documentation: one round of `trees` trees, learning rate 1,
// rows subsampled, √d/d of the columns at each split, deep trees.
XgboostConfig random_forest_config(int trees = 100, double subsample = 0.632, double colsample_bynode = 0,
                                   int max_depth = 8);

// Logits: for 2 ways [0, margin] (margin = log-odds of label 1); for more, log of the softmax
// probabilities. `episode` is mixed into the sampling seed, so that every episode draws its own
// samples whatever thread runs it. Throws metaids::Error with XGBoost's message if the library
// fails.
Matrix<float> xgboost_episode(const Task<float>& task, const XgboostConfig& config, int episode = 0);

// The grids the tree baselines are chosen from (small: every candidate is scored on every
// tuning episode). Random forest: 100 trees of depth 8, rows subsampled 0.632 or not at all
// ... (see baselines.cpp); gradient boosting: 100 rounds, rows subsampled 0.8, columns per
// split √d/d or 0.5, eta 0.1 or 0.3, depth 3 or 6.
std::vector<XgboostConfig> random_forest_grid();
std::vector<XgboostConfig> gradient_boosting_grid();

struct TreeTuning {
  XgboostConfig chosen;
  double accuracy = 0;  // of `chosen`, mean over the tuning episodes
  int episodes = 0;
  std::vector<std::pair<XgboostConfig, double>> candidates;  // every candidate and its accuracy
  nlohmann::json to_json() const;
};

// Scores every candidate on `episodes` (drawn from meta-train classes by the caller) and keeps
// the most accurate one (the first of equals: list simpler candidates first). Episodes run in
// parallel on `threads`; the result does not depend on the thread count. `should_stop` (a
// signal) ends it before the next candidate; what it returns then is no choice.
TreeTuning choose_tree_config(const std::vector<XgboostConfig>& grid, const std::vector<Task<float>>& episodes,
                              int threads, const std::function<bool()>& should_stop = {});

}  // namespace metaids::eval
