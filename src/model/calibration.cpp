#include "model/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "core/error.h"
#include "model/scoring.h"

namespace metaids::model {

double threshold_for_rate(std::vector<float> values, double rate, bool inclusive, double* achieved) {
  require(std::isfinite(rate) && rate >= 0 && rate <= 1, "a rate must be in [0, 1], got {}", rate);
  if (values.empty()) {
    if (achieved != nullptr) *achieved = 0;
    return std::numeric_limits<double>::infinity();
  }
  // NaN sorts as the largest: it is always flagged, never allowed.
  std::sort(values.begin(), values.end(), [](float a, float b) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
    return a > b;
  });
  const auto n = values.size();
  const auto allowed = static_cast<size_t>(std::floor(rate * static_cast<double>(n) + 1e-9));
  double threshold;
  if (allowed >= n) {
    threshold = -std::numeric_limits<double>::infinity();
  } else {
    const float pivot = values[allowed];
    if (std::isnan(pivot)) {
      threshold = std::numeric_limits<double>::infinity();
    } else if (inclusive) {
      threshold = static_cast<double>(std::nextafter(pivot, std::numeric_limits<float>::infinity()));
    } else {
      threshold = static_cast<double>(pivot);
    }
  }
  if (achieved != nullptr) {
    size_t flagged = 0;
    for (float v : values) {
      const double x = static_cast<double>(v);
      flagged += std::isnan(v) || (inclusive ? x >= threshold : x > threshold) ? 1 : 0;
    }
    *achieved = static_cast<double>(flagged) / static_cast<double>(n);
  }
  return threshold;
}

namespace {

// Margins (classes × n; row 0 zero) of the benign reference flows, and every reference flow's
// novelty.
struct ReferenceScores {
  Matrix<float> benign_margins;
  std::vector<float> novelty;
};

// The columns of the benign reference flows.
std::vector<Eigen::Index> benign_columns(const Model& m) {
  std::vector<Eigen::Index> benign;
  for (size_t j = 0; j < m.reference_y.size(); ++j)
    if (m.reference_y[j] == 0) benign.push_back(static_cast<Eigen::Index>(j));
  return benign;
}

// The benign reference flows alone (threshold_for_rate needs nothing else).
Matrix<float> benign_reference(const Model& m) {
  const std::vector<Eigen::Index> benign = benign_columns(m);
  Matrix<float> x(m.reference_x.rows(), static_cast<Eigen::Index>(benign.size()));
  for (size_t j = 0; j < benign.size(); ++j) x.col(static_cast<Eigen::Index>(j)) = m.reference_x.col(benign[j]);
  return x;
}

ReferenceScores reference_scores(const Model& m, bool with_novelty = true) {
  ReferenceScores out;
  if (!with_novelty) {  // the benign flows alone
    std::vector<float> benign_novelty;
    class_margins(m, benign_reference(m), out.benign_margins, benign_novelty);
    return out;
  }
  // Every reference flow once; the benign margins are its benign columns.
  Matrix<float> margins;
  class_margins(m, m.reference_x, margins, out.novelty);
  const std::vector<Eigen::Index> benign = benign_columns(m);
  out.benign_margins.resize(margins.rows(), static_cast<Eigen::Index>(benign.size()));
  for (size_t j = 0; j < benign.size(); ++j)
    out.benign_margins.col(static_cast<Eigen::Index>(j)) = margins.col(benign[j]);
  return out;
}

// Per-class thresholds letting `allowed` benign flows through each, and the share of benign
// flows some class then flags.
std::vector<double> thresholds_for_count(const Matrix<float>& margins, size_t allowed, double& union_rate) {
  const auto n = static_cast<size_t>(margins.cols());
  std::vector<double> t(static_cast<size_t>(margins.rows()), 0.0);
  const double rate = n == 0 ? 0.0 : (static_cast<double>(allowed) + 0.5) / static_cast<double>(n);
  for (Eigen::Index k = 1; k < margins.rows(); ++k) {
    std::vector<float> values(n);
    for (size_t j = 0; j < n; ++j) values[j] = margins(k, static_cast<Eigen::Index>(j));
    t[static_cast<size_t>(k)] = threshold_for_rate(std::move(values), std::min(rate, 1.0), true, nullptr);
  }
  size_t flagged = 0;
  for (size_t j = 0; j < n; ++j) {
    bool any = false;
    for (Eigen::Index k = 1; k < margins.rows() && !any; ++k)
      any = !(static_cast<double>(margins(k, static_cast<Eigen::Index>(j))) < t[static_cast<size_t>(k)]);
    flagged += any ? 1 : 0;
  }
  union_rate = n == 0 ? 0.0 : static_cast<double>(flagged) / static_cast<double>(n);
  return t;
}

}  // namespace

double class_threshold_for_rate(const Model& m, int k, double rate) {
  // (the floor of calibrate_from_reference: the shared threshold, m.calibration.threshold)
  const ReferenceScores scores = reference_scores(m, false);
  const auto n = static_cast<size_t>(scores.benign_margins.cols());
  require(n > 0, "the model holds no benign reference flows to set a threshold on");
  std::vector<float> values(n);
  for (size_t j = 0; j < n; ++j) values[j] = scores.benign_margins(k, static_cast<Eigen::Index>(j));
  const auto allowed = static_cast<size_t>(std::floor(rate * static_cast<double>(n) + 1e-9));
  const double t = threshold_for_rate(std::move(values), (static_cast<double>(allowed) + 0.5) / static_cast<double>(n),
                                      true, nullptr);
  require(std::isfinite(t), "no finite threshold for class {} on the reference flows", k);
  return m.calibration.class_thresholds.empty() ? t : std::max(t, m.calibration.threshold);
}

void calibrate_from_reference(Model& m, double fpr, double unknown_rate) {
  require(std::isfinite(fpr) && fpr > 0 && fpr < 1, "--fpr must be in (0, 1), got {}", fpr);
  require(std::isfinite(unknown_rate) && unknown_rate >= 0 && unknown_rate < 1, "the unknown rate must be in [0, 1), got {}",
          unknown_rate);
  const ReferenceScores scores = reference_scores(m);
  const auto n = static_cast<size_t>(scores.benign_margins.cols());
  require(n > 0,
          "the model holds no benign reference flows to set a false-positive rate on; calibrate it on the site's "
          "traffic (metaids calibrate) or give --threshold");
  // The largest per-class count whose union stays within the rate.
  const auto budget = static_cast<size_t>(std::floor(fpr * static_cast<double>(n) + 1e-9));
  size_t allowed = budget;
  double union_rate = 0;
  std::vector<double> thresholds = thresholds_for_count(scores.benign_margins, allowed, union_rate);
  while (allowed > 0 && union_rate * static_cast<double>(n) > static_cast<double>(budget) + 1e-9) {
    --allowed;
    thresholds = thresholds_for_count(scores.benign_margins, allowed, union_rate);
  }
  // No class's threshold below the one threshold all classes would share for the same rate
  // (on the largest margin): a class the benign reference never comes near would otherwise get
  // a threshold just above their far tail, which traffic unlike the reference easily crosses.
  std::vector<float> largest(n);
  for (size_t j = 0; j < n; ++j)
    largest[j] = scores.benign_margins.rows() > 1
                     ? scores.benign_margins.col(static_cast<Eigen::Index>(j)).tail(scores.benign_margins.rows() - 1).maxCoeff()
                     : 0.0f;
  const double shared = threshold_for_rate(largest, fpr, true, nullptr);
  for (size_t k = 1; k < thresholds.size(); ++k) {
    thresholds[k] = std::max(thresholds[k], shared);
    require(std::isfinite(thresholds[k]), "no finite alert threshold gives FPR {} on the reference flows", fpr);
  }
  size_t flagged = 0;
  for (size_t j = 0; j < n; ++j) {
    bool any = false;
    for (size_t k = 1; k < thresholds.size() && !any; ++k)
      any = !(static_cast<double>(scores.benign_margins(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j))) <
              thresholds[k]);
    flagged += any ? 1 : 0;
  }
  union_rate = static_cast<double>(flagged) / static_cast<double>(n);
  Calibration c = m.calibration;
  c.class_thresholds = thresholds;
  c.threshold = shared;
  c.target_fpr = fpr;
  c.class_rate = static_cast<double>(allowed) / static_cast<double>(n);
  c.reference_fpr = union_rate;
  c.target_unknown_rate = unknown_rate;
  c.novelty_threshold = unknown_rate > 0 ? threshold_for_rate(scores.novelty, unknown_rate, false, &c.novelty_rate)
                                         : std::numeric_limits<double>::infinity();
  if (unknown_rate == 0) c.novelty_rate = 0;
  if (!(c.novelty_threshold >= 0)) c.novelty_threshold = 0;
  c.method = "reference";
  m.calibration = c;
}

std::vector<int> kmeans(const Matrix<float>& points, int k, std::uint64_t seed, int iterations) {
  const Eigen::Index n = points.cols();
  require(n > 0, "k-means of no points");
  k = static_cast<int>(std::clamp<Eigen::Index>(k, 1, n));
  std::mt19937_64 rng(seed);
  // k-means++: each next centre drawn with probability ∝ squared distance to the nearest one.
  Matrix<float> centres(points.rows(), k);
  centres.col(0) = points.col(static_cast<Eigen::Index>(std::uniform_int_distribution<Eigen::Index>(0, n - 1)(rng)));
  std::vector<double> nearest(static_cast<size_t>(n), std::numeric_limits<double>::infinity());
  for (int c = 1; c < k; ++c) {
    double total = 0;
    for (Eigen::Index j = 0; j < n; ++j) {
      const double d = (points.col(j) - centres.col(c - 1)).squaredNorm();
      nearest[static_cast<size_t>(j)] = std::min(nearest[static_cast<size_t>(j)], d);
      total += nearest[static_cast<size_t>(j)];
    }
    Eigen::Index pick = 0;
    if (total > 0) {
      double r = std::uniform_real_distribution<double>(0, total)(rng);
      for (pick = 0; pick + 1 < n; ++pick) {
        r -= nearest[static_cast<size_t>(pick)];
        if (r <= 0) break;
      }
    }
    centres.col(c) = points.col(pick);
  }
  std::vector<int> assignment(static_cast<size_t>(n), 0);
  for (int it = 0; it <= iterations; ++it) {
    bool changed = false;
    for (Eigen::Index j = 0; j < n; ++j) {
      Eigen::Index best = 0;
      (centres.colwise() - points.col(j)).colwise().squaredNorm().minCoeff(&best);
      if (assignment[static_cast<size_t>(j)] != static_cast<int>(best)) changed = true;
      assignment[static_cast<size_t>(j)] = static_cast<int>(best);
    }
    if (!changed && it > 0) break;
    Matrix<float> sums = Matrix<float>::Zero(points.rows(), k);
    std::vector<int> counts(static_cast<size_t>(k), 0);
    for (Eigen::Index j = 0; j < n; ++j) {
      sums.col(assignment[static_cast<size_t>(j)]) += points.col(j);
      ++counts[static_cast<size_t>(assignment[static_cast<size_t>(j)])];
    }
    for (int c = 0; c < k; ++c)
      if (counts[static_cast<size_t>(c)] > 0) centres.col(c) = sums.col(c) / static_cast<float>(counts[static_cast<size_t>(c)]);
  }
  // Renumber without gaps, in order of first appearance.
  std::vector<int> renumber(static_cast<size_t>(k), -1);
  int next = 0;
  for (int& a : assignment) {
    int& r = renumber[static_cast<size_t>(a)];
    if (r < 0) r = next++;
    a = r;
  }
  return assignment;
}

SiteCalibration calibrate_to_site(Model& model, const data::FeatureMatrix& rows, double fpr, double unknown_rate,
                                  nlohmann::json event, std::uint64_t seed) {
  Model m = model;  // built on a copy: a failure leaves the model as it was
  require(rows.rows() >= 2, "calibration needs at least 2 flows of the site's traffic, got {}", rows.rows());
  require(rows.cols() == m.features(), "site flows have {} features, the model takes {}", rows.cols(), m.features());
  require(rows.allFinite(), "the site flows hold non-finite values");
  SiteCalibration result;
  result.flows = static_cast<size_t>(rows.rows());
  std::vector<Eigen::Index> order(static_cast<size_t>(rows.rows()));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed ^ 0x53495445ULL);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<Eigen::Index> support_rows, reference_rows;
  for (size_t i = 0; i < order.size(); ++i) (i % 2 == 0 ? support_rows : reference_rows).push_back(order[i]);
  if (support_rows.size() > kMaxSiteSupport) support_rows.resize(kMaxSiteSupport);
  if (reference_rows.size() > kMaxSiteReference) reference_rows.resize(kMaxSiteReference);
  const Eigen::Index d = rows.cols();
  Matrix<float> support(d, static_cast<Eigen::Index>(support_rows.size()));
  for (size_t j = 0; j < support_rows.size(); ++j) support.col(static_cast<Eigen::Index>(j)) = rows.row(support_rows[j]).transpose();
  // Benign prototype groups: k-means of the new flows in the model's learned space.
  meta::DeployedState<float>::Workspace ws;
  const Matrix<float> embedded = m.state().embed(support, ws);
  // About four flows per prototype: no single odd flow becomes a prototype of its own, and
  // enough prototypes to follow the kinds of local traffic (at most 64).
  const int k = static_cast<int>(std::clamp<size_t>(support_rows.size() / 4, 1, 64));
  const std::vector<int> clusters = kmeans(embedded, k, seed);
  std::vector<int> groups = m.support_group.empty() ? meta::default_groups(m.support_y) : m.support_group;
  const int first_group = groups.empty() ? 0 : *std::max_element(groups.begin(), groups.end()) + 1;
  const Eigen::Index old_n = m.support_x.cols();
  m.support_x.conservativeResize(Eigen::NoChange, old_n + support.cols());
  m.support_x.rightCols(support.cols()) = support;
  for (int c : clusters) {
    m.support_y.push_back(0);
    groups.push_back(first_group + c);
    result.groups = std::max(result.groups, c + 1);
  }
  m.support_group = std::move(groups);
  // The site's flows replace the benign reference flows.
  std::vector<Eigen::Index> keep;
  for (size_t j = 0; j < m.reference_y.size(); ++j)
    if (m.reference_y[j] != 0) keep.push_back(static_cast<Eigen::Index>(j));
  Matrix<float> reference(d, static_cast<Eigen::Index>(keep.size() + reference_rows.size()));
  std::vector<int> reference_y;
  Eigen::Index col = 0;
  for (Eigen::Index j : keep) {
    reference.col(col++) = m.reference_x.col(j);
    reference_y.push_back(m.reference_y[static_cast<size_t>(j)]);
  }
  for (Eigen::Index r : reference_rows) {
    reference.col(col++) = rows.row(r).transpose();
    reference_y.push_back(0);
  }
  m.reference_x = std::move(reference);
  m.reference_y = std::move(reference_y);
  result.support = support_rows.size();
  result.reference = reference_rows.size();
  m.adapt();
  calibrate_from_reference(m, fpr, unknown_rate);
  m.calibration.method = "site";
  event["flows"] = result.flows;
  event["benign_support_added"] = result.support;
  event["benign_reference"] = result.reference;
  event["benign_groups"] = result.groups;
  event["fpr"] = fpr;
  event["unknown_rate"] = unknown_rate;
  event["thresholds"] = m.calibration.describe_thresholds();
  m.history.push_back(history_event("calibrate", std::move(event)));
  model = std::move(m);
  return result;
}

}  // namespace metaids::model
