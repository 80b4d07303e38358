// The meta-learners behind one interface.
//
// Every learner owns a vector of meta-parameters φ (the network's θ; Meta-SGD appends its
// per-parameter inner learning rates α) and computes, for one task, the gradient of its
// meta-objective with respect to φ. The trainer (trainer.h) averages those over a meta-batch
// and takes an Adam step. At test time a learner adapts to a support set and predicts logits.
//
//   MAML       φ = θ.  θ_{s+1} = θ_s − α∇L_S(θ_s), s < S;  meta-loss L_Q(θ_S).
//              Exact second order: v ← ∇L_Q(θ_S);  v ← v − α H_S(θ_s) v for s = S−1 … 0,
//              with one stored θ_s (and its forward pass) per inner step, no autograd graph.
//   FOMAML     the same without the Hessian terms: ∇L_Q(θ_S).
//   ANIL       MAML whose inner loop updates the output layer only (exact second order).
//   Meta-SGD   θ_{s+1} = θ_s − α⊙∇L_S(θ_s) with α learned: ∂/∂α += −∇L_S(θ_s) ⊙ v_{s+1}.
//   Reptile    θ' = S SGD steps on the whole task; the "gradient" is θ − θ'.
//   ProtoNet   embedding f_θ; logits = −‖f_θ(x) − c_k‖², c_k the mean support embedding.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "meta/task.h"
#include "nn/mlp.h"

namespace metaids::meta {

enum class Algorithm { maml, fomaml, reptile, anil, metasgd, protonet };

Algorithm algorithm_from_string(const std::string& name);
std::string to_string(Algorithm algorithm);
const std::vector<Algorithm>& all_algorithms();

struct LearnerConfig {
  Algorithm algorithm = Algorithm::maml;
  int inputs = 0;
  int ways = 5;                     // outputs of the network (ProtoNet: any number of ways)
  std::vector<int> hidden = {64, 64};
  int embedding = 64;               // ProtoNet's output width
  nn::Activation activation = nn::Activation::relu;
  int inner_steps = 5;              // inner SGD steps while meta-training
  double inner_learning_rate = 0.1; // α (Meta-SGD: its initial value)
  int adapt_steps = 10;             // inner steps when adapting at test time
  double weight_decay = 0;          // λ₁‖θ‖² added to the meta-objective
  double gradient_penalty = 0;      // λ₂‖∇L‖ added to the meta-objective (objective_gradient)

  // Throws metaids::Error on impossible values (sizes < 1, negative steps, non-finite rates).
  void validate() const;
  nn::MlpSpec network_spec() const;

  // {"algorithm", "inputs", "ways", "hidden", "embedding", "activation", "inner_steps",
  //  "inner_learning_rate", "adapt_steps", "weight_decay"}, and "gradient_penalty" when it is
  //  not 0 (absent: 0, so models written before it load unchanged); from_json validates.
  nlohmann::json to_json() const;
  static LearnerConfig from_json(const nlohmann::json& json);
};

// What adaptation produces: adapted parameters (gradient-based learners) or prototypes.
template <typename S>
struct Adapted {
  Vector<S> theta;
  Matrix<S> prototypes;  // ProtoNet: (embedding × ways)
};

// Per-thread scratch memory (workspaces of the inner trajectory). Holds no model state.
template <typename S>
struct Scratch {
  std::vector<nn::Workspace<S>> steps;
  std::vector<Vector<S>> thetas, gradients;
  nn::Workspace<S> query;
  Vector<S> v, hv, step_size;
  Batch<S> both;                          // support then query (ProtoNet, ANIL, Reptile)
  Vector<S> body_theta, body_gradient;    // ANIL: the body's share of φ and of the gradient
  Vector<S> penalty_phi, penalty_gradient, penalty_shifted;  // objective_gradient's λ₂ term
};

template <typename S>
class DeployedState;  // meta/deployment.h

template <typename S>
class MetaLearner {
 public:
  explicit MetaLearner(LearnerConfig config);
  virtual ~MetaLearner() = default;
  MetaLearner(const MetaLearner&) = delete;
  MetaLearner& operator=(const MetaLearner&) = delete;

  const LearnerConfig& config() const { return config_; }
  const nn::Mlp<S>& network() const { return network_; }
  Algorithm algorithm() const { return config_.algorithm; }

  virtual std::int64_t meta_parameter_count() const { return network_.parameter_count(); }
  virtual Vector<S> initial_meta_parameters(std::mt19937_64& rng) const;

  // Gradient of the meta-objective for one task at φ, written into `gradient`; returns the
  // meta-loss (the query loss after the inner loop; for Reptile the same quantity, which is
  // not what its update differentiates).
  virtual S meta_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient, Scratch<S>& scratch) const = 0;

  // The meta-objective alone (for finite-difference checks and validation).
  virtual S meta_loss(const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) const = 0;

  // True when meta_gradient is the exact gradient of meta_loss (all but Reptile and FOMAML).
  virtual bool exact_gradient() const { return true; }

  // The seed design's whole objective for one task, what meta-training descends:
  //
  //   J(φ) = L(φ) + λ₁‖θ‖² + λ₂‖g(φ)‖,   g = ∇L  (L the meta-loss, θ φ's network part)
  //   ∇J   = g + 2λ₁θ + λ₂ H(φ) g/‖g‖
  //
  // meta_gradient gives L, g and the λ₁ term. The penalty's gradient needs H, the Hessian of
  // the meta-loss (for MAML a third derivative of the network), along u = g/‖g‖: it is taken
  // as a forward difference of meta-gradients, H u ≈ (g(φ + r u) − g(φ)) / r with
  // r = √ε · max(1, ‖φ‖) (ε of S), one more meta_gradient per task. For FOMAML and Reptile,
  // whose update is not the gradient of L, g is their update direction. With λ₂ = 0 this is
  // meta_gradient, bit for bit. Returns J.
  S objective_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient, Scratch<S>& scratch) const;

  // Adapts to a labelled support set with `ways` classes (labels 0..ways-1); steps < 0 uses
  // config().adapt_steps.
  virtual Adapted<S> adapt(const Vector<S>& phi, const Batch<S>& support, int ways, Scratch<S>& scratch,
                           int steps = -1) const = 0;

  // Logits (ways × n) of x under an adapted model.
  virtual Matrix<S> predict(const Adapted<S>& adapted, const Matrix<S>& x, Scratch<S>& scratch) const;

  // Adapts to a deployed model's support set: labels 0..classes-1, any number of classes (more
  // than the meta-trained outputs included); `groups` gives each column's prototype group
  // (0..G-1, every group within one class), or is empty for one group per class. The state
  // scores flows from then on (meta/deployment.h). `previous`, when given, is the state of the
  // same model before its support grew: a learner may reuse what it computed for the support
  // columns that are unchanged (ProtoNet: their embeddings), with results identical to
  // computing them anew.
  virtual DeployedState<S> deploy(const Vector<S>& phi, const Batch<S>& support, int classes,
                                  const std::vector<int>& groups, Scratch<S>& scratch,
                                  const DeployedState<S>* previous = nullptr) const;

 protected:
  // Per-parameter step sizes (θ's layout) of this learner's inner SGD at adaptation: α
  // everywhere unless the learner says otherwise (ANIL: the head only; Meta-SGD: learned).
  virtual Vector<S> adaptation_step_sizes(const Vector<S>& phi) const;

  void check_task(const Task<S>& task) const;
  LearnerConfig config_;
  nn::Mlp<S> network_;
};

template <typename S>
std::unique_ptr<MetaLearner<S>> make_learner(const LearnerConfig& config);

// Query accuracy after adapting to the task's support set.
template <typename S>
double adapted_accuracy(const MetaLearner<S>& learner, const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch);

}  // namespace metaids::meta
