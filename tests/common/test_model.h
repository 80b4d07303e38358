// A small model over the flow meter's columns (CIC-IDS2017 layout: Protocol and the standard
// CICFlowMeter features), for detector tests that need no dataset.
#pragma once
#include <random>

#include "flow/features.h"
#include "model/model.h"

namespace metaids::test {

inline model::Model make_cic_model(std::uint64_t seed = 1) {
  std::vector<std::string> names{"Protocol"};
  for (size_t f = 0; f < flow::kStandardFeatureCount; ++f)
    names.emplace_back(flow::feature_name(static_cast<flow::Feature>(f)));
  const size_t d = names.size();
  nlohmann::json t = {{"kind", "signed_log1p_zscore_clip"}, {"version", 1},          {"clip", 10},
                      {"numeric", names},                    {"categorical", nlohmann::json::array()},
                      {"mean", std::vector<float>(d, 1.0f)}, {"std", std::vector<float>(d, 2.0f)}};
  model::Model m;
  m.transform = data::FeatureTransform::from_json(t);
  m.schema = data::cicflowmeter_schema();
  m.config.algorithm = meta::Algorithm::protonet;
  m.config.inputs = static_cast<int>(d);
  m.config.hidden = {16};
  m.config.embedding = 8;
  m.task = "classification";
  std::mt19937_64 rng(seed);
  const auto learner = meta::make_learner<float>(m.config);
  m.phi = learner->initial_meta_parameters(rng);
  m.classes = {model::describe_class("BENIGN", 9100001, true), model::describe_class("Portscan", 9100002, false)};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  m.support_x.resize(static_cast<Eigen::Index>(d), 6);
  for (Eigen::Index j = 0; j < 6; ++j)
    for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(d); ++i) m.support_x(i, j) = normal(rng) + (j < 3 ? 0.0f : 2.0f);
  m.support_y = {0, 0, 0, 1, 1, 1};
  m.reference_x = m.support_x;
  m.reference_y = m.support_y;
  m.adapt();
  return m;
}

}  // namespace metaids::test
