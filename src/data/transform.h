// The FSND-1 feature transform, fitted once on meta-train rows and stored in the model so
// that training, evaluation, adaptation and detection apply the identical mapping:
//
//   input columns:  the table's numeric features, then one-hot columns "name=value" for each
//                   categorical column (categories seen in the fitting rows; unseen → all 0)
//   every column x: y = sign(x)·log1p(|x|); non-finite y → 0;
//                   z = (y − mean) / std  (mean, std over the fitting rows; std 0 → 1);
//                   clip z to [−clip, clip] (clip = 10)
//
//   auto transform = FeatureTransform::fit(train_table, train_rows);
//   FeatureMatrix x = transform.apply(new_table);      // by feature NAME, any column order
//   nlohmann::json j = transform.to_json();            // exact float round-trip
#pragma once
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "data/feature_table.h"

namespace metaids::data {

class FeatureTransform {
 public:
  static constexpr float kDefaultClip = 10.0f;

  FeatureTransform() = default;

  // Fits on `rows` of `table` (all rows when `rows` is empty). Throws if the table is empty.
  static FeatureTransform fit(const FeatureTable& table, std::span<const size_t> rows = {},
                              float clip = kDefaultClip);

  // rows × output_dim(), row-major. Columns are looked up by name; if any are missing the
  // error lists all of them. Extra columns in `table` are ignored.
  FeatureMatrix apply(const FeatureTable& table) const;

  // One raw row already in this transform's input layout (numeric_names() order followed by
  // the one-hot columns): in place, for streaming use (detector).
  void apply_row_in_place(std::span<float> row) const;
  // Signed log1p with non-finite → 0: the first step alone (exposed for tests).
  static float signed_log1p(float x);

  size_t output_dim() const { return mean_.size(); }
  const std::vector<std::string>& numeric_names() const { return numeric_names_; }
  // Output column names: numeric names then "column=value" for each one-hot category.
  std::vector<std::string> output_names() const;
  struct Categories {
    std::string column;
    std::vector<std::string> values;
    bool operator==(const Categories&) const = default;
  };
  const std::vector<Categories>& categories() const { return categories_; }
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& stddev() const { return std_; }
  float clip() const { return clip_; }

  // {"kind": "signed_log1p_zscore_clip", "version": 1, "clip": 10, "numeric": [...],
  //  "categorical": [{"column": c, "values": [...]}], "mean": [...], "std": [...]}
  nlohmann::json to_json() const;
  static FeatureTransform from_json(const nlohmann::json& json);  // validates sizes and keys

  bool operator==(const FeatureTransform& other) const = default;

 private:
  std::vector<std::string> numeric_names_;
  std::vector<Categories> categories_;
  std::vector<float> mean_;
  std::vector<float> std_;
  float clip_ = kDefaultClip;
};

}  // namespace metaids::data
