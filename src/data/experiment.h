// FSND-1 experiment configuration (configs/*.json) and the class split it defines
// (../shared/docs/PROTOCOL.md):
//
//   auto config = load_experiment_config("configs/cicids2017.json");
//   ExperimentData d = prepare_experiment(config, "/path/to/shared/data");
//   d.meta_train_x   // transformed meta-train rows (transform fitted on them only)
//   d.meta_test_x    // transformed meta-test rows (benign later 40%, test + rare families)
//
// Two split kinds:
//  - "families" (CIC-IDS2017): one dataset; attack families listed by name; benign rows
//    ordered by timestamp, the earliest `benign_train_fraction` to meta-train, the rest to
//    meta-test (ties broken by load order, so the split is deterministic). With
//    "benign_order": "row" (data without timestamps) the order is the load order instead.
//  - "train_test_files" (NSL-KDD): meta-train = train-file rows of the benign label and of
//    families with ≥ min_family_rows rows there; meta-test = test-file rows of the benign
//    label and of families absent from the train file with ≥ min_family_rows rows in the
//    test file. Families may also be listed explicitly: listed meta-train families need
//    min_family_rows rows in the train file; listed meta-test families min_family_rows rows in
//    the test file and must not be meta-train families (their rows in the train file, if
//    any, are never used).
// Unknown keys are rejected; numbers are bounds-checked; seeds and K values must be distinct; a
// config file is at most 16 MiB and nested at most 32 levels (data/json_input.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/feature_table.h"
#include "data/json_input.h"
#include "data/schema.h"
#include "data/transform.h"

namespace metaids::data {

inline constexpr size_t kMaxSeeds = 1000;  // entries of 'seeds' (and of --seeds)

struct EpisodeSettings {
  std::vector<int> shots{1, 5, 10};   // K values, each in [1, 1000]
  int query = 15;                     // query flows per class, [1, 10000]
  int episodes = 1000;                // per setting, [1, 1000000]
  int classification_ways = 5;        // benign + (ways − 1) meta-test families, [2, 100]
  int rare_shots = 1;                 // rare families: K = 1 ...
  int rare_query_max = 15;            // ... query = the rest of the family, at most this
  uint64_t test_seed = 20260101;      // seeds the test episodes: same for every method
};

struct ExperimentConfig {
  std::string name;
  std::string description;
  // Dataset. `schema` is a preset name (cicflowmeter, nslkdd, kddcup99) or a schema file path
  // (relative paths: to the config file's directory).
  std::string schema = "cicflowmeter";
  std::string path;                   // split "families": file or directory, relative to --data
  std::string train_path;             // split "train_test_files"
  std::string test_path;
  // Split.
  std::string split_kind = "families";  // or "train_test_files"
  std::string benign_label;           // default: the schema's
  std::vector<std::string> meta_train_families;
  std::vector<std::string> meta_test_families;
  std::vector<std::string> rare_families;
  std::string validation_family;      // a meta-train family; empty: none
  double benign_train_fraction = 0.6; // (0, 1)
  std::string benign_order = "time";  // "time" (by timestamp) or "row" (load order): the benign split
  int min_family_rows = 20;           // train_test_files rule, [1, 1e9]
  EpisodeSettings episodes;
  std::vector<uint64_t> seeds{0, 1, 2};  // meta-training seeds
  // Free-form sections for the meta-learning engine ("training", "methods"): kept as given
  // and validated by their consumer. Any other unknown top-level key is an error.
  nlohmann::json training = nlohmann::json::object();
  nlohmann::json methods = nlohmann::json::object();
  std::filesystem::path config_dir;   // set by load_experiment_config

  nlohmann::json to_json() const;     // what a model file records
};

ExperimentConfig parse_experiment_config(const nlohmann::json& json);
ExperimentConfig load_experiment_config(const std::filesystem::path& path);

struct ExperimentData {
  ExperimentConfig config;
  // Raw rows (class ids shared by both tables: the same label has the same id in each).
  FeatureTable meta_train;            // benign (early part) + meta-train families (incl. validation)
  FeatureTable meta_test;             // benign (late part) + meta-test families + rare families
  FeatureTransform transform;         // fitted on every meta_train row
  FeatureMatrix meta_train_x;         // transform.apply(meta_train)
  FeatureMatrix meta_test_x;          // transform.apply(meta_test)
  int32_t benign_class = -1;          // id of the benign label in both tables
  std::vector<std::string> meta_train_families;  // as resolved (rule applied for NSL-KDD)
  std::vector<std::string> meta_test_families;
  std::vector<std::string> rare_families;
  std::string validation_family;
  std::string training_data_hash;     // content_hash(meta_train)
  LoadReport report;                  // all files loaded
};

// Loads the data under `data_dir`, applies the split, fits the transform on meta-train rows.
// Throws if a listed family has no rows, if a family is in two groups, or if the validation
// family is not a meta-train family.
ExperimentData prepare_experiment(const ExperimentConfig& config, const std::filesystem::path& data_dir);

// The split alone, as row indices of one table (for the "families" kind; exposed for tests).
struct FamilySplit {
  std::vector<size_t> meta_train_rows;
  std::vector<size_t> meta_test_rows;
};
FamilySplit split_by_families(const FeatureTable& table, const ExperimentConfig& config);

}  // namespace metaids::data
