// Adaptation for deployment: a learner turns a model's labelled support set into the state
// that scores flows, ONCE (when a model is loaded, adapted or calibrated); scoring then reuses
// that state for every batch.
//
//   auto learner = make_learner<float>(config);
//   DeployedState<float> state = learner->deploy(phi, support, classes, groups, scratch);
//   DeployedState<float>::Workspace ws;
//   state.score(x, logits, novelty, ws);   // x (features × n) → logits (classes × n), novelty (n)
//
// The support may hold more classes than the network was meta-trained with (an analyst added
// one): that is part of each learner's adaptation, not code outside the learners.
//   ProtoNet     one prototype per prototype group (default: per class); a class's logit is
//                −(squared distance to its nearest prototype). A new class is one more group.
//   gradient     MAML, FOMAML, Reptile, ANIL, Meta-SGD: with exactly the meta-trained number of
//   learners     classes, the learner's own adapt() (what FSND-1 evaluates). Otherwise the output
//                layer is widened (or narrowed) to one row per class, new rows starting at the
//                mean of the meta-learned rows (Meta-SGD: their step sizes too), and the
//                learner's inner SGD runs on the whole support, class-balanced (each class's
//                flows repeated up to the largest count), for at least kWidenedSteps steps.
//
// Open set ("unknown"): every learner also keeps, per prototype group g, a centroid c_g of its
// support in an embedding space (ProtoNet: its embedding; the others: the adapted network's
// last hidden layer) and a scale s_g (the group's mean squared distance to c_g, unbiased,
// floored). The novelty of a flow is min_g ‖e(x) − c_g‖² / s_g: far from every known group.
#pragma once

#include <memory>
#include <vector>

#include "meta/learner.h"

namespace metaids::meta {

// Steps of the inner SGD when the output layer was widened for new classes.
inline constexpr int kWidenedSteps = 100;

template <typename S>
class DeployedState {
 public:
  struct Workspace {
    nn::Workspace<S> network;
    Matrix<S> distances;  // (groups × n)
  };

  // logits (classes × n) and novelty (n) of transformed flows x (features × n). Allocates only
  // when the batch is larger than any before with the same workspace.
  void score(const Matrix<S>& x, Matrix<S>& logits, Vector<S>& novelty, Workspace& ws) const;
  // The embedding (the space of the centroids) of x: (embedding × n), valid until ws is reused.
  const Matrix<S>& embed(const Matrix<S>& x, Workspace& ws) const;

  int classes() const { return classes_; }
  int groups() const { return static_cast<int>(group_class_.size()); }
  const nn::Mlp<S>& network() const { return *network_; }
  const Vector<S>& theta() const { return theta_; }
  const Matrix<S>& centroids() const { return centroids_; }    // (embedding × groups)
  const std::vector<int>& group_class() const { return group_class_; }
  const Vector<S>& group_scale() const { return group_scale_; }
  bool prototype_logits() const { return prototype_logits_; }

 private:
  template <typename>
  friend class MetaLearner;
  template <typename>
  friend class PrototypicalNetwork;
  // Fills centroids_, group_scale_ from the support's embeddings (embedding × n).
  void set_groups(const Matrix<S>& embeddings, const std::vector<int>& labels, const std::vector<int>& groups);
  // The embedding of the last forward pass in ws.network.
  const Matrix<S>& embedding(const nn::Workspace<S>& ws) const;

  std::shared_ptr<const nn::Mlp<S>> network_;
  Vector<S> theta_;
  int classes_ = 0;
  bool prototype_logits_ = false;  // ProtoNet: logits from the prototypes
  Matrix<S> centroids_;
  Vector<S> centroid_norms_;       // ‖c_g‖², cached
  std::vector<int> group_class_;
  Vector<S> group_scale_;
  // ProtoNet: the support it was deployed on and its embeddings, for the next deploy() of a
  // grown support (learner.h).
  Matrix<S> support_x_;
  Matrix<S> support_embeddings_;
};

// Prototype groups when none are given: one per class (group = label).
std::vector<int> default_groups(const std::vector<int>& labels);

// Squared distances (groups × n) of the columns of e (d × n) to the columns of c (d × groups),
// with ‖c_g‖² given: ‖e‖² + ‖c‖² − 2cᵀe, clamped at 0.
template <typename S>
void squared_distances(const Matrix<S>& e, const Matrix<S>& c, const Vector<S>& c_norms, Matrix<S>& out);

}  // namespace metaids::meta
