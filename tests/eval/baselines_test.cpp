// The tree baselines in their standard form: XGBoost's random forest (column sampling at every
// split) and gradient boosting with row and column subsampling, their settings chosen on
// meta-train episodes only.
#include "eval/baselines.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "core/error.h"
#include "data/experiment.h"
#include "eval/experiment.h"
#include "synthetic_flows.h"

namespace metaids::eval {
namespace {

// A 2-way K = 1 episode in `features` dimensions: attack rows shifted in every feature, so
// that every column separates the two support flows (and any column a split draws works).
Task<float> one_shot_episode(int features, int queries, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  Task<float> task;
  task.ways = 2;
  task.classes = {0, 1};
  auto fill = [&](auto& batch, int per_class) {
    batch.x.resize(features, 2 * per_class);
    batch.y.clear();
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < per_class; ++i) {
        for (int j = 0; j < features; ++j) batch.x(j, c * per_class + i) = noise(rng) + (c == 1 ? 2.0f : 0.0f);
        batch.y.push_back(c);
      }
  };
  fill(task.support, 1);
  fill(task.query, queries);
  return task;
}

// Distinct attack scores (logit₁ − logit₀) over the query set.
size_t distinct_scores(const Matrix<float>& logits) {
  std::set<float> scores;
  for (Eigen::Index j = 0; j < logits.cols(); ++j) scores.insert(logits(1, j) - logits(0, j));
  return scores.size();
}

TEST(TreeBaselines, ForestSamplesColumnsAtEverySplit) {
  // K = 1: every tree of the old configuration splits its two flows on the same column (the
  // first of equals), so the score takes at most two values and ROC-AUC equals accuracy. A
  // forest whose splits choose among √d of the d columns splits on many columns.
  const XgboostConfig old_config;
  const XgboostConfig forest = random_forest_config();
  XgboostConfig forest_every_column = forest;  // the same forest without column sampling
  forest_every_column.colsample_bynode = 1;
  forest_every_column.subsample = 1;
  int forest_many = 0;
  for (std::uint64_t e = 0; e < 10; ++e) {
    const Task<float> task = one_shot_episode(40, 30, e);
    EXPECT_LE(distinct_scores(xgboost_episode(task, old_config, static_cast<int>(e))), 2u) << e;
    EXPECT_LE(distinct_scores(xgboost_episode(task, forest_every_column, static_cast<int>(e))), 2u) << e;
    forest_many += distinct_scores(xgboost_episode(task, forest, static_cast<int>(e))) > 2 ? 1 : 0;
  }
  EXPECT_EQ(forest_many, 10);
  EXPECT_DOUBLE_EQ(forest.node_column_share(81), 1.0 / 9.0);  // √81 / 81
  EXPECT_EQ(forest.rounds, 1);
  EXPECT_EQ(forest.eta, 1.0);
  EXPECT_EQ(forest.parallel_trees, 100);
  EXPECT_LT(forest.subsample, 1.0);
  EXPECT_EQ(forest.to_json()["colsample_bynode"], "sqrt");
}

TEST(TreeBaselines, SamplingDependsOnTheEpisodeNotTheThread) {
  const Task<float> task = one_shot_episode(20, 15, 7);
  XgboostConfig boosted;
  boosted.subsample = 0.8;
  boosted.colsample_bynode = 0.5;
  EXPECT_EQ(xgboost_episode(task, boosted, 3), xgboost_episode(task, boosted, 3));
  EXPECT_NE(xgboost_episode(task, random_forest_config(), 3), xgboost_episode(task, random_forest_config(), 4));
  // Without sampling the old configuration's scores do not depend on the episode index (seed 0 as before).
  EXPECT_EQ(xgboost_episode(task, XgboostConfig{}, 3), xgboost_episode(task, XgboostConfig{}, 4));
  XgboostConfig bad;
  bad.subsample = 0;
  EXPECT_THROW(xgboost_episode(task, bad), Error);
  bad = XgboostConfig{};
  bad.colsample_bynode = 1.5;
  EXPECT_THROW(bad.validate(), Error);
}

TEST(TreeBaselines, GridsAreTheStandardForms) {
  for (const XgboostConfig& c : random_forest_grid()) {
    EXPECT_EQ(c.rounds, 1);
    EXPECT_EQ(c.eta, 1.0);
    EXPECT_GT(c.parallel_trees, 1);
    EXPECT_LT(c.node_column_share(82), 1.0);
    c.validate();
  }
  for (const XgboostConfig& c : gradient_boosting_grid()) {
    EXPECT_GT(c.rounds, 1);
    EXPECT_EQ(c.parallel_trees, 1);
    EXPECT_LT(c.subsample, 1.0);                 // row subsampling
    EXPECT_LT(c.node_column_share(82), 1.0);     // column subsampling
    c.validate();
  }
}

TEST(TreeBaselines, ChoosesTheMostAccurateCandidateWhateverTheThreads) {
  std::vector<Task<float>> episodes;
  for (std::uint64_t e = 0; e < 12; ++e) episodes.push_back(one_shot_episode(10, 10, 100 + e));
  XgboostConfig stump = XgboostConfig{};  // a weak candidate: a single depth-1 tree
  stump.rounds = 1;
  stump.max_depth = 1;
  const std::vector<XgboostConfig> grid{stump, random_forest_config(50)};
  const TreeTuning one = choose_tree_config(grid, episodes, 1);
  const TreeTuning two = choose_tree_config(grid, episodes, 2);
  ASSERT_EQ(one.candidates.size(), 2u);
  EXPECT_EQ(one.candidates[0].second, two.candidates[0].second);
  EXPECT_EQ(one.candidates[1].second, two.candidates[1].second);
  EXPECT_EQ(one.chosen, two.chosen);
  // The chosen one is the most accurate of the candidates, with its own accuracy reported.
  const size_t best = one.candidates[1].second > one.candidates[0].second ? 1 : 0;
  EXPECT_EQ(one.chosen, grid[best]);
  EXPECT_EQ(one.accuracy, one.candidates[best].second);
  EXPECT_EQ(one.episodes, 12);
  // Its accuracy is the mean query accuracy of that candidate, episode by episode.
  double sum = 0;
  for (size_t e = 0; e < episodes.size(); ++e) {
    const auto predicted = nn::predict_classes<float>(xgboost_episode(episodes[e], grid[best], static_cast<int>(e)));
    int correct = 0;
    for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == episodes[e].query.y[i] ? 1 : 0;
    sum += static_cast<double>(correct) / static_cast<double>(predicted.size());
  }
  EXPECT_DOUBLE_EQ(one.accuracy, sum / static_cast<double>(episodes.size()));
  const nlohmann::json j = one.to_json();
  EXPECT_EQ(j["candidates"].size(), 2u);
  EXPECT_TRUE(j["chosen"].contains("max_depth"));
}

TEST(TreeBaselines, TuningEpisodesComeFromMetaTrainClassesOnly) {
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
  const Split split = make_split(data);
  std::set<int> allowed{split.benign, split.validation_family};
  allowed.insert(split.train_families.begin(), split.train_families.end());
  std::set<int> seen;
  for (TaskKind task : {TaskKind::detection, TaskKind::classification}) {
    const auto episodes = tuning_episodes(split, task, 5, 5, 15, 30);
    ASSERT_EQ(episodes.size(), 30u);
    for (const auto& e : episodes) {
      EXPECT_EQ(e.ways, task == TaskKind::detection ? 2 : 5);
      EXPECT_EQ(e.classes[0], split.benign);
      for (int c : e.classes) {
        EXPECT_EQ(allowed.count(c), 1u) << split.name(c);
        seen.insert(c);
      }
      // The rows are meta-train rows: every support column is a row of the meta-train matrix.
      const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>> train(
          data.meta_train_x.data(), data.meta_train_x.cols(), data.meta_train_x.rows());
      const auto column = e.support.x.col(0);
      bool found = false;
      for (Eigen::Index r = 0; r < train.cols() && !found; ++r) found = train.col(r) == column;
      EXPECT_TRUE(found);
    }
    // Deterministic, and not the test episodes' seed.
    const auto again = tuning_episodes(split, task, 5, 5, 15, 30);
    EXPECT_EQ(again[7].query.x, episodes[7].query.x);
  }
  EXPECT_EQ(seen.count(split.validation_family), 1u);  // the validation family is meta-train data too
  for (int f : split.test_families) EXPECT_EQ(seen.count(f), 0u);
}

TEST(TreeBaselines, ExperimentReportsBothWithTheirChosenSettings) {
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
  ExperimentOptions o;
  o.methods = {"random_forest", "xgboost"};
  o.seeds = {0};
  o.tuning_episodes = 10;
  o.threads = 2;
  const ExperimentReport report = run_experiment(data, o);
  for (const char* method : {"random_forest", "xgboost"}) {
    for (const char* task : {"detection", "classification"})
      for (const char* k : {"1", "5"}) {
        EXPECT_TRUE(report.results[method][task][k].contains("accuracy")) << method << task << k;
        const auto& tuning = report.run["baselines"][method]["tuning"][task][k];
        ASSERT_TRUE(tuning.contains("chosen")) << method << task << k;
        EXPECT_EQ(tuning["episodes"], 10);
        EXPECT_EQ(tuning["candidates"].size(), std::string(method) == "xgboost" ? gradient_boosting_grid().size()
                                                                                  : random_forest_grid().size());
      }
    EXPECT_TRUE(report.results[method]["rare"]["1"].contains("roc_auc"));
    EXPECT_EQ(report.results[method]["detection"]["5"]["accuracy"]["seeds"], 1);
    EXPECT_EQ(report.run["baselines"][method]["tuned"], true);
  }
  EXPECT_GT(report.results["xgboost"]["detection"]["5"]["accuracy"]["mean"].get<double>(), 0.8);
  // Every baseline's settings are in run.json, even those not run.
  for (const char* method : {"nearest_centroid", "scratch", "finetune", "pretrained_centroid"})
    EXPECT_TRUE(report.run["baselines"][method].contains("settings")) << method;
  EXPECT_NE(report.markdown.find("| random_forest |"), std::string::npos);
}

TEST(TreeBaselines, WithoutTuningTheGivenSettingsAreUsed) {
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
  ExperimentOptions o;
  o.methods = {"xgboost"};
  o.seeds = {0};
  o.tune_trees = false;
  o.tasks = {TaskKind::detection};
  o.shots = {1};
  const ExperimentReport report = run_experiment(data, o);
  EXPECT_EQ(report.run["baselines"]["xgboost"]["settings"], XgboostConfig{}.to_json());
  EXPECT_FALSE(report.run["baselines"]["xgboost"].contains("tuning"));
  // The old configuration at K = 1: two score values, so ROC-AUC equals accuracy.
  const auto& det = report.results["xgboost"]["detection"]["1"];
  EXPECT_NEAR(det["roc_auc"]["mean"].get<double>(), det["accuracy"]["mean"].get<double>(), 1e-12);
}

}  // namespace
}  // namespace metaids::eval
