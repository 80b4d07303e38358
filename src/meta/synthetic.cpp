#include "meta/synthetic.h"

#include <Eigen/QR>
#include <random>

#include "core/error.h"

namespace metaids::meta {

void SyntheticFamilyConfig::validate() const {
  require(features >= 1 && signal_dims >= 1 && signal_dims <= features,
          "synthetic family needs 1 <= signal dims ({}) <= features ({})", signal_dims, features);
  require(classes >= 2 && rows_per_class >= 2, "synthetic family needs >= 2 classes and >= 2 rows per class");
  require(class_spread > 0 && within >= 0 && nuisance >= 0, "synthetic family spreads must be non-negative");
}

SyntheticTable make_synthetic_family(const SyntheticFamilyConfig& config) {
  config.validate();
  std::mt19937_64 rng(config.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const int d = config.features, r = config.signal_dims;
  const Eigen::MatrixXd gaussian = Eigen::MatrixXd::NullaryExpr(d, d, [&] { return normal(rng); });
  const Eigen::MatrixXd rotation = Eigen::HouseholderQR<Eigen::MatrixXd>(gaussian).householderQ();
  SyntheticTable table;
  table.features = d;
  table.classes = config.classes;
  table.x.resize(static_cast<size_t>(config.classes) * static_cast<size_t>(config.rows_per_class) * static_cast<size_t>(d));
  table.y.reserve(static_cast<size_t>(config.classes) * static_cast<size_t>(config.rows_per_class));
  Eigen::VectorXd latent(d);
  size_t row = 0;
  for (int c = 0; c < config.classes; ++c) {
    const Eigen::VectorXd mean = Eigen::VectorXd::NullaryExpr(r, [&] { return config.class_spread * normal(rng); });
    for (int i = 0; i < config.rows_per_class; ++i, ++row) {
      for (int k = 0; k < d; ++k)
        latent(k) = k < r ? mean(k) + config.within * normal(rng) : config.nuisance * normal(rng);
      const Eigen::VectorXd x = rotation * latent;
      for (int k = 0; k < d; ++k) table.x[row * static_cast<size_t>(d) + static_cast<size_t>(k)] = static_cast<float>(x(k));
      table.y.push_back(c);
    }
  }
  return table;
}

std::vector<int> class_range(int begin, int end) {
  std::vector<int> out;
  for (int c = begin; c < end; ++c) out.push_back(c);
  return out;
}

}  // namespace metaids::meta
