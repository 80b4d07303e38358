#include "meta/baselines.h"

#include "meta/protonet.h"

namespace metaids::meta {

template <typename S>
Matrix<S> nearest_centroid_logits(const Batch<S>& support, int ways, const Matrix<S>& x) {
  return negative_squared_distances<S>(x, class_means<S>(support.x, support.y, ways));
}

template <typename S>
Vector<S> fine_tune(const nn::Mlp<S>& mlp, Vector<S> theta, const Batch<S>& support, const FineTuneConfig& config) {
  nn::Adam<S> adam(config.adam, mlp.parameter_count());
  nn::Workspace<S> ws;
  Vector<S> gradient;
  for (int step = 0; step < config.steps; ++step) {
    nn::regularized_loss_and_gradient(mlp, theta, support, config.regularization, gradient, ws);
    adam.step(theta, gradient);
  }
  return theta;
}

template Matrix<float> nearest_centroid_logits<float>(const Batch<float>&, int, const Matrix<float>&);
template Matrix<double> nearest_centroid_logits<double>(const Batch<double>&, int, const Matrix<double>&);
template Vector<float> fine_tune<float>(const nn::Mlp<float>&, Vector<float>, const Batch<float>&, const FineTuneConfig&);
template Vector<double> fine_tune<double>(const nn::Mlp<double>&, Vector<double>, const Batch<double>&,
                                          const FineTuneConfig&);

}  // namespace metaids::meta
