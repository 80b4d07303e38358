// Google Benchmark: the detector's pieces. `metaids bench detect` gives the end-to-end figures.
#include <benchmark/benchmark.h>

#include <random>

#include "detect/builtin_model.h"
#include "detect/community_id.h"
#include "detect/eve.h"
#include "model/scoring.h"

namespace {

using namespace metaids;

const model::Model& shipped() {
  static const model::Model m = detect::load_model_or_builtin("");
  return m;
}

// Scores a batch of transformed flows with the shipped model's adapted state.
void BM_ScoreShipped(benchmark::State& state) {
  const model::Model& m = shipped();
  model::Matrix<float> x = model::Matrix<float>::Random(m.features(), state.range(0));
  model::Scorer scorer(m);
  std::vector<model::Verdict> verdicts;
  for (auto _ : state) {
    scorer.score(x, verdicts);
    benchmark::DoNotOptimize(verdicts.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ScoreShipped)->Arg(1)->Arg(256)->Arg(4096);

// One alert line, features included.
void BM_EveAlertLine(benchmark::State& state) {
  const model::Model& m = shipped();
  const detect::EveFormatter formatter(m, true);
  detect::FlowRecord r;
  r.has_identity = true;
  r.src_ip = "203.0.113.7";
  r.dst_ip = "10.0.0.1";
  r.src_address = {203, 0, 113, 7};
  r.dst_address = {10, 0, 0, 1};
  r.src_port = 51234;
  r.dst_port = 22;
  r.protocol = 6;
  r.start_us = 1'700'000'000'000'000;
  r.end_us = r.start_us + 250'000;
  model::Verdict v;
  v.alert = true;
  v.reported = 1;
  std::vector<float> raw(static_cast<size_t>(m.features()), 12.5f);
  std::string line;
  for (auto _ : state) {
    line.clear();
    formatter.append(line, r, v, raw, false);
    benchmark::DoNotOptimize(line.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EveAlertLine);

void BM_CommunityId(benchmark::State& state) {
  detect::FlowTuple t;
  t.src = {10, 0, 0, 1};
  t.dst = {10, 0, 0, 2};
  t.protocol = 6;
  t.src_port = 1234;
  t.dst_port = 80;
  for (auto _ : state) benchmark::DoNotOptimize(detect::community_id_v1(t));
}
BENCHMARK(BM_CommunityId);

// Adapting the shipped model to 5 flows of a new class: the whole `adapt` step.
void BM_AddSupport(benchmark::State& state) {
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  data::FeatureMatrix rows(5, shipped().features());
  for (Eigen::Index j = 0; j < rows.size(); ++j) rows.data()[j] = normal(rng);
  for (auto _ : state) {
    model::Model m = shipped();
    model::add_support(m, rows, "New", {});
    benchmark::DoNotOptimize(m.classes.data());
  }
}
BENCHMARK(BM_AddSupport)->Unit(benchmark::kMicrosecond);

}  // namespace
