#include "data/experiment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "common/error_of.h"
#include "common/shared_data.h"
#include "core/error.h"
#include "data/loaders.h"
#include "data/temp_dir.h"

namespace metaids::data {
namespace {

nlohmann::json families_config() {
  return nlohmann::json::parse(R"({
    "name": "t",
    "dataset": {"schema": "flows.schema.json", "path": "flows.csv"},
    "split": {"kind": "families", "benign_label": "benign",
              "meta_train_families": ["a", "b"], "meta_test_families": ["c"], "rare_families": ["d"],
              "validation_family": "b"},
    "episodes": {"shots": [1, 5], "query": 3, "episodes": 10, "test_seed": 7},
    "seeds": [0]
  })");
}

// Benign rows with shuffled timestamps, families a..d, and one unlisted family e.
void write_synthetic(const test::TempDir& dir) {
  dir.write("flows.schema.json",
            R"({"label_column": "label", "benign_label": "benign", "timestamp_column": "ts", "drop_columns": ["ts"]})");
  std::string csv = "ts,x,y,label\n";
  for (int i = 0; i < 100; ++i) {
    const int second = (i * 37) % 100;  // a permutation of 0..99
    csv += fmt::format("2020-01-01 00:{:02}:{:02},{},{},benign\n", second / 60, second % 60, i, second);
  }
  const char* families[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 50; ++i) csv += fmt::format("2020-01-01 01:00:00,{},{},{}\n", 1000 + i, i, families[i % 5]);
  dir.write("flows.csv", csv);
}

TEST(ExperimentConfig, ParsesAndRejectsUnknownKeysAndBadBounds) {
  const auto c = parse_experiment_config(families_config());
  EXPECT_EQ(c.episodes.shots, (std::vector<int>{1, 5}));
  EXPECT_EQ(c.episodes.test_seed, 7u);
  EXPECT_EQ(c.validation_family, "b");
  EXPECT_EQ(parse_experiment_config(c.to_json()).to_json(), c.to_json());
  auto bad = families_config();
  bad["split"]["meta_tset_families"] = nlohmann::json::array();
  EXPECT_THROW(parse_experiment_config(bad), Error);
  bad = families_config();
  bad["colour"] = "blue";
  EXPECT_THROW(parse_experiment_config(bad), Error);
  bad = families_config();
  bad["episodes"]["query"] = 0;
  EXPECT_THROW(parse_experiment_config(bad), Error);
  bad = families_config();
  bad["episodes"]["shots"] = {1, 5000};
  EXPECT_THROW(parse_experiment_config(bad), Error);
  bad = families_config();
  bad["split"]["benign_train_fraction"] = 1.0;
  EXPECT_THROW(parse_experiment_config(bad), Error);
  bad = families_config();
  bad["split"]["meta_test_families"] = {"a"};  // also meta-train
  EXPECT_THROW(parse_experiment_config(bad), Error);
  bad = families_config();
  bad["split"]["validation_family"] = "c";  // a test family
  EXPECT_THROW(parse_experiment_config(bad), Error);
  bad = families_config();
  bad["seeds"] = {-1};
  EXPECT_THROW(parse_experiment_config(bad), Error);
}

using test::error_of;

TEST(ExperimentConfig, DuplicateSeedsAndShotsAreRefused) {
  auto bad = families_config();
  bad["seeds"] = {0, 1, 0};
  EXPECT_NE(error_of([&] { parse_experiment_config(bad); }).find("seed 0 is listed twice"), std::string::npos);
  bad = families_config();
  bad["episodes"]["shots"] = {5, 1, 5};
  EXPECT_NE(error_of([&] { parse_experiment_config(bad); }).find("K = 5 is listed twice"), std::string::npos);
  bad = families_config();
  bad["seeds"] = nlohmann::json::array();
  for (int i = 0; i <= 1000; ++i) bad["seeds"].push_back(i);
  EXPECT_NE(error_of([&] { parse_experiment_config(bad); }).find("at most 1000"), std::string::npos);
}

// [[[[ ... "x" ... ]]]]: `depth` arrays around a string.
nlohmann::json nested(int depth) {
  const std::string text = std::string(static_cast<size_t>(depth), '[') + "\"x\"" + std::string(static_cast<size_t>(depth), ']');
  return nlohmann::json::parse(text);
}

TEST(ExperimentConfig, DeepNestingAndHugeValuesGiveShortErrors) {
  // Printing or copying a value nested 100 000 deep recursed until the stack ran out.
  for (const char* key : {"name", "training", "methods", "seeds"}) {
    auto bad = families_config();
    bad[key] = nested(100000);
    const std::string m = error_of([&] { parse_experiment_config(bad); });
    EXPECT_NE(m.find("nested deeper than"), std::string::npos) << key << ": " << m;
  }
  // A long value is shown shortened: errors stay one readable line.
  auto bad = families_config();
  bad["split"]["kind"] = std::string(100000, 'k');
  const std::string m = error_of([&] { parse_experiment_config(bad); });
  EXPECT_FALSE(m.empty());
  EXPECT_LT(m.size(), 400u) << m.size();
  bad = families_config();
  bad["dataset"]["schema"] = nlohmann::json::array({1, 2, 3});
  EXPECT_NE(error_of([&] { parse_experiment_config(bad); }).find("must be a string (got an array"), std::string::npos);
}

TEST(ExperimentConfig, FilesAreBounded) {
  test::TempDir dir;
  // Not a regular file: /dev/zero would be read forever.
  EXPECT_NE(error_of([] { load_experiment_config("/dev/zero"); }).find("not a regular file"), std::string::npos);
  EXPECT_NE(error_of([&] { load_experiment_config(dir.path()); }).find("not a regular file"), std::string::npos);
  // Larger than 16 MiB.
  std::string big = R"({"name": ")";
  big.append(kMaxJsonFileBytes, 'x').append(R"("})");
  const auto path = dir.write("big.json", big);
  EXPECT_NE(error_of([&] { load_experiment_config(path); }).find("larger than 16 MiB"), std::string::npos);
  EXPECT_NE(error_of([&] { load_schema_file(path); }).find("larger than 16 MiB"), std::string::npos);
  const auto bad_json = dir.write("bad.json", "{\"name\": ");
  EXPECT_NE(error_of([&] { load_experiment_config(bad_json); }).find("not valid JSON"), std::string::npos);
}

TEST(ExperimentConfig, NumberTooLargeForADoubleIsInvalidJson) {
  // Found by fuzz_config: nlohmann reports "1e3081" as out_of_range, not parse_error, and it
  // escaped as a foreign exception instead of one line naming the file.
  test::TempDir dir;
  const auto path = dir.write("overflow.json", "{\"name\": 1e3081, \"dataset\": {}, \"split\": {}}");
  const std::string m = error_of([&] { load_experiment_config(path); });
  EXPECT_NE(m.find("overflow.json: not valid JSON"), std::string::npos) << m;
  EXPECT_NE(error_of([&] { load_schema_file(path); }).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { parse_json_text("[-1e400]", "text"); }).find("text: not valid JSON"), std::string::npos);
}

TEST(ExperimentConfig, DuplicateKeysAreRefused) {
  // The later value would silently win: "seeds" given twice, or a misspelt override.
  test::TempDir dir;
  const auto path = dir.write("twice.json", R"({"name": "a", "name": "b", "dataset": {}, "split": {}})");
  EXPECT_NE(error_of([&] { load_experiment_config(path); }).find("duplicate key \"name\""), std::string::npos);
  EXPECT_NE(error_of([&] { load_schema_file(path); }).find("duplicate key"), std::string::npos);
}

TEST(ExperimentConfig, ShippedConfigsParse) {
  for (const char* name : {"configs/cicids2017.json", "configs/nslkdd.json", "configs/cicids2017-rotated.json",
                           "configs/nslkdd-rotated.json"}) {
    const auto c = load_experiment_config(std::filesystem::path(METAIDS_SOURCE_DIR) / name);
    EXPECT_EQ(c.episodes.shots, (std::vector<int>{1, 5, 10})) << name;
    EXPECT_EQ(c.episodes.query, 15);
    EXPECT_EQ(c.episodes.episodes, 1000);
    EXPECT_EQ(c.seeds, (std::vector<uint64_t>{0, 1, 2}));
  }
}

// An ablation config is its base config with the one setting it ablates: nothing else moves.
TEST(ExperimentConfig, AblationConfigsDifferFromTheirBaseInTheAblatedSettingOnly) {
  const std::filesystem::path configs = std::filesystem::path(METAIDS_SOURCE_DIR) / "configs";
  for (const char* base : {"cicids2017", "nslkdd", "cicids2017-rotated", "nslkdd-rotated"}) {
    const auto read = [](const std::filesystem::path& path) {
      std::ifstream in(path);
      return nlohmann::json::parse(in);
    };
    nlohmann::json original = read(configs / fmt::format("{}.json", base));
    nlohmann::json ablation = read(configs / fmt::format("{}-gradient-penalty.json", base));
    EXPECT_EQ(ablation["training"]["gradient_penalty"], 0.1) << base;
    EXPECT_NO_THROW(load_experiment_config(configs / fmt::format("{}-gradient-penalty.json", base))) << base;
    for (nlohmann::json* j : {&original, &ablation}) {
      j->erase("name");
      j->erase("description");
      (*j)["training"].erase("gradient_penalty");
    }
    EXPECT_EQ(ablation, original) << base;
  }
}

TEST(Split, FamiliesAndBenignTimeSplit) {
  test::TempDir dir;
  write_synthetic(dir);
  auto config = parse_experiment_config(families_config());
  config.config_dir = dir.path();
  const ExperimentData d = prepare_experiment(config, dir.path());
  // No meta-test, rare or unlisted family row in meta-train, and the reverse.
  for (const int32_t id : d.meta_train.class_ids) {
    const std::string& label = d.meta_train.class_names[static_cast<size_t>(id)];
    EXPECT_TRUE(label == "benign" || label == "a" || label == "b") << label;
  }
  for (const int32_t id : d.meta_test.class_ids) {
    const std::string& label = d.meta_test.class_names[static_cast<size_t>(id)];
    EXPECT_TRUE(label == "benign" || label == "c" || label == "d") << label;
  }
  // 60/40 by time: every meta-train benign row is earlier than every meta-test benign row.
  const auto train_benign = d.meta_train.rows_of_class("benign");
  const auto test_benign = d.meta_test.rows_of_class("benign");
  EXPECT_EQ(train_benign.size(), 60u);
  EXPECT_EQ(test_benign.size(), 40u);
  int64_t latest_train = INT64_MIN, earliest_test = INT64_MAX;
  for (const size_t r : train_benign) latest_train = std::max(latest_train, d.meta_train.timestamps[r]);
  for (const size_t r : test_benign) earliest_test = std::min(earliest_test, d.meta_test.timestamps[r]);
  EXPECT_LT(latest_train, earliest_test);
  // Class ids agree between the two tables.
  EXPECT_EQ(d.meta_train.class_names, d.meta_test.class_names);
  EXPECT_EQ(d.benign_class, d.meta_test.class_id("benign"));
  EXPECT_EQ(d.meta_train_x.rows(), static_cast<Eigen::Index>(d.meta_train.rows()));
  EXPECT_EQ(d.meta_test_x.cols(), static_cast<Eigen::Index>(d.transform.output_dim()));
  EXPECT_EQ(d.validation_family, "b");
  EXPECT_EQ(d.training_data_hash, content_hash(d.meta_train));
}

// The synthetic flows with every meta-test row (late benign rows, families c and d) given
// other feature values: x and y multiplied by `scale`.
void write_with_scaled_test_rows(const test::TempDir& dir, int scale, int train_row_offset) {
  dir.write("flows.schema.json",
            R"({"label_column": "label", "benign_label": "benign", "timestamp_column": "ts", "drop_columns": ["ts"]})");
  std::string csv = "ts,x,y,label\n";
  for (int i = 0; i < 100; ++i) {
    const int second = (i * 37) % 100;
    const bool test_row = second >= 60;  // the latest 40 benign rows go to meta-test
    const int factor = test_row ? scale : 1;
    const int offset = test_row ? 0 : train_row_offset;
    csv += fmt::format("2020-01-01 00:{:02}:{:02},{},{},benign\n", second / 60, second % 60, (i + offset) * factor,
                       second * factor);
  }
  const char* families[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 50; ++i) {
    const std::string family = families[i % 5];
    const int factor = family == "c" || family == "d" ? scale : 1;
    csv += fmt::format("2020-01-01 01:00:00,{},{},{}\n", (1000 + i) * factor, i * factor, family);
  }
  dir.write("flows.csv", csv);
}

TEST(Split, TransformIsFittedOnMetaTrainRowsOnly) {
  // Meta-test rows a thousand times larger change nothing in the transform; one changed
  // meta-train row does (so the comparison can fail).
  auto prepared = [](int scale, int train_row_offset) {
    test::TempDir dir;
    write_with_scaled_test_rows(dir, scale, train_row_offset);
    auto config = parse_experiment_config(families_config());
    config.config_dir = dir.path();
    return prepare_experiment(config, dir.path());
  };
  const ExperimentData base = prepared(1, 0);
  const ExperimentData scaled = prepared(1000, 0);
  const ExperimentData shifted = prepared(1, 7);
  EXPECT_NE(base.meta_test.features, scaled.meta_test.features);
  EXPECT_EQ(base.meta_train.features, scaled.meta_train.features);
  EXPECT_EQ(base.transform, scaled.transform);
  EXPECT_NE(base.transform, shifted.transform);
  // The fitted mean of x is the mean of sign(x)·log1p(|x|) over the meta-train rows, by hand.
  double sum = 0;
  for (Eigen::Index r = 0; r < base.meta_train.features.rows(); ++r)
    sum += std::log1p(static_cast<double>(base.meta_train.features(r, 0)));
  ASSERT_EQ(base.transform.numeric_names().front(), "x");
  EXPECT_NEAR(base.transform.mean()[0], sum / static_cast<double>(base.meta_train.rows()), 1e-4);
}

TEST(Split, BenignByRowOrderWithoutTimestamps) {
  test::TempDir dir;
  dir.write("flows.schema.json", R"({"label_column": "label", "benign_label": "benign"})");
  std::string csv = "x,y,label\n";
  for (int i = 0; i < 50; ++i) csv += fmt::format("{},{},benign\n", i, 1);
  for (int i = 0; i < 40; ++i) csv += fmt::format("{},{},{}\n", 100 + i, 2, "abcd"[i % 4]);
  for (int i = 50; i < 100; ++i) csv += fmt::format("{},{},benign\n", i, 1);
  dir.write("flows.csv", csv);
  auto json = families_config();
  auto config = parse_experiment_config(json);
  config.config_dir = dir.path();
  // The default (time) refuses data without timestamps and says what to do.
  const std::string m = error_of([&] { prepare_experiment(config, dir.path()); });
  EXPECT_NE(m.find("needs timestamps"), std::string::npos) << m;
  EXPECT_NE(m.find("\"benign_order\": \"row\""), std::string::npos) << m;
  json["split"]["benign_order"] = "row";
  config = parse_experiment_config(json);
  EXPECT_EQ(config.benign_order, "row");
  EXPECT_EQ(parse_experiment_config(config.to_json()).benign_order, "row");  // recorded in models
  config.config_dir = dir.path();
  const ExperimentData d = prepare_experiment(config, dir.path());
  // The first 60% of the benign rows in file order (x = 0..59) to meta-train, the rest to meta-test.
  std::vector<float> train_x, test_x;
  for (const size_t r : d.meta_train.rows_of_class("benign")) train_x.push_back(d.meta_train.features(static_cast<Eigen::Index>(r), 0));
  for (const size_t r : d.meta_test.rows_of_class("benign")) test_x.push_back(d.meta_test.features(static_cast<Eigen::Index>(r), 0));
  ASSERT_EQ(train_x.size(), 60u);
  ASSERT_EQ(test_x.size(), 40u);
  for (size_t i = 0; i < train_x.size(); ++i) EXPECT_EQ(train_x[i], static_cast<float>(i));
  for (size_t i = 0; i < test_x.size(); ++i) EXPECT_EQ(test_x[i], static_cast<float>(60 + i));
  // With timestamps, "row" ignores them: the synthetic flows' benign rows are not in time order.
  test::TempDir timed;
  write_synthetic(timed);
  config.config_dir = timed.path();
  const ExperimentData by_row = prepare_experiment(config, timed.path());
  std::vector<float> first;
  for (const size_t r : by_row.meta_train.rows_of_class("benign")) first.push_back(by_row.meta_train.features(static_cast<Eigen::Index>(r), 0));
  ASSERT_EQ(first.size(), 60u);
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i], static_cast<float>(i));  // x = row index 0..59
  // Bad values and the wrong split kind are refused; "time" stays the default (not written).
  json["split"]["benign_order"] = "random";
  EXPECT_NE(error_of([&] { parse_experiment_config(json); }).find("must be \"time\" or \"row\""), std::string::npos);
  EXPECT_FALSE(parse_experiment_config(families_config()).to_json()["split"].contains("benign_order"));
  auto files = nlohmann::json::parse(R"({"name": "n", "dataset": {"schema": "nslkdd", "train": "a", "test": "b"},
                                          "split": {"kind": "train_test_files", "benign_order": "row"}})");
  EXPECT_NE(error_of([&] { parse_experiment_config(files); }).find("applies to split kind \"families\" only"),
            std::string::npos);
}

TEST(Split, MissingFamilyIsAnError) {
  test::TempDir dir;
  write_synthetic(dir);
  auto json = families_config();
  json["split"]["meta_test_families"] = {"c", "zzz"};
  auto config = parse_experiment_config(json);
  config.config_dir = dir.path();
  EXPECT_THROW(prepare_experiment(config, dir.path()), Error);
}

TEST(Split, SharedCicIds2017) {
  METAIDS_REQUIRE_SHARED_DATA("cicids2017-improved-sample");
  const auto config = load_experiment_config(std::filesystem::path(METAIDS_SOURCE_DIR) / "configs/cicids2017.json");
  const ExperimentData d = prepare_experiment(config, test::shared_data_dir());
  EXPECT_EQ(d.meta_train.rows(), 3000u + 5000 * 4 + 3972 + 3859);
  EXPECT_EQ(d.meta_test.rows(), 2000u + 736 + 1740 + 2961 + 5000 + 73 + 36 + 18 + 13 + 11);
  EXPECT_TRUE(d.meta_train_x.allFinite());
  // Plain loop: GCC 12's AVX-512 maxCoeff trips -Wmaybe-uninitialized.
  for (Eigen::Index i = 0; i < d.meta_test_x.size(); ++i) ASSERT_LE(std::fabs(d.meta_test_x.data()[i]), 10.0f);
  const auto train_benign = d.meta_train.rows_of_class("BENIGN");
  const auto test_benign = d.meta_test.rows_of_class("BENIGN");
  int64_t latest_train = INT64_MIN, earliest_test = INT64_MAX;
  for (const size_t r : train_benign) latest_train = std::max(latest_train, d.meta_train.timestamps[r]);
  for (const size_t r : test_benign) earliest_test = std::min(earliest_test, d.meta_test.timestamps[r]);
  EXPECT_LE(latest_train, earliest_test);
}

TEST(Split, SharedNslKddRule) {
  METAIDS_REQUIRE_SHARED_DATA("nsl-kdd/KDDTest+.txt");
  const auto config = load_experiment_config(std::filesystem::path(METAIDS_SOURCE_DIR) / "configs/nslkdd.json");
  const ExperimentData d = prepare_experiment(config, test::shared_data_dir());
  const std::set<std::string> test_families(d.meta_test_families.begin(), d.meta_test_families.end());
  EXPECT_EQ(test_families, (std::set<std::string>{"mscan", "apache2", "processtable", "snmpguess", "saint", "mailbomb",
                                                  "snmpgetattack", "httptunnel"}));
  const std::set<std::string> train_families(d.meta_train_families.begin(), d.meta_train_families.end());
  EXPECT_EQ(train_families, (std::set<std::string>{"neptune", "satan", "ipsweep", "portsweep", "smurf", "nmap", "back",
                                                   "teardrop", "warezclient", "pod", "guess_passwd", "buffer_overflow",
                                                   "warezmaster"}));
  EXPECT_EQ(d.meta_train.rows(), 125973u - (18 + 11 + 10 + 9 + 8 + 7 + 4 + 3 + 2));
  // One-hot categories come from meta-train rows: 3 protocols, the flags and services seen.
  EXPECT_EQ(d.transform.categories().size(), 3u);
  EXPECT_EQ(d.transform.output_dim(), d.transform.numeric_names().size() + d.transform.categories()[0].values.size() +
                                          d.transform.categories()[1].values.size() +
                                          d.transform.categories()[2].values.size());
  EXPECT_TRUE(d.meta_test_x.allFinite());
}

TEST(Split, SharedRotatedConfigsExchangeTheFamilies) {
  // configs/*-rotated.json: what meta-trained is tested and what was tested meta-trains.
  METAIDS_REQUIRE_SHARED_DATA("cicids2017-improved-sample");
  METAIDS_REQUIRE_SHARED_DATA("nsl-kdd/KDDTest+.txt");
  const std::filesystem::path configs = std::filesystem::path(METAIDS_SOURCE_DIR) / "configs";
  using Set = std::set<std::string>;
  auto set_of = [](const std::vector<std::string>& v) { return Set(v.begin(), v.end()); };
  for (const char* dataset : {"cicids2017", "nslkdd"}) {
    const ExperimentData original =
        prepare_experiment(load_experiment_config(configs / fmt::format("{}.json", dataset)), test::shared_data_dir());
    const ExperimentData rotated =
        prepare_experiment(load_experiment_config(configs / fmt::format("{}-rotated.json", dataset)), test::shared_data_dir());
    EXPECT_EQ(set_of(rotated.meta_train_families), set_of(original.meta_test_families)) << dataset;
    EXPECT_EQ(set_of(rotated.meta_test_families), set_of(original.meta_train_families)) << dataset;
    EXPECT_EQ(rotated.rare_families, original.rare_families) << dataset;
    // The validation family is a meta-train family of the rotated split, so never tested there.
    EXPECT_EQ(set_of(rotated.meta_train_families).count(rotated.validation_family), 1u) << dataset;
    // No meta-test family row in meta-train, and the reverse.
    const Set train = set_of(rotated.meta_train_families), test = set_of(rotated.meta_test_families);
    for (const int32_t id : rotated.meta_train.class_ids) {
      const std::string& label = rotated.meta_train.class_names[static_cast<size_t>(id)];
      EXPECT_TRUE(label == rotated.meta_train.benign_label || train.count(label) == 1) << dataset << " " << label;
    }
    for (const int32_t id : rotated.meta_test.class_ids) {
      const std::string& label = rotated.meta_test.class_names[static_cast<size_t>(id)];
      EXPECT_EQ(train.count(label), 0u) << dataset << " " << label;
    }
    EXPECT_TRUE(rotated.meta_train_x.allFinite());
    EXPECT_TRUE(rotated.meta_test_x.allFinite());
  }
  // NSL-KDD rotated: the files exchange roles too (meta-train rows come from KDDTest+).
  const ExperimentData nsl =
      prepare_experiment(load_experiment_config(configs / "nslkdd-rotated.json"), test::shared_data_dir());
  EXPECT_EQ(nsl.meta_train.rows_of_class("normal").size(), 9711u);
  EXPECT_EQ(nsl.meta_test.rows_of_class("normal").size(), 67343u);
  EXPECT_EQ(nsl.meta_test.rows_of_class("neptune").size(), 41214u);
  EXPECT_EQ(nsl.validation_family, "httptunnel");
}

TEST(Split, ListedMetaTestFamiliesOfTrainTestFiles) {
  // Listed meta-test families need enough rows in the test file and must not be meta-train
  // families; rows they have in the train file are never used.
  test::TempDir dir;
  std::string train, test_rows;
  for (int i = 0; i < 30; ++i) {
    train += fmt::format("{},1,normal\n{},2,a\n{},3,b\n{},4,c\n", i, i, i, i);
    test_rows += fmt::format("{},1,normal\n{},2,a\n{},5,d\n", i, i, i);
  }
  dir.write("train.csv", "x,y,label\n" + train);
  dir.write("test.csv", "x,y,label\n" + test_rows);
  dir.write("s.json", R"({"label_column": "label", "benign_label": "normal"})");
  auto json = nlohmann::json::parse(R"({"name": "f", "dataset": {"schema": "s.json", "train": "train.csv", "test": "test.csv"},
    "split": {"kind": "train_test_files", "meta_train_families": ["b", "c"], "meta_test_families": ["a", "d"]}})");
  auto config = parse_experiment_config(json);
  config.config_dir = dir.path();
  const ExperimentData d = prepare_experiment(config, dir.path());
  EXPECT_EQ(d.meta_test_families, (std::vector<std::string>{"a", "d"}));
  EXPECT_TRUE(d.meta_train.rows_of_class("a").empty());  // a's train-file rows are not used
  EXPECT_EQ(d.meta_test.rows_of_class("a").size(), 30u);
  auto by_rule = json;  // meta-train families by the rule: a, b and c (>= 20 rows in the train file)
  by_rule["split"].erase("meta_train_families");
  config = parse_experiment_config(by_rule);
  config.config_dir = dir.path();
  EXPECT_NE(error_of([&] { prepare_experiment(config, dir.path()); }).find("'a' is also a meta-train family"),
            std::string::npos);
  json["split"]["meta_test_families"] = {"a", "zzz"};  // no rows in the test file
  config = parse_experiment_config(json);
  config.config_dir = dir.path();
  EXPECT_NE(error_of([&] { prepare_experiment(config, dir.path()); }).find("'zzz' has 0 rows"), std::string::npos);
}

}  // namespace
}  // namespace metaids::data
