#include "eval/baselines.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <limits>
#include <memory>
#include <random>
#include <string>

#include "core/error.h"
#include "meta/trainer.h"
#include "nn/objective.h"
#include "nn/optimizer.h"

namespace metaids::eval {

namespace {

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t x = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

nn::MlpSpec classifier_spec(int inputs, const std::vector<int>& hidden, int outputs) {
  nn::MlpSpec spec;
  spec.sizes.push_back(inputs);
  spec.sizes.insert(spec.sizes.end(), hidden.begin(), hidden.end());
  spec.sizes.push_back(outputs);
  return spec;
}

}  // namespace

Matrix<float> nearest_centroid_episode(const Task<float>& task) {
  return meta::nearest_centroid_logits<float>(task.support, task.ways, task.query.x);
}

Matrix<float> scratch_episode(const Task<float>& task, std::uint64_t seed, int episode, const ScratchConfig& config) {
  const nn::Mlp<float> mlp(classifier_spec(static_cast<int>(task.support.x.rows()), config.hidden, task.ways));
  std::mt19937_64 rng(mix(seed, static_cast<std::uint64_t>(episode)));
  const Vector<float> theta = meta::fine_tune(mlp, mlp.initial_parameters(rng), task.support, config.fine_tune);
  return mlp.forward(theta, task.query.x);
}

Pretrained pretrain_supervised(const meta::LabelledView& table, const std::vector<int>& classes, std::uint64_t seed,
                               const PretrainConfig& config) {
  require(classes.size() >= 2, "supervised pre-training needs at least 2 classes, got {}", classes.size());
  Pretrained model;
  model.spec = classifier_spec(table.features, config.hidden, static_cast<int>(classes.size()));
  model.classes = classes;
  const nn::Mlp<float> mlp(model.spec);
  std::mt19937_64 rng(mix(seed, 0x5052455452414eULL));
  model.theta = mlp.initial_parameters(rng);
  // Rows of each class (the output index is the position in `classes`).
  std::vector<std::vector<std::int64_t>> rows(classes.size());
  for (std::int64_t r = 0; r < table.rows; ++r) {
    for (size_t c = 0; c < classes.size(); ++c)
      if (table.labels[r] == classes[c]) rows[c].push_back(r);
  }
  for (size_t c = 0; c < classes.size(); ++c) require(!rows[c].empty(), "pre-training class {} has no rows", classes[c]);
  nn::Adam<float> adam(config.adam, mlp.parameter_count());
  nn::Workspace<float> ws;
  Vector<float> gradient;
  nn::Batch<float> batch;
  batch.x.resize(table.features, config.batch);
  batch.y.resize(static_cast<size_t>(config.batch));
  const nn::Regularization regularization{config.weight_decay, 0};
  std::uniform_int_distribution<size_t> pick_class(0, classes.size() - 1);
  double loss_sum = 0;
  int loss_count = 0;
  for (int step = 0; step < config.steps; ++step) {
    for (int i = 0; i < config.batch; ++i) {
      const size_t c = pick_class(rng);
      std::uniform_int_distribution<size_t> pick_row(0, rows[c].size() - 1);
      const std::int64_t r = rows[c][pick_row(rng)];
      batch.x.col(i) = Eigen::Map<const Eigen::VectorXf>(table.data + r * table.features, table.features);
      batch.y[static_cast<size_t>(i)] = static_cast<int>(c);
    }
    const float loss = nn::regularized_loss_and_gradient(mlp, model.theta, batch, regularization, gradient, ws);
    adam.step(model.theta, gradient);
    if (step >= config.steps - 100) {
      loss_sum += loss;
      ++loss_count;
    }
  }
  model.final_loss = loss_count > 0 ? loss_sum / loss_count : 0;
  return model;
}

Matrix<float> pretrained_embedding(const Pretrained& model, const Matrix<float>& x) {
  const nn::Mlp<float> mlp(model.spec);
  return mlp.embed(model.theta, x, mlp.spec().layers() - 2);
}

Matrix<float> finetune_head_episode(const Pretrained& model, const Task<float>& task, std::uint64_t seed, int episode,
                                    const PretrainConfig& config) {
  nn::Batch<float> support{pretrained_embedding(model, task.support.x), task.support.y};
  const nn::Mlp<float> head(classifier_spec(static_cast<int>(support.x.rows()), {}, task.ways));
  std::mt19937_64 rng(mix(seed, static_cast<std::uint64_t>(episode) + 0x48454144ULL));
  const Vector<float> theta = meta::fine_tune(head, head.initial_parameters(rng), support, config.head);
  return head.forward(theta, pretrained_embedding(model, task.query.x));
}

Matrix<float> embedding_centroid_episode(const Pretrained& model, const Task<float>& task) {
  const nn::Batch<float> support{pretrained_embedding(model, task.support.x), task.support.y};
  return meta::nearest_centroid_logits<float>(support, task.ways, pretrained_embedding(model, task.query.x));
}

namespace {

void check_xgboost(int status, const char* what) {
  if (status != 0) fail("xgboost {} failed: {}", what, XGBGetLastError());
}

struct DMatrixDeleter {
  void operator()(void* handle) const { XGDMatrixFree(handle); }
};
struct BoosterDeleter {
  void operator()(void* handle) const { XGBoosterFree(handle); }
};
using DMatrix = std::unique_ptr<void, DMatrixDeleter>;
using Booster = std::unique_ptr<void, BoosterDeleter>;

// A (features × n) column-major matrix is the row-major (n × features) matrix XGBoost reads.
DMatrix make_dmatrix(const Matrix<float>& x) {
  DMatrixHandle handle = nullptr;
  check_xgboost(XGDMatrixCreateFromMat(x.data(), static_cast<bst_ulong>(x.cols()), static_cast<bst_ulong>(x.rows()),
                                       std::numeric_limits<float>::quiet_NaN(), &handle),
                "DMatrix creation");
  return DMatrix(handle);
}

}  // namespace

double XgboostConfig::node_column_share(int columns) const {
  if (colsample_bynode > 0) return colsample_bynode;
  const double d = std::max(1, columns);
  return std::min(1.0, std::sqrt(d) / d);
}

void XgboostConfig::validate() const {
  require(rounds >= 1 && rounds <= 100000, "xgboost rounds must be in [1, 100000], got {}", rounds);
  require(max_depth >= 1 && max_depth <= 30, "xgboost max_depth must be in [1, 30], got {}", max_depth);
  require(std::isfinite(eta) && eta > 0 && eta <= 1, "xgboost eta must be in (0, 1], got {}", eta);
  require(std::isfinite(min_child_weight) && min_child_weight >= 0, "xgboost min_child_weight must be >= 0");
  require(std::isfinite(lambda) && lambda >= 0, "xgboost lambda must be >= 0");
  for (double share : {subsample, colsample_bytree})
    require(std::isfinite(share) && share > 0 && share <= 1, "xgboost subsample shares must be in (0, 1], got {}", share);
  require(std::isfinite(colsample_bynode) && colsample_bynode >= 0 && colsample_bynode <= 1,
          "xgboost colsample_bynode must be in (0, 1] (0: √d/d), got {}", colsample_bynode);
  require(parallel_trees >= 1 && parallel_trees <= 10000, "xgboost parallel trees must be in [1, 10000], got {}",
          parallel_trees);
}

nlohmann::json XgboostConfig::to_json() const {
  nlohmann::json j{{"rounds", rounds},
                   {"max_depth", max_depth},
                   {"eta", eta},
                   {"min_child_weight", min_child_weight},
                   {"lambda", lambda},
                   {"subsample", subsample},
                   {"colsample_bytree", colsample_bytree},
                   {"parallel_trees", parallel_trees},
                   {"seed", seed}};
  if (colsample_bynode > 0) {
    j["colsample_bynode"] = colsample_bynode;
  } else {
    j["colsample_bynode"] = "sqrt";
  }
  return j;
}

XgboostConfig random_forest_config(int trees, double subsample, double colsample_bynode, int max_depth) {
  XgboostConfig c;
  c.rounds = 1;
  c.eta = 1;
  c.parallel_trees = trees;
  c.subsample = subsample;
  c.colsample_bynode = colsample_bynode;
  c.max_depth = max_depth;
  return c;
}

std::vector<XgboostConfig> random_forest_grid() {
  // 100 trees, deep enough to separate the ≤ 50 flows of a support set (fully grown, as a
  // forest's trees are). Rows: a 0.632 sample (what a bootstrap sample holds of distinct
  // rows) or all; columns per split: √d/d (the usual setting) or 0.3.
  std::vector<XgboostConfig> grid;
  for (double rows : {0.632, 1.0})
    for (double columns : {0.0, 0.3}) grid.push_back(random_forest_config(100, rows, columns, 8));
  return grid;
}

std::vector<XgboostConfig> gradient_boosting_grid() {
  // 100 rounds, rows subsampled 0.8 per tree, columns per split √d/d or half; shrinkage and
  // depth the usual pairs.
  std::vector<XgboostConfig> grid;
  for (int depth : {3, 6})
    for (double eta : {0.1, 0.3})
      for (double columns : {0.0, 0.5}) {
        XgboostConfig c;
        c.rounds = 100;
        c.max_depth = depth;
        c.eta = eta;
        c.subsample = 0.8;
        c.colsample_bynode = columns;
        grid.push_back(c);
      }
  return grid;
}

nlohmann::json TreeTuning::to_json() const {
  nlohmann::json tried = nlohmann::json::array();
  for (const auto& [config, acc] : candidates) {
    nlohmann::json c = config.to_json();
    c["accuracy"] = acc;
    tried.push_back(c);
  }
  return {{"chosen", chosen.to_json()}, {"accuracy", accuracy}, {"episodes", episodes}, {"candidates", tried}};
}

TreeTuning choose_tree_config(const std::vector<XgboostConfig>& grid, const std::vector<Task<float>>& episodes,
                              int threads, const std::function<bool()>& should_stop) {
  require(!grid.empty(), "no tree configuration to choose from");
  require(!episodes.empty(), "no tuning episodes to choose a tree configuration on");
  TreeTuning tuning;
  tuning.episodes = static_cast<int>(episodes.size());
  for (const XgboostConfig& config : grid) {
    if (should_stop && should_stop()) break;  // the caller drops what a signal cut short
    std::vector<double> accuracy(episodes.size());
    meta::parallel_for(static_cast<int>(episodes.size()), threads, [&](int e, int) {
      const Task<float>& task = episodes[static_cast<size_t>(e)];
      const std::vector<int> predicted = nn::predict_classes<float>(xgboost_episode(task, config, e));
      int correct = 0;
      for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == task.query.y[i] ? 1 : 0;
      accuracy[static_cast<size_t>(e)] = static_cast<double>(correct) / static_cast<double>(predicted.size());
    });
    double sum = 0;
    for (double a : accuracy) sum += a;  // in episode order: the same bits for any thread count
    const double mean = sum / static_cast<double>(accuracy.size());
    tuning.candidates.emplace_back(config, mean);
    if (tuning.candidates.size() == 1 || mean > tuning.accuracy) {
      tuning.accuracy = mean;
      tuning.chosen = config;
    }
  }
  return tuning;
}

Matrix<float> xgboost_episode(const Task<float>& task, const XgboostConfig& config, int episode) {
  config.validate();
  DMatrix train = make_dmatrix(task.support.x);
  std::vector<float> labels(task.support.y.begin(), task.support.y.end());
  check_xgboost(XGDMatrixSetFloatInfo(train.get(), "label", labels.data(), static_cast<bst_ulong>(labels.size())),
                "setting labels");
  DMatrixHandle handles[1] = {train.get()};
  BoosterHandle raw = nullptr;
  check_xgboost(XGBoosterCreate(handles, 1, &raw), "booster creation");
  Booster booster(raw);
  const bool binary = task.ways == 2;
  auto set = [&](const char* name, const std::string& value) {
    check_xgboost(XGBoosterSetParam(booster.get(), name, value.c_str()), name);
  };
  set("nthread", "1");
  set("verbosity", "0");
  // XGBoost's seed is an int: the episode's share of the sampling seed, folded to 31 bits. The
  // old configuration (no sampling) keeps seed 0.
  const bool samples = config.subsample < 1 || config.colsample_bytree < 1 ||
                       config.node_column_share(static_cast<int>(task.support.x.rows())) < 1;
  const std::uint64_t seed = samples ? mix(config.seed, static_cast<std::uint64_t>(episode)) & 0x7fffffffULL : 0;
  set("seed", std::to_string(seed));
  set("tree_method", "exact");
  set("booster", "gbtree");
  set("max_depth", std::to_string(config.max_depth));
  set("eta", fmt::format("{}", config.eta));
  set("min_child_weight", fmt::format("{}", config.min_child_weight));
  set("lambda", fmt::format("{}", config.lambda));
  if (samples) {
    set("subsample", fmt::format("{}", config.subsample));
    set("colsample_bytree", fmt::format("{}", config.colsample_bytree));
    set("colsample_bynode", fmt::format("{}", config.node_column_share(static_cast<int>(task.support.x.rows()))));
  }
  if (config.parallel_trees > 1) set("num_parallel_tree", std::to_string(config.parallel_trees));
  set("base_score", "0.5");
  if (binary) {
    set("objective", "binary:logistic");
  } else {
    set("objective", "multi:softprob");
    set("num_class", std::to_string(task.ways));
  }
  for (int round = 0; round < config.rounds; ++round)
    check_xgboost(XGBoosterUpdateOneIter(booster.get(), round, train.get()), "training");
  DMatrix query = make_dmatrix(task.query.x);
  bst_ulong length = 0;
  const float* out = nullptr;
  // option_mask 1: raw margins (log-odds) for the binary case; probabilities otherwise.
  check_xgboost(XGBoosterPredict(booster.get(), query.get(), binary ? 1 : 0, 0, 0, &length, &out), "prediction");
  const auto n = task.query.x.cols();
  Matrix<float> logits(task.ways, n);
  if (binary) {
    require(static_cast<Eigen::Index>(length) == n, "xgboost returned {} predictions for {} flows", length, n);
    for (Eigen::Index j = 0; j < n; ++j) {
      logits(0, j) = 0;
      logits(1, j) = out[j];
    }
  } else {
    require(static_cast<Eigen::Index>(length) == n * task.ways, "xgboost returned {} values for {} flows × {} classes",
            length, n, task.ways);
    for (Eigen::Index j = 0; j < n; ++j)
      for (int k = 0; k < task.ways; ++k)
        logits(k, j) = std::log(std::max(out[j * task.ways + k], 1e-30f));
  }
  return logits;
}

}  // namespace metaids::eval
