// Setting a model's thresholds from flows it has not adapted to.
//
//   calibrate_from_reference(m, 0.001, 0.001);   // the held-out reference flows in the model
//   calibrate_to_site(m, site_rows, 0.001, 0.001, event, seed);   // the site's own traffic
//
// Alert thresholds, one per attack class k on its margin (logit_k − logit_benign): each lets
// the same number a of the benign reference flows through (t_k just above the (a+1)-th largest
// benign margin of class k), with a the largest count at which all classes together flag at
// most `fpr` of them. Novelty threshold: the smallest τ such that at most `unknown_rate` of
// all held-out reference flows (every known class) have novelty > τ.
//
// Site calibration takes flows of the site's own traffic, unlabelled and assumed mostly
// benign (an attack in them is learnt as normal: say so to the user). A seeded shuffle splits
// them in two: one half becomes benign support (at most kMaxSiteSupport flows, in k-means
// groups of about four flows, at most 64, in the learned space, so a prototype learner gets one benign prototype per kind of
// local traffic; the other learners adapt on them), the other half replaces the benign
// reference flows (at most kMaxSiteReference) that the thresholds are then set on.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "data/feature_table.h"
#include "model/model.h"

namespace metaids::model {

inline constexpr size_t kMaxSiteSupport = 512;
inline constexpr size_t kMaxSiteReference = 2000;

// The t with count(values ≥ t) ≤ ⌊rate·n⌋ just above the next value (inclusive = true), or the
// τ with count(values > τ) ≤ ⌊rate·n⌋ (inclusive = false). `achieved` gets the share flagged.
double threshold_for_rate(std::vector<float> values, double rate, bool inclusive, double* achieved);

void calibrate_from_reference(Model& model, double fpr, double unknown_rate);
// The threshold of class k that lets `rate` of the benign reference flows through.
double class_threshold_for_rate(const Model& model, int k, double rate);

struct SiteCalibration {
  size_t flows = 0;       // site flows given
  size_t support = 0;     // of them, added to the benign support
  size_t reference = 0;   // of them, now the benign reference
  int groups = 0;         // benign prototype groups they form
};
SiteCalibration calibrate_to_site(Model& model, const data::FeatureMatrix& rows, double fpr, double unknown_rate,
                                  nlohmann::json event, std::uint64_t seed);

// Deterministic k-means (k-means++ start from `seed`, Lloyd's iterations) of the columns of
// points (d × n); returns each column's cluster, numbered 0.. without gaps.
std::vector<int> kmeans(const Matrix<float>& points, int k, std::uint64_t seed, int iterations = 25);

}  // namespace metaids::model
