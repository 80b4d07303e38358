// FSND-1 metrics: per-episode accuracy, F1 (attack positive) and ROC-AUC, and their summary
// over episodes (mean ± 1.96·std/√n) and over meta-training seeds (mean of the per-seed means,
// standard deviation between seeds).
//
//   double auc = roc_auc(scores, is_attack);   // Mann-Whitney U with average ranks for ties
//   Summary s = summarize(per_episode_accuracy);
//   Summary over_seeds = combine_seeds({s0, s1, s2});
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <span>
#include <vector>

namespace metaids::eval {

// Fraction of positions where predicted == truth. Empty input: NaN.
double accuracy(std::span<const int> predicted, std::span<const int> truth);

// F1 of class `positive`: 2·TP / (2·TP + FP + FN). When there is nothing to find and nothing
// was flagged (TP + FP + FN = 0) the detector made no mistake and F1 is 1; when positives
// exist but none was predicted, F1 is 0.
double f1_score(std::span<const int> predicted, std::span<const int> truth, int positive);

// Area under the ROC curve of `scores` for telling positives (truth == positive) from the
// rest: the Mann-Whitney U statistic divided by n_pos·n_neg, tied scores sharing the average
// of their ranks (so a constant score gives exactly 0.5). NaN when either group is empty.
double roc_auc(std::span<const double> scores, std::span<const int> truth, int positive);

struct Summary {
  double mean = 0;
  double ci95 = 0;     // 1.96 · std / √n, std with divisor n (numpy's default)
  int n = 0;           // episodes
  double seed_std = 0; // standard deviation of the per-seed means (divisor seeds − 1); 0 for one seed
  int seeds = 1;

  nlohmann::json to_json() const;
};

// Mean and 95% confidence half-width of per-episode values. NaN values (an AUC that is
// undefined) are left out and not counted in n.
Summary summarize(std::span<const double> values);

// Over meta-training seeds: mean of the per-seed means, mean of the per-seed ci95 (the
// episode-sampling uncertainty of one run), seed_std the spread of the per-seed means.
Summary combine_seeds(std::span<const Summary> per_seed);

}  // namespace metaids::eval
