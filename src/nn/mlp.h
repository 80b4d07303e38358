// A multilayer perceptron on ONE flat parameter vector, with a functional API.
//
//   theta = [ W_0 | b_0 | W_1 | b_1 | ... ]      W_l is (out × in), column-major; b_l is (out)
//
// Every function takes the parameters as an argument, so a meta-learner's inner loop evaluates
// θ, θ₁, θ₂ … without copying a network object. Batches are column-major (features × n): each
// column is one sample, so a layer is Z = W·A + b·1ᵀ.
//
//   loss_and_gradient(θ, batch)      L(θ) and ∇L(θ)                       (back-propagation)
//   hessian_vector_product(θ, b, v)  H(θ)·v exactly (Pearlmutter's R-operator), plus ∇L(θ)
//   forward(θ, x)                    the logits
//
// Templated on the scalar: float for speed, double for the gradient checks.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace metaids::nn {

template <typename S>
using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <typename S>
using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  // column-major

enum class Activation { relu, leaky_relu, tanh, identity };
enum class Loss {
  softmax_cross_entropy,        // N outputs, labels 0..N-1, mean over the batch
  sigmoid_binary_cross_entropy  // 1 output, labels 0/1, mean over the batch
};

Activation activation_from_string(const std::string& name);
std::string to_string(Activation activation);
Loss loss_from_string(const std::string& name);
std::string to_string(Loss loss);

// The shape of a network: layer widths (input first, output last), the hidden activation, the
// loss on the output. The output layer is linear (logits).
struct MlpSpec {
  std::vector<int> sizes;
  Activation hidden = Activation::relu;
  Loss loss = Loss::softmax_cross_entropy;

  int layers() const { return static_cast<int>(sizes.size()) - 1; }
  int inputs() const { return sizes.front(); }
  int outputs() const { return sizes.back(); }
  std::int64_t parameter_count() const;
  // Offsets of W_l and b_l in theta.
  std::int64_t weight_offset(int layer) const;
  std::int64_t bias_offset(int layer) const;
  // Multiply-adds of one forward pass for one sample.
  std::int64_t forward_macs() const;
  // Throws metaids::Error when the spec is unusable (fewer than 2 sizes, a width < 1, a
  // binary loss with more than one output).
  void validate() const;
};

// A labelled batch: x is (features × n), y[i] the class of column i.
template <typename S>
struct Batch {
  Matrix<S> x;
  std::vector<int> y;
  int size() const { return static_cast<int>(x.cols()); }
};

// Reusable buffers of one forward/backward/R pass. One per thread; holds no model state, only
// scratch memory so that hot loops do not allocate.
template <typename S>
struct Workspace {
  std::vector<Matrix<S>> pre;     // Z_l, l = 0..L-1 (pre-activations; Z_{L-1} are the logits)
  std::vector<Matrix<S>> post;    // A_l = act(Z_l) for hidden layers
  std::vector<Matrix<S>> r_pre;   // R{Z_l}
  std::vector<Matrix<S>> r_post;  // R{A_l}
  Matrix<S> output_delta;  // dL/dlogits of the last loss() call
  Matrix<S> delta, delta_next, r_delta, r_delta_next, probabilities;
};

template <typename S>
class Mlp {
 public:
  explicit Mlp(MlpSpec spec);

  const MlpSpec& spec() const { return spec_; }
  std::int64_t parameter_count() const { return count_; }

  // Per-layer views into a flat vector (parameters, gradients, directions alike).
  Eigen::Map<const Matrix<S>> weight(const Vector<S>& theta, int layer) const;
  Eigen::Map<Matrix<S>> weight(Vector<S>& theta, int layer) const;
  Eigen::Map<const Vector<S>> bias(const Vector<S>& theta, int layer) const;
  Eigen::Map<Vector<S>> bias(Vector<S>& theta, int layer) const;

  // He-uniform weights (Glorot for tanh/identity), zero biases.
  Vector<S> initial_parameters(std::mt19937_64& rng) const;

  // logits (outputs × n) of x (inputs × n).
  Matrix<S> forward(const Vector<S>& theta, const Matrix<S>& x, Workspace<S>& ws) const;
  Matrix<S> forward(const Vector<S>& theta, const Matrix<S>& x) const;
  // The same without copying: the logits stay in ws.pre.back() (hidden activations in
  // ws.post), valid until ws is used again. Allocates only when x has more columns than before.
  const Matrix<S>& forward_into(const Vector<S>& theta, const Matrix<S>& x, Workspace<S>& ws) const;

  // Output of hidden layer `layer` (0-based; layers()-1 gives the logits): an embedding.
  Matrix<S> embed(const Vector<S>& theta, const Matrix<S>& x, int upto_layer) const;

  S loss(const Vector<S>& theta, const Batch<S>& batch, Workspace<S>& ws) const;

  // Returns L(θ) and writes ∇L(θ) into `gradient` (resized as needed).
  S loss_and_gradient(const Vector<S>& theta, const Batch<S>& batch, Vector<S>& gradient,
                      Workspace<S>& ws) const;

  // Back-propagates dL/d(logits) = `dlogits` (outputs × n) through a forward pass that the
  // caller has just run with `ws` on the same x; writes ∇θ into `gradient`.
  void backward(const Vector<S>& theta, const Matrix<S>& x, const Matrix<S>& dlogits, Vector<S>& gradient,
                Workspace<S>& ws) const;

  // Exact H(θ)·v of the loss on `batch`; also returns L(θ) and, if `gradient` is non-null,
  // ∇L(θ) (the R-operator pass computes it anyway).
  S hessian_vector_product(const Vector<S>& theta, const Batch<S>& batch, const Vector<S>& v,
                           Vector<S>& hv, Vector<S>* gradient, Workspace<S>& ws) const;

  // The same, reusing the forward pass that loss(theta, batch.x …) left in `ws` (activations,
  // probabilities, output_delta). A meta-learner's inner loop keeps one workspace per inner
  // step and so never repeats a forward pass in the backward sweep.
  void hessian_vector_product_after_forward(const Vector<S>& theta, const Matrix<S>& x, const Vector<S>& v,
                                            Vector<S>& hv, Vector<S>* gradient, Workspace<S>& ws) const;

  // Accuracy of argmax (or sign for the binary loss) on the batch.
  double accuracy(const Vector<S>& theta, const Batch<S>& batch, Workspace<S>& ws) const;

 private:
  // dL/dlogits of the mean loss and L itself; fills ws.probabilities.
  S output_loss_and_delta(const Matrix<S>& logits, const std::vector<int>& y, Workspace<S>& ws) const;

  MlpSpec spec_;
  std::int64_t count_ = 0;
};

// The loss on logits alone (no network): mean softmax cross-entropy or sigmoid BCE, its
// gradient with respect to the logits (written into `dlogits`). Shared by the MLP and the
// prototypical loss.
template <typename S>
S logits_loss_and_gradient(Loss loss, const Matrix<S>& logits, const std::vector<int>& y, Matrix<S>& dlogits,
                           Matrix<S>* probabilities = nullptr);

// out = act(z), elementwise.
template <typename S>
void apply_activation(Activation a, const Matrix<S>& z, Matrix<S>& out);

// m ⊙= act'(z), where a_out = act(z) (tanh's derivative is taken from the output).
template <typename S>
void multiply_by_derivative(Activation a, const Matrix<S>& z, const Matrix<S>& a_out, Matrix<S>& m);

// Predicted class of each column (argmax, or logit > 0 for one output).
template <typename S>
std::vector<int> predict_classes(const Matrix<S>& logits);

// Score of class `positive` for each column: softmax probability (or sigmoid for one output).
template <typename S>
std::vector<double> class_scores(const Matrix<S>& logits, int positive);

extern template class Mlp<float>;
extern template class Mlp<double>;

}  // namespace metaids::nn
