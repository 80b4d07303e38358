#include "meta/deployment.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "nn/gemm.h"

namespace metaids::meta {

std::vector<int> default_groups(const std::vector<int>& labels) { return labels; }

template <typename S>
void squared_distances(const Matrix<S>& e, const Matrix<S>& c, const Vector<S>& c_norms, Matrix<S>& out) {
  // out(g, j) = ‖c_g‖² + ‖e_j‖² − 2 c_gᵀ e_j
  nn::multiply_transposed_a(c, e, out);
  for (Eigen::Index j = 0; j < e.cols(); ++j) {
    const S e_norm = e.col(j).squaredNorm();
    auto column = out.col(j);
    column = (c_norms.array() + e_norm - S(2) * column.array()).cwiseMax(S(0));
  }
}

template <typename S>
void DeployedState<S>::set_groups(const Matrix<S>& embeddings, const std::vector<int>& labels,
                                  const std::vector<int>& groups) {
  const std::vector<int>& group_of = groups.empty() ? labels : groups;
  require(group_of.size() == static_cast<size_t>(embeddings.cols()), "{} prototype groups for {} support flows",
          group_of.size(), embeddings.cols());
  int count = 0;
  for (int g : group_of) {
    require(g >= 0 && g < (1 << 20), "prototype group {} out of range", g);
    count = std::max(count, g + 1);
  }
  group_class_.assign(static_cast<size_t>(count), -1);
  std::vector<int> members(static_cast<size_t>(count), 0);
  centroids_ = Matrix<S>::Zero(embeddings.rows(), count);
  for (size_t j = 0; j < group_of.size(); ++j) {
    const auto g = static_cast<size_t>(group_of[j]);
    const int k = labels[j];
    require(group_class_[g] == -1 || group_class_[g] == k, "prototype group {} holds flows of two classes ({} and {})",
            g, group_class_[g], k);
    group_class_[g] = k;
    centroids_.col(static_cast<Eigen::Index>(g)) += embeddings.col(static_cast<Eigen::Index>(j));
    ++members[g];
  }
  for (size_t g = 0; g < members.size(); ++g) {
    require(members[g] > 0, "prototype group {} has no support flow", g);
    centroids_.col(static_cast<Eigen::Index>(g)) /= static_cast<S>(members[g]);
  }
  for (int k = 0; k < classes_; ++k)
    require(std::find(group_class_.begin(), group_class_.end(), k) != group_class_.end(), "class {} has no support flow",
            k);
  centroid_norms_ = centroids_.colwise().squaredNorm().transpose();
  // Spread of each group: mean squared distance to its centroid, × n/(n−1) (unbiased).
  std::vector<double> spread(static_cast<size_t>(count), 0.0);
  for (size_t j = 0; j < group_of.size(); ++j) {
    const auto g = static_cast<size_t>(group_of[j]);
    spread[g] += static_cast<double>(
        (embeddings.col(static_cast<Eigen::Index>(j)) - centroids_.col(static_cast<Eigen::Index>(g))).squaredNorm());
  }
  std::vector<double> known;
  for (size_t g = 0; g < spread.size(); ++g) {
    if (members[g] < 2) continue;
    spread[g] = spread[g] / static_cast<double>(members[g] - 1);
    known.push_back(spread[g]);
  }
  // A group of one flow takes the median spread of the others; no group may be tighter than a
  // twentieth of that median (identical flows would make every neighbour "unknown").
  double median = 1.0;
  if (!known.empty()) {
    std::nth_element(known.begin(), known.begin() + static_cast<std::ptrdiff_t>(known.size() / 2), known.end());
    median = known[known.size() / 2];
  }
  if (!(median > 0) || !std::isfinite(median)) median = 1.0;
  group_scale_.resize(count);
  for (size_t g = 0; g < spread.size(); ++g) {
    const double s = members[g] < 2 ? median : std::max(spread[g], 0.05 * median);
    group_scale_(static_cast<Eigen::Index>(g)) = static_cast<S>(s);
  }
}

template <typename S>
const Matrix<S>& DeployedState<S>::embedding(const nn::Workspace<S>& ws) const {
  const int layers = network_->spec().layers();
  if (prototype_logits_ || layers < 2) return ws.pre[static_cast<size_t>(layers - 1)];
  return ws.post[static_cast<size_t>(layers - 2)];
}

template <typename S>
const Matrix<S>& DeployedState<S>::embed(const Matrix<S>& x, Workspace& ws) const {
  network_->forward_into(theta_, x, ws.network);
  return embedding(ws.network);
}

template <typename S>
void DeployedState<S>::score(const Matrix<S>& x, Matrix<S>& logits, Vector<S>& novelty, Workspace& ws) const {
  network_->forward_into(theta_, x, ws.network);
  const Matrix<S>& e = embedding(ws.network);
  squared_distances<S>(e, centroids_, centroid_norms_, ws.distances);
  const Eigen::Index n = x.cols();
  const auto groups = static_cast<Eigen::Index>(group_class_.size());
  novelty.resize(n);
  if (prototype_logits_) {
    logits.setConstant(classes_, n, -std::numeric_limits<S>::infinity());
    for (Eigen::Index j = 0; j < n; ++j) {
      S best = std::numeric_limits<S>::infinity();
      for (Eigen::Index g = 0; g < groups; ++g) {
        const S d = ws.distances(g, j);
        S& logit = logits(group_class_[static_cast<size_t>(g)], j);
        logit = std::max(logit, -d);
        best = std::min(best, d / group_scale_(g));
      }
      novelty(j) = best;
    }
    return;
  }
  logits = ws.network.pre.back();
  for (Eigen::Index j = 0; j < n; ++j)
    novelty(j) = (ws.distances.col(j).array() / group_scale_.array()).minCoeff();
}

// The generic adaptation of the gradient learners (see deployment.h).
template <typename S>
DeployedState<S> MetaLearner<S>::deploy(const Vector<S>& phi, const Batch<S>& support, int classes,
                                        const std::vector<int>& groups, Scratch<S>& scratch,
                                        const DeployedState<S>* /*previous*/) const {
  require(classes >= 2, "a deployed model needs at least 2 classes, got {}", classes);
  require(support.x.rows() == config_.inputs, "support set has {} features but the model expects {}", support.x.rows(),
          config_.inputs);
  require(static_cast<Eigen::Index>(support.y.size()) == support.x.cols(), "{} labels for {} support flows",
          support.y.size(), support.x.cols());
  for (int y : support.y) require(y >= 0 && y < classes, "support label {} out of range for {} classes", y, classes);
  DeployedState<S> state;
  state.classes_ = classes;
  state.prototype_logits_ = false;
  const nn::MlpSpec old_spec = network_.spec();
  const int ways = old_spec.outputs();
  std::vector<int> counts(static_cast<size_t>(classes), 0);
  for (int y : support.y) ++counts[static_cast<size_t>(y)];
  for (int k = 0; k < classes; ++k) require(counts[static_cast<size_t>(k)] > 0, "class {} has no support flow", k);
  if (classes == ways) {
    state.network_ = std::make_shared<const nn::Mlp<S>>(old_spec);
    state.theta_ = adapt(phi, support, ways, scratch).theta.head(network_.parameter_count());
  } else {
    nn::MlpSpec spec = old_spec;
    spec.sizes.back() = classes;
    auto net = std::make_shared<const nn::Mlp<S>>(spec);
    const int last = spec.layers() - 1;
    const std::int64_t old_count = network_.parameter_count();
    const std::int64_t body = old_spec.weight_offset(last);
    auto widen = [&](const Vector<S>& old_v) {
      Vector<S> v(net->parameter_count());
      v.head(body) = old_v.head(body);
      auto w_old = network_.weight(old_v, last);
      auto b_old = network_.bias(old_v, last);
      auto w = net->weight(v, last);
      auto b = net->bias(v, last);
      for (int c = 0; c < classes; ++c) {
        if (c < ways) {
          w.row(c) = w_old.row(c);
          b(c) = b_old(c);
        } else {
          w.row(c) = w_old.colwise().mean();
          b(c) = b_old.mean();
        }
      }
      return v;
    };
    Vector<S> theta = widen(phi.head(old_count));
    const Vector<S> step = widen(adaptation_step_sizes(phi));
    // New classes start from an uninformed row: more steps, on a class-balanced support (each
    // class's flows repeated up to the largest class's count), so five flows of a new attack
    // are not outvoted by the reference flows of the others.
    const int steps = classes > ways ? std::max(config_.adapt_steps, kWidenedSteps) : config_.adapt_steps;
    std::vector<std::vector<Eigen::Index>> by_class(static_cast<size_t>(classes));
    for (size_t j = 0; j < support.y.size(); ++j)
      by_class[static_cast<size_t>(support.y[j])].push_back(static_cast<Eigen::Index>(j));
    size_t largest = 0;
    for (const auto& c : by_class) largest = std::max(largest, c.size());
    Batch<S> balanced;
    balanced.x.resize(support.x.rows(), static_cast<Eigen::Index>(largest) * classes);
    Eigen::Index col = 0;
    for (int c = 0; c < classes; ++c)
      for (size_t i = 0; i < largest; ++i) {
        const auto& members = by_class[static_cast<size_t>(c)];
        balanced.x.col(col++) = support.x.col(members[i % members.size()]);
        balanced.y.push_back(c);
      }
    Vector<S> gradient;
    for (int s = 0; s < steps; ++s) {
      net->loss_and_gradient(theta, balanced, gradient, scratch.query);
      theta -= step.cwiseProduct(gradient);
    }
    state.network_ = std::move(net);
    state.theta_ = std::move(theta);
  }
  // Open set: the support in the adapted network's last hidden layer.
  state.network_->forward_into(state.theta_, support.x, scratch.query);
  state.set_groups(state.embedding(scratch.query), support.y, groups);
  return state;
}

template <typename S>
Vector<S> MetaLearner<S>::adaptation_step_sizes(const Vector<S>& /*phi*/) const {
  return Vector<S>::Constant(network_.parameter_count(), static_cast<S>(config_.inner_learning_rate));
}

template class DeployedState<float>;
template class DeployedState<double>;
template void squared_distances<float>(const Matrix<float>&, const Matrix<float>&, const Vector<float>&,
                                       Matrix<float>&);
template void squared_distances<double>(const Matrix<double>&, const Matrix<double>&, const Vector<double>&,
                                        Matrix<double>&);
template DeployedState<float> MetaLearner<float>::deploy(const Vector<float>&, const Batch<float>&, int,
                                                         const std::vector<int>&, Scratch<float>&,
                                                         const DeployedState<float>*) const;
template DeployedState<double> MetaLearner<double>::deploy(const Vector<double>&, const Batch<double>&, int,
                                                           const std::vector<int>&, Scratch<double>&,
                                                           const DeployedState<double>*) const;
template Vector<float> MetaLearner<float>::adaptation_step_sizes(const Vector<float>&) const;
template Vector<double> MetaLearner<double>::adaptation_step_sizes(const Vector<double>&) const;

}  // namespace metaids::meta
