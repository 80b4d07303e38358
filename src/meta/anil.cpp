#include "meta/anil.h"

#include "core/error.h"
#include "meta/maml.h"

namespace metaids::meta {

namespace {
nn::MlpSpec body_spec(const LearnerConfig& config) {
  nn::MlpSpec spec = config.network_spec();
  require(spec.layers() >= 2, "ANIL needs at least one hidden layer");
  spec.sizes.pop_back();
  // The body's last "output" width is a hidden width; give it a loss only to satisfy the spec.
  spec.loss = spec.outputs() >= 2 ? nn::Loss::softmax_cross_entropy : nn::Loss::sigmoid_binary_cross_entropy;
  return spec;
}

}  // namespace

template <typename S>
Anil<S>::Anil(LearnerConfig config) : MetaLearner<S>(std::move(config)), body_(body_spec(this->config_)) {
  head_offset_ = body_.parameter_count();
  head_inputs_ = body_.spec().outputs();
}

template <typename S>
Matrix<S> Anil<S>::features(const Vector<S>& phi, const Matrix<S>& x, Matrix<S>& body_pre, Scratch<S>& scratch) const {
  scratch.body_theta = phi.head(head_offset_);
  body_pre = body_.forward(scratch.body_theta, x, scratch.query);
  Matrix<S> h;
  nn::apply_activation(this->config_.activation, body_pre, h);
  return h;
}

template <typename S>
S Anil<S>::meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient, Scratch<S>& scratch) const {
  this->check_task(task);
  const int steps = this->config_.inner_steps;
  const S alpha = static_cast<S>(this->config_.inner_learning_rate);
  const int ways = this->config_.ways;
  const Eigen::Index ns = task.support.x.cols(), nq = task.query.x.cols();
  Batch<S>& both = scratch.both;
  concatenate_into(task.support, task.query, both);
  Matrix<S> body_pre;
  const Matrix<S> h = features(phi, both.x, body_pre, scratch);
  const Matrix<S> hs = h.leftCols(ns), hq = h.rightCols(nq);

  // Inner loop on the head (W: ways × h, b: ways); keep each step's probabilities.
  using Head = Eigen::Map<const Matrix<S>>;
  std::vector<Matrix<S>> w(static_cast<size_t>(steps) + 1), probabilities(static_cast<size_t>(steps));
  std::vector<Vector<S>> b(static_cast<size_t>(steps) + 1);
  w[0] = Head(phi.data() + head_offset_, ways, head_inputs_);
  b[0] = Eigen::Map<const Vector<S>>(phi.data() + head_offset_ + ways * head_inputs_, ways);
  Matrix<S> g;
  for (int s = 0; s < steps; ++s) {
    const auto i = static_cast<size_t>(s);
    Matrix<S> z = w[i] * hs;
    z.colwise() += b[i];
    nn::logits_loss_and_gradient<S>(nn::Loss::softmax_cross_entropy, z, task.support.y, g, &probabilities[i]);
    w[i + 1] = w[i] - alpha * (g * hs.transpose());
    b[i + 1] = b[i] - alpha * g.rowwise().sum();
  }
  // Query loss at the adapted head.
  Matrix<S> zq = w[static_cast<size_t>(steps)] * hq;
  zq.colwise() += b[static_cast<size_t>(steps)];
  S value = nn::logits_loss_and_gradient<S>(nn::Loss::softmax_cross_entropy, zq, task.query.y, g);
  Matrix<S> v_w = g * hq.transpose();
  Vector<S> v_b = g.rowwise().sum();
  Matrix<S> d_h(h.rows(), h.cols());
  d_h.rightCols(nq) = w[static_cast<size_t>(steps)].transpose() * g;
  d_h.leftCols(ns).setZero();

  // Back through the inner steps. With u = α v (the head direction) and R{Z} = U_W H + u_b,
  // R{G} = (P ⊙ R{Z} − P·(1ᵀ(P ⊙ R{Z})))/n:
  //   H_hh u = (R{G} Hᵀ, rowsum R{G});   ∂/∂H (∇_head L · u) = U_Wᵀ G + Wᵀ R{G}.
  const S inv_ns = S(1) / static_cast<S>(ns);
  for (int s = steps - 1; s >= 0; --s) {
    const auto i = static_cast<size_t>(s);
    const Matrix<S>& p = probabilities[i];
    Matrix<S> grad_logits = p;  // G = (P − Y)/n
    for (Eigen::Index j = 0; j < ns; ++j) grad_logits(task.support.y[static_cast<size_t>(j)], j) -= S(1);
    grad_logits *= inv_ns;
    const Matrix<S> u_w = alpha * v_w;
    const Vector<S> u_b = alpha * v_b;
    Matrix<S> rz = u_w * hs;
    rz.colwise() += u_b;
    Matrix<S> rg = p.cwiseProduct(rz);
    const Eigen::Matrix<S, 1, Eigen::Dynamic> dot = rg.colwise().sum();
    rg -= p * dot.asDiagonal();
    rg *= inv_ns;
    d_h.leftCols(ns) -= u_w.transpose() * grad_logits + w[i].transpose() * rg;
    v_w -= rg * hs.transpose();
    v_b -= rg.rowwise().sum();
  }

  // One backward pass through the body for every column's ∂L/∂H.
  nn::multiply_by_derivative(this->config_.activation, body_pre, h, d_h);
  gradient.resize(this->network_.parameter_count());
  body_.backward(scratch.body_theta, both.x, d_h, scratch.body_gradient, scratch.query);
  gradient.head(head_offset_) = scratch.body_gradient;
  Eigen::Map<Matrix<S>>(gradient.data() + head_offset_, ways, head_inputs_) = v_w;
  Eigen::Map<Vector<S>>(gradient.data() + head_offset_ + ways * head_inputs_, ways) = v_b;
  if (this->config_.weight_decay != 0) {
    value += static_cast<S>(this->config_.weight_decay) * phi.squaredNorm();
    gradient += static_cast<S>(2 * this->config_.weight_decay) * phi;
  }
  return value;
}

template <typename S>
S Anil<S>::meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const {
  // Independent path: the generic inner loop with a head-only step-size mask.
  const GradientMetaLearner<S> generic(this->config_);
  return generic.meta_loss(phi, task, scratch);
}

template <typename S>
Adapted<S> Anil<S>::adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                          int steps) const {
  require(ways == this->config_.ways, "a {}-way support set cannot adapt a {}-way anil network", ways,
          this->config_.ways);
  require(support.x.rows() == this->config_.inputs, "support set has {} features but the model expects {}",
          support.x.rows(), this->config_.inputs);
  const int n = steps < 0 ? this->config_.adapt_steps : steps;
  const S alpha = static_cast<S>(this->config_.inner_learning_rate);
  Matrix<S> body_pre;
  const Matrix<S> hs = features(phi, support.x, body_pre, scratch);
  Adapted<S> adapted;
  adapted.theta = phi;
  Eigen::Map<Matrix<S>> w(adapted.theta.data() + head_offset_, ways, head_inputs_);
  Eigen::Map<Vector<S>> b(adapted.theta.data() + head_offset_ + ways * head_inputs_, ways);
  Matrix<S> g;
  for (int s = 0; s < n; ++s) {
    Matrix<S> z = w * hs;
    z.colwise() += b;
    nn::logits_loss_and_gradient<S>(nn::Loss::softmax_cross_entropy, z, support.y, g);
    w -= alpha * (g * hs.transpose());
    b -= alpha * g.rowwise().sum();
  }
  return adapted;
}

template <typename S>
Vector<S> Anil<S>::adaptation_step_sizes(const Vector<S>& /*phi*/) const {
  Vector<S> out = Vector<S>::Zero(this->network_.parameter_count());
  out.tail(out.size() - head_offset_).setConstant(static_cast<S>(this->config_.inner_learning_rate));
  return out;
}

template class Anil<float>;
template class Anil<double>;

}  // namespace metaids::meta
