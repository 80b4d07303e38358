// Google Benchmark kernels of the engine: forward, gradient, Hessian-vector product of the
// 78-64-64-5 network on a 25-sample support set, one task meta-gradient per algorithm, and
// drawing a 5-way 5+15 episode from classes of 100 to 20 000 rows.
// Run: build/bench_meta [--benchmark_min_time=0.5]
#include <benchmark/benchmark.h>

#include "meta/learner.h"
#include "meta/synthetic.h"

namespace {

using namespace metaids;

nn::Batch<float> support_batch() {
  nn::Batch<float> b;
  b.x = nn::Matrix<float>::Random(78, 25);
  for (int i = 0; i < 25; ++i) b.y.push_back(i % 5);
  return b;
}

const nn::MlpSpec kSpec{{78, 64, 64, 5}, nn::Activation::relu, nn::Loss::softmax_cross_entropy};

void BM_Forward(benchmark::State& state) {
  const nn::Mlp<float> mlp(kSpec);
  std::mt19937_64 rng(0);
  const auto theta = mlp.initial_parameters(rng);
  const auto batch = support_batch();
  nn::Workspace<float> ws;
  for (auto _ : state) benchmark::DoNotOptimize(mlp.loss(theta, batch, ws));
  state.SetItemsProcessed(state.iterations() * 25);
}
BENCHMARK(BM_Forward);

void BM_Gradient(benchmark::State& state) {
  const nn::Mlp<float> mlp(kSpec);
  std::mt19937_64 rng(0);
  const auto theta = mlp.initial_parameters(rng);
  const auto batch = support_batch();
  nn::Workspace<float> ws;
  nn::Vector<float> g;
  for (auto _ : state) benchmark::DoNotOptimize(mlp.loss_and_gradient(theta, batch, g, ws));
  state.SetItemsProcessed(state.iterations() * 25);
}
BENCHMARK(BM_Gradient);

void BM_HessianVectorProduct(benchmark::State& state) {
  const nn::Mlp<float> mlp(kSpec);
  std::mt19937_64 rng(0);
  const auto theta = mlp.initial_parameters(rng);
  const nn::Vector<float> v = nn::Vector<float>::Random(mlp.parameter_count());
  const auto batch = support_batch();
  nn::Workspace<float> ws;
  nn::Vector<float> hv;
  for (auto _ : state) benchmark::DoNotOptimize(mlp.hessian_vector_product(theta, batch, v, hv, nullptr, ws));
  state.SetItemsProcessed(state.iterations() * 25);
}
BENCHMARK(BM_HessianVectorProduct);

void BM_TaskMetaGradient(benchmark::State& state) {
  const auto algorithm = static_cast<meta::Algorithm>(state.range(0));
  meta::LearnerConfig config;
  config.algorithm = algorithm;
  config.inputs = 78;
  config.ways = 5;
  config.embedding = 5;
  config.inner_learning_rate = 0.01;
  const auto learner = meta::make_learner<float>(config);
  meta::SyntheticFamilyConfig family;
  family.features = 78;
  family.classes = 10;
  family.rows_per_class = 20;
  const auto table = meta::make_synthetic_family(family);
  meta::EpisodeSampler sampler(table.view(), meta::class_range(0, 10), 1);
  const auto task = sampler.sample(5, 5, 15);
  std::mt19937_64 rng(0);
  const auto phi = learner->initial_meta_parameters(rng);
  meta::Scratch<float> scratch;
  nn::Vector<float> g;
  for (auto _ : state) benchmark::DoNotOptimize(learner->meta_gradient(phi, task, g, scratch));
  state.SetLabel(meta::to_string(algorithm));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TaskMetaGradient)->DenseRange(0, 5);

void BM_SampleEpisode(benchmark::State& state) {
  meta::SyntheticFamilyConfig family;
  family.features = 78;
  family.classes = 5;
  family.rows_per_class = static_cast<int>(state.range(0));
  const auto table = meta::make_synthetic_family(family);
  meta::EpisodeSampler sampler(table.view(), meta::class_range(0, 5), 1);
  for (auto _ : state) benchmark::DoNotOptimize(sampler.sample(5, 5, 15));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SampleEpisode)->Arg(100)->Arg(2000)->Arg(20000);

}  // namespace
