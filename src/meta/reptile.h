// Reptile (Nichol et al. 2018): S SGD steps on the whole task (support and query), then move
// the initialisation toward the result. The "meta-gradient" handed to the outer optimiser is
// θ − θ'; it is not the gradient of any loss.
#pragma once

#include "meta/learner.h"

namespace metaids::meta {

template <typename S>
class Reptile final : public MetaLearner<S> {
 public:
  using MetaLearner<S>::MetaLearner;
  S meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient, Scratch<S>& scratch) const override;
  S meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const override;
  bool exact_gradient() const override { return false; }
  Adapted<S> adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                   int steps = -1) const override;
};

}  // namespace metaids::meta
