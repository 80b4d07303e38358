#include "meta/protonet.h"

#include <cstring>

#include "core/error.h"
#include "meta/deployment.h"

namespace metaids::meta {

template <typename S>
Matrix<S> class_means(const Matrix<S>& embeddings, const std::vector<int>& labels, int ways) {
  Matrix<S> means = Matrix<S>::Zero(embeddings.rows(), ways);
  std::vector<int> counts(static_cast<size_t>(ways), 0);
  for (Eigen::Index j = 0; j < embeddings.cols(); ++j) {
    const int k = labels[static_cast<size_t>(j)];
    require(k >= 0 && k < ways, "label {} out of range for {} ways", k, ways);
    means.col(k) += embeddings.col(j);
    ++counts[static_cast<size_t>(k)];
  }
  for (int k = 0; k < ways; ++k) {
    require(counts[static_cast<size_t>(k)] > 0, "class {} has no support sample", k);
    means.col(k) /= static_cast<S>(counts[static_cast<size_t>(k)]);
  }
  return means;
}

template <typename S>
Matrix<S> negative_squared_distances(const Matrix<S>& x, const Matrix<S>& prototypes) {
  // −‖x‖² − ‖c‖² + 2 cᵀx
  Matrix<S> logits = S(2) * (prototypes.transpose() * x);
  logits.colwise() -= prototypes.colwise().squaredNorm().transpose();
  logits.rowwise() -= x.colwise().squaredNorm();
  return logits;
}

template <typename S>
S PrototypicalNetwork<S>::meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient,
                                        Scratch<S>& scratch) const {
  this->check_task(task);
  Batch<S>& both = scratch.both;
  concatenate_into(task.support, task.query, both);
  const Eigen::Index ns = task.support.x.cols(), nq = task.query.x.cols();
  nn::Workspace<S>& ws = scratch.query;
  const Matrix<S> embedded = this->network_.forward(phi, both.x, ws);  // (e × (ns + nq))
  const auto support_embeddings = embedded.leftCols(ns);
  const auto query_embeddings = embedded.rightCols(nq);
  const Matrix<S> prototypes = class_means<S>(support_embeddings, task.support.y, task.ways);
  const Matrix<S> logits = negative_squared_distances<S>(query_embeddings, prototypes);
  Matrix<S> g;  // dL/dlogits (ways × nq)
  const S value = nn::logits_loss_and_gradient<S>(nn::Loss::softmax_cross_entropy, logits, task.query.y, g);

  // logits(k,j) = −‖e_j − c_k‖²:  dL/de_j = −2 Σ_k g_kj (e_j − c_k);  dL/dc_k = 2 Σ_j g_kj (e_j − c_k).
  Matrix<S> d_embedded(embedded.rows(), embedded.cols());
  const Eigen::Matrix<S, 1, Eigen::Dynamic> g_col_sum = g.colwise().sum();
  d_embedded.rightCols(nq) = S(-2) * (query_embeddings * g_col_sum.asDiagonal()) + S(2) * (prototypes * g);
  const Eigen::Matrix<S, Eigen::Dynamic, 1> g_row_sum = g.rowwise().sum();
  const Matrix<S> d_prototypes = S(2) * (query_embeddings * g.transpose()) - S(2) * (prototypes * g_row_sum.asDiagonal());
  std::vector<int> counts(static_cast<size_t>(task.ways), 0);
  for (int label : task.support.y) ++counts[static_cast<size_t>(label)];
  for (Eigen::Index j = 0; j < ns; ++j) {
    const int k = task.support.y[static_cast<size_t>(j)];
    d_embedded.col(j) = d_prototypes.col(k) / static_cast<S>(counts[static_cast<size_t>(k)]);
  }
  this->network_.backward(phi, both.x, d_embedded, gradient, ws);
  S total = value;
  if (this->config_.weight_decay != 0) {
    total += static_cast<S>(this->config_.weight_decay) * phi.squaredNorm();
    gradient += static_cast<S>(2 * this->config_.weight_decay) * phi;
  }
  return total;
}

template <typename S>
S PrototypicalNetwork<S>::meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const {
  this->check_task(task);
  const Adapted<S> adapted = adapt(phi, task.support, task.ways, scratch);
  const Matrix<S> logits = predict(adapted, task.query.x, scratch);
  Matrix<S> g;
  S value = nn::logits_loss_and_gradient<S>(nn::Loss::softmax_cross_entropy, logits, task.query.y, g);
  if (this->config_.weight_decay != 0) value += static_cast<S>(this->config_.weight_decay) * phi.squaredNorm();
  return value;
}

template <typename S>
Adapted<S> PrototypicalNetwork<S>::adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                                         int /*steps*/) const {
  require(support.x.rows() == this->config_.inputs, "support set has {} features but the model expects {}",
          support.x.rows(), this->config_.inputs);
  Adapted<S> adapted;
  adapted.theta = phi;
  adapted.prototypes = class_means<S>(this->network_.forward(phi, support.x, scratch.query), support.y, ways);
  return adapted;
}

template <typename S>
Matrix<S> PrototypicalNetwork<S>::predict(const Adapted<S>& adapted, const Matrix<S>& x, Scratch<S>& scratch) const {
  return negative_squared_distances<S>(this->network_.forward(adapted.theta, x, scratch.query), adapted.prototypes);
}

template <typename S>
DeployedState<S> PrototypicalNetwork<S>::deploy(const Vector<S>& phi, const Batch<S>& support, int classes,
                                                const std::vector<int>& groups, Scratch<S>& scratch,
                                                const DeployedState<S>* previous) const {
  require(classes >= 2, "a deployed model needs at least 2 classes, got {}", classes);
  require(support.x.rows() == this->config_.inputs, "support set has {} features but the model expects {}",
          support.x.rows(), this->config_.inputs);
  require(static_cast<Eigen::Index>(support.y.size()) == support.x.cols(), "{} labels for {} support flows",
          support.y.size(), support.x.cols());
  for (int y : support.y) require(y >= 0 && y < classes, "support label {} out of range for {} classes", y, classes);
  DeployedState<S> state;
  state.classes_ = classes;
  state.prototype_logits_ = true;
  state.network_ = std::make_shared<const nn::Mlp<S>>(this->network_.spec());
  state.theta_ = phi;
  // The support's embeddings, block by block (a product's rounding may depend on its width, so
  // the blocks are the same whatever was reused). The leading whole blocks whose columns and
  // network are those of `previous` are copied from it.
  constexpr Eigen::Index kBlock = 64;
  const Eigen::Index n = support.x.cols();
  const Eigen::Index d = support.x.rows();
  Eigen::Index reused = 0;
  if (previous != nullptr && previous->prototype_logits_ && previous->network_ != nullptr &&
      previous->network_->spec().sizes == this->network_.spec().sizes &&
      previous->network_->spec().hidden == this->network_.spec().hidden && previous->theta_.size() == phi.size() &&
      std::memcmp(previous->theta_.data(), phi.data(), static_cast<size_t>(phi.size()) * sizeof(S)) == 0 &&
      previous->support_x_.rows() == d && previous->support_embeddings_.cols() == previous->support_x_.cols()) {
    // The longest run of equal whole blocks from the start (flows are appended at the end, and
    // a class kept within its limit loses its oldest columns, so the front is what stays).
    const Eigen::Index k = std::min(previous->support_x_.cols(), n) / kBlock * kBlock;
    const auto block_bytes = static_cast<size_t>(kBlock * d) * sizeof(S);
    while (reused < k && std::memcmp(previous->support_x_.data() + reused * d, support.x.data() + reused * d,
                                     block_bytes) == 0)
      reused += kBlock;
  }
  Matrix<S> embeddings(this->network_.spec().outputs(), n);
  if (reused > 0) embeddings.leftCols(reused) = previous->support_embeddings_.leftCols(reused);
  Matrix<S> block;
  for (Eigen::Index c = reused; c < n; c += kBlock) {
    const Eigen::Index w = std::min(kBlock, n - c);
    block = support.x.middleCols(c, w);
    embeddings.middleCols(c, w) = this->network_.forward_into(phi, block, scratch.query);
  }
  state.set_groups(embeddings, support.y, groups);
  state.support_x_ = support.x;
  state.support_embeddings_ = std::move(embeddings);
  return state;
}

template class PrototypicalNetwork<float>;
template class PrototypicalNetwork<double>;
template Matrix<float> class_means<float>(const Matrix<float>&, const std::vector<int>&, int);
template Matrix<double> class_means<double>(const Matrix<double>&, const std::vector<int>&, int);
template Matrix<float> negative_squared_distances<float>(const Matrix<float>&, const Matrix<float>&);
template Matrix<double> negative_squared_distances<double>(const Matrix<double>&, const Matrix<double>&);

}  // namespace metaids::meta
