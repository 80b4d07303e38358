// Prototypical Networks (Snell et al. 2017): an embedding f_θ; a class is the mean embedding
// of its support samples, c_k; a query's logits are −‖f_θ(x) − c_k‖². The loss is softmax
// cross-entropy over the query set; its gradient flows into both the query embeddings and,
// through the prototypes, the support embeddings.
#pragma once

#include "meta/learner.h"

namespace metaids::meta {

template <typename S>
class PrototypicalNetwork final : public MetaLearner<S> {
 public:
  using MetaLearner<S>::MetaLearner;
  S meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient, Scratch<S>& scratch) const override;
  S meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const override;
  Adapted<S> adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                   int steps = -1) const override;
  Matrix<S> predict(const Adapted<S>& adapted, const Matrix<S>& x, Scratch<S>& scratch) const override;
  // Embeds the support in fixed blocks of columns, so that the embeddings of a grown support's
  // unchanged blocks can be taken from `previous` bit for bit.
  DeployedState<S> deploy(const Vector<S>& phi, const Batch<S>& support, int classes, const std::vector<int>& groups,
                          Scratch<S>& scratch, const DeployedState<S>* previous = nullptr) const override;
};

// Class means of the columns of `embeddings` (embedding × n) by label: (embedding × ways).
// Throws metaids::Error when a class has no sample.
template <typename S>
Matrix<S> class_means(const Matrix<S>& embeddings, const std::vector<int>& labels, int ways);

// logits(k, j) = −‖x_j − c_k‖² for x (d × n) and prototypes (d × ways).
template <typename S>
Matrix<S> negative_squared_distances(const Matrix<S>& x, const Matrix<S>& prototypes);

}  // namespace metaids::meta
