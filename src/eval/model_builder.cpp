#include "eval/model_builder.h"

#include <algorithm>
#include <random>

#include "core/error.h"
#include "model/calibration.h"

namespace metaids::eval {

namespace {

// `count` of `rows` drawn without replacement (a partial Fisher-Yates shuffle); the rest stay
// in `rows` after them.
std::vector<std::int64_t> draw_rows(std::vector<std::int64_t>& rows, size_t count, std::mt19937_64& rng) {
  const size_t n = std::min(rows.size(), count);
  for (size_t i = 0; i < n; ++i) {
    std::uniform_int_distribution<size_t> pick(i, rows.size() - 1);
    std::swap(rows[i], rows[pick(rng)]);
  }
  std::vector<std::int64_t> drawn(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n));
  rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n));
  return drawn;
}

Matrix<float> columns_of(const meta::LabelledView& table, const std::vector<std::int64_t>& rows) {
  Matrix<float> x(table.features, static_cast<Eigen::Index>(rows.size()));
  for (size_t j = 0; j < rows.size(); ++j)
    x.col(static_cast<Eigen::Index>(j)) =
        Eigen::Map<const Eigen::VectorXf>(table.data + rows[j] * table.features, table.features);
  return x;
}

}  // namespace

data::DatasetSchema experiment_schema(const data::ExperimentConfig& config) {
  if (data::is_schema_preset(config.schema)) return data::schema_by_name_or_file(config.schema);
  std::filesystem::path p(config.schema);
  if (p.is_relative()) p = config.config_dir / p;
  return data::load_schema_file(p);
}

model::Model build_model(const data::ExperimentData& data, const Split& split, const TrainedLearner& trained,
                         TaskKind task, const ModelBuildOptions& o) {
  require(o.support_per_class >= 1, "reference flows per class must be >= 1, got {}", o.support_per_class);
  require(o.benign_reference >= 0 && o.reference_per_class >= 0, "held-out reference counts must be >= 0");
  require(task == TaskKind::detection || task == TaskKind::classification, "a model is for detection or classification");
  model::Model m;
  m.config = trained.config;
  m.phi = trained.phi;
  m.task = to_string(task);
  m.transform = data.transform;
  m.schema = experiment_schema(data.config);
  // Class index → the table classes it pools.
  std::vector<std::vector<int>> pools{{split.benign}};
  std::vector<std::string> names{split.name(split.benign)};
  std::vector<int> families = split.train_families;
  if (split.validation_family >= 0) families.push_back(split.validation_family);
  if (task == TaskKind::classification) {
    for (int f : families) {
      pools.push_back({f});
      names.push_back(split.name(f));
    }
  } else {
    pools.push_back(families);
    names.push_back("ATTACK");
  }
  for (size_t c = 0; c < names.size(); ++c)
    m.classes.push_back(model::describe_class(names[c], model::kUnknownSignatureId + 1 + static_cast<std::int64_t>(c), c == 0));
  std::mt19937_64 rng(o.seed ^ 0x5355505052ULL);
  std::vector<std::int64_t> support_rows, reference_rows;
  for (size_t c = 0; c < pools.size(); ++c) {
    std::vector<std::int64_t> rows;
    for (std::int64_t r = 0; r < split.train.rows; ++r)
      if (std::find(pools[c].begin(), pools[c].end(), split.train.labels[r]) != pools[c].end()) rows.push_back(r);
    require(!rows.empty(), "class '{}' has no meta-train rows", names[c]);
    for (std::int64_t r : draw_rows(rows, static_cast<size_t>(o.support_per_class), rng)) {
      support_rows.push_back(r);
      m.support_y.push_back(static_cast<int>(c));
    }
    const size_t held_out = c == 0 ? static_cast<size_t>(o.benign_reference) : static_cast<size_t>(o.reference_per_class);
    for (std::int64_t r : draw_rows(rows, held_out, rng)) {
      reference_rows.push_back(r);
      m.reference_y.push_back(static_cast<int>(c));
    }
  }
  m.support_x = columns_of(split.train, support_rows);
  m.reference_x = columns_of(split.train, reference_rows);
  m.adapt();
  if (o.benign_reference > 0) model::calibrate_from_reference(m, o.fpr, o.unknown_rate);
  return m;
}

}  // namespace metaids::eval
