// The FSND-1 baselines (../shared/docs/PROTOCOL.md, "Methods reported side by side"): each one
// turns an episode's support set into logits (ways × queries) for its query set.
//
//   nearest_centroid_episode      −‖x − c_k‖² in the transformed feature space, no training
//   scratch_episode               MLP in → 64 → 64 → ways from a seeded random init, Adam on the support
//   pretrain_supervised           MLP in → 64 → 64 → C trained on every meta-train class (class-balanced
//                                 mini-batches); then per episode
//     finetune_head_episode       a fresh linear head on the frozen 64-wide embedding, Adam on the support
//     embedding_centroid_episode  nearest centroid in that embedding
//   xgboost_episode               gradient-boosted trees (libxgboost, exact, one thread) on the support
#pragma once

#include <cstdint>
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

struct XgboostConfig {
  int rounds = 50;
  int max_depth = 3;
  double eta = 0.3;
  double min_child_weight = 0;  // few-shot: a leaf may hold a single flow
  double lambda = 1;
};

// Logits: for 2 ways [0, margin] (margin = log-odds of label 1); for more, log of the softmax
// probabilities. Throws metaids::Error with XGBoost's message if the library fails.
Matrix<float> xgboost_episode(const Task<float>& task, const XgboostConfig& config);

}  // namespace metaids::eval
