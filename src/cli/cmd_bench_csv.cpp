// `metaids bench csv`: dataset loading throughput, one JSON object per line. MB/s counts CSV
// text (after decompression) per second: `mb_per_s` of wall time (median pass), `mb_per_s_cpu`
// of CPU time (the loader uses one core; this figure does not move when the machine is busy).
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "data/csv_reader.h"
#include "data/loaders.h"
#include "data/synthetic_csv.h"

namespace metaids::cli {
namespace {

using clock_type = std::chrono::steady_clock;

struct BenchCsvOptions {
  size_t rows = 100000;
  double seconds = 2.0;
  std::string data;  // shared data directory (optional)
};

// Runs `fn` (returns bytes processed) until `seconds` pass, at least 3 times; reports the
// median pass.
// CPU seconds of this process (user + system): the loader is single-threaded, so this is the
// time one core spent, whatever else the machine is doing.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

template <typename Fn>
nlohmann::json measure(const std::string& benchmark, const std::string& source, double seconds, Fn fn) {
  std::vector<double> times, cpu_times;
  uint64_t bytes = 0;
  uint64_t rows = 0;
  const auto start = clock_type::now();
  while (times.size() < 3 || std::chrono::duration<double>(clock_type::now() - start).count() < seconds) {
    const auto t0 = clock_type::now();
    const double c0 = process_cpu_seconds();
    const auto [b, r] = fn();
    cpu_times.push_back(process_cpu_seconds() - c0);
    times.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
    bytes = b;
    rows = r;
    if (times.size() >= 1000) break;
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  const double median = times[times.size() / 2];
  const double cpu_median = std::max(cpu_times[cpu_times.size() / 2], 1e-9);
  const double mb = static_cast<double>(bytes) / 1e6;
  return {{"benchmark", benchmark},
          {"source", source},
          {"bytes", bytes},
          {"rows", rows},
          {"passes", times.size()},
          {"seconds_median", std::round(median * 1e5) / 1e5},
          {"mb_per_s", std::round(mb / median * 10) / 10},
          {"mb_per_s_best", std::round(mb / times.front() * 10) / 10},
          {"mb_per_s_cpu", std::round(mb / cpu_median * 10) / 10}};
}

void register_bench_csv(CLI::App& parent) {
  auto options = std::make_shared<BenchCsvOptions>();
  CLI::App* cmd = parent.add_subcommand("csv", "CSV dataset loading throughput in MB/s (JSON lines)");
  cmd->add_option("--rows", options->rows, "Rows of the synthetic CICFlowMeter-like CSV")->check(CLI::Range(1, 10000000));
  cmd->add_option("--seconds", options->seconds, "Seconds per measurement (at least 3 passes)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--data", options->data, "Shared data directory: also time the real datasets found there");
  cmd->callback([options] {
    if (!options->data.empty())
      require(std::filesystem::is_directory(options->data), "--data {}: not a directory", options->data);
    const std::string text = data::synthetic_flow_csv(options->rows);
    const std::string synthetic = fmt::format("synthetic {} rows x 78 features", options->rows);
    auto print = [](const nlohmann::json& j) {
      fmt::print("{}\n", j.dump());
      std::fflush(stdout);
    };
    print(measure("csv_tokenize", synthetic, options->seconds, [&] {
      data::CsvReader reader(text, "synthetic");
      std::vector<std::string_view> fields;
      uint64_t records = 0;
      while (reader.next_record(fields)) ++records;
      return std::pair<uint64_t, uint64_t>{text.size(), records};
    }));
    const auto cic = data::cicflowmeter_schema();
    print(measure("csv_load", synthetic, options->seconds, [&] {
      const auto t = data::load_csv_text(text, cic, "synthetic");
      return std::pair<uint64_t, uint64_t>{t.report.bytes, t.rows()};
    }));
    if (options->data.empty()) return;
    const std::filesystem::path dir(options->data);
    struct Real {
      const char* path;
      data::DatasetSchema schema;
    };
    const Real reals[] = {
        {"cicids2017-improved-sample/sampled_CICIDS2017_improved_rnd_5000", data::cicflowmeter_schema()},
        {"nsl-kdd/KDDTrain+.txt", data::nslkdd_schema()},
        {"kddcup99/kddcup.data_10_percent.gz", data::kddcup99_schema()}};
    for (const auto& real : reals) {
      if (!std::filesystem::exists(dir / real.path)) continue;
      print(measure("dataset_load", real.path, options->seconds, [&] {
        const auto t = data::load_dataset(dir / real.path, real.schema);
        return std::pair<uint64_t, uint64_t>{t.report.bytes, t.rows()};
      }));
    }
  });
}

}  // namespace

METAIDS_COMMAND("bench/csv", register_bench_csv);

}  // namespace metaids::cli
