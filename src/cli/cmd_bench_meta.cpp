// metaids bench meta: the standard meta-learning workload, one JSON line per algorithm.
//   MLP 78 → 64 → 64 → 5, 5-way 5-shot, 15 query per class, 5 inner SGD steps (α = 0.01),
//   meta-batch 16, Adam. ProtoNet embeds with the same network (embedding width 5).
// Its PyTorch peer, bench/peers/meta_bench_torch.py, prints the same fields; the FLOP model
// (gflops) is the one in docs/peers.md.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
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
  bool scaling = false;
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

std::unique_ptr<meta::MetaLearner<float>> workload_learner(Algorithm algorithm) {
  meta::LearnerConfig config;
  config.algorithm = algorithm;
  config.inputs = kInputs;
  config.ways = kWays;
  config.hidden = {64, 64};
  config.embedding = kWays;
  config.inner_steps = kSteps;
  config.inner_learning_rate = 0.01;
  return meta::make_learner<float>(config);
}

// The trainer needs a sampler; the tasks come from the pool.
const meta::SyntheticTable& dummy_table() {
  static const meta::SyntheticTable table = [] {
    meta::SyntheticFamilyConfig family;
    family.features = kInputs;
    family.classes = 2;
    family.rows_per_class = 2;
    return meta::make_synthetic_family(family);
  }();
  return table;
}

meta::TrainerConfig workload_trainer_config(int threads) {
  meta::TrainerConfig config;
  config.meta_batch = kMetaBatch;
  config.threads = threads;
  config.outer.learning_rate = 1e-3;
  return config;
}

// The pool as meta-batches, built once and cycled: the timed loops are meta-steps only.
std::vector<std::vector<meta::Task<float>>> as_meta_batches(const std::vector<meta::Task<float>>& pool) {
  require(pool.size() >= static_cast<size_t>(kMetaBatch) && pool.size() % kMetaBatch == 0,
          "the task pool must hold whole meta-batches");
  std::vector<std::vector<meta::Task<float>>> batches(pool.size() / kMetaBatch);
  for (size_t i = 0; i < pool.size(); ++i) batches[i / kMetaBatch].push_back(pool[i]);
  return batches;
}

nlohmann::json bench_algorithm(Algorithm algorithm, const BenchOptions& options,
                               const std::vector<meta::Task<float>>& pool) {
  const auto learner = workload_learner(algorithm);
  meta::EpisodeSampler sampler(dummy_table().view(), {0, 1}, 0);
  meta::MetaTrainer trainer(*learner, workload_trainer_config(options.threads), sampler);
  const auto batches = as_meta_batches(pool);
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

// The first two CPUs this process may run on (the --scaling pair).
std::array<int, 2> two_cpus(const cpu_set_t& allowed) {
  std::array<int, 2> cpus{-1, -1};
  int found = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) cpus[static_cast<size_t>(found++)] = cpu;
  require(found == 2, "--scaling needs two CPUs to run on; this process may use {}", found);
  return cpus;
}

void run_this_thread_on(std::initializer_list<int> cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  require(rc == 0, "cannot move the benchmark thread to CPUs {}: {}", fmt::join(cpus, ","), std::strerror(rc));
}

double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double at = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<size_t>(at);
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (at - static_cast<double>(below)) * (values[above] - values[below]);
}

// Two-thread scaling measured inside one process (--scaling). Short bursts of meta-steps
// rotate between one thread pinned to one CPU, one thread pinned to the other and two threads
// on both, so that all three meet the same host: on a virtual machine the vCPUs need not run at
// one speed, and their speeds change within minutes, so separate runs seconds apart disagree by
// several per cent. Each rotation gives two-thread throughput over the mean of the two
// one-thread throughputs (2.0 is perfect, whatever the two CPUs' speeds); the median and
// quartiles over the rotations are reported, over whole bursts and at their median steps.
nlohmann::json bench_scaling(Algorithm algorithm, const BenchOptions& options,
                             const std::vector<meta::Task<float>>& pool) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  require(pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) == 0, "cannot read this thread's CPUs");
  const auto cpus = two_cpus(allowed);
  struct Restore {
    cpu_set_t mask;
    ~Restore() { pthread_setaffinity_np(pthread_self(), sizeof mask, &mask); }
  } restore{allowed};
  const auto learner = workload_learner(algorithm);
  meta::EpisodeSampler sampler(dummy_table().view(), {0, 1}, 0);
  const auto batches = as_meta_batches(pool);
  // Made while this thread may run on both CPUs: the team's worker thread inherits them.
  run_this_thread_on({cpus[0], cpus[1]});
  meta::MetaTrainer one(*learner, workload_trainer_config(1), sampler);
  meta::MetaTrainer two(*learner, workload_trainer_config(2), sampler);
  size_t next = 0;
  struct Burst {
    double tasks_per_s, tasks_per_s_median_step;
  };
  // One untimed step (the thread just moved, or the team just woke), then `steps` timed ones.
  auto burst = [&](meta::MetaTrainer& trainer, int steps) {
    trainer.step(batches[next++ % batches.size()]);
    std::vector<double> seconds;
    const auto start = clock_type::now();
    auto step_start = start;
    for (int i = 0; i < steps; ++i) {
      trainer.step(batches[next++ % batches.size()]);
      const auto now = clock_type::now();
      seconds.push_back(std::chrono::duration<double>(now - step_start).count());
      step_start = now;
    }
    const double total = std::chrono::duration<double>(step_start - start).count();
    return Burst{steps * kMetaBatch / total, kMetaBatch / quantile(seconds, 0.5)};
  };
  // Bursts of about 10 ms of one-thread work; rotations to fill --seconds.
  run_this_thread_on({cpus[0]});
  const double step_seconds = kMetaBatch / burst(one, 3).tasks_per_s_median_step;
  const int steps = std::clamp(static_cast<int>(std::lround(0.01 / step_seconds)), 3, 1000);
  const int rotations = std::max(5, static_cast<int>(options.seconds / (2.5 * steps * step_seconds)));
  std::vector<double> speedup, speedup_median_step, one_a, one_b, both;
  for (int r = 0; r < rotations; ++r) {
    run_this_thread_on({cpus[0]});
    const Burst a = burst(one, steps);
    run_this_thread_on({cpus[1]});
    const Burst b = burst(one, steps);
    run_this_thread_on({cpus[0], cpus[1]});
    const Burst t = burst(two, steps);
    speedup.push_back(t.tasks_per_s / ((a.tasks_per_s + b.tasks_per_s) / 2));
    speedup_median_step.push_back(t.tasks_per_s_median_step /
                                  ((a.tasks_per_s_median_step + b.tasks_per_s_median_step) / 2));
    one_a.push_back(a.tasks_per_s);
    one_b.push_back(b.tasks_per_s);
    both.push_back(t.tasks_per_s);
  }
  auto rounded = [](double x, double unit) { return std::round(x / unit) / (1 / unit); };
  return {{"impl", "metaids"},
          {"products", products_name()},
          {"algorithm", meta::to_string(algorithm)},
          {"measure", "scaling"},
          {"cpus", cpus},
          {"rotations", rotations},
          {"steps_per_burst", steps},
          {"tasks_per_s_one_thread", {rounded(quantile(one_a, 0.5), 0.1), rounded(quantile(one_b, 0.5), 0.1)}},
          {"tasks_per_s_two_threads", rounded(quantile(both, 0.5), 0.1)},
          {"speedup", rounded(quantile(speedup, 0.5), 0.001)},
          {"speedup_quartiles", {rounded(quantile(speedup, 0.25), 0.001), rounded(quantile(speedup, 0.75), 0.001)}},
          {"speedup_median_step", rounded(quantile(speedup_median_step, 0.5), 0.001)},
          {"speedup_median_step_quartiles",
           {rounded(quantile(speedup_median_step, 0.25), 0.001), rounded(quantile(speedup_median_step, 0.75), 0.001)}}};
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
  auto* threads =
      cmd->add_option("--threads", options->threads, "Threads for the meta-batch")->check(CLI::Range(1, 256));
  cmd->add_option("--seconds", options->seconds, "Seconds per algorithm")->check(CLI::Range(0.01, 3600.0));
  cmd->add_option("--algorithms", options->algorithms, "Algorithms to run (maml fomaml reptile anil metasgd protonet)")
      ->delimiter(',');
  cmd->add_flag("!--no-extras", options->extras, "Skip the adaptation-latency and scoring lines");
  cmd->add_flag("--scaling", options->scaling,
                "Measure two threads against one in alternating bursts on the first two CPUs (one JSON line each)")
      ->excludes(threads);
  cmd->add_flag("--reference-products", options->reference_products,
                "Use Eigen's products instead of libxsmm's kernels (to compare the two)");
  cmd->callback([options] {
    std::vector<Algorithm> algorithms;
    for (const auto& name : options->algorithms) algorithms.push_back(meta::algorithm_from_string(name));
    nn::use_reference_products(options->reference_products);
    const auto pool = workload_tasks(kWays);
    for (Algorithm a : algorithms)
      fmt::print("{}\n", (options->scaling ? bench_scaling(a, *options, pool) : bench_algorithm(a, *options, pool)).dump());
    if (options->extras && !options->scaling) {
      fmt::print("{}\n", bench_adapt_latency(*options).dump());
      fmt::print("{}\n", bench_score_throughput(*options).dump());
    }
    std::fflush(stdout);
  });
}

}  // namespace

METAIDS_COMMAND("bench/meta", register_bench_meta);

}  // namespace metaids::cli
