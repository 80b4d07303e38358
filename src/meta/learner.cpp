#include "meta/learner.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "meta/anil.h"
#include "meta/maml.h"
#include "meta/protonet.h"
#include "meta/reptile.h"

namespace metaids::meta {

Algorithm algorithm_from_string(const std::string& name) {
  for (Algorithm a : all_algorithms())
    if (to_string(a) == name) return a;
  fail("unknown algorithm '{}' (expected maml, fomaml, reptile, anil, metasgd or protonet)", name);
}

std::string to_string(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::maml: return "maml";
    case Algorithm::fomaml: return "fomaml";
    case Algorithm::reptile: return "reptile";
    case Algorithm::anil: return "anil";
    case Algorithm::metasgd: return "metasgd";
    case Algorithm::protonet: return "protonet";
  }
  return "?";
}

const std::vector<Algorithm>& all_algorithms() {
  static const std::vector<Algorithm> all{Algorithm::maml,  Algorithm::fomaml,  Algorithm::reptile,
                                          Algorithm::anil,  Algorithm::metasgd, Algorithm::protonet};
  return all;
}

void LearnerConfig::validate() const {
  require(inputs >= 1, "the network needs at least one input feature, got {}", inputs);
  require(ways >= 2, "episodes need at least 2 ways, got {}", ways);
  for (int h : hidden) require(h >= 1, "hidden width must be at least 1, got {}", h);
  require(embedding >= 1, "embedding width must be at least 1, got {}", embedding);
  require(inner_steps >= 1 && inner_steps <= 1000, "inner steps must be in [1, 1000], got {}", inner_steps);
  require(adapt_steps >= 0 && adapt_steps <= 100000, "adapt steps must be in [0, 100000], got {}", adapt_steps);
  require(std::isfinite(inner_learning_rate) && inner_learning_rate > 0, "inner learning rate must be > 0, got {}",
          inner_learning_rate);
  require(std::isfinite(weight_decay) && weight_decay >= 0, "weight decay must be >= 0, got {}", weight_decay);
  require(std::isfinite(gradient_penalty) && gradient_penalty >= 0, "gradient penalty must be >= 0, got {}",
          gradient_penalty);
}

nn::MlpSpec LearnerConfig::network_spec() const {
  nn::MlpSpec spec;
  spec.sizes.push_back(inputs);
  for (int h : hidden) spec.sizes.push_back(h);
  spec.sizes.push_back(algorithm == Algorithm::protonet ? embedding : ways);
  spec.hidden = activation;
  spec.loss = nn::Loss::softmax_cross_entropy;
  if (algorithm == Algorithm::protonet && embedding == 1) spec.loss = nn::Loss::sigmoid_binary_cross_entropy;
  return spec;
}

nlohmann::json LearnerConfig::to_json() const {
  nlohmann::json j{{"algorithm", to_string(algorithm)},
          {"inputs", inputs},
          {"ways", ways},
          {"hidden", hidden},
          {"embedding", embedding},
          {"activation", nn::to_string(activation)},
          {"inner_steps", inner_steps},
          {"inner_learning_rate", inner_learning_rate},
          {"adapt_steps", adapt_steps},
          {"weight_decay", weight_decay}};
  if (gradient_penalty != 0) j["gradient_penalty"] = gradient_penalty;
  return j;
}

LearnerConfig LearnerConfig::from_json(const nlohmann::json& j) {
  LearnerConfig c;
  try {
    c.algorithm = algorithm_from_string(j.at("algorithm").get<std::string>());
    c.inputs = j.at("inputs").get<int>();
    c.ways = j.at("ways").get<int>();
    c.hidden = j.at("hidden").get<std::vector<int>>();
    c.embedding = j.at("embedding").get<int>();
    c.activation = nn::activation_from_string(j.at("activation").get<std::string>());
    c.inner_steps = j.at("inner_steps").get<int>();
    c.inner_learning_rate = j.at("inner_learning_rate").get<double>();
    c.adapt_steps = j.at("adapt_steps").get<int>();
    c.weight_decay = j.at("weight_decay").get<double>();
    if (j.contains("gradient_penalty")) c.gradient_penalty = j.at("gradient_penalty").get<double>();
  } catch (const nlohmann::json::exception& e) {
    fail("the learner configuration is incomplete or mistyped: {}", e.what());
  }
  require(c.hidden.size() <= 64, "the network has {} hidden layers; at most 64 are supported", c.hidden.size());
  for (int h : c.hidden) require(h <= 65536, "hidden width {} is larger than 65536", h);
  require(c.inputs <= 1'000'000 && c.ways <= 65536 && c.embedding <= 65536, "the network's sizes are out of range");
  c.validate();
  return c;
}

template <typename S>
MetaLearner<S>::MetaLearner(LearnerConfig config)
    : config_((config.validate(), std::move(config))), network_(config_.network_spec()) {}

template <typename S>
Vector<S> MetaLearner<S>::initial_meta_parameters(std::mt19937_64& rng) const {
  return network_.initial_parameters(rng);
}

template <typename S>
S MetaLearner<S>::objective_gradient(const Vector<S>& phi, const Task<S>& task, Vector<S>& gradient,
                                     Scratch<S>& scratch) const {
  const S value = meta_gradient(phi, task, gradient, scratch);
  if (config_.gradient_penalty == 0) return value;
  const Eigen::Index theta_count = network_.parameter_count();
  const auto lambda1 = static_cast<S>(2 * config_.weight_decay);
  // g = ∇L: the meta-gradient without its λ₁ term (2λ₁θ on φ's network part).
  Vector<S>& g = scratch.penalty_gradient;
  g = gradient;
  if (config_.weight_decay != 0) g.head(theta_count) -= lambda1 * phi.head(theta_count);
  const S norm = g.norm();
  if (!(norm > S(0)) || !std::isfinite(norm)) return value;  // a stationary point: no direction to flatten
  const S r = std::sqrt(std::numeric_limits<S>::epsilon()) * std::max(S(1), phi.norm());
  scratch.penalty_phi = phi + (r / norm) * g;
  Vector<S>& shifted = scratch.penalty_shifted;
  meta_gradient(scratch.penalty_phi, task, shifted, scratch);
  if (config_.weight_decay != 0) shifted.head(theta_count) -= lambda1 * scratch.penalty_phi.head(theta_count);
  // ∇J = (g + 2λ₁θ) + λ₂ (g(φ + r u) − g(φ)) / r
  const auto lambda2 = static_cast<S>(config_.gradient_penalty);
  gradient += (lambda2 / r) * (shifted - g);
  return value + lambda2 * norm;
}

template <typename S>
Matrix<S> MetaLearner<S>::predict(const Adapted<S>& adapted, const Matrix<S>& x, Scratch<S>& scratch) const {
  return network_.forward(adapted.theta, x, scratch.query);
}

template <typename S>
void MetaLearner<S>::check_task(const Task<S>& task) const {
  require(task.support.size() > 0 && task.query.size() > 0, "a task needs support and query samples");
  require(task.support.x.rows() == config_.inputs && task.query.x.rows() == config_.inputs,
          "task has {} features but the learner expects {}", task.support.x.rows(), config_.inputs);
  if (config_.algorithm != Algorithm::protonet)
    require(task.ways == config_.ways, "a {}-way task cannot train a {}-way {} network", task.ways, config_.ways,
            to_string(config_.algorithm));
}

template <typename S>
std::unique_ptr<MetaLearner<S>> make_learner(const LearnerConfig& config) {
  switch (config.algorithm) {
    case Algorithm::maml:
    case Algorithm::fomaml:
    case Algorithm::metasgd: return std::make_unique<GradientMetaLearner<S>>(config);
    case Algorithm::anil: return std::make_unique<Anil<S>>(config);
    case Algorithm::reptile: return std::make_unique<Reptile<S>>(config);
    case Algorithm::protonet: return std::make_unique<PrototypicalNetwork<S>>(config);
  }
  fail("unknown algorithm");
}

template <typename S>
double adapted_accuracy(const MetaLearner<S>& learner, const Vector<S>& phi, const Task<S>& task, Scratch<S>& scratch) {
  const Adapted<S> adapted = learner.adapt(phi, task.support, task.ways, scratch);
  const auto predicted = nn::predict_classes<S>(learner.predict(adapted, task.query.x, scratch));
  int correct = 0;
  for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == task.query.y[i] ? 1 : 0;
  return static_cast<double>(correct) / static_cast<double>(predicted.size());
}

template class MetaLearner<float>;
template class MetaLearner<double>;
template std::unique_ptr<MetaLearner<float>> make_learner<float>(const LearnerConfig&);
template std::unique_ptr<MetaLearner<double>> make_learner<double>(const LearnerConfig&);
template double adapted_accuracy<float>(const MetaLearner<float>&, const Vector<float>&, const Task<float>&,
                                        Scratch<float>&);
template double adapted_accuracy<double>(const MetaLearner<double>&, const Vector<double>&, const Task<double>&,
                                         Scratch<double>&);

}  // namespace metaids::meta
