#include "eval/deploy.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "meta/protonet.h"

namespace metaids::eval {

namespace {

std::vector<std::int64_t> draw_rows(std::vector<std::int64_t> rows, int count, std::mt19937_64& rng) {
  const size_t n = std::min(rows.size(), static_cast<size_t>(count));
  for (size_t i = 0; i < n; ++i) {
    std::uniform_int_distribution<size_t> pick(i, rows.size() - 1);
    std::swap(rows[i], rows[pick(rng)]);
  }
  rows.resize(n);
  return rows;
}

std::vector<std::string> input_columns(const data::FeatureTransform& t) {
  std::vector<std::string> names = t.numeric_names();
  for (const auto& c : t.categories()) names.push_back(c.column);
  return names;
}

}  // namespace

data::DatasetSchema experiment_schema(const data::ExperimentConfig& config) {
  static const std::vector<std::string> presets{"cicflowmeter", "nslkdd", "kddcup99", "cicids2017", "cicids2018", "nsl-kdd",
                                                "kdd99"};
  if (std::find(presets.begin(), presets.end(), config.schema) != presets.end())
    return data::schema_by_name_or_file(config.schema);
  std::filesystem::path p(config.schema);
  if (p.is_relative()) p = config.config_dir / p;
  return data::load_schema_file(p);
}

DeployedModel build_deployed_model(const data::ExperimentData& data, const Split& split, const TrainedLearner& trained,
                                   TaskKind task, int support_per_class, std::uint64_t seed) {
  require(support_per_class >= 1, "reference flows per class must be >= 1, got {}", support_per_class);
  DeployedModel m;
  m.config = trained.config;
  m.phi = trained.phi;
  m.task = to_string(task);
  m.transform = data.transform;
  m.schema = experiment_schema(data.config);
  // Class index → the table classes it pools.
  std::vector<std::vector<int>> groups{{split.benign}};
  m.class_names = {split.name(split.benign)};
  std::vector<int> families = split.train_families;
  if (split.validation_family >= 0) families.push_back(split.validation_family);
  if (task == TaskKind::classification) {
    for (int f : families) {
      groups.push_back({f});
      m.class_names.push_back(split.name(f));
    }
  } else {
    groups.push_back(families);
    m.class_names.push_back("ATTACK");
  }
  std::mt19937_64 rng(seed ^ 0x5355505052ULL);
  std::vector<std::int64_t> columns;
  for (size_t c = 0; c < groups.size(); ++c) {
    std::vector<std::int64_t> rows;
    for (std::int64_t r = 0; r < split.train.rows; ++r)
      if (std::find(groups[c].begin(), groups[c].end(), split.train.labels[r]) != groups[c].end()) rows.push_back(r);
    require(!rows.empty(), "class '{}' has no meta-train rows", m.class_names[c]);
    for (std::int64_t r : draw_rows(std::move(rows), support_per_class, rng)) {
      columns.push_back(r);
      m.support_y.push_back(static_cast<int>(c));
    }
  }
  const int d = split.train.features;
  m.support_x.resize(d, static_cast<Eigen::Index>(columns.size()));
  for (size_t j = 0; j < columns.size(); ++j)
    m.support_x.col(static_cast<Eigen::Index>(j)) = Eigen::Map<const Eigen::VectorXf>(split.train.data + columns[j] * d, d);
  return m;
}

model::ModelFile to_model_file(const DeployedModel& m) {
  model::ModelFile file;
  file.header = m.header;
  nlohmann::json architecture = learner_config_to_json(m.config);
  architecture["network_sizes"] = m.config.network_spec().sizes;
  file.header["architecture"] = architecture;
  file.header["algorithm"] = meta::to_string(m.config.algorithm);
  if (!file.header.contains("hyperparameters")) file.header["hyperparameters"] = nlohmann::json::object();
  if (!file.header.contains("metrics")) file.header["metrics"] = nlohmann::json::object();
  if (!file.header.contains("training_data_hash")) file.header["training_data_hash"] = "";
  file.header["transform"] = m.transform.to_json();
  file.header["feature_names"] = input_columns(m.transform);
  file.header["class_names"] = m.class_names;
  file.header["task"] = m.task;
  file.header["schema"] = m.schema.to_json();
  file.header["support"] = {{"flows", m.support_y.size()}, {"features", m.support_x.rows()}};
  file.tensors.push_back({"parameters", std::vector<float>(m.phi.data(), m.phi.data() + m.phi.size())});
  file.tensors.push_back({"support_x", std::vector<float>(m.support_x.data(), m.support_x.data() + m.support_x.size())});
  file.tensors.push_back({"support_y", std::vector<float>(m.support_y.begin(), m.support_y.end())});
  return file;
}

DeployedModel from_model_file(const model::ModelFile& file) {
  DeployedModel m;
  const auto& h = file.header;
  try {
    m.config = learner_config_from_json(h.at("architecture"));
    m.task = h.at("task").get<std::string>();
    m.class_names = h.at("class_names").get<std::vector<std::string>>();
    m.transform = data::FeatureTransform::from_json(h.at("transform"));
    m.schema = data::parse_schema(h.at("schema"));
  } catch (const nlohmann::json::exception& e) {
    fail("the model header lacks what prediction needs (was it written by `metaids train`?): {}", e.what());
  }
  m.header = h;
  const auto& phi = file.tensor("parameters").values;
  m.phi = Eigen::Map<const Vector<float>>(phi.data(), static_cast<Eigen::Index>(phi.size()));
  const auto& y = file.tensor("support_y").values;
  const auto& x = file.tensor("support_x").values;
  const auto d = static_cast<Eigen::Index>(m.config.inputs);
  require(static_cast<Eigen::Index>(m.transform.output_dim()) == d, "the model's transform gives {} features, its network takes {}",
          m.transform.output_dim(), d);
  require(x.size() == y.size() * static_cast<size_t>(d), "support_x has {} values for {} flows of {} features", x.size(),
          y.size(), d);
  m.support_x = Eigen::Map<const Matrix<float>>(x.data(), d, static_cast<Eigen::Index>(y.size()));
  for (float v : y) {
    const int c = static_cast<int>(v);
    require(c >= 0 && static_cast<size_t>(c) < m.class_names.size(), "support label {} is not a class of the model", v);
    m.support_y.push_back(c);
  }
  for (size_t c = 0; c < m.class_names.size(); ++c)
    require(std::count(m.support_y.begin(), m.support_y.end(), static_cast<int>(c)) > 0,
            "class '{}' has no reference flows in the model", m.class_names[c]);
  (void)restore_learner(m.config, m.phi);  // checks the parameter count
  return m;
}

Matrix<float> deployed_logits(const DeployedModel& m, const Matrix<float>& x) {
  const int classes = static_cast<int>(m.class_names.size());
  const nn::Batch<float> support{m.support_x, m.support_y};
  if (m.config.algorithm == meta::Algorithm::protonet) {
    const nn::Mlp<float> net(m.config.network_spec());
    const Matrix<float> prototypes = meta::class_means<float>(net.forward(m.phi, support.x), support.y, classes);
    return meta::negative_squared_distances<float>(net.forward(m.phi, x), prototypes);
  }
  // Gradient learners: the output layer widened (or narrowed) to one row per class.
  const nn::MlpSpec old_spec = m.config.network_spec();
  nn::MlpSpec spec = old_spec;
  spec.sizes.back() = classes;
  const nn::Mlp<float> old_net(old_spec), net(spec);
  const std::int64_t old_count = old_net.parameter_count();
  const int last = spec.layers() - 1;
  const int ways = old_spec.outputs();
  // Per-parameter step sizes of the learner's adaptation, in the old layout.
  Vector<float> old_step(old_count);
  const float alpha = static_cast<float>(m.config.inner_learning_rate);
  switch (m.config.algorithm) {
    case meta::Algorithm::metasgd: old_step = m.phi.tail(old_count); break;
    case meta::Algorithm::anil:
      old_step.setZero();
      old_step.tail(old_count - old_spec.weight_offset(last)).setConstant(alpha);
      break;
    default: old_step.setConstant(alpha); break;
  }
  const Vector<float> old_theta = m.phi.head(old_count);
  auto widen = [&](const Vector<float>& old_v) {
    Vector<float> v(net.parameter_count());
    const std::int64_t body = old_spec.weight_offset(last);
    v.head(body) = old_v.head(body);
    auto w_old = old_net.weight(old_v, last);
    auto b_old = old_net.bias(old_v, last);
    auto w = net.weight(v, last);
    auto b = net.bias(v, last);
    for (int c = 0; c < classes; ++c) {
      if (c < ways) {
        w.row(c) = w_old.row(c);
        b(c) = b_old(c);
      } else {
        w.row(c) = w_old.colwise().mean();
        b(c) = b_old.mean();
      }
    }
    return v;
  };
  Vector<float> theta = widen(old_theta);
  const Vector<float> step = widen(old_step);
  // Classes beyond the meta-trained outputs start from an uninformed row: they get more steps
  // (kWidenedSteps) on a class-balanced support (each class's flows repeated up to the largest
  // class's count), so five flows of a new attack are not outvoted by the reference flows.
  constexpr int kWidenedSteps = 100;
  int steps = m.config.adapt_steps;
  nn::Batch<float> balanced;
  const nn::Batch<float>* batch = &support;
  if (classes > ways) {
    steps = std::max(steps, kWidenedSteps);
    std::vector<std::vector<Eigen::Index>> by_class(static_cast<size_t>(classes));
    for (size_t j = 0; j < support.y.size(); ++j)
      by_class[static_cast<size_t>(support.y[j])].push_back(static_cast<Eigen::Index>(j));
    size_t largest = 0;
    for (const auto& c : by_class) largest = std::max(largest, c.size());
    balanced.x.resize(support.x.rows(), static_cast<Eigen::Index>(largest) * classes);
    Eigen::Index col = 0;
    for (int c = 0; c < classes; ++c)
      for (size_t i = 0; i < largest; ++i) {
        const auto& members = by_class[static_cast<size_t>(c)];
        balanced.x.col(col++) = support.x.col(members[i % members.size()]);
        balanced.y.push_back(c);
      }
    batch = &balanced;
  }
  nn::Workspace<float> ws;
  Vector<float> gradient;
  for (int s = 0; s < steps; ++s) {
    net.loss_and_gradient(theta, *batch, gradient, ws);
    theta -= step.cwiseProduct(gradient);
  }
  return net.forward(theta, x);
}

Prediction predict(const DeployedModel& m, const data::FeatureMatrix& rows) {
  require(rows.cols() == m.config.inputs, "rows have {} features, the model takes {}", rows.cols(), m.config.inputs);
  Prediction p;
  const Eigen::Index n = rows.rows();
  constexpr Eigen::Index chunk = 4096;
  for (Eigen::Index start = 0; start < n; start += chunk) {
    const Eigen::Index count = std::min(chunk, n - start);
    const Matrix<float> x = rows.middleRows(start, count).transpose();
    const Matrix<float> logits = deployed_logits(m, x);
    for (Eigen::Index j = 0; j < count; ++j) {
      Eigen::Index best = 0;
      const double top = logits.col(j).cast<double>().maxCoeff(&best);
      double total = 0;
      for (Eigen::Index k = 0; k < logits.rows(); ++k) total += std::exp(static_cast<double>(logits(k, j)) - top);
      p.predicted.push_back(static_cast<int>(best));
      p.score.push_back(1.0 / total);
      p.attack_score.push_back(1.0 - std::exp(static_cast<double>(logits(0, j)) - top) / total);
    }
  }
  return p;
}

std::vector<std::string> add_support(DeployedModel& m, const data::FeatureMatrix& rows, const std::vector<std::string>& labels) {
  require(static_cast<size_t>(rows.rows()) == labels.size(), "{} rows but {} labels", rows.rows(), labels.size());
  require(rows.cols() == m.support_x.rows(), "rows have {} features, the model takes {}", rows.cols(), m.support_x.rows());
  std::vector<std::string> added;
  const Eigen::Index old_n = m.support_x.cols();
  m.support_x.conservativeResize(Eigen::NoChange, old_n + rows.rows());
  for (Eigen::Index r = 0; r < rows.rows(); ++r) {
    const std::string& label = labels[static_cast<size_t>(r)];
    auto it = std::find(m.class_names.begin(), m.class_names.end(), label);
    if (it == m.class_names.end()) {
      m.class_names.push_back(label);
      added.push_back(label);
      it = m.class_names.end() - 1;
    }
    m.support_x.col(old_n + r) = rows.row(r).transpose();
    m.support_y.push_back(static_cast<int>(it - m.class_names.begin()));
  }
  return added;
}

}  // namespace metaids::eval
