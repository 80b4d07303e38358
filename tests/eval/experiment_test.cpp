#include "eval/experiment.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "data/experiment.h"
#include "synthetic_flows.h"

namespace metaids::eval {
namespace {

ExperimentOptions small_options() {
  ExperimentOptions o;
  o.training.iterations = 30;
  o.training.meta_batch = 4;
  o.training.validate_every = 10;
  o.training.validation_episodes = 10;
  o.pretrain.steps = 100;
  o.scratch.fine_tune.steps = 30;
  o.tuning_episodes = 10;
  o.threads = 2;
  return o;
}

TEST(Experiment, TinyEndToEndRunHasEveryMethodTaskAndK) {
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
  std::vector<std::string> lines;
  ExperimentOptions o = small_options();
  o.log = [&](const std::string& line) { lines.push_back(line); };
  const ExperimentReport report = run_experiment(data, o);
  for (const std::string& method : all_methods()) {
    ASSERT_TRUE(report.results.contains(method)) << method;
    for (const char* k : {"1", "5"}) {
      const auto& det = report.results[method]["detection"][k];
      for (const char* metric : {"accuracy", "f1", "roc_auc"}) {
        const double mean = det[metric]["mean"].get<double>();
        EXPECT_GE(mean, 0.0) << method << " " << metric;
        EXPECT_LE(mean, 1.0) << method << " " << metric;
        EXPECT_EQ(det[metric]["n"].get<int>(), 40);
      }
      EXPECT_TRUE(report.results[method]["classification"][k].contains("accuracy"));
    }
    EXPECT_TRUE(report.results[method]["rare"]["1"].contains("roc_auc"));
    // Seeded methods report both training seeds; the others one.
    const int seeds = report.results[method]["detection"]["5"]["accuracy"]["seeds"].get<int>();
    EXPECT_EQ(seeds, method == "nearest_centroid" || method == "xgboost" || method == "random_forest" ? 1 : 2)
        << method;
  }
  // Well-separated clusters: the simple baselines must do well.
  EXPECT_GT(report.results["nearest_centroid"]["detection"]["5"]["accuracy"]["mean"].get<double>(), 0.9);
  EXPECT_GT(report.results["xgboost"]["detection"]["5"]["accuracy"]["mean"].get<double>(), 0.8);
  EXPECT_GT(report.results["protonet"]["detection"]["5"]["accuracy"]["mean"].get<double>(), 0.8);
  EXPECT_NE(report.markdown.find("| protonet |"), std::string::npos);
  EXPECT_FALSE(lines.empty());
  EXPECT_EQ(report.run["validation_family"], "V");
}

TEST(Experiment, ResultsOfAMethodDoNotDependOnWhichOthersRun) {
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
  ExperimentOptions a = small_options();
  a.methods = {"nearest_centroid", "reptile"};
  a.seeds = {0};
  ExperimentOptions b = a;
  b.methods = {"xgboost", "reptile", "nearest_centroid"};
  b.threads = 1;
  const auto ra = run_experiment(data, a), rb = run_experiment(data, b);
  EXPECT_EQ(ra.results["nearest_centroid"], rb.results["nearest_centroid"]);
  EXPECT_EQ(ra.results["reptile"], rb.results["reptile"]);  // deterministic whatever the thread count
}

TEST(Experiment, PerFamilyBreakdownOfTheTwoWayTasks) {
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
  ExperimentOptions o = small_options();
  o.methods = {"nearest_centroid", "scratch"};
  const ExperimentReport report = run_experiment(data, o);
  for (const char* method : {"nearest_centroid", "scratch"}) {
    for (const char* k : {"1", "5"}) {
      const auto& cell = report.results[method]["detection"][k];
      ASSERT_TRUE(cell.contains("by_family")) << method << k;
      const auto& by_family = cell["by_family"];
      // Every meta-test family, and only those; the episodes split among them.
      std::vector<std::string> families;
      for (const auto& [family, unused] : by_family.items()) families.push_back(family);
      EXPECT_EQ(families, (std::vector<std::string>{"T1", "T2", "T3", "T4", "T5"}));
      int n = 0;
      double weighted = 0;
      for (const auto& [family, metrics] : by_family.items()) {
        ASSERT_TRUE(metrics.contains("accuracy") && metrics.contains("roc_auc")) << family;
        n += metrics["accuracy"]["n"].get<int>();
        weighted += metrics["accuracy"]["mean"].get<double>() * metrics["accuracy"]["n"].get<int>();
        EXPECT_EQ(metrics["accuracy"]["seeds"].get<int>(), std::string(method) == "scratch" ? 2 : 1);
      }
      EXPECT_EQ(n, cell["accuracy"]["n"].get<int>());
      // For one seed the per-family means, weighted by their episodes, give the overall mean.
      if (std::string(method) == "nearest_centroid") {
        EXPECT_NEAR(weighted / n, cell["accuracy"]["mean"].get<double>(), 1e-12);
      }
      EXPECT_FALSE(report.results[method]["classification"][k].contains("by_family"));
    }
    EXPECT_TRUE(report.results[method]["rare"]["1"]["by_family"].contains("R"));
  }
  EXPECT_NE(report.markdown.find("## Detection, K=5: accuracy / ROC-AUC per family"), std::string::npos);
  EXPECT_NE(report.markdown.find("| T1 | T2 | T3 | T4 | T5 |"), std::string::npos);
}

TEST(Experiment, RejectsUnknownMethods) {
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto data = data::prepare_experiment(data::load_experiment_config(dir.path() / "config.json"), dir.path());
  ExperimentOptions o = small_options();
  o.methods = {"magic"};
  EXPECT_THROW(run_experiment(data, o), Error);
}

TEST(Experiment, OptionsAreCheckedBeforeAnythingRuns) {
  auto error_of = [](const ExperimentOptions& o) -> std::string {
    try {
      validate_options(o);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(small_options()), "");
  ExperimentOptions o = small_options();
  o.seeds = {0, 0};
  EXPECT_EQ(error_of(o), "seed 0 is given twice");
  o = small_options();
  o.episodes = -5;  // used to mean "the config's" silently
  EXPECT_NE(error_of(o).find("got -5"), std::string::npos);
  o.episodes = kMaxEpisodes + 1;
  EXPECT_NE(error_of(o).find("[1, 1000000]"), std::string::npos);
  o = small_options();
  o.methods = {"maml", "maml"};
  EXPECT_EQ(error_of(o), "method maml is given twice");
  o.methods = {""};
  EXPECT_NE(error_of(o).find("unknown method ''"), std::string::npos);
  o = small_options();
  o.shots = {0};
  EXPECT_NE(error_of(o).find("K must be in [1, 1000]"), std::string::npos);
  o.shots = {5, 5};
  EXPECT_EQ(error_of(o), "K = 5 is given twice");
  o = small_options();
  o.tasks = {TaskKind::rare, TaskKind::rare};
  EXPECT_EQ(error_of(o), "task rare is given twice");
  o.tasks.clear();
  EXPECT_NE(error_of(o).find("no task"), std::string::npos);
}

}  // namespace
}  // namespace metaids::eval
