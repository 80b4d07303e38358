#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"

namespace metaids::eval {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

double accuracy(std::span<const int> predicted, std::span<const int> truth) {
  require(predicted.size() == truth.size(), "accuracy: {} predictions for {} labels", predicted.size(), truth.size());
  if (truth.empty()) return kNaN;
  size_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i] ? 1 : 0;
  return static_cast<double>(correct) / static_cast<double>(truth.size());
}

double f1_score(std::span<const int> predicted, std::span<const int> truth, int positive) {
  require(predicted.size() == truth.size(), "f1: {} predictions for {} labels", predicted.size(), truth.size());
  size_t tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const bool p = predicted[i] == positive, t = truth[i] == positive;
    tp += p && t ? 1 : 0;
    fp += p && !t ? 1 : 0;
    fn += !p && t ? 1 : 0;
  }
  const size_t denominator = 2 * tp + fp + fn;
  if (denominator == 0) return 1.0;
  return 2.0 * static_cast<double>(tp) / static_cast<double>(denominator);
}

double roc_auc(std::span<const double> scores, std::span<const int> truth, int positive) {
  require(scores.size() == truth.size(), "roc_auc: {} scores for {} labels", scores.size(), truth.size());
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Ranks 1..n; a run of equal scores gets the mean of the ranks it spans.
  double positive_rank_sum = 0;
  size_t positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j + 1)) / 2.0;
    for (size_t k = i; k <= j; ++k) {
      if (truth[order[k]] == positive) {
        positive_rank_sum += average_rank;
        ++positives;
      }
    }
    i = j + 1;
  }
  const size_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  const double p = static_cast<double>(positives), q = static_cast<double>(negatives);
  const double u = positive_rank_sum - p * (p + 1) / 2.0;
  return u / (p * q);
}

Summary summarize(std::span<const double> values) {
  Summary s;
  double sum = 0;
  for (double v : values)
    if (!std::isnan(v)) {
      sum += v;
      ++s.n;
    }
  if (s.n == 0) {
    s.mean = kNaN;
    s.ci95 = kNaN;
    return s;
  }
  s.mean = sum / s.n;
  double squares = 0;
  for (double v : values)
    if (!std::isnan(v)) squares += (v - s.mean) * (v - s.mean);
  s.ci95 = 1.96 * std::sqrt(squares / s.n) / std::sqrt(static_cast<double>(s.n));
  return s;
}

Summary combine_seeds(std::span<const Summary> per_seed) {
  require(!per_seed.empty(), "combine_seeds needs at least one seed");
  Summary s;
  s.seeds = static_cast<int>(per_seed.size());
  s.n = per_seed.front().n;
  double mean = 0, ci = 0;
  for (const Summary& one : per_seed) {
    mean += one.mean;
    ci += one.ci95;
  }
  s.mean = mean / s.seeds;
  s.ci95 = ci / s.seeds;
  if (s.seeds > 1) {
    double squares = 0;
    for (const Summary& one : per_seed) squares += (one.mean - s.mean) * (one.mean - s.mean);
    s.seed_std = std::sqrt(squares / (s.seeds - 1));
  }
  return s;
}

nlohmann::json Summary::to_json() const {
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"mean", number(mean)}, {"ci95", number(ci95)}, {"n", n}, {"seed_std", number(seed_std)}, {"seeds", seeds}};
}

}  // namespace metaids::eval
