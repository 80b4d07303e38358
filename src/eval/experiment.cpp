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
                                                "xgboost",          "maml",    "fomaml",   "reptile",
                                                "anil",             "metasgd", "protonet"};
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

namespace {

// Per method, per setting (index into the episode sets), one metric map per seed.
using PerSeed = std::vector<std::map<std::string, Summary>>;

struct Runner {
  const data::ExperimentData& data;
  const ExperimentOptions& options;
  Split split;
  std::vector<EpisodeStream> sets;
  std::vector<std::uint64_t> seeds;
  ExperimentReport report;
  std::map<std::uint64_t, Pretrained> pretrained;

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  std::string describe(const std::map<std::string, Summary>& m) const {
    std::string s;
    for (const auto& [name, summary] : m) s += fmt::format(" {} {:.4f}±{:.4f}", name, summary.mean, summary.ci95);
    return s;
  }

  std::map<std::string, Summary> evaluate(const std::string& method, std::uint64_t seed, const EpisodeStream& set,
                                          const EpisodeSolver& solver) {
    const auto start = Clock::now();
    auto summary = summarize_episodes(run_episodes(set, solver, options.threads), set.setting().task);
    log(fmt::format("{} seed {} {} K={}:{} ({:.1f} s)", method, seed, to_string(set.setting().task), set.setting().shots,
                    describe(summary), seconds_since(start)));
    return summary;
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
      EpisodeSolver solver;
      if (method == "nearest_centroid") {
        solver = [](const Task<float>& t, int, int) { return nearest_centroid_episode(t); };
      } else if (method == "xgboost") {
        solver = [this](const Task<float>& t, int, int) { return xgboost_episode(t, options.xgboost); };
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
    std::set<std::string> metric_names;
    for (const auto& m : per_seed)
      for (const auto& [name, s] : m) metric_names.insert(name);
    for (const std::string& name : metric_names) {
      std::vector<Summary> values;
      for (const auto& m : per_seed) values.push_back(m.at(name));
      report.results[method][to_string(set.setting().task)][std::to_string(set.setting().shots)][name] =
          combine_seeds(values).to_json();
    }
  }
};

}  // namespace

namespace {

// The runner with its test episode streams (settings of options.tasks); nothing drawn yet.
Runner prepared_runner(const data::ExperimentData& data, const ExperimentOptions& options) {
  validate_options(options);
  Runner runner{data, options, make_split(data), {}, {}, {}, {}};
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
    if (options.should_stop && options.should_stop()) {
      runner.report.run["interrupted"] = true;
      break;
    }
    const auto method_start = Clock::now();
    if (is_meta_learner(method)) {
      const auto per_set = runner.run_meta_learner(method);
      if (options.should_stop && options.should_stop()) {  // training stopped part-way: not a result
        runner.report.run["interrupted"] = true;
        break;
      }
      for (size_t i = 0; i < runner.sets.size(); ++i) runner.store(method, runner.sets[i], per_set[i]);
    } else {
      const bool seeded = method != "nearest_centroid" && method != "xgboost";
      for (const EpisodeStream& set : runner.sets) runner.store(method, set, runner.run_baseline(method, set, seeded));
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
  return out;
}

}  // namespace metaids::eval
