// The engine against a reference state made by PyTorch autograd in float64
// (bench/peers/make_maml_reference.py → tests/data/nn/maml_reference.json): same weights,
// same batches; loss, gradient, Hessian-vector product, MAML / FOMAML / Meta-SGD
// meta-gradients and the ProtoNet gradient must agree to 1e-9 relative.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/gradient_check.h"
#include "common/shared_data.h"
#include "meta/learner.h"

namespace metaids::meta {
namespace {

using test::relative_error;
using test::VectorD;

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    std::ifstream in(test::test_data_dir() / "nn" / "maml_reference.json");
    if (!in) throw std::runtime_error("tests/data/nn/maml_reference.json is missing");
    return nlohmann::json::parse(in);
  }();
  return j;
}

VectorD vec(const nlohmann::json& j) {
  const auto v = j.get<std::vector<double>>();
  return Eigen::Map<const VectorD>(v.data(), static_cast<Eigen::Index>(v.size()));
}

Batch<double> batch(const nlohmann::json& x, const nlohmann::json& y) {
  const auto rows = x.get<std::vector<std::vector<double>>>();
  Batch<double> b;
  b.x.resize(static_cast<Eigen::Index>(rows[0].size()), static_cast<Eigen::Index>(rows.size()));
  for (size_t j = 0; j < rows.size(); ++j)
    for (size_t i = 0; i < rows[j].size(); ++i) b.x(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = rows[j][i];
  b.y = y.get<std::vector<int>>();
  return b;
}

LearnerConfig config_for(const nlohmann::json& c, Algorithm algorithm) {
  const auto sizes = c.at("sizes").get<std::vector<int>>();
  LearnerConfig config;
  config.algorithm = algorithm;
  config.inputs = sizes.front();
  config.ways = sizes.back();
  config.hidden.assign(sizes.begin() + 1, sizes.end() - 1);
  config.inner_steps = c.at("steps").get<int>();
  config.inner_learning_rate = c.at("alpha").get<double>();
  return config;
}

TEST(PyTorchReference, LossGradientAndHessianVectorProduct) {
  for (const char* key : {"loss_grad_hvp", "binary_loss_grad_hvp"}) {
    const auto& c = reference().at(key);
    nn::MlpSpec spec{c.at("sizes").get<std::vector<int>>(), nn::Activation::relu,
                     std::string(key) == "loss_grad_hvp" ? nn::Loss::softmax_cross_entropy
                                                         : nn::Loss::sigmoid_binary_cross_entropy};
    const nn::Mlp<double> mlp(spec);
    const Batch<double> b = batch(c.at("x"), c.at("y"));
    nn::Workspace<double> ws;
    VectorD grad, hv;
    const double loss = mlp.loss_and_gradient(vec(c.at("theta")), b, grad, ws);
    EXPECT_NEAR(loss, c.at("loss").get<double>(), 1e-12) << key;
    EXPECT_LE(relative_error(grad, vec(c.at("grad"))), 1e-9) << key;
    mlp.hessian_vector_product(vec(c.at("theta")), b, vec(c.at("v")), hv, nullptr, ws);
    EXPECT_LE(relative_error(hv, vec(c.at("hvp"))), 1e-9) << key;
  }
}

TEST(PyTorchReference, MamlFirstOrderAndMetaSgdMetaGradients) {
  const auto& cases = reference().at("maml");
  ASSERT_GE(cases.size(), 2u);
  for (const auto& c : cases) {
    Task<double> task;
    task.support = batch(c.at("x_support"), c.at("y_support"));
    task.query = batch(c.at("x_query"), c.at("y_query"));
    task.ways = c.at("sizes").back().get<int>();
    const VectorD theta = vec(c.at("theta"));
    Scratch<double> scratch;
    VectorD g;
    const auto maml = make_learner<double>(config_for(c, Algorithm::maml));
    EXPECT_NEAR(maml->meta_gradient(theta, task, g, scratch), c.at("meta_loss").get<double>(), 1e-12);
    EXPECT_LE(relative_error(g, vec(c.at("meta_grad"))), 1e-9) << "S=" << c.at("steps");
    const auto fomaml = make_learner<double>(config_for(c, Algorithm::fomaml));
    fomaml->meta_gradient(theta, task, g, scratch);
    EXPECT_LE(relative_error(g, vec(c.at("first_order_meta_grad"))), 1e-9);
    const auto metasgd = make_learner<double>(config_for(c, Algorithm::metasgd));
    VectorD phi(2 * theta.size());
    phi << theta, vec(c.at("metasgd_alpha"));
    EXPECT_NEAR(metasgd->meta_gradient(phi, task, g, scratch), c.at("metasgd_meta_loss").get<double>(), 1e-12);
    EXPECT_LE(relative_error(g.head(theta.size()), vec(c.at("metasgd_grad_theta"))), 1e-9);
    EXPECT_LE(relative_error(g.tail(theta.size()), vec(c.at("metasgd_grad_alpha"))), 1e-9);
  }
}

TEST(PyTorchReference, PrototypicalLossGradient) {
  const auto& c = reference().at("protonet");
  const auto sizes = c.at("sizes").get<std::vector<int>>();
  LearnerConfig config;
  config.algorithm = Algorithm::protonet;
  config.inputs = sizes.front();
  config.embedding = sizes.back();
  config.hidden.assign(sizes.begin() + 1, sizes.end() - 1);
  config.ways = c.at("num_classes").get<int>();
  const auto protonet = make_learner<double>(config);
  Task<double> task;
  task.support = batch(c.at("x_support"), c.at("y_support"));
  task.query = batch(c.at("x_query"), c.at("y_query"));
  task.ways = config.ways;
  Scratch<double> scratch;
  VectorD g;
  EXPECT_NEAR(protonet->meta_gradient(vec(c.at("theta")), task, g, scratch), c.at("loss").get<double>(), 1e-12);
  EXPECT_LE(relative_error(g, vec(c.at("grad"))), 1e-9);
}

}  // namespace
}  // namespace metaids::meta
