// Dataset loading throughput (MB/s of CSV text). Also runnable as a smoke test with
// --benchmark_min_time=0.01. `metaids bench csv` prints the same figures as JSON lines.
#include <benchmark/benchmark.h>

#include "data/csv_reader.h"
#include "data/loaders.h"
#include "data/synthetic_csv.h"

namespace {

const std::string& synthetic_text() {
  static const std::string text = metaids::data::synthetic_flow_csv(50000);
  return text;
}

// Tokenizing only: records and fields, no number parsing.
void BM_CsvTokenize(benchmark::State& state) {
  const std::string& text = synthetic_text();
  size_t fields_seen = 0;
  for (auto _ : state) {
    metaids::data::CsvReader reader(text, "synthetic");
    std::vector<std::string_view> fields;
    while (reader.next_record(fields)) fields_seen += fields.size();
    benchmark::DoNotOptimize(fields_seen);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_CsvTokenize)->Unit(benchmark::kMillisecond);

// The whole loader: tokenize, parse floats, labels, timestamps, build the FeatureTable.
void BM_CsvLoadCicFlowMeter(benchmark::State& state) {
  const std::string& text = synthetic_text();
  const auto schema = metaids::data::cicflowmeter_schema();
  for (auto _ : state) {
    auto table = metaids::data::load_csv_text(text, schema, "synthetic");
    benchmark::DoNotOptimize(table.features.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_CsvLoadCicFlowMeter)->Unit(benchmark::kMillisecond);

void BM_ParseFloatCell(benchmark::State& state) {
  const std::string_view cells[] = {"0", "443", "119302728", "3.090875232774675", "27034.382053025183", "Infinity"};
  size_t bytes = 0;
  for (const auto c : cells) bytes += c.size();
  float sum = 0;
  for (auto _ : state) {
    for (const auto c : cells) {
      float v;
      metaids::data::parse_float_cell(c, v);
      sum += v;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_ParseFloatCell);

}  // namespace
