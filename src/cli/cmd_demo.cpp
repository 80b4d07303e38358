// `metaids demo`: the whole loop on generated traffic (cmd_demo_traffic.cpp: detect, calibrate,
// adapt from five flows, detect again). With --synthetic-features, the engine's own demo: it
// meta-trains every algorithm on built-in seeded synthetic feature vectors, adapts to held-out
// classes from K examples, and prints a table comparing the methods with training from scratch
// and a nearest-centroid baseline.
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "cli/command.h"
#include "cli/demo_traffic.h"
#include "core/error.h"
#include "meta/baselines.h"
#include "meta/synthetic.h"
#include "meta/trainer.h"

namespace metaids::cli {
namespace {

struct DemoOptions {
  bool quick = false;
  bool synthetic_features = false;
  TrafficDemoOptions traffic;
  int threads = 2;
  std::uint64_t seed = 0;
  int ways = 5;
  int shots = 5;
  int queries = 15;
  int episodes = 0;    // 0: by mode
  int iterations = 0;  // 0: by mode
  std::vector<std::string> algorithms = {"maml", "fomaml", "reptile", "anil", "metasgd", "protonet"};
};

struct Summary {
  double mean = 0, ci95 = 0;
};

Summary summarise(const std::vector<double>& values) {
  double sum = 0, sq = 0;
  for (double v : values) sum += v;
  const double n = static_cast<double>(values.size());
  const double mean = sum / n;
  for (double v : values) sq += (v - mean) * (v - mean);
  const double sd = values.size() > 1 ? std::sqrt(sq / (n - 1)) : 0;
  return {mean, 1.96 * sd / std::sqrt(n)};
}

void run_feature_demo(const DemoOptions& o) {
  using clock_type = std::chrono::steady_clock;
  std::vector<meta::Algorithm> algorithms;  // validated before any work starts
  for (const auto& name : o.algorithms) algorithms.push_back(meta::algorithm_from_string(name));
  const int iterations = o.iterations > 0 ? o.iterations : (o.quick ? 150 : 600);
  const int episodes = o.episodes > 0 ? o.episodes : (o.quick ? 100 : 400);
  // The demo keeps its test episodes in memory (about 15 KB each at the largest sizes it allows).
  require_usage(episodes <= 20000, "--episodes must be at most 20000 for the demo (got {}); use metaids experiment for "
                "more", episodes);
  meta::SyntheticFamilyConfig family;
  family.features = 32;
  family.signal_dims = 4;
  family.classes = 300;
  family.rows_per_class = 40;
  family.seed = o.seed;
  const meta::SyntheticTable table = meta::make_synthetic_family(family);
  const auto train_classes = meta::class_range(0, 200), validation_classes = meta::class_range(200, 240),
             test_classes = meta::class_range(240, 300);
  require(o.shots + o.queries <= family.rows_per_class, "K + queries = {} exceeds the {} rows of each demo class",
          o.shots + o.queries, family.rows_per_class);
  require(o.ways >= 2 && o.ways <= static_cast<int>(test_classes.size()), "ways must be in [2, {}], got {}",
          test_classes.size(), o.ways);

  fmt::print(stderr,
             "metaids demo: {} synthetic classes in {} features (signal in a {}-dim subspace, nuisance elsewhere);\n"
             "  meta-train on classes 0-199, validate on 200-239, test on held-out classes 240-299;\n"
             "  {}-way {}-shot, {} query per class, {} test episodes, {} meta-iterations per method, {} threads\n",
             family.classes, family.features, family.signal_dims, o.ways, o.shots, o.queries, episodes, iterations,
             o.threads);

  meta::EpisodeSampler test_sampler(table.view(), test_classes, o.seed + 1000);
  std::vector<meta::Task<float>> test_tasks;
  for (int e = 0; e < episodes; ++e) test_tasks.push_back(test_sampler.sample(o.ways, o.shots, o.queries));

  struct Row {
    std::string method;
    Summary accuracy;
    double seconds;
  };
  std::vector<Row> rows;
  auto accuracy_of = [](const std::vector<int>& predicted, const std::vector<int>& truth) {
    int correct = 0;
    for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == truth[i] ? 1 : 0;
    return static_cast<double>(correct) / static_cast<double>(predicted.size());
  };

  {  // Baselines.
    auto t0 = clock_type::now();
    std::vector<double> acc(test_tasks.size());
    for (size_t e = 0; e < test_tasks.size(); ++e) {
      const auto& t = test_tasks[e];
      acc[e] = accuracy_of(nn::predict_classes<float>(meta::nearest_centroid_logits<float>(t.support, t.ways, t.query.x)),
                           t.query.y);
    }
    rows.push_back({"nearest centroid", summarise(acc), std::chrono::duration<double>(clock_type::now() - t0).count()});
    fmt::print(stderr, "[scratch] training a fresh network on each support set\n");
    t0 = clock_type::now();
    meta::LearnerConfig lc;
    lc.inputs = family.features;
    lc.ways = o.ways;
    const nn::Mlp<float> mlp(lc.network_spec());
    meta::parallel_for(static_cast<int>(test_tasks.size()), o.threads, [&](int e, int) {
      std::mt19937_64 rng(o.seed * 7919 + static_cast<std::uint64_t>(e));
      const auto& t = test_tasks[static_cast<size_t>(e)];
      meta::FineTuneConfig ft;
      ft.steps = 100;
      const auto theta = meta::fine_tune(mlp, mlp.initial_parameters(rng), t.support, ft);
      acc[static_cast<size_t>(e)] = accuracy_of(nn::predict_classes<float>(mlp.forward(theta, t.query.x)), t.query.y);
    });
    rows.push_back({"scratch (MLP, 100 Adam steps)", summarise(acc),
                    std::chrono::duration<double>(clock_type::now() - t0).count()});
  }

  for (const meta::Algorithm algorithm : algorithms) {
    const std::string name = meta::to_string(algorithm);
    meta::LearnerConfig lc;
    lc.algorithm = algorithm;
    lc.inputs = family.features;
    lc.ways = o.ways;
    lc.hidden = {64, 64};
    lc.embedding = 32;
    lc.inner_steps = algorithm == meta::Algorithm::reptile ? 5 : 3;
    lc.inner_learning_rate = algorithm == meta::Algorithm::reptile ? 0.05 : 0.3;
    lc.adapt_steps = 10;
    const auto learner = meta::make_learner<float>(lc);
    meta::EpisodeSampler train_sampler(table.view(), train_classes, o.seed);
    meta::EpisodeSampler validation_sampler(table.view(), validation_classes, o.seed + 1);
    meta::TrainerConfig tc;
    tc.iterations = iterations;
    tc.meta_batch = 8;
    tc.shots = o.shots;
    tc.queries = o.queries;
    tc.outer.learning_rate = 3e-3;
    tc.threads = o.threads;
    tc.seed = o.seed;
    tc.log_every = std::max(1, iterations / 3);
    tc.validate_every = std::max(1, iterations / 3);
    tc.validation_episodes = 50;
    const auto t0 = clock_type::now();
    meta::MetaTrainer trainer(*learner, tc, train_sampler, &validation_sampler);
    trainer.run([&](const meta::TrainingProgress& p) {
      fmt::print(stderr, "[{}] {}\n", name, meta::describe(p));
    });
    std::vector<double> acc(test_tasks.size());
    std::vector<meta::Scratch<float>> scratch(static_cast<size_t>(o.threads));
    meta::parallel_for(static_cast<int>(test_tasks.size()), o.threads, [&](int e, int thread) {
      acc[static_cast<size_t>(e)] = meta::adapted_accuracy(*learner, trainer.meta_parameters(),
                                                           test_tasks[static_cast<size_t>(e)], scratch[static_cast<size_t>(thread)]);
    });
    rows.push_back({name, summarise(acc), std::chrono::duration<double>(clock_type::now() - t0).count()});
  }

  fmt::print("\n{}-way {}-shot accuracy on {} episodes of held-out classes (mean ± 95% CI)\n\n", o.ways, o.shots,
             episodes);
  fmt::print("| method | accuracy | seconds |\n|---|---|---|\n");
  for (const auto& r : rows) fmt::print("| {} | {:.3f} ± {:.3f} | {:.1f} |\n", r.method, r.accuracy.mean, r.accuracy.ci95, r.seconds);
  std::fflush(stdout);
}

void register_demo(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "The whole loop on generated traffic: detect, calibrate to the site, adapt from 5 flows of a new family, "
              "detect again (--synthetic-features: the meta-learners on synthetic feature vectors)");
  cmd->add_flag("--quick", o->quick, "A short run (less traffic; fewer iterations and episodes)");
  cmd->add_option("--seed", o->seed, "Seed of the traffic (or of the synthetic data and training)");
  cmd->add_option("--model", o->traffic.model, "Model to demonstrate (default: the built-in model)");
  cmd->add_option("--new-family", o->traffic.new_family,
                  "The family the analyst labels 5 flows of (a metaids synth family)")
      ->capture_default_str();
  cmd->add_option("--shots", o->shots, "Labelled flows of the new family (K; --synthetic-features: per class)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--keep", o->traffic.keep_dir, "Keep the generated captures and alerts in this directory");
  cmd->add_flag("--synthetic-features", o->synthetic_features,
                "Run the engine's demo instead: meta-learners against scratch training on synthetic features");
  cmd->add_option("--threads", o->threads, "Threads (--synthetic-features)")->check(CLI::Range(1, 256));
  cmd->add_option("--ways", o->ways, "Classes per episode (N; --synthetic-features)")->check(CLI::Range(2, 60));
  cmd->add_option("--queries", o->queries, "Query examples per class (--synthetic-features)")->check(CLI::Range(1, 1000000));
  cmd->add_option("--episodes", o->episodes, "Test episodes (--synthetic-features)")->check(CLI::Range(1, 1000000));
  cmd->add_option("--iterations", o->iterations, "Meta-training iterations per method (--synthetic-features)")
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--algorithms", o->algorithms, "Meta-learners to run (--synthetic-features)")->delimiter(',');
  cmd->callback([o, cmd] {
    if (o->synthetic_features) {
      run_feature_demo(*o);
      return;
    }
    for (const char* option : {"--threads", "--ways", "--queries", "--episodes", "--iterations", "--algorithms"})
      require(cmd->count(option) == 0, "{} applies to --synthetic-features", option);
    TrafficDemoOptions traffic = o->traffic;
    traffic.quick = o->quick;
    traffic.seed = o->seed;
    traffic.shots = cmd->count("--shots") > 0 ? o->shots : 5;
    run_traffic_demo(traffic);
  });
}

}  // namespace

METAIDS_COMMAND("demo", register_demo);

}  // namespace metaids::cli
