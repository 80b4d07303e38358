#include "nn/mlp.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "nn/gemm.h"

namespace metaids::nn {

Activation activation_from_string(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "leaky_relu") return Activation::leaky_relu;
  if (name == "tanh") return Activation::tanh;
  if (name == "identity") return Activation::identity;
  fail("unknown activation '{}' (expected relu, leaky_relu, tanh or identity)", name);
}

std::string to_string(Activation activation) {
  switch (activation) {
    case Activation::relu: return "relu";
    case Activation::leaky_relu: return "leaky_relu";
    case Activation::tanh: return "tanh";
    case Activation::identity: return "identity";
  }
  return "?";
}

Loss loss_from_string(const std::string& name) {
  if (name == "softmax_cross_entropy") return Loss::softmax_cross_entropy;
  if (name == "sigmoid_binary_cross_entropy") return Loss::sigmoid_binary_cross_entropy;
  fail("unknown loss '{}' (expected softmax_cross_entropy or sigmoid_binary_cross_entropy)", name);
}

std::string to_string(Loss loss) {
  return loss == Loss::softmax_cross_entropy ? "softmax_cross_entropy" : "sigmoid_binary_cross_entropy";
}

std::int64_t MlpSpec::parameter_count() const {
  std::int64_t n = 0;
  for (int l = 0; l < layers(); ++l) n += std::int64_t{sizes[l + 1]} * (sizes[l] + 1);
  return n;
}

std::int64_t MlpSpec::weight_offset(int layer) const {
  std::int64_t n = 0;
  for (int l = 0; l < layer; ++l) n += std::int64_t{sizes[l + 1]} * (sizes[l] + 1);
  return n;
}

std::int64_t MlpSpec::bias_offset(int layer) const {
  return weight_offset(layer) + std::int64_t{sizes[layer + 1]} * sizes[layer];
}

std::int64_t MlpSpec::forward_macs() const {
  std::int64_t n = 0;
  for (int l = 0; l < layers(); ++l) n += std::int64_t{sizes[l + 1]} * sizes[l];
  return n;
}

void MlpSpec::validate() const {
  require(sizes.size() >= 2, "a network needs at least an input and an output size, got {} sizes", sizes.size());
  for (int s : sizes) require(s >= 1 && s <= (1 << 20), "layer width {} is out of range [1, 1048576]", s);
  require(loss != Loss::sigmoid_binary_cross_entropy || outputs() == 1,
          "the sigmoid binary cross-entropy loss needs exactly 1 output, got {}", outputs());
  require(loss != Loss::softmax_cross_entropy || outputs() >= 2,
          "the softmax cross-entropy loss needs at least 2 outputs, got {}", outputs());
}

template <typename S>
void apply_activation(Activation a, const Matrix<S>& z, Matrix<S>& out) {
  switch (a) {
    case Activation::relu: out = z.cwiseMax(S(0)); break;
    case Activation::leaky_relu: out = z.unaryExpr([](S t) { return t > S(0) ? t : S(0.01) * t; }); break;
    case Activation::tanh: out = z.array().tanh().matrix(); break;
    case Activation::identity: out = z; break;
  }
}

// m ⊙= act'(z) where `a_out` = act(z) (tanh uses the output).
template <typename S>
void multiply_by_derivative(Activation a, const Matrix<S>& z, const Matrix<S>& a_out, Matrix<S>& m) {
  switch (a) {
    case Activation::relu: m = (z.array() > S(0)).select(m, S(0)); break;
    case Activation::leaky_relu: m = (z.array() > S(0)).select(m, S(0.01) * m); break;
    case Activation::tanh: m.array() *= (S(1) - a_out.array().square()); break;
    case Activation::identity: break;
  }
}

namespace {

template <typename S>
bool has_second_derivative(Activation a) {
  return a == Activation::tanh;
}

}  // namespace

template <typename S>
S logits_loss_and_gradient(Loss loss, const Matrix<S>& logits, const std::vector<int>& y, Matrix<S>& dlogits,
                           Matrix<S>* probabilities) {
  const Eigen::Index n = logits.cols();
  require(static_cast<Eigen::Index>(y.size()) == n, "batch has {} samples but {} labels", n, y.size());
  require(n > 0, "empty batch");
  const S inv_n = S(1) / static_cast<S>(n);
  dlogits.resize(logits.rows(), n);
  double total = 0;
  if (loss == Loss::softmax_cross_entropy) {
    for (Eigen::Index j = 0; j < n; ++j) {
      const int label = y[static_cast<size_t>(j)];
      const S m = logits.col(j).maxCoeff();
      auto d = dlogits.col(j);
      d = (logits.col(j).array() - m).exp().matrix();
      const S sum = d.sum();
      d /= sum;
      total += static_cast<double>(-(logits(label, j) - m - std::log(sum)));
      d(label) -= S(1);
      d *= inv_n;
    }
    if (probabilities != nullptr) {
      *probabilities = dlogits * static_cast<S>(n);
      for (Eigen::Index j = 0; j < n; ++j) (*probabilities)(y[static_cast<size_t>(j)], j) += S(1);
    }
  } else {
    for (Eigen::Index j = 0; j < n; ++j) {
      const S z = logits(0, j);
      const S t = static_cast<S>(y[static_cast<size_t>(j)]);
      // softplus(z) - t z, computed stably.
      const S softplus = z > S(0) ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
      total += static_cast<double>(softplus - t * z);
      const S p = S(1) / (S(1) + std::exp(-z));
      dlogits(0, j) = (p - t) * inv_n;
    }
    if (probabilities != nullptr) {
      probabilities->resize(1, n);
      for (Eigen::Index j = 0; j < n; ++j) (*probabilities)(0, j) = S(1) / (S(1) + std::exp(-logits(0, j)));
    }
  }
  return static_cast<S>(total / static_cast<double>(n));
}

template <typename S>
std::vector<int> predict_classes(const Matrix<S>& logits) {
  std::vector<int> out(static_cast<size_t>(logits.cols()));
  for (Eigen::Index j = 0; j < logits.cols(); ++j) {
    if (logits.rows() == 1) {
      out[static_cast<size_t>(j)] = logits(0, j) > S(0) ? 1 : 0;
    } else {
      Eigen::Index best = 0;
      logits.col(j).maxCoeff(&best);
      out[static_cast<size_t>(j)] = static_cast<int>(best);
    }
  }
  return out;
}

template <typename S>
std::vector<double> class_scores(const Matrix<S>& logits, int positive) {
  std::vector<double> out(static_cast<size_t>(logits.cols()));
  for (Eigen::Index j = 0; j < logits.cols(); ++j) {
    if (logits.rows() == 1) {
      const double z = static_cast<double>(logits(0, j));
      out[static_cast<size_t>(j)] = positive == 1 ? 1.0 / (1.0 + std::exp(-z)) : 1.0 / (1.0 + std::exp(z));
    } else {
      const double m = static_cast<double>(logits.col(j).maxCoeff());
      double sum = 0;
      for (Eigen::Index i = 0; i < logits.rows(); ++i) sum += std::exp(static_cast<double>(logits(i, j)) - m);
      out[static_cast<size_t>(j)] = std::exp(static_cast<double>(logits(positive, j)) - m) / sum;
    }
  }
  return out;
}

template <typename S>
Mlp<S>::Mlp(MlpSpec spec) : spec_(std::move(spec)) {
  spec_.validate();
  count_ = spec_.parameter_count();
}

template <typename S>
Eigen::Map<const Matrix<S>> Mlp<S>::weight(const Vector<S>& theta, int layer) const {
  return {theta.data() + spec_.weight_offset(layer), spec_.sizes[layer + 1], spec_.sizes[layer]};
}
template <typename S>
Eigen::Map<Matrix<S>> Mlp<S>::weight(Vector<S>& theta, int layer) const {
  return {theta.data() + spec_.weight_offset(layer), spec_.sizes[layer + 1], spec_.sizes[layer]};
}
template <typename S>
Eigen::Map<const Vector<S>> Mlp<S>::bias(const Vector<S>& theta, int layer) const {
  return {theta.data() + spec_.bias_offset(layer), spec_.sizes[layer + 1]};
}
template <typename S>
Eigen::Map<Vector<S>> Mlp<S>::bias(Vector<S>& theta, int layer) const {
  return {theta.data() + spec_.bias_offset(layer), spec_.sizes[layer + 1]};
}

template <typename S>
Vector<S> Mlp<S>::initial_parameters(std::mt19937_64& rng) const {
  Vector<S> theta = Vector<S>::Zero(count_);
  for (int l = 0; l < spec_.layers(); ++l) {
    const double fan_in = spec_.sizes[l];
    const double fan_out = spec_.sizes[l + 1];
    const bool rectified = spec_.hidden == Activation::relu || spec_.hidden == Activation::leaky_relu;
    const double limit = rectified && l + 1 < spec_.layers() ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
    std::uniform_real_distribution<double> dist(-limit, limit);
    auto w = weight(theta, l);
    for (Eigen::Index k = 0; k < w.size(); ++k) w.data()[k] = static_cast<S>(dist(rng));
  }
  return theta;
}

template <typename S>
const Matrix<S>& Mlp<S>::forward_into(const Vector<S>& theta, const Matrix<S>& x, Workspace<S>& ws) const {
  const int L = spec_.layers();
  require(x.rows() == spec_.inputs(), "input has {} features but the network expects {}", x.rows(), spec_.inputs());
  ws.pre.resize(static_cast<size_t>(L));
  ws.post.resize(static_cast<size_t>(L));
  const Matrix<S>* in = &x;
  for (int l = 0; l < L; ++l) {
    auto& z = ws.pre[static_cast<size_t>(l)];
    multiply(weight(theta, l), *in, z);
    z.colwise() += bias(theta, l);
    if (l + 1 < L) {
      apply_activation(spec_.hidden, z, ws.post[static_cast<size_t>(l)]);
      in = &ws.post[static_cast<size_t>(l)];
    }
  }
  return ws.pre[static_cast<size_t>(L - 1)];
}

template <typename S>
Matrix<S> Mlp<S>::forward(const Vector<S>& theta, const Matrix<S>& x, Workspace<S>& ws) const {
  return forward_into(theta, x, ws);
}

template <typename S>
Matrix<S> Mlp<S>::forward(const Vector<S>& theta, const Matrix<S>& x) const {
  Workspace<S> ws;
  return forward(theta, x, ws);
}

template <typename S>
Matrix<S> Mlp<S>::embed(const Vector<S>& theta, const Matrix<S>& x, int upto_layer) const {
  require(upto_layer >= 0 && upto_layer < spec_.layers(), "no layer {} in a {}-layer network", upto_layer, spec_.layers());
  Workspace<S> ws;
  forward(theta, x, ws);
  return upto_layer + 1 < spec_.layers() ? ws.post[static_cast<size_t>(upto_layer)] : ws.pre[static_cast<size_t>(upto_layer)];
}

template <typename S>
S Mlp<S>::output_loss_and_delta(const Matrix<S>& logits, const std::vector<int>& y, Workspace<S>& ws) const {
  for (int label : y) {
    const int classes = spec_.outputs() == 1 ? 2 : spec_.outputs();
    require(label >= 0 && label < classes, "label {} is out of range for {} classes", label, classes);
  }
  return logits_loss_and_gradient<S>(spec_.loss, logits, y, ws.output_delta, &ws.probabilities);
}

template <typename S>
S Mlp<S>::loss(const Vector<S>& theta, const Batch<S>& batch, Workspace<S>& ws) const {
  forward(theta, batch.x, ws);
  return output_loss_and_delta(ws.pre.back(), batch.y, ws);
}

template <typename S>
void Mlp<S>::backward(const Vector<S>& theta, const Matrix<S>& x, const Matrix<S>& dlogits, Vector<S>& gradient,
                      Workspace<S>& ws) const {
  const int L = spec_.layers();
  gradient.resize(count_);
  ws.delta = dlogits;
  for (int l = L - 1; l >= 0; --l) {
    const Matrix<S>& a_prev = l == 0 ? x : ws.post[static_cast<size_t>(l - 1)];
    multiply_transposed_b(ws.delta, a_prev, weight(gradient, l));
    bias(gradient, l) = ws.delta.rowwise().sum();
    if (l > 0) {
      multiply_transposed_a(weight(theta, l), ws.delta, ws.delta_next);
      multiply_by_derivative(spec_.hidden, ws.pre[static_cast<size_t>(l - 1)], ws.post[static_cast<size_t>(l - 1)],
                             ws.delta_next);
      ws.delta.swap(ws.delta_next);
    }
  }
}

template <typename S>
S Mlp<S>::loss_and_gradient(const Vector<S>& theta, const Batch<S>& batch, Vector<S>& gradient,
                            Workspace<S>& ws) const {
  const S value = loss(theta, batch, ws);
  backward(theta, batch.x, ws.output_delta, gradient, ws);
  return value;
}

template <typename S>
S Mlp<S>::hessian_vector_product(const Vector<S>& theta, const Batch<S>& batch, const Vector<S>& v, Vector<S>& hv,
                                 Vector<S>* gradient, Workspace<S>& ws) const {
  const S value = loss(theta, batch, ws);  // forward pass, ws.output_delta = dL/dlogits
  hessian_vector_product_after_forward(theta, batch.x, v, hv, gradient, ws);
  return value;
}

template <typename S>
void Mlp<S>::hessian_vector_product_after_forward(const Vector<S>& theta, const Matrix<S>& x, const Vector<S>& v,
                                                  Vector<S>& hv, Vector<S>* gradient, Workspace<S>& ws) const {
  const int L = spec_.layers();
  require(v.size() == count_, "direction has {} entries but the network has {} parameters", v.size(), count_);
  ws.delta = ws.output_delta;
  ws.r_pre.resize(static_cast<size_t>(L));
  ws.r_post.resize(static_cast<size_t>(L));

  // Layers below the first one where v is non-zero have R{Z} = 0 (ANIL's head-only
  // directions skip the body's R-forward pass).
  int first_active = L;
  for (int l = 0; l < L && first_active == L; ++l) {
    const S* begin = v.data() + spec_.weight_offset(l);
    const S* end = begin + std::int64_t{spec_.sizes[l + 1]} * (spec_.sizes[l] + 1);
    if (std::any_of(begin, end, [](S t) { return t != S(0); })) first_active = l;
  }
  hv.resize(count_);
  if (gradient != nullptr) gradient->resize(count_);
  if (first_active == L) {  // v = 0
    hv.setZero();
    if (gradient != nullptr) backward(theta, x, ws.output_delta, *gradient, ws);
    return;
  }

  // R-forward: R{Z_l} = V_l A_{l-1} + W_l R{A_{l-1}} + R{b_l};  R{A_l} = act'(Z_l) ⊙ R{Z_l}.
  for (int l = first_active; l < L; ++l) {
    const Matrix<S>& a_prev = l == 0 ? x : ws.post[static_cast<size_t>(l - 1)];
    auto& rz = ws.r_pre[static_cast<size_t>(l)];
    multiply(weight(v, l), a_prev, rz);
    if (l > first_active) multiply(weight(theta, l), ws.r_post[static_cast<size_t>(l - 1)], rz, true);
    rz.colwise() += bias(v, l);
    if (l + 1 < L) {
      auto& ra = ws.r_post[static_cast<size_t>(l)];
      ra = rz;
      multiply_by_derivative(spec_.hidden, ws.pre[static_cast<size_t>(l)], ws.post[static_cast<size_t>(l)], ra);
    }
  }

  // R{dL/dlogits}.
  const Matrix<S>& rz_out = ws.r_pre[static_cast<size_t>(L - 1)];
  const S inv_n = S(1) / static_cast<S>(x.cols());
  if (spec_.loss == Loss::softmax_cross_entropy) {
    const auto& p = ws.probabilities;
    ws.r_delta = p.cwiseProduct(rz_out);
    const Eigen::Matrix<S, 1, Eigen::Dynamic> dot = ws.r_delta.colwise().sum();
    ws.r_delta -= p * dot.asDiagonal();
    ws.r_delta *= inv_n;
  } else {
    const auto& p = ws.probabilities;
    ws.r_delta = (p.array() * (S(1) - p.array()) * rz_out.array() * inv_n).matrix();
  }

  // R-backward.
  for (int l = L - 1; l >= 0; --l) {
    const Matrix<S>& a_prev = l == 0 ? x : ws.post[static_cast<size_t>(l - 1)];
    const bool r_prev_active = l > first_active;  // R{A_{l-1}} non-zero
    auto hw = weight(hv, l);
    multiply_transposed_b(ws.r_delta, a_prev, hw);
    if (r_prev_active) multiply_transposed_b(ws.delta, ws.r_post[static_cast<size_t>(l - 1)], hw, true);
    bias(hv, l) = ws.r_delta.rowwise().sum();
    if (gradient != nullptr) {
      multiply_transposed_b(ws.delta, a_prev, weight(*gradient, l));
      bias(*gradient, l) = ws.delta.rowwise().sum();
    }
    if (l == 0) break;
    const auto& z_prev = ws.pre[static_cast<size_t>(l - 1)];
    const auto& a_prev_out = ws.post[static_cast<size_t>(l - 1)];
    // t = W_lᵀ δ_l (before the activation derivative).
    multiply_transposed_a(weight(theta, l), ws.delta, ws.delta_next);
    // R{δ_{l-1}} = (V_lᵀ δ_l + W_lᵀ R{δ_l}) ⊙ act'(Z) + t ⊙ act''(Z) ⊙ R{Z}
    multiply_transposed_a(weight(theta, l), ws.r_delta, ws.r_delta_next);
    if (l >= first_active) multiply_transposed_a(weight(v, l), ws.delta, ws.r_delta_next, true);
    multiply_by_derivative(spec_.hidden, z_prev, a_prev_out, ws.r_delta_next);
    if (has_second_derivative<S>(spec_.hidden) && r_prev_active) {
      // tanh: act'' = -2 a (1 - a²)
      ws.r_delta_next.array() += ws.delta_next.array() * (S(-2) * a_prev_out.array() * (S(1) - a_prev_out.array().square())) *
                                 ws.r_pre[static_cast<size_t>(l - 1)].array();
    }
    multiply_by_derivative(spec_.hidden, z_prev, a_prev_out, ws.delta_next);
    ws.delta.swap(ws.delta_next);
    ws.r_delta.swap(ws.r_delta_next);
  }
}

template <typename S>
double Mlp<S>::accuracy(const Vector<S>& theta, const Batch<S>& batch, Workspace<S>& ws) const {
  const Matrix<S> logits = forward(theta, batch.x, ws);
  const auto predicted = predict_classes<S>(logits);
  int correct = 0;
  for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == batch.y[i] ? 1 : 0;
  return predicted.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(predicted.size());
}

template class Mlp<float>;
template class Mlp<double>;
template void apply_activation<float>(Activation, const Matrix<float>&, Matrix<float>&);
template void apply_activation<double>(Activation, const Matrix<double>&, Matrix<double>&);
template void multiply_by_derivative<float>(Activation, const Matrix<float>&, const Matrix<float>&, Matrix<float>&);
template void multiply_by_derivative<double>(Activation, const Matrix<double>&, const Matrix<double>&, Matrix<double>&);
template float logits_loss_and_gradient<float>(Loss, const Matrix<float>&, const std::vector<int>&, Matrix<float>&,
                                               Matrix<float>*);
template double logits_loss_and_gradient<double>(Loss, const Matrix<double>&, const std::vector<int>&,
                                                 Matrix<double>&, Matrix<double>*);
template std::vector<int> predict_classes<float>(const Matrix<float>&);
template std::vector<int> predict_classes<double>(const Matrix<double>&);
template std::vector<double> class_scores<float>(const Matrix<float>&, int);
template std::vector<double> class_scores<double>(const Matrix<double>&, int);

}  // namespace metaids::nn
