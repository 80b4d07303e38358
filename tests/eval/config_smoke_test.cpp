// Every shipped FSND-1 config, end to end through the `metaids` binary with a few episodes:
// 20 test episodes per setting, one training seed, 20 meta-training iterations, 50
// pre-training steps, 5 tuning episodes per tree-baseline candidate. What it checks is the
// shape of the output (every method, task, K, per-family breakdown, provenance, baseline
// settings), not detection quality: the numbers of so short a run mean nothing. About 10-20 s
// per config on two cores (ctest label `slow`: kept out of the sanitizer run).
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "common/shared_data.h"
#include "data/experiment.h"
#include "data/temp_dir.h"
#include "eval/experiment.h"

namespace metaids::eval {
namespace {

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void run_config(const char* config_name, const char* data_needed) {
  METAIDS_REQUIRE_SHARED_DATA(data_needed);
  const std::filesystem::path config = std::filesystem::path(METAIDS_SOURCE_DIR) / "configs" / config_name;
  const data::ExperimentConfig parsed = data::load_experiment_config(config);
  test::TempDir dir;
  const std::filesystem::path out = dir.path() / "out";
  const std::string command =
      fmt::format("{} experiment --config {} --data {} --out {} --episodes 20 --seeds 0 --iterations 20 "
                  "--pretrain-steps 50 --tuning-episodes 5 --threads 2 --quiet 2>{}",
                  quoted(METAIDS_BINARY), quoted(config.string()), quoted(test::shared_data_dir().string()),
                  quoted(out.string()), quoted((dir.path() / "stderr.txt").string()));
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << command << "\n" << std::ifstream(dir.path() / "stderr.txt").rdbuf();
  const nlohmann::json results = read_json(out / "results.json");
  const nlohmann::json run = read_json(out / "run.json");
  // Every method, every task, every K of the config; the rare setting when it has rare families.
  std::vector<std::pair<std::string, int>> cells;
  for (int k : parsed.episodes.shots) {
    cells.emplace_back("detection", k);
    cells.emplace_back("classification", k);
  }
  if (!parsed.rare_families.empty()) cells.emplace_back("rare", parsed.episodes.rare_shots);
  std::set<std::string> methods;
  for (const auto& [method, unused] : results.items()) methods.insert(method);
  EXPECT_EQ(methods, std::set<std::string>(all_methods().begin(), all_methods().end()));
  for (const std::string& method : all_methods()) {
    for (const auto& [task, k] : cells) {
      const auto& cell = results[method][task][std::to_string(k)];
      ASSERT_TRUE(cell.contains("accuracy")) << method << " " << task << " K=" << k;
      EXPECT_EQ(cell["accuracy"]["n"], 20) << method << " " << task << " K=" << k;
      const double mean = cell["accuracy"]["mean"].get<double>();
      EXPECT_TRUE(mean >= 0 && mean <= 1) << method << " " << task << " K=" << k;
      if (task != "classification") {
        EXPECT_TRUE(cell.contains("roc_auc") && cell.contains("f1")) << method << " " << task;
        EXPECT_TRUE(cell.contains("by_family")) << method << " " << task;  // the per-family breakdown
      }
    }
  }
  // What ran, and from what.
  EXPECT_TRUE(run["provenance"].contains("commit"));
  EXPECT_NE(run["command_line"].get<std::string>().find("--episodes 20"), std::string::npos);
  for (const char* method : {"nearest_centroid", "scratch", "finetune", "pretrained_centroid"})
    EXPECT_TRUE(run["baselines"][method].contains("settings")) << method;
  for (const char* method : {"random_forest", "xgboost"})
    for (int k : parsed.episodes.shots)
      EXPECT_TRUE(run["baselines"][method]["tuning"]["detection"][std::to_string(k)].contains("chosen")) << method;
  EXPECT_TRUE(run["training"]["objective"].contains("gradient_penalty"));
  EXPECT_TRUE(std::filesystem::exists(out / "results.md"));
}

TEST(ConfigSmoke, Cicids2017) { run_config("cicids2017.json", "cicids2017-improved-sample"); }
TEST(ConfigSmoke, Cicids2017Rotated) { run_config("cicids2017-rotated.json", "cicids2017-improved-sample"); }
TEST(ConfigSmoke, NslKdd) { run_config("nslkdd.json", "nsl-kdd/KDDTest+.txt"); }
TEST(ConfigSmoke, NslKddRotated) { run_config("nslkdd-rotated.json", "nsl-kdd/KDDTest+.txt"); }

}  // namespace
}  // namespace metaids::eval
