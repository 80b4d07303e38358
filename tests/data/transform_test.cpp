#include "data/transform.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/error.h"
#include "data/loaders.h"

namespace metaids::data {
namespace {

// A seeded synthetic table: 3 numeric features, one categorical column.
FeatureTable synthetic_table(size_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<float> heavy(3.0f, 2.0f);
  std::normal_distribution<float> normal(0.0f, 5.0f);
  FeatureTable t;
  t.feature_names = {"bytes", "delta", "constant"};
  t.features.resize(static_cast<Eigen::Index>(rows), 3);
  t.class_names = {"benign", "attack"};
  t.categorical.push_back({"proto", {"tcp", "udp", "icmp"}, {}});
  for (size_t r = 0; r < rows; ++r) {
    const auto i = static_cast<Eigen::Index>(r);
    t.features(i, 0) = heavy(rng);
    t.features(i, 1) = normal(rng);
    t.features(i, 2) = 42.0f;
    t.class_ids.push_back(static_cast<int32_t>(r % 2));
    t.categorical[0].codes.push_back(static_cast<int32_t>(r % 3));
  }
  return t;
}

TEST(Transform, SignedLog1p) {
  EXPECT_EQ(FeatureTransform::signed_log1p(0.0f), 0.0f);
  EXPECT_FLOAT_EQ(FeatureTransform::signed_log1p(std::exp(1.0f) - 1.0f), 1.0f);
  EXPECT_FLOAT_EQ(FeatureTransform::signed_log1p(-(std::exp(2.0f) - 1.0f)), -2.0f);
  EXPECT_EQ(FeatureTransform::signed_log1p(std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(FeatureTransform::signed_log1p(std::numeric_limits<float>::quiet_NaN()), 0.0f);
}

TEST(Transform, FitUsesOnlyTheGivenRows) {
  FeatureTable t = synthetic_table(1000, 1);
  std::vector<size_t> train;
  for (size_t r = 0; r < 500; ++r) train.push_back(r);
  const auto a = FeatureTransform::fit(t, train);
  // Changing rows outside the fitting set changes nothing.
  for (Eigen::Index r = 500; r < 1000; ++r) t.features.row(r).setConstant(1e30f);
  t.categorical[0].codes[999] = 2;
  const auto b = FeatureTransform::fit(t, train);
  EXPECT_EQ(a, b);
  // And the fitted statistics are those of the fitting rows: z-scores there have mean 0, std 1.
  const FeatureMatrix x = a.apply(t.select_rows(train));
  for (Eigen::Index j = 0; j < 2; ++j) {
    EXPECT_NEAR(x.col(j).mean(), 0.0f, 1e-4f);
    const float var = (x.col(j).array() - x.col(j).mean()).square().mean();
    EXPECT_NEAR(var, 1.0f, 1e-3f);
  }
  // A constant column has std 1, so it maps to 0.
  EXPECT_EQ(a.stddev()[2], 1.0f);
  for (Eigen::Index r = 0; r < x.rows(); ++r) EXPECT_EQ(x(r, 2), 0.0f);
}

TEST(Transform, ClipsAndMapsNonFiniteToZeroBeforeScaling) {
  FeatureTable t = synthetic_table(200, 2);
  const auto f = FeatureTransform::fit(t);
  FeatureTable extreme = t.select_rows(std::vector<size_t>{0, 1, 0, 0});
  extreme.features(0, 0) = 1e38f;
  extreme.features(1, 0) = std::numeric_limits<float>::infinity();
  extreme.features(2, 1) = 1e38f;
  extreme.features(3, 1) = -1e38f;
  // Unclipped, these z-scores lie far outside [-10, 10] (else the test would not test clipping).
  auto z = [&](size_t column, float raw) { return (FeatureTransform::signed_log1p(raw) - f.mean()[column]) / f.stddev()[column]; };
  ASSERT_GT(z(0, 1e38f), 10.0f);
  ASSERT_GT(z(1, 1e38f), 10.0f);
  ASSERT_LT(z(1, -1e38f), -10.0f);
  const FeatureMatrix x = f.apply(extreme);
  EXPECT_EQ(x(0, 0), 10.0f);   // clipped at the top
  EXPECT_EQ(x(2, 1), 10.0f);
  EXPECT_EQ(x(3, 1), -10.0f);  // and at the bottom
  // Infinity becomes 0 before scaling: the z-score of 0, not a clipped value.
  const float zero_score = (0.0f - f.mean()[0]) / f.stddev()[0];
  ASSERT_GT(std::fabs(zero_score), 0.0f);
  ASSERT_LT(std::fabs(zero_score), 10.0f);
  EXPECT_EQ(x(1, 0), zero_score);
  // A value inside the range is not touched by the clip.
  EXPECT_FLOAT_EQ(x(0, 1), z(1, extreme.features(0, 1)));
  EXPECT_TRUE(x.allFinite());
}

TEST(Transform, OneHotCategoriesFromFittingRowsUnseenAllZero) {
  FeatureTable t = synthetic_table(300, 3);
  std::vector<size_t> train;  // only tcp (code 0) and udp (code 1) rows
  for (size_t r = 0; r < t.rows(); ++r)
    if (t.categorical[0].codes[r] != 2) train.push_back(r);
  const auto f = FeatureTransform::fit(t, train);
  ASSERT_EQ(f.categories().size(), 1u);
  EXPECT_EQ(f.categories()[0].values, (std::vector<std::string>{"tcp", "udp"}));
  EXPECT_EQ(f.output_dim(), 5u);
  EXPECT_EQ(f.output_names()[3], "proto=tcp");
  // An icmp row: both one-hot inputs 0, i.e. (transform of 0 − mean)/std in each.
  const FeatureMatrix x = f.apply(t.select_rows(std::vector<size_t>{2}));
  for (size_t j = 3; j < 5; ++j)
    EXPECT_FLOAT_EQ(x(0, static_cast<Eigen::Index>(j)), std::clamp((0.0f - f.mean()[j]) / f.stddev()[j], -10.0f, 10.0f));
}

TEST(Transform, JsonRoundTripIsExact) {
  const auto f = FeatureTransform::fit(synthetic_table(777, 4));
  const std::string text = f.to_json().dump();
  const auto g = FeatureTransform::from_json(nlohmann::json::parse(text));
  EXPECT_EQ(f, g);
  for (size_t j = 0; j < f.output_dim(); ++j) {
    EXPECT_EQ(std::memcmp(&f.mean()[j], &g.mean()[j], sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(&f.stddev()[j], &g.stddev()[j], sizeof(float)), 0);
  }
  const auto t = synthetic_table(50, 5);
  const FeatureMatrix a = f.apply(t), b = g.apply(t);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.size()) * sizeof(float)), 0);
  auto bad = f.to_json();
  bad["extra"] = 1;
  EXPECT_THROW(FeatureTransform::from_json(bad), Error);
  bad = f.to_json();
  bad["mean"].erase(0);
  EXPECT_THROW(FeatureTransform::from_json(bad), Error);
}

TEST(Transform, AppliesByNameAndListsMissingColumns) {
  DatasetSchema s;
  s.label_column = "label";
  s.benign_label = "ok";
  const auto train = load_csv_text("a,b,c,label\n1,2,3,ok\n4,5,6,bad\n", s, "train");
  const auto f = FeatureTransform::fit(train);
  const auto reordered = load_csv_text("c,extra,label,a,b\n3,9,ok,1,2\n", s, "new");
  const FeatureMatrix x = f.apply(reordered);
  const FeatureMatrix y = f.apply(train);
  EXPECT_EQ(x.row(0), y.row(0));
  const auto missing = load_csv_text("a,label\n1,ok\n", s, "new");
  try {
    f.apply(missing);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lacks 2 column(s) the model was trained on: b, c"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace metaids::data
