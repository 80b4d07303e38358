// A small synthetic flow dataset written as CSV + schema + FSND-1 config into a temporary
// directory: benign and twelve attack families, each a Gaussian cluster in 8 features.
#pragma once

#include <fmt/format.h>

#include <random>
#include <string>

#include "data/temp_dir.h"

namespace metaids::test {

inline void write_synthetic_flows(const TempDir& dir, int rows_per_family = 60, int benign_rows = 400) {
  dir.write("flows.schema.json",
            R"({"label_column": "Label", "benign_label": "BENIGN", "timestamp_column": "Timestamp",
                "drop_columns": ["Timestamp"]})");
  const char* families[] = {"A", "B", "C", "D", "E", "V", "T1", "T2", "T3", "T4", "T5", "R"};
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0.0, 1.0);
  constexpr int d = 8;
  std::string csv = "Timestamp";
  for (int j = 0; j < d; ++j) csv += fmt::format(",f{}", j);
  csv += ",Label\n";
  auto row = [&](int second, const std::string& label, int family) {
    csv += fmt::format("2020-01-01 {:02}:{:02}:{:02}", second / 3600, (second / 60) % 60, second % 60);
    for (int j = 0; j < d; ++j) {
      // Family f is centred on a pattern of the features (benign: family = -1 near the origin).
      const double centre = family < 0 ? 1.0 : 1.0 + 40.0 * (((family * 7 + j * 3) % 5) == 0 ? 1 : 0) + 5.0 * family;
      csv += fmt::format(",{:.4f}", std::exp(std::log(centre) + 0.3 * noise(rng)) - 1.0);
    }
    csv += "," + label + "\n";
  };
  for (int i = 0; i < benign_rows; ++i) row(i, "BENIGN", -1);
  for (int f = 0; f < 12; ++f) {
    const int n = std::string(families[f]) == "R" ? 6 : rows_per_family;
    for (int i = 0; i < n; ++i) row(10000 + f * 100 + i, families[f], f);
  }
  dir.write("flows.csv", csv);
  dir.write("config.json", R"({
    "name": "synthetic",
    "dataset": {"schema": "flows.schema.json", "path": "flows.csv"},
    "split": {"kind": "families", "benign_label": "BENIGN",
              "meta_train_families": ["A", "B", "C", "D", "E", "V"],
              "meta_test_families": ["T1", "T2", "T3", "T4", "T5"],
              "rare_families": ["R"], "validation_family": "V"},
    "episodes": {"shots": [1, 5], "query": 15, "episodes": 40, "classification_ways": 5, "test_seed": 11},
    "seeds": [0, 1]
  })");
}

}  // namespace metaids::test
