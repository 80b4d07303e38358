#include "eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace metaids::eval {
namespace {

TEST(Metrics, AccuracyCountsMatches) {
  EXPECT_DOUBLE_EQ(accuracy(std::vector<int>{0, 1, 1, 0}, std::vector<int>{0, 1, 0, 0}), 0.75);
  EXPECT_TRUE(std::isnan(accuracy(std::vector<int>{}, std::vector<int>{})));
}

TEST(Metrics, F1HandComputedAndEdgeCases) {
  // TP = 2, FP = 1, FN = 1: precision 2/3, recall 2/3, F1 2/3.
  EXPECT_DOUBLE_EQ(f1_score(std::vector<int>{1, 1, 1, 0, 0}, std::vector<int>{1, 1, 0, 1, 0}, 1), 2.0 / 3.0);
  // Positives exist, none predicted: 0.
  EXPECT_DOUBLE_EQ(f1_score(std::vector<int>{0, 0}, std::vector<int>{1, 0}, 1), 0.0);
  // Everything flagged: precision 1/2, recall 1 → 2/3.
  EXPECT_DOUBLE_EQ(f1_score(std::vector<int>{1, 1}, std::vector<int>{1, 0}, 1), 2.0 / 3.0);
  // Nothing to find, nothing flagged: no mistake, 1.
  EXPECT_DOUBLE_EQ(f1_score(std::vector<int>{0, 0}, std::vector<int>{0, 0}, 1), 1.0);
  // Only false alarms: 0.
  EXPECT_DOUBLE_EQ(f1_score(std::vector<int>{1, 0}, std::vector<int>{0, 0}, 1), 0.0);
}

TEST(Metrics, RocAucWithoutTies) {
  // Positives 0.9, 0.4; negatives 0.5, 0.1: pairs won 0.9>0.5, 0.9>0.1, 0.4>0.1; lost 0.4<0.5 → 3/4.
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{0.9, 0.5, 0.4, 0.1}, std::vector<int>{1, 0, 1, 0}, 1), 0.75);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{3, 2, 1}, std::vector<int>{1, 1, 0}, 1), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{1, 2, 3}, std::vector<int>{1, 1, 0}, 1), 0.0);
}

TEST(Metrics, RocAucTiesCountHalf) {
  // Constant score: every pair tied → 0.5.
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{7, 7, 7, 7}, std::vector<int>{1, 0, 1, 0}, 1), 0.5);
  // Positives {2, 1}, negatives {1, 0}: pairs (2,1) win, (2,0) win, (1,1) tie, (1,0) win → 3.5/4.
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{2, 1, 1, 0}, std::vector<int>{1, 1, 0, 0}, 1), 0.875);
  // A tie run of three with mixed labels: positives {5, 3}, negatives {3, 3, 1}.
  // (5,·) 3 wins; (3,3) two ties = 1; (3,1) win → 3 + 1 + 1 = 5 of 6.
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{3, 5, 3, 1, 3}, std::vector<int>{1, 1, 0, 0, 0}, 1), 5.0 / 6.0);
  // Undefined with one group empty.
  EXPECT_TRUE(std::isnan(roc_auc(std::vector<double>{1, 2}, std::vector<int>{1, 1}, 1)));
}

TEST(Metrics, SummaryMeanAndConfidenceInterval) {
  // Values 0, 1, 0, 1: mean 0.5, std (divisor n) 0.5, ci 1.96 · 0.5 / 2 = 0.49.
  const Summary s = summarize(std::vector<double>{0, 1, 0, 1});
  EXPECT_DOUBLE_EQ(s.mean, 0.5);
  EXPECT_NEAR(s.ci95, 0.49, 1e-12);
  EXPECT_EQ(s.n, 4);
  // NaN values are left out.
  const Summary t = summarize(std::vector<double>{1, NAN, 1});
  EXPECT_EQ(t.n, 2);
  EXPECT_DOUBLE_EQ(t.ci95, 0.0);
}

TEST(Metrics, SeedsCombineMeanOfMeansAndSpread) {
  Summary a, b, c;
  a.mean = 0.8; a.ci95 = 0.02; a.n = 100;
  b.mean = 0.9; b.ci95 = 0.01; b.n = 100;
  c.mean = 1.0; c.ci95 = 0.03; c.n = 100;
  const std::vector<Summary> seeds{a, b, c};
  const Summary s = combine_seeds(seeds);
  EXPECT_NEAR(s.mean, 0.9, 1e-12);
  EXPECT_NEAR(s.ci95, 0.02, 1e-12);
  EXPECT_NEAR(s.seed_std, 0.1, 1e-12);  // sample std of 0.8, 0.9, 1.0
  EXPECT_EQ(s.seeds, 3);
  EXPECT_EQ(s.n, 100);
}

}  // namespace
}  // namespace metaids::eval
