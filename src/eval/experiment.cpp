#include "eval/experiment.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"
#include "meta/trainer.h"

namespace metaids::eval {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }
}  // namespace

const std::vector<std::string>& all_methods() {
  static const std::vector<std::string> methods{"nearest_centroid", "scratch", "finetune", "pretrained_centroid",
                                                "random_forest",    "xgboost", "maml",     "fomaml",
                                                "reptile",          "anil",    "metasgd",  "protonet"};
  return methods;
}

bool is_meta_learner(const std::string& method) {
  for (meta::Algorithm a : meta::all_algorithms())
    if (meta::to_string(a) == method) return true;
  return false;
}

EpisodeMetrics score_episode(const Matrix<float>& logits, const Task<float>& task) {
  require(logits.rows() == task.ways && logits.cols() == task.query.x.cols(),
          "a method returned {}×{} logits for a {}-way episode with {} queries", logits.rows(), logits.cols(), task.ways,
          task.query.x.cols());
  const std::vector<int> predicted = nn::predict_classes<float>(logits);
  EpisodeMetrics m;
  m.accuracy = accuracy(predicted, task.query.y);
  if (task.ways == 2) {
    m.family = task.classes.size() == 2 ? task.classes[1] : -1;
    m.f1 = f1_score(predicted, task.query.y, 1);
    std::vector<double> score(static_cast<size_t>(logits.cols()));
    for (Eigen::Index j = 0; j < logits.cols(); ++j)
      score[static_cast<size_t>(j)] = static_cast<double>(logits(1, j)) - static_cast<double>(logits(0, j));
    m.roc_auc = roc_auc(score, task.query.y, 1);
  } else {
    m.f1 = kNaN;
    m.roc_auc = kNaN;
  }
  return m;
}

std::vector<EpisodeMetrics> run_episodes(const EpisodeSet& set, const EpisodeSolver& solver, int threads) {
  std::vector<EpisodeMetrics> metrics(set.episodes.size());
  meta::parallel_for(static_cast<int>(set.episodes.size()), threads, [&](int i, int thread) {
    const Task<float>& task = set.episodes[static_cast<size_t>(i)];
    metrics[static_cast<size_t>(i)] = score_episode(solver(task, i, thread), task);
  });
  return metrics;
}

std::vector<EpisodeMetrics> run_episodes(const EpisodeStream& stream, const EpisodeSolver& solver, int threads) {
  std::vector<EpisodeMetrics> metrics(static_cast<size_t>(stream.size()));
  const int block_size = episode_block_size(stream.bytes_per_episode(), threads);
  stream.for_each_block(block_size, [&](int first, std::vector<Task<float>>& block) {
    meta::parallel_for(static_cast<int>(block.size()), threads, [&](int i, int thread) {
      const Task<float>& task = block[static_cast<size_t>(i)];
      metrics[static_cast<size_t>(first + i)] = score_episode(solver(task, first + i, thread), task);
    });
  });
  return metrics;
}

void validate_options(const ExperimentOptions& options) {
  require(options.seeds.size() <= data::kMaxSeeds, "at most {} meta-training seeds, got {}", data::kMaxSeeds,
          options.seeds.size());
  std::set<std::uint64_t> seeds;
  for (std::uint64_t seed : options.seeds) require(seeds.insert(seed).second, "seed {} is given twice", seed);
  require(options.episodes >= 0 && options.episodes <= kMaxEpisodes,
          "episodes per setting must be in [1, {}] (0: the config's), got {}", kMaxEpisodes, options.episodes);
  std::set<std::string> methods;
  for (const std::string& m : options.methods) {
    require(std::find(all_methods().begin(), all_methods().end(), m) != all_methods().end(),
            "unknown method '{}' (known: {})", m.substr(0, 60), fmt::join(all_methods(), ", "));
    require(methods.insert(m).second, "method {} is given twice", m);
  }
  require(!options.tasks.empty(), "no task given (detection, classification, rare)");
  std::set<TaskKind> tasks;
  for (TaskKind t : options.tasks) require(tasks.insert(t).second, "task {} is given twice", to_string(t));
  std::set<int> shots;
  for (int k : options.shots) {
    require(k >= 1 && k <= 1000, "K must be in [1, 1000], got {}", k);
    require(shots.insert(k).second, "K = {} is given twice", k);
  }
  require(options.threads >= 1 && options.threads <= 256, "threads must be in [1, 256], got {}", options.threads);
  require(options.tuning_episodes >= 1 && options.tuning_episodes <= 100000,
          "tuning episodes must be in [1, 100000], got {}", options.tuning_episodes);
  for (const auto* grid : {&options.xgboost_grid, &options.random_forest_grid})
    for (const XgboostConfig& c : *grid) c.validate();
  options.xgboost.validate();
  options.random_forest.validate();
}

std::map<std::string, Summary> summarize_episodes(const std::vector<EpisodeMetrics>& metrics, TaskKind task) {
  std::vector<double> acc, f1, auc;
  for (const auto& m : metrics) {
    acc.push_back(m.accuracy);
    f1.push_back(m.f1);
    auc.push_back(m.roc_auc);
  }
  std::map<std::string, Summary> out{{"accuracy", summarize(acc)}};
  if (task != TaskKind::classification) {
    out["f1"] = summarize(f1);
    out["roc_auc"] = summarize(auc);
  }
  return out;
}

std::map<int, std::map<std::string, Summary>> summarize_by_family(const std::vector<EpisodeMetrics>& metrics) {
  std::map<int, std::pair<std::vector<double>, std::vector<double>>> values;  // family → (accuracy, roc_auc)
  for (const auto& m : metrics) {
    if (m.family < 0) continue;
    auto& [acc, auc] = values[m.family];
    acc.push_back(m.accuracy);
    auc.push_back(m.roc_auc);
  }
  std::map<int, std::map<std::string, Summary>> out;
  for (const auto& [family, v] : values) out[family] = {{"accuracy", summarize(v.first)}, {"roc_auc", summarize(v.second)}};
  return out;
}

std::vector<Task<float>> tuning_episodes(const Split& split, TaskKind task, int ways, int shots, int queries, int count) {
  require(count >= 1, "tuning needs at least one episode, got {}", count);
  if (task != TaskKind::classification) ways = 2;
  std::vector<int> families = split.train_families;
  if (split.validation_family >= 0) families.push_back(split.validation_family);
  std::vector<int> all{split.benign};
  all.insert(all.end(), families.begin(), families.end());
  const meta::EpisodeSampler probe(split.train, all, 0);
  const std::int64_t need = static_cast<std::int64_t>(shots) + queries;
  require(probe.rows_of(split.benign) >= need, "benign has {} meta-train rows, fewer than K + Q = {} for tuning",
          probe.rows_of(split.benign), need);
  std::vector<int> classes{split.benign};
  for (int f : families)
    if (probe.rows_of(f) >= need) classes.push_back(f);
  require(static_cast<int>(classes.size()) >= ways,
          "tuning {} episodes at K = {} needs {} meta-train families with K + Q = {} rows; only {} have", to_string(task),
          shots, ways - 1, need, classes.size() - 1);
  // A seed of its own ("tune" mixed with the setting), never the test seed.
  meta::EpisodeSampler sampler(split.train, classes, splitmix64(setting_seed(0x74756e65ULL, Setting{task, shots})));
  std::vector<Task<float>> episodes;
  episodes.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) episodes.push_back(sampler.sample_with_anchor(split.benign, ways, shots, queries));
  return episodes;
}

namespace {

// One method's results on one setting for one seed: the metrics over all episodes, and the
// 2-way tasks' metrics per attack family.
struct Evaluated {
  std::map<std::string, Summary> overall;
  std::map<int, std::map<std::string, Summary>> by_family;
};

// Per method, per setting (index into the episode sets), one entry per seed.
using PerSeed = std::vector<Evaluated>;

bool is_tree_baseline(const std::string& method) { return method == "xgboost" || method == "random_forest"; }

struct Runner {
  const data::ExperimentData& data;
  const ExperimentOptions& options;
  Split split;
  std::vector<EpisodeStream> sets;
  std::vector<std::uint64_t> seeds;
  ExperimentReport report;
  std::map<std::uint64_t, Pretrained> pretrained;
  std::map<std::pair<std::string, std::pair<TaskKind, int>>, XgboostConfig> tree_configs;  // chosen per setting

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }
  bool stopped() const { return options.should_stop && options.should_stop(); }

  std::string describe(const std::map<std::string, Summary>& m) const {
    std::string s;
    for (const auto& [name, summary] : m) s += fmt::format(" {} {:.4f}±{:.4f}", name, summary.mean, summary.ci95);
    return s;
  }

  Evaluated evaluate(const std::string& method, std::uint64_t seed, const EpisodeStream& set, const EpisodeSolver& solver) {
    const auto start = Clock::now();
    // After a signal the remaining episodes are skipped (zero logits, not scored work): the
    // caller drops the whole method, so nothing half-evaluated is reported.
    const EpisodeSolver checked = [&](const Task<float>& t, int e, int thread) {
      if (stopped()) return Matrix<float>(Matrix<float>::Zero(t.ways, t.query.x.cols()));
      return solver(t, e, thread);
    };
    const std::vector<EpisodeMetrics> metrics = run_episodes(set, checked, options.threads);
    Evaluated result{summarize_episodes(metrics, set.setting().task), summarize_by_family(metrics)};
    if (stopped()) return result;
    log(fmt::format("{} seed {} {} K={}:{} ({:.1f} s)", method, seed, to_string(set.setting().task), set.setting().shots,
                    describe(result.overall), seconds_since(start)));
    return result;
  }

  // The settings of a tree baseline for a setting: chosen on meta-train episodes (once per
  // method, task and K; rare episodes are 2-way detection episodes at the rare K), or fixed.
  const XgboostConfig& tree_config(const std::string& method, const Setting& setting) {
    const TaskKind task = setting.task == TaskKind::classification ? TaskKind::classification : TaskKind::detection;
    const auto key = std::make_pair(method, std::make_pair(task, setting.shots));
    if (auto it = tree_configs.find(key); it != tree_configs.end()) return it->second;
    const bool forest = method == "random_forest";
    if (!options.tune_trees) return tree_configs.emplace(key, forest ? options.random_forest : options.xgboost).first->second;
    const auto start = Clock::now();
    const std::vector<XgboostConfig>& given = forest ? options.random_forest_grid : options.xgboost_grid;
    const std::vector<XgboostConfig> grid = !given.empty() ? given : forest ? random_forest_grid() : gradient_boosting_grid();
    const auto& es = data.config.episodes;
    const std::vector<Task<float>> episodes =
        tuning_episodes(split, task, es.classification_ways, setting.shots, es.query, options.tuning_episodes);
    const TreeTuning tuning = choose_tree_config(grid, episodes, options.threads, options.should_stop);
    if (stopped()) return tree_configs.emplace(key, tuning.chosen).first->second;  // dropped by the caller
    log(fmt::format("{} {} K={}: settings chosen on {} meta-train episodes from {} candidates: {} (accuracy {:.4f}; "
                    "{:.1f} s)",
                    method, to_string(task), setting.shots, tuning.episodes, grid.size(), tuning.chosen.to_json().dump(),
                    tuning.accuracy, seconds_since(start)));
    report.run["baselines"][method]["tuning"][to_string(task)][std::to_string(setting.shots)] = tuning.to_json();
    return tree_configs.emplace(key, tuning.chosen).first->second;
  }

  const Pretrained& pretrained_for(std::uint64_t seed) {
    auto it = pretrained.find(seed);
    if (it != pretrained.end()) return it->second;
    const auto start = Clock::now();
    std::vector<int> classes{split.benign};
    classes.insert(classes.end(), split.train_families.begin(), split.train_families.end());
    Pretrained model = pretrain_supervised(split.train, classes, seed, options.pretrain);
    log(fmt::format("pretrain seed {}: {} classes, {} steps, final loss {:.4f} ({:.1f} s)", seed, classes.size(),
                    options.pretrain.steps, model.final_loss, seconds_since(start)));
    return pretrained.emplace(seed, std::move(model)).first->second;
  }

  PerSeed run_baseline(const std::string& method, const EpisodeStream& set, bool seeded) {
    PerSeed per_seed;
    const std::vector<std::uint64_t> run_seeds = seeded ? seeds : std::vector<std::uint64_t>{seeds.front()};
    for (std::uint64_t seed : run_seeds) {
      if (stopped()) break;
      EpisodeSolver solver;
      if (method == "nearest_centroid") {
        solver = [](const Task<float>& t, int, int) { return nearest_centroid_episode(t); };
      } else if (is_tree_baseline(method)) {
        const XgboostConfig& config = tree_config(method, set.setting());
        solver = [&config](const Task<float>& t, int e, int) { return xgboost_episode(t, config, e); };
      } else if (method == "scratch") {
        solver = [this, seed](const Task<float>& t, int e, int) { return scratch_episode(t, seed, e, options.scratch); };
      } else if (method == "finetune") {
        const Pretrained& model = pretrained_for(seed);
        solver = [this, seed, &model](const Task<float>& t, int e, int) {
          return finetune_head_episode(model, t, seed, e, options.pretrain);
        };
      } else if (method == "pretrained_centroid") {
        const Pretrained& model = pretrained_for(seed);
        solver = [&model](const Task<float>& t, int, int) { return embedding_centroid_episode(model, t); };
      } else {
        fail("unknown method '{}'", method);
      }
      per_seed.push_back(evaluate(method, seed, set, solver));
    }
    return per_seed;
  }

  // Meta-learner: one model per (seed, task, training K); evaluated on that task's settings.
  std::vector<PerSeed> run_meta_learner(const std::string& method) {
    const meta::Algorithm algorithm = meta::algorithm_from_string(method);
    std::vector<PerSeed> results(sets.size());
    for (std::uint64_t seed : seeds) {
      // Group settings by (training task, training K).
      std::map<std::pair<TaskKind, int>, std::vector<size_t>> groups;
      for (size_t i = 0; i < sets.size(); ++i) {
        const TaskKind train_task =
            sets[i].setting().task == TaskKind::classification ? TaskKind::classification : TaskKind::detection;
        const int k = options.training.train_shots > 0 ? options.training.train_shots : sets[i].setting().shots;
        groups[{train_task, k}].push_back(i);
      }
      for (const auto& [key, members] : groups) {
        const auto [task, shots] = key;
        const int ways = task == TaskKind::classification ? data.config.episodes.classification_ways : 2;
        MetaTrainingOptions training = options.training;
        if (options.should_stop) training.should_stop = options.should_stop;
        training.threads = options.threads;
        const std::string tag = fmt::format("{} seed {} {} train K={}", method, seed, to_string(task), shots);
        TrainedLearner trained =
            train_meta_learner(split, algorithm, task, ways, shots, seed, training, [&](const meta::TrainingProgress& p) {
              log(fmt::format("{}: {}", tag, meta::describe(p)));
            });
        log(fmt::format("{}: trained in {:.1f} s, best validation accuracy {:.4f}", tag, trained.seconds,
                        trained.validation_accuracy));
        report.run["training"][method].push_back({{"seed", seed},
                                                 {"task", to_string(task)},
                                                 {"shots", shots},
                                                 {"seconds", trained.seconds},
                                                 {"validation_accuracy", trained.validation_accuracy}});
        // Stopped by a signal: this model's training is cut short, so it is no result (the
        // caller drops the method) and nothing is left worth evaluating.
        if (stopped()) return results;
        std::vector<meta::Scratch<float>> scratch(static_cast<size_t>(std::max(1, options.threads)));
        for (size_t i : members) {
          const meta::MetaLearner<float>& learner = *trained.learner;
          const Vector<float>& phi = trained.phi;
          results[i].push_back(evaluate(method, seed, sets[i], [&](const Task<float>& t, int, int thread) {
            return adapted_logits(learner, phi, t, scratch[static_cast<size_t>(thread)]);
          }));
        }
      }
    }
    return results;
  }

  void store(const std::string& method, const EpisodeStream& set, const PerSeed& per_seed) {
    auto& cell = report.results[method][to_string(set.setting().task)][std::to_string(set.setting().shots)];
    std::set<std::string> metric_names;
    for (const auto& m : per_seed)
      for (const auto& [name, s] : m.overall) metric_names.insert(name);
    for (const std::string& name : metric_names) {
      std::vector<Summary> values;
      for (const auto& m : per_seed) values.push_back(m.overall.at(name));
      cell[name] = combine_seeds(values).to_json();
    }
    // Per attack family (the same episodes for every seed, so every seed has the same families).
    if (per_seed.empty() || per_seed.front().by_family.empty()) return;
    for (const auto& [family, metrics] : per_seed.front().by_family) {
      for (const auto& [name, unused] : metrics) {
        std::vector<Summary> values;
        for (const auto& m : per_seed) values.push_back(m.by_family.at(family).at(name));
        cell["by_family"][split.name(family)][name] = combine_seeds(values).to_json();
      }
    }
  }
};

}  // namespace

namespace {

// The runner with its test episode streams (settings of options.tasks); nothing drawn yet.
Runner prepared_runner(const data::ExperimentData& data, const ExperimentOptions& options) {
  validate_options(options);
  Runner runner{data, options, make_split(data), {}, {}, {}, {}, {}};
  const data::EpisodeSettings& es = data.config.episodes;
  runner.seeds = options.seeds.empty() ? data.config.seeds : options.seeds;
  require(!runner.seeds.empty(), "no meta-training seeds given");
  EpisodeSpec spec;
  spec.episodes = options.episodes > 0 ? options.episodes : es.episodes;
  spec.query = es.query;
  spec.classification_ways = es.classification_ways;
  spec.rare_query_max = es.rare_query_max;
  spec.test_seed = es.test_seed;
  const std::vector<int> shots = options.shots.empty() ? es.shots : options.shots;

  const EpisodeSource source = runner.split.test_source();
  for (TaskKind task : options.tasks) {
    if (task == TaskKind::rare) {
      if (source.rare_families.empty()) continue;
      runner.sets.emplace_back(source, spec, Setting{task, es.rare_shots});
    } else {
      for (int k : shots) runner.sets.emplace_back(source, spec, Setting{task, k});
    }
  }
  for (const EpisodeStream& set : runner.sets) {
    std::string skipped;
    for (const auto& f : set.skipped_families()) skipped += (skipped.empty() ? "" : ", ") + f;
    runner.log(fmt::format("episodes: {} K={}: {} drawn from seed {}{}", to_string(set.setting().task),
                           set.setting().shots, set.size(), set.seed(),
                           skipped.empty() ? "" : " (left out, too few rows: " + skipped + ")"));
    runner.report.run["episodes"].push_back({{"task", to_string(set.setting().task)},
                                             {"shots", set.setting().shots},
                                             {"episodes", set.size()},
                                             {"seed", set.seed()},
                                             {"skipped_families", set.skipped_families()}});
  }

  return runner;
}

void describe_run(Runner& runner, const data::ExperimentData& data, const ExperimentOptions& options) {
  const data::EpisodeSettings& es = data.config.episodes;
  auto& run = runner.report.run;
  run["experiment"] = data.config.name;
  run["seeds"] = runner.seeds;
  run["test_seed"] = es.test_seed;
  run["episodes_per_setting"] = options.episodes > 0 ? options.episodes : es.episodes;
  run["query"] = es.query;
  run["classification_ways"] = es.classification_ways;
  run["training"]["options"] = options.training.to_json();
  // The seed design's objective L + λ₁‖θ‖² + λ₂‖∇L‖ of every meta-learner, both terms named.
  run["training"]["objective"] = {{"weight_decay", options.training.weight_decay},
                                  {"gradient_penalty", options.training.gradient_penalty}};
  // Every baseline's settings (the tree baselines' chosen ones are under "tuning").
  auto& baselines = run["baselines"];
  baselines["nearest_centroid"]["settings"] = {{"distance", "squared euclidean, transformed features"}};
  baselines["scratch"]["settings"] = {{"hidden", options.scratch.hidden},
                                      {"steps", options.scratch.fine_tune.steps},
                                      {"adam_learning_rate", options.scratch.fine_tune.adam.learning_rate},
                                      {"weight_decay", options.scratch.fine_tune.regularization.weight_decay}};
  const nlohmann::json pretrain{{"hidden", options.pretrain.hidden},
                                {"steps", options.pretrain.steps},
                                {"batch", options.pretrain.batch},
                                {"adam_learning_rate", options.pretrain.adam.learning_rate},
                                {"weight_decay", options.pretrain.weight_decay}};
  baselines["finetune"]["settings"] = {{"pretrain", pretrain},
                                       {"head_steps", options.pretrain.head.steps},
                                       {"head_adam_learning_rate", options.pretrain.head.adam.learning_rate}};
  baselines["pretrained_centroid"]["settings"] = {{"pretrain", pretrain}};
  for (const char* tree : {"random_forest", "xgboost"}) {
    auto& b = baselines[tree];
    b["tuned"] = options.tune_trees;
    if (options.tune_trees) {
      b["tuning_episodes"] = options.tuning_episodes;
      b["tuning_data"] = "episodes of meta-train rows: benign and every meta-train family (validation family included)";
    } else {
      b["settings"] = (std::string(tree) == "xgboost" ? options.xgboost : options.random_forest).to_json();
    }
  }
  run["threads"] = options.threads;
  run["benign"] = runner.split.name(runner.split.benign);
  for (int f : runner.split.train_families) run["meta_train_families"].push_back(runner.split.name(f));
  run["validation_family"] =
      runner.split.validation_family >= 0 ? runner.split.name(runner.split.validation_family) : std::string();
  for (int f : runner.split.test_families) run["meta_test_families"].push_back(runner.split.name(f));
  for (int f : runner.split.rare_families) run["rare_families"].push_back(runner.split.name(f));
  run["training_data_hash"] = data.training_data_hash;
  run["features"] = runner.split.train.features;
  runner.report.markdown = results_markdown(runner.report.results, data.config.name);
}

}  // namespace

ExperimentReport evaluate_learner(const data::ExperimentData& data, const TrainedLearner& learner, const std::string& name,
                                  const ExperimentOptions& options) {
  const auto start = Clock::now();
  Runner runner = prepared_runner(data, options);
  std::vector<meta::Scratch<float>> scratch(static_cast<size_t>(std::max(1, options.threads)));
  for (const EpisodeStream& set : runner.sets) {
    PerSeed one{runner.evaluate(name, 0, set, [&](const Task<float>& t, int, int thread) {
      return adapted_logits(*learner.learner, learner.phi, t, scratch[static_cast<size_t>(thread)]);
    })};
    runner.store(name, set, one);
  }
  describe_run(runner, data, options);
  runner.report.run["seconds"] = seconds_since(start);
  return std::move(runner.report);
}

ExperimentReport run_experiment(const data::ExperimentData& data, const ExperimentOptions& options) {
  const auto start = Clock::now();
  const std::vector<std::string> methods = options.methods.empty() ? all_methods() : options.methods;
  Runner runner = prepared_runner(data, options);  // checks the options first
  for (const std::string& method : methods) {
    if (runner.stopped()) {
      runner.report.run["interrupted"] = true;
      break;
    }
    const auto method_start = Clock::now();
    if (is_meta_learner(method)) {
      const auto per_set = runner.run_meta_learner(method);
      if (runner.stopped()) {  // training stopped part-way: not a result
        runner.report.run["interrupted"] = true;
        break;
      }
      for (size_t i = 0; i < runner.sets.size(); ++i) runner.store(method, runner.sets[i], per_set[i]);
    } else {
      const bool seeded = method != "nearest_centroid" && !is_tree_baseline(method);
      std::vector<PerSeed> per_set;
      for (const EpisodeStream& set : runner.sets) {
        if (runner.stopped()) break;
        per_set.push_back(runner.run_baseline(method, set, seeded));
      }
      if (runner.stopped()) {  // cut short by a signal: not a result
        runner.report.run["interrupted"] = true;
        break;
      }
      for (size_t i = 0; i < runner.sets.size(); ++i) runner.store(method, runner.sets[i], per_set[i]);
    }
    runner.report.run["method_seconds"][method] = seconds_since(method_start);
  }
  describe_run(runner, data, options);
  runner.report.run["seconds"] = seconds_since(start);
  return std::move(runner.report);
}

namespace {

std::string cell(const nlohmann::json& results, const std::string& method, const std::string& task, int k,
                 const std::string& metric) {
  const auto m = results.find(method);
  if (m == results.end()) return "";
  const auto t = m->find(task);
  if (t == m->end()) return "";
  const auto kk = t->find(std::to_string(k));
  if (kk == t->end()) return "";
  const auto s = kk->find(metric);
  if (s == kk->end() || !(*s)["mean"].is_number()) return "";
  std::string text = fmt::format("{:.3f} ± {:.3f}", (*s)["mean"].get<double>(), (*s)["ci95"].get<double>());
  if ((*s).value("seeds", 1) > 1 && (*s)["seed_std"].is_number())
    text += fmt::format(" (s {:.3f})", (*s)["seed_std"].get<double>());
  return text;
}

std::vector<int> shots_of(const nlohmann::json& results, const std::string& task) {
  std::set<int> ks;
  for (const auto& [method, tasks] : results.items()) {
    const auto t = tasks.find(task);
    if (t == tasks.end()) continue;
    for (const auto& [k, unused] : t->items()) ks.insert(std::stoi(k));
  }
  return {ks.begin(), ks.end()};
}

}  // namespace

std::string results_markdown(const nlohmann::json& results, const std::string& title) {
  std::vector<std::string> methods;
  for (const auto& m : all_methods())
    if (results.contains(m)) methods.push_back(m);
  for (const auto& [m, unused] : results.items())
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  std::string out = fmt::format("# FSND-1 results: {}\n\n", title);
  out += "Mean ± 1.96·std/√n over the test episodes; (s …) = standard deviation of the per-seed means over the "
         "meta-training seeds.\n";
  auto table = [&](const std::string& task, const std::string& metric, const std::string& heading) {
    const std::vector<int> ks = shots_of(results, task);
    if (ks.empty()) return;
    out += fmt::format("\n## {}\n\n| method |", heading);
    for (int k : ks) out += fmt::format(" K={} |", k);
    out += "\n|---|";
    for (size_t i = 0; i < ks.size(); ++i) out += "---|";
    out += "\n";
    for (const auto& m : methods) {
      std::string row = fmt::format("| {} |", m);
      bool any = false;
      for (int k : ks) {
        const std::string c = cell(results, m, task, k, metric);
        any = any || !c.empty();
        row += fmt::format(" {} |", c);
      }
      if (any) out += row + "\n";
    }
  };
  table("detection", "accuracy", "Detection (benign vs one unseen attack family), accuracy");
  table("detection", "f1", "Detection, F1 (attack positive)");
  table("detection", "roc_auc", "Detection, ROC-AUC of the attack score");
  table("classification", "accuracy", "5-way classification (benign + 4 unseen families), accuracy");
  table("rare", "accuracy", "Rare families (1-shot detection, query = rest of the family), accuracy");
  table("rare", "roc_auc", "Rare families, ROC-AUC");
  // Per attack family: a near-duplicate of a meta-train family, or one no method separates,
  // shows here and not in the means above.
  auto by_family = [&](const std::string& task, const std::string& heading) {
    for (int k : shots_of(results, task)) {
      std::vector<std::string> families;
      for (const auto& m : methods) {
        const auto t = results[m].find(task);
        if (t == results[m].end() || !t->contains(std::to_string(k))) continue;
        const auto& cell_json = (*t)[std::to_string(k)];
        if (!cell_json.contains("by_family")) continue;
        for (const auto& [family, unused] : cell_json["by_family"].items())
          if (std::find(families.begin(), families.end(), family) == families.end()) families.push_back(family);
      }
      if (families.empty()) continue;
      out += fmt::format("\n## {}, K={}: accuracy / ROC-AUC per family\n\n| method |", heading, k);
      for (const auto& f : families) out += fmt::format(" {} |", f);
      out += "\n|---|";
      for (size_t i = 0; i < families.size(); ++i) out += "---|";
      out += "\n";
      for (const auto& m : methods) {
        const auto t = results[m].find(task);
        if (t == results[m].end() || !t->contains(std::to_string(k)) || !(*t)[std::to_string(k)].contains("by_family"))
          continue;
        const auto& per = (*t)[std::to_string(k)]["by_family"];
        std::string row = fmt::format("| {} |", m);
        for (const auto& f : families) {
          if (!per.contains(f)) {
            row += " |";
            continue;
          }
          auto mean = [&](const char* metric) {
            const auto& v = per[f][metric]["mean"];
            return v.is_number() ? fmt::format("{:.3f}", v.get<double>()) : std::string("–");
          };
          row += fmt::format(" {} / {} |", mean("accuracy"), mean("roc_auc"));
        }
        out += row + "\n";
      }
    }
  };
  by_family("detection", "Detection");
  by_family("rare", "Rare families");
  return out;
}

}  // namespace metaids::eval
