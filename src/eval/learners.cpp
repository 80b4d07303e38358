#include "eval/learners.h"

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace metaids::eval {

EpisodeSource Split::test_source() const {
  EpisodeSource source;
  source.table = test;
  source.benign = benign;
  source.test_families = test_families;
  source.rare_families = rare_families;
  source.class_names = class_names;
  return source;
}

std::string Split::name(int class_id) const {
  return class_id >= 0 && static_cast<size_t>(class_id) < class_names.size() ? class_names[static_cast<size_t>(class_id)]
                                                                             : std::to_string(class_id);
}

Split make_split(const data::ExperimentData& data) {
  static_assert(sizeof(int) == sizeof(std::int32_t), "class ids are read as int");
  Split split;
  auto view = [](const data::FeatureMatrix& x, const std::vector<std::int32_t>& labels) {
    require(static_cast<size_t>(x.rows()) == labels.size(), "{} feature rows but {} labels", x.rows(), labels.size());
    return meta::LabelledView{x.data(), static_cast<std::int64_t>(x.rows()), static_cast<int>(x.cols()),
                              reinterpret_cast<const int*>(labels.data())};
  };
  split.train = view(data.meta_train_x, data.meta_train.class_ids);
  split.test = view(data.meta_test_x, data.meta_test.class_ids);
  split.benign = data.benign_class;
  split.class_names = data.meta_train.class_names;
  if (data.meta_test.class_names.size() > split.class_names.size()) split.class_names = data.meta_test.class_names;
  auto id_in = [](const data::FeatureTable& table, const std::string& name) {
    const int id = table.class_id(name);
    require(id >= 0, "family '{}' has no rows", name);
    return id;
  };
  if (!data.validation_family.empty()) split.validation_family = id_in(data.meta_train, data.validation_family);
  for (const auto& f : data.meta_train_families) {
    const int id = id_in(data.meta_train, f);
    if (id != split.validation_family) split.train_families.push_back(id);
  }
  for (const auto& f : data.meta_test_families) split.test_families.push_back(id_in(data.meta_test, f));
  for (const auto& f : data.rare_families) split.rare_families.push_back(id_in(data.meta_test, f));
  return split;
}

void MetaTrainingOptions::apply_json(const nlohmann::json& j) {
  require(j.is_object(), "the \"training\" section must be an object");
  static const std::set<std::string> known{"iterations",    "meta_batch",          "train_shots",    "queries",
                                           "outer_learning_rate", "inner_steps", "inner_learning_rate",
                                           "reptile_learning_rate", "adapt_steps", "weight_decay", "gradient_penalty",
                                           "validate_every", "validation_episodes"};
  for (const auto& [key, value] : j.items()) {
    require(known.count(key) == 1, "unknown key \"{}\" in the \"training\" section", key);
    require(value.is_number(), "\"training\".\"{}\" must be a number", key);
  }
  try {
    iterations = j.value("iterations", iterations);
    meta_batch = j.value("meta_batch", meta_batch);
    train_shots = j.value("train_shots", train_shots);
    queries = j.value("queries", queries);
    outer_learning_rate = j.value("outer_learning_rate", outer_learning_rate);
    inner_steps = j.value("inner_steps", inner_steps);
    inner_learning_rate = j.value("inner_learning_rate", inner_learning_rate);
    reptile_learning_rate = j.value("reptile_learning_rate", reptile_learning_rate);
    adapt_steps = j.value("adapt_steps", adapt_steps);
    weight_decay = j.value("weight_decay", weight_decay);
    gradient_penalty = j.value("gradient_penalty", gradient_penalty);
    validate_every = j.value("validate_every", validate_every);
    validation_episodes = j.value("validation_episodes", validation_episodes);
  } catch (const nlohmann::json::exception& e) {
    fail("bad value in the \"training\" section: {}", e.what());
  }
  require(iterations >= 0 && meta_batch >= 1 && train_shots >= 0 && queries >= 1 && inner_steps >= 1 &&
              adapt_steps >= 0 && validate_every >= 0 && validation_episodes >= 1,
          "\"training\" values out of range (iterations >= 0, meta_batch >= 1, queries >= 1, inner_steps >= 1 ...)");
  require(std::isfinite(outer_learning_rate) && outer_learning_rate > 0 && std::isfinite(inner_learning_rate) &&
              inner_learning_rate > 0 && std::isfinite(reptile_learning_rate) && reptile_learning_rate > 0 &&
              weight_decay >= 0,
          "\"training\" learning rates must be positive and finite");
  require(std::isfinite(weight_decay) && weight_decay >= 0 && std::isfinite(gradient_penalty) && gradient_penalty >= 0,
          "\"training\" weight_decay (λ₁) and gradient_penalty (λ₂) must be finite and >= 0");
}

nlohmann::json MetaTrainingOptions::to_json() const {
  nlohmann::json j{{"iterations", iterations},
          {"meta_batch", meta_batch},
          {"train_shots", train_shots},
          {"queries", queries},
          {"outer_learning_rate", outer_learning_rate},
          {"inner_steps", inner_steps},
          {"inner_learning_rate", inner_learning_rate},
          {"reptile_learning_rate", reptile_learning_rate},
          {"adapt_steps", adapt_steps},
          {"weight_decay", weight_decay},
          {"validate_every", validate_every},
          {"validation_episodes", validation_episodes}};
  if (gradient_penalty != 0) j["gradient_penalty"] = gradient_penalty;
  return j;
}

meta::LearnerConfig learner_config(meta::Algorithm algorithm, int inputs, int ways, const MetaTrainingOptions& options) {
  meta::LearnerConfig config;
  config.algorithm = algorithm;
  config.inputs = inputs;
  config.ways = ways;
  config.hidden = {64, 64};
  config.embedding = 64;
  config.inner_steps = options.inner_steps;
  config.inner_learning_rate =
      algorithm == meta::Algorithm::reptile ? options.reptile_learning_rate : options.inner_learning_rate;
  config.adapt_steps = options.adapt_steps;
  config.weight_decay = options.weight_decay;
  config.gradient_penalty = options.gradient_penalty;
  config.validate();
  return config;
}

TrainedLearner restore_learner(const meta::LearnerConfig& config, Vector<float> phi) {
  TrainedLearner t;
  t.config = config;
  t.learner = meta::make_learner<float>(config);
  require(phi.size() == t.learner->meta_parameter_count(), "{} meta-parameters stored, the {} network needs {}",
          phi.size(), meta::to_string(config.algorithm), t.learner->meta_parameter_count());
  t.phi = std::move(phi);
  return t;
}

TrainedLearner train_meta_learner(const Split& split, meta::Algorithm algorithm, TaskKind task, int ways, int shots,
                                  std::uint64_t seed, const MetaTrainingOptions& options, const ProgressFn& progress) {
  require(task != TaskKind::rare, "rare-family episodes are evaluated with the detection learner");
  if (task == TaskKind::detection) ways = 2;
  const auto start = std::chrono::steady_clock::now();
  const int need = shots + options.queries;
  std::vector<int> train_classes{split.benign};
  std::vector<int> usable;
  // Families too small for K + Q rows cannot form a training episode at this K.
  {
    std::vector<int> all{split.benign};
    all.insert(all.end(), split.train_families.begin(), split.train_families.end());
    meta::EpisodeSampler probe(split.train, all, 0);
    require(probe.rows_of(split.benign) >= need, "benign has only {} meta-train rows", probe.rows_of(split.benign));
    for (int f : split.train_families)
      if (probe.rows_of(f) >= need) usable.push_back(f);
  }
  train_classes.insert(train_classes.end(), usable.begin(), usable.end());
  require(static_cast<int>(usable.size()) >= ways - 1,
          "{}-way meta-training needs {} meta-train families with at least K + Q = {} rows; only {} have", ways, ways - 1,
          need, usable.size());

  TrainedLearner trained;
  trained.config = learner_config(algorithm, split.train.features, ways, options);
  trained.learner = meta::make_learner<float>(trained.config);
  trained.shots = shots;

  meta::TrainerConfig tc;
  tc.iterations = options.iterations;
  tc.meta_batch = options.meta_batch;
  tc.shots = shots;
  tc.queries = options.queries;
  tc.anchor_class = split.benign;
  tc.outer = nn::AdamConfig{options.outer_learning_rate};
  tc.threads = options.threads;
  tc.seed = seed;
  tc.log_every = options.log_every;
  tc.checkpoint_path = options.checkpoint_path;
  tc.checkpoint_every = options.checkpoint_every;
  tc.should_stop = options.should_stop;

  meta::EpisodeSampler train_sampler(split.train, train_classes, seed * 0x9e3779b97f4a7c15ULL + 17);
  std::unique_ptr<meta::EpisodeSampler> validation_sampler;
  if (split.validation_family >= 0 && options.validate_every > 0) {
    std::vector<int> val_classes{split.benign, split.validation_family};
    for (int i = 0; i < ways - 2; ++i) val_classes.push_back(usable[static_cast<size_t>(i)]);
    meta::EpisodeSampler probe(split.train, val_classes, 0);
    for (int c : val_classes)
      require(probe.rows_of(c) >= need, "validation class '{}' has only {} rows, fewer than K + Q = {}", split.name(c),
              probe.rows_of(c), need);
    validation_sampler = std::make_unique<meta::EpisodeSampler>(split.train, val_classes, seed + 0x76616cULL);
    tc.validate_every = options.validate_every;
    tc.validation_episodes = options.validation_episodes;
  }
  meta::MetaTrainer trainer(*trained.learner, tc, train_sampler, validation_sampler.get());
  if (options.resume && !options.checkpoint_path.empty() && std::filesystem::exists(options.checkpoint_path))
    trainer.load_checkpoint(options.checkpoint_path);
  trainer.run(progress);
  if (!options.checkpoint_path.empty() && (options.checkpoint_every > 0 || trainer.stopped()))
    trainer.save_checkpoint(options.checkpoint_path);
  trained.interrupted = trainer.stopped();
  trained.phi = trainer.meta_parameters();
  trained.validation_accuracy = trainer.best_validation_accuracy();
  trained.iterations = trainer.iteration();
  trained.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return trained;
}

Matrix<float> adapted_logits(const meta::MetaLearner<float>& learner, const Vector<float>& phi, const Task<float>& task,
                             meta::Scratch<float>& scratch) {
  const meta::Adapted<float> adapted = learner.adapt(phi, task.support, task.ways, scratch);
  return learner.predict(adapted, task.query.x, scratch);
}

}  // namespace metaids::eval
