// metaids bench meta: the standard meta-learning workload, one JSON line per algorithm.
//   MLP 78 → 64 → 64 → 5, 5-way 5-shot, 15 query per class, 5 inner SGD steps (α = 0.01),
//   meta-batch 16, Adam. ProtoNet embeds with the same network (embedding width 5).
// Its PyTorch peer, bench/peers/meta_bench_torch.py, prints the same fields; the FLOP model
// (gflops) is the one in docs/peers.md.
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "meta/baselines.h"
#include "meta/synthetic.h"
#include "meta/trainer.h"
#include "nn/gemm.h"

namespace metaids::cli {
namespace {

using meta::Algorithm;
using clock_type = std::chrono::steady_clock;

constexpr int kInputs = 78, kWays = 5, kShots = 5, kQueries = 15, kSteps = 5, kMetaBatch = 16;

double flops_per_task(Algorithm algorithm) {
  const double p = 78.0 * 64 + 64.0 * 64 + 64.0 * 5, head = 64.0 * 5, body = p - head;
  const double ns = kWays * kShots, nq = kWays * kQueries, s = kSteps;
  switch (algorithm) {
    case Algorithm::maml:
    case Algorithm::metasgd: return (18 * s * ns + 6 * nq) * p;
    case Algorithm::fomaml: return (6 * s * ns + 6 * nq) * p;
    case Algorithm::reptile: return 6 * s * (ns + nq) * p;
    case Algorithm::anil: return 6 * (ns + nq) * body + (18 * s * ns + 6 * nq) * head;
    case Algorithm::protonet: return 6 * (ns + nq) * p;
  }
  return 0;
}

struct BenchOptions {
  int threads = 1;
  double seconds = 3;
  std::vector<std::string> algorithms = {"maml", "fomaml", "reptile", "anil", "metasgd", "protonet"};
  bool extras = true;
  bool reference_products = false;
};

std::string products_name() {
  return nn::using_reference_products() || !nn::fast_products_available() ? "eigen" : "libxsmm";
}

// 256 pre-drawn tasks cycled (as the peer does), so only meta-learning is timed.
std::vector<meta::Task<float>> workload_tasks(int ways) {
  meta::SyntheticFamilyConfig family;
  family.features = kInputs;
  family.signal_dims = 8;
  family.classes = 64;
  family.rows_per_class = 40;
  family.seed = 1;
  static const meta::SyntheticTable table = meta::make_synthetic_family(family);
  meta::EpisodeSampler sampler(table.view(), meta::class_range(0, 64), 2);
  std::vector<meta::Task<float>> tasks;
  for (int i = 0; i < 256; ++i) tasks.push_back(sampler.sample(ways, kShots, kQueries));
  return tasks;
}

nlohmann::json bench_algorithm(Algorithm algorithm, const BenchOptions& options,
                               const std::vector<meta::Task<float>>& pool) {
  meta::LearnerConfig config;
  config.algorithm = algorithm;
  config.inputs = kInputs;
  config.ways = kWays;
  config.hidden = {64, 64};
  config.embedding = kWays;
  config.inner_steps = kSteps;
  config.inner_learning_rate = 0.01;
  const auto learner = meta::make_learner<float>(config);
  meta::SyntheticFamilyConfig dummy_family;  // the trainer needs a sampler; the tasks come from `pool`
  dummy_family.features = kInputs;
  dummy_family.classes = 2;
  dummy_family.rows_per_class = 2;
  const meta::SyntheticTable dummy = meta::make_synthetic_family(dummy_family);
  meta::EpisodeSampler sampler(dummy.view(), {0, 1}, 0);
  meta::TrainerConfig trainer_config;
  trainer_config.meta_batch = kMetaBatch;
  trainer_config.threads = options.threads;
  trainer_config.outer.learning_rate = 1e-3;
  meta::MetaTrainer trainer(*learner, trainer_config, sampler);

  // The pool as meta-batches, built once and cycled: the timed loop is meta-steps only.
  require(pool.size() >= static_cast<size_t>(kMetaBatch) && pool.size() % kMetaBatch == 0,
          "the task pool must hold whole meta-batches");
  std::vector<std::vector<meta::Task<float>>> batches(pool.size() / kMetaBatch);
  for (size_t i = 0; i < pool.size(); ++i) batches[i / kMetaBatch % batches.size()].push_back(pool[i]);
  size_t next = 0;
  // Warm-up (untimed), then meta-steps until the time is up.
  const double first_loss = trainer.step(batches[next++ % batches.size()]);
  trainer.step(batches[next++ % batches.size()]);
  int steps = 0;
  double last_loss = 0;
  const auto start = clock_type::now();
  auto step_start = start;
  double elapsed = 0;
  std::vector<double> step_seconds;
  while (elapsed < options.seconds) {
    last_loss = trainer.step(batches[next++ % batches.size()]);
    ++steps;
    const auto now = clock_type::now();
    step_seconds.push_back(std::chrono::duration<double>(now - step_start).count());
    step_start = now;
    elapsed = std::chrono::duration<double>(now - start).count();
  }
  const double seconds = elapsed;
  const double tasks_per_s = steps * kMetaBatch / seconds;
  // The same at the median meta-step: on a shared host, a few steps stretched by a vCPU
  // taken away (which stalls every thread of a synchronous step) move the mean, not this.
  std::nth_element(step_seconds.begin(), step_seconds.begin() + static_cast<std::ptrdiff_t>(step_seconds.size() / 2),
                   step_seconds.end());
  const double median_tasks_per_s = kMetaBatch / step_seconds[step_seconds.size() / 2];
  return {{"impl", "metaids"},
          {"products", products_name()},
          {"algorithm", meta::to_string(algorithm)},
          {"threads", options.threads},
          {"tasks_per_s", std::round(tasks_per_s * 10) / 10},
          {"tasks_per_s_median_step", std::round(median_tasks_per_s * 10) / 10},
          {"meta_steps", steps},
          {"seconds", std::round(seconds * 100) / 100},
          {"gflops", std::round(tasks_per_s * flops_per_task(algorithm) / 1e7) / 100},
          {"meta_batch", kMetaBatch},
          {"inner_steps", kSteps},
          {"first_meta_loss", first_loss},
          {"last_meta_loss", last_loss}};
}

// Adaptation latency: 5-shot binary task, 10 inner SGD steps on 78 → 64 → 64 → 2.
nlohmann::json bench_adapt_latency(const BenchOptions& options) {
  meta::LearnerConfig config;
  config.inputs = kInputs;
  config.ways = 2;
  config.adapt_steps = 10;
  config.inner_learning_rate = 0.01;
  const auto learner = meta::make_learner<float>(config);
  std::mt19937_64 rng(0);
  const auto phi = learner->initial_meta_parameters(rng);
  const auto tasks = workload_tasks(2);
  meta::Scratch<float> scratch;
  std::vector<double> latencies;
  const auto start = clock_type::now();
  size_t i = 0;
  while (std::chrono::duration<double>(clock_type::now() - start).count() < options.seconds) {
    const auto t0 = clock_type::now();
    const auto adapted = learner->adapt(phi, tasks[i++ % tasks.size()].support, 2, scratch);
    latencies.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    if (!adapted.theta.allFinite()) fail("adaptation diverged");
  }
  double sum = 0;
  for (double l : latencies) sum += l;
  std::sort(latencies.begin(), latencies.end());
  const double mean = sum / static_cast<double>(latencies.size());
  return {{"impl", "metaids"},
          {"products", products_name()},
          {"algorithm", "adapt_latency"},
          {"threads", 1},
          {"latency_us", std::round(mean * 10) / 10},
          {"latency_us_median", std::round(latencies[latencies.size() / 2] * 10) / 10},
          {"adaptations", latencies.size()},
          {"gflops", std::round(5529600.0 / mean / 1e1) / 100}};
}

// Batch scoring throughput: softmax scores of 4096 flows through 78 → 64 → 64 → 2.
nlohmann::json bench_score_throughput(const BenchOptions& options) {
  const nn::Mlp<float> mlp(nn::MlpSpec{{kInputs, 64, 64, 2}, nn::Activation::relu, nn::Loss::softmax_cross_entropy});
  std::mt19937_64 rng(0);
  const auto theta = mlp.initial_parameters(rng);
  const nn::Matrix<float> x = nn::Matrix<float>::Random(kInputs, 4096);
  nn::Workspace<float> ws;
  int batches = 0;
  double checksum = 0;
  const auto start = clock_type::now();
  double elapsed = 0;
  while (elapsed < options.seconds) {
    const auto scores = nn::class_scores<float>(mlp.forward(theta, x, ws), 1);
    checksum += scores[static_cast<size_t>(batches) % scores.size()];
    ++batches;
    elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  }
  const double flows_per_s = batches * 4096.0 / elapsed;
  if (!std::isfinite(checksum)) fail("scores are not finite");
  return {{"impl", "metaids"},
          {"products", products_name()},
          {"algorithm", "score_throughput"},
          {"threads", 1},
          {"flows_per_s", std::round(flows_per_s)},
          {"batches", batches},
          {"batch", 4096},
          {"gflops", std::round(flows_per_s * 18432.0 / 1e7) / 100}};
}

void register_bench_meta(CLI::App& parent) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = parent.add_subcommand("meta", "Meta-learning throughput on the standard workload (JSON lines)");
  cmd->add_option("--threads", options->threads, "Threads for the meta-batch")->check(CLI::Range(1, 256));
  cmd->add_option("--seconds", options->seconds, "Seconds per algorithm")->check(CLI::Range(0.01, 3600.0));
  cmd->add_option("--algorithms", options->algorithms, "Algorithms to run (maml fomaml reptile anil metasgd protonet)")
      ->delimiter(',');
  cmd->add_flag("!--no-extras", options->extras, "Skip the adaptation-latency and scoring lines");
  cmd->add_flag("--reference-products", options->reference_products,
                "Use Eigen's products instead of libxsmm's kernels (to compare the two)");
  cmd->callback([options] {
    std::vector<Algorithm> algorithms;
    for (const auto& name : options->algorithms) algorithms.push_back(meta::algorithm_from_string(name));
    nn::use_reference_products(options->reference_products);
    const auto pool = workload_tasks(kWays);
    for (Algorithm a : algorithms) fmt::print("{}\n", bench_algorithm(a, *options, pool).dump());
    if (options->extras) {
      fmt::print("{}\n", bench_adapt_latency(*options).dump());
      fmt::print("{}\n", bench_score_throughput(*options).dump());
    }
    std::fflush(stdout);
  });
}

}  // namespace

METAIDS_COMMAND("bench/meta", register_bench_meta);

}  // namespace metaids::cli
