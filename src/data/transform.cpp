#include "data/transform.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"

namespace metaids::data {

float FeatureTransform::signed_log1p(float x) {
  const float y = std::copysign(std::log1p(std::fabs(x)), x);
  return std::isfinite(y) ? y : 0.0f;
}

FeatureTransform FeatureTransform::fit(const FeatureTable& table, std::span<const size_t> rows, float clip) {
  require(table.rows() > 0, "cannot fit the feature transform on an empty table");
  require(clip > 0.0f && std::isfinite(clip), "transform clip must be positive (got {})", clip);
  std::vector<size_t> all;
  if (rows.empty()) {
    all.resize(table.rows());
    for (size_t r = 0; r < all.size(); ++r) all[r] = r;
    rows = all;
  }
  FeatureTransform t;
  t.clip_ = clip;
  t.numeric_names_ = table.feature_names;
  // Categories: those present in the fitting rows, in order of first appearance there.
  for (const auto& column : table.categorical) {
    std::vector<char> seen(column.vocabulary.size(), 0);
    Categories categories{column.name, {}};
    for (const size_t r : rows) {
      require(r < table.rows(), "transform fit: row {} out of range", r);
      const auto code = static_cast<size_t>(column.codes[r]);
      if (!seen[code]) {
        seen[code] = 1;
        categories.values.push_back(column.vocabulary[code]);
      }
    }
    t.categories_.push_back(std::move(categories));
  }
  const size_t numeric = t.numeric_names_.size();
  size_t dim = numeric;
  for (const auto& c : t.categories_) dim += c.values.size();
  // Mean and standard deviation of the signed-log values, in double (two passes).
  std::vector<double> sum(dim, 0.0), sum_sq(dim, 0.0);
  std::vector<float> row(dim);
  auto raw_row = [&](size_t r) {
    for (size_t j = 0; j < numeric; ++j)
      row[j] = table.features(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j));
    size_t offset = numeric;
    for (size_t c = 0; c < t.categories_.size(); ++c) {
      const auto& column = table.categorical[c];
      const std::string& value = column.vocabulary[static_cast<size_t>(column.codes[r])];
      const auto& values = t.categories_[c].values;
      for (size_t v = 0; v < values.size(); ++v) row[offset + v] = values[v] == value ? 1.0f : 0.0f;
      offset += values.size();
    }
    for (auto& x : row) x = signed_log1p(x);
  };
  for (const size_t r : rows) {
    raw_row(r);
    for (size_t j = 0; j < dim; ++j) sum[j] += row[j];
  }
  const double n = static_cast<double>(rows.size());
  std::vector<double> mean(dim);
  for (size_t j = 0; j < dim; ++j) mean[j] = sum[j] / n;
  for (const size_t r : rows) {
    raw_row(r);
    for (size_t j = 0; j < dim; ++j) {
      const double d = row[j] - mean[j];
      sum_sq[j] += d * d;
    }
  }
  t.mean_.resize(dim);
  t.std_.resize(dim);
  for (size_t j = 0; j < dim; ++j) {
    t.mean_[j] = static_cast<float>(mean[j]);
    const auto s = static_cast<float>(std::sqrt(sum_sq[j] / n));
    t.std_[j] = (s > 0.0f && std::isfinite(s)) ? s : 1.0f;
  }
  return t;
}

void FeatureTransform::apply_row_in_place(std::span<float> row) const {
  require(row.size() == mean_.size(), "transform: row has {} values, expected {}", row.size(), mean_.size());
  for (size_t j = 0; j < row.size(); ++j) {
    // signed_log1p(±0) is ±0, bit for bit: zeros (most columns of a short flow) skip log1p.
    const float x = row[j];
    const float z = ((x == 0.0f ? x : signed_log1p(x)) - mean_[j]) / std_[j];
    row[j] = std::clamp(z, -clip_, clip_);
  }
}

FeatureMatrix FeatureTransform::apply(const FeatureTable& table) const {
  std::vector<std::string> missing;
  std::vector<Eigen::Index> numeric_source(numeric_names_.size());
  for (size_t j = 0; j < numeric_names_.size(); ++j) {
    auto it = std::find(table.feature_names.begin(), table.feature_names.end(), numeric_names_[j]);
    if (it == table.feature_names.end()) {
      missing.push_back(numeric_names_[j]);
    } else {
      numeric_source[j] = static_cast<Eigen::Index>(it - table.feature_names.begin());
    }
  }
  // For each categorical column: table code → one-hot position (−1: unseen at fit time).
  std::vector<const CategoricalColumn*> categorical_source(categories_.size(), nullptr);
  std::vector<std::vector<int32_t>> code_to_slot(categories_.size());
  for (size_t c = 0; c < categories_.size(); ++c) {
    for (const auto& column : table.categorical)
      if (column.name == categories_[c].column) categorical_source[c] = &column;
    if (categorical_source[c] == nullptr) {
      missing.push_back(categories_[c].column);
      continue;
    }
    const auto& vocabulary = categorical_source[c]->vocabulary;
    code_to_slot[c].assign(vocabulary.size(), -1);
    for (size_t v = 0; v < vocabulary.size(); ++v) {
      auto it = std::find(categories_[c].values.begin(), categories_[c].values.end(), vocabulary[v]);
      if (it != categories_[c].values.end())
        code_to_slot[c][v] = static_cast<int32_t>(it - categories_[c].values.begin());
    }
  }
  if (!missing.empty())
    fail("the data lacks {} column(s) the model was trained on: {}", missing.size(), fmt::join(missing, ", "));
  const auto rows = static_cast<Eigen::Index>(table.rows());
  const auto dim = static_cast<Eigen::Index>(output_dim());
  FeatureMatrix out(rows, dim);
  const size_t numeric = numeric_names_.size();
  for (Eigen::Index r = 0; r < rows; ++r) {
    float* row = out.data() + r * dim;
    for (size_t j = 0; j < numeric; ++j) row[j] = table.features(r, numeric_source[j]);
    size_t offset = numeric;
    for (size_t c = 0; c < categories_.size(); ++c) {
      const size_t width = categories_[c].values.size();
      std::fill(row + offset, row + offset + width, 0.0f);
      const int32_t slot = code_to_slot[c][static_cast<size_t>(categorical_source[c]->codes[static_cast<size_t>(r)])];
      if (slot >= 0) row[offset + static_cast<size_t>(slot)] = 1.0f;
      offset += width;
    }
    apply_row_in_place(std::span<float>(row, static_cast<size_t>(dim)));
  }
  return out;
}

std::vector<std::string> FeatureTransform::output_names() const {
  std::vector<std::string> names = numeric_names_;
  for (const auto& c : categories_)
    for (const auto& v : c.values) names.push_back(c.column + "=" + v);
  return names;
}

nlohmann::json FeatureTransform::to_json() const {
  nlohmann::json categorical = nlohmann::json::array();
  for (const auto& c : categories_) categorical.push_back({{"column", c.column}, {"values", c.values}});
  // Floats are written as their exact double value; nlohmann prints the shortest decimal that
  // reads back to the same double, so the float round-trips bit for bit.
  return nlohmann::json{{"kind", "signed_log1p_zscore_clip"}, {"version", 1},     {"clip", clip_},
                        {"numeric", numeric_names_},          {"categorical", categorical},
                        {"mean", mean_},                      {"std", std_}};
}

FeatureTransform FeatureTransform::from_json(const nlohmann::json& json) {
  require(json.is_object(), "transform: expected a JSON object");
  static const std::set<std::string> known{"kind", "version", "clip", "numeric", "categorical", "mean", "std"};
  for (const auto& [key, value] : json.items())
    require(known.count(key) == 1, "transform: unknown key '{}'", key);
  for (const auto& key : known) require(json.contains(key), "transform: missing key '{}'", key);
  require(json["kind"] == "signed_log1p_zscore_clip", "transform: unknown kind {}", json["kind"].dump());
  require(json["version"] == 1, "transform: unsupported version {}", json["version"].dump());
  FeatureTransform t;
  try {
    t.clip_ = json["clip"].get<float>();
    t.numeric_names_ = json["numeric"].get<std::vector<std::string>>();
    for (const auto& c : json["categorical"]) {
      require(c.is_object() && c.size() == 2 && c.contains("column") && c.contains("values"),
              "transform: categorical entries need exactly 'column' and 'values'");
      t.categories_.push_back({c["column"].get<std::string>(), c["values"].get<std::vector<std::string>>()});
    }
    t.mean_ = json["mean"].get<std::vector<float>>();
    t.std_ = json["std"].get<std::vector<float>>();
  } catch (const nlohmann::json::exception& e) {
    fail("transform: malformed JSON ({})", e.what());
  }
  size_t dim = t.numeric_names_.size();
  for (const auto& c : t.categories_) dim += c.values.size();
  require(t.mean_.size() == dim && t.std_.size() == dim, "transform: {} columns but {} means and {} deviations", dim,
          t.mean_.size(), t.std_.size());
  require(t.clip_ > 0.0f, "transform: clip must be positive");
  for (size_t j = 0; j < dim; ++j)
    require(std::isfinite(t.mean_[j]) && std::isfinite(t.std_[j]) && t.std_[j] > 0.0f,
            "transform: column {} has a bad mean/std", j);
  return t;
}

}  // namespace metaids::data
