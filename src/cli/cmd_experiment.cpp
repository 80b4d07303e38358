// `metaids experiment`: FSND-1 end to end (../shared/docs/PROTOCOL.md). Progress on stderr;
// DIR/results.json, DIR/results.md, DIR/run.json and DIR/accuracy_vs_k.png.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/experiment.h"
#include "eval/experiment.h"

namespace metaids::cli {
namespace {

struct ExperimentCommandOptions {
  std::string config;
  std::string data;
  std::string out;
  std::string seeds;
  std::string methods;
  std::string tasks;
  std::string shots;
  int episodes = 0;
  int threads = 2;
  int iterations = -1;
  int train_shots = -1;
  int pretrain_steps = -1;
  bool quiet = false;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ','))
    if (!item.empty()) items.push_back(item);
  return items;
}

template <typename T>
std::vector<T> parse_numbers(const std::string& text, const char* what) {
  std::vector<T> values;
  for (const std::string& item : split_list(text)) {
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      require(used == item.size() && v >= 0, "bad {} '{}' (expected non-negative integers separated by commas)", what, item);
      values.push_back(static_cast<T>(v));
    } catch (const std::logic_error&) {
      fail("bad {} '{}' (expected non-negative integers separated by commas)", what, item);
    }
  }
  require(!values.empty(), "--{} needs at least one value", what);
  return values;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// tools/plot_results.py next to the working directory or the source tree of the binary.
std::filesystem::path find_plot_script() {
  if (const char* env = std::getenv("METAIDS_PLOT_SCRIPT")) return env;
  std::vector<std::filesystem::path> candidates{"tools/plot_results.py"};
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / ".." / "tools" / "plot_results.py");
    candidates.push_back(exe.parent_path() / ".." / ".." / "tools" / "plot_results.py");
  }
  for (const auto& c : candidates)
    if (std::filesystem::exists(c, ec)) return c;
  return {};
}

void plot(const std::filesystem::path& results, const std::filesystem::path& png) {
  const std::filesystem::path script = find_plot_script();
  if (script.empty()) {
    std::fprintf(stderr, "experiment: warning: tools/plot_results.py not found; skipping the plot\n");
    return;
  }
  if (access("/usr/bin/python3", X_OK) != 0) {
    std::fprintf(stderr, "experiment: warning: /usr/bin/python3 not found; skipping the plot\n");
    return;
  }
  if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "experiment: warning: python3-matplotlib is not installed; skipping the plot\n");
    return;
  }
  const std::string command = "/usr/bin/python3 " + shell_quote(script.string()) + " " + shell_quote(results.string()) +
                              " " + shell_quote(png.string()) + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0)
    std::fprintf(stderr, "experiment: warning: plotting failed (%s); results are written\n", command.c_str());
}

void run(const ExperimentCommandOptions& o) {
  require(!o.config.empty(), "--config is required");
  require(!o.out.empty(), "--out is required");
  const std::string data_dir = resolve_data_dir(o.data);
  require(o.threads >= 1 && o.threads <= 256, "--threads must be in [1, 256], got {}", o.threads);
  const auto start = std::chrono::steady_clock::now();
  auto log = [&](const std::string& line) {
    if (o.quiet) return;
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "experiment [%7.1f s] %s\n", t, line.c_str());
    std::fflush(stderr);
  };
  const data::ExperimentConfig config = data::load_experiment_config(o.config);
  eval::ExperimentOptions options;
  options.training.apply_json(config.training);
  if (o.iterations >= 0) options.training.iterations = o.iterations;
  if (o.train_shots >= 0) options.training.train_shots = o.train_shots;
  if (o.pretrain_steps >= 0) options.pretrain.steps = o.pretrain_steps;
  if (!o.seeds.empty()) options.seeds = parse_numbers<std::uint64_t>(o.seeds, "seeds");
  if (!o.shots.empty()) options.shots = parse_numbers<int>(o.shots, "shots");
  if (!o.methods.empty()) options.methods = split_list(o.methods);
  if (!o.tasks.empty()) {
    options.tasks.clear();
    for (const auto& t : split_list(o.tasks)) options.tasks.push_back(eval::task_kind_from_string(t));
  }
  options.episodes = o.episodes;
  options.threads = o.threads;
  options.log = log;
  std::filesystem::create_directories(o.out);
  log("loading " + config.name + " from " + data_dir);
  const data::ExperimentData data = data::prepare_experiment(config, data_dir);
  log(fmt::format("meta-train {} rows, meta-test {} rows, {} input features", data.meta_train.rows(),
                  data.meta_test.rows(), data.meta_train_x.cols()));
  eval::ExperimentReport report = eval::run_experiment(data, options);
  report.run["command"] = fmt::format("metaids experiment --config {} --data {} --out {}", o.config, data_dir, o.out);
  const std::filesystem::path out(o.out);
  write_file_atomically(out / "results.json", report.results.dump(2) + "\n");
  write_file_atomically(out / "run.json", report.run.dump(2) + "\n");
  write_file_atomically(out / "results.md", report.markdown);
  plot(out / "results.json", out / "accuracy_vs_k.png");
  log("wrote " + (out / "results.json").string() + ", results.md, run.json, accuracy_vs_k.png");
}

void register_experiment(CLI::App& parent) {
  auto o = std::make_shared<ExperimentCommandOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "experiment", "Run the FSND-1 few-shot evaluation end to end: every method, the same test episodes, 3 seeds");
  cmd->add_option("--config", o->config, "Experiment config (configs/cicids2017.json, configs/nslkdd.json)")->required();
  cmd->add_option("--data", o->data, "Directory the config's dataset paths are relative to (default: $METAIDS_DATA)");
  cmd->add_option("--out", o->out, "Output directory (results.json, results.md, run.json, accuracy_vs_k.png)")->required();
  cmd->add_option("--seeds", o->seeds, "Meta-training seeds, comma-separated (default: the config's, 0,1,2)");
  cmd->add_option("--episodes", o->episodes, "Test episodes per setting (default: the config's, 1000)");
  cmd->add_option("--methods", o->methods,
                  "Methods, comma-separated (default all): nearest_centroid,scratch,finetune,pretrained_centroid,"
                  "xgboost,maml,fomaml,reptile,anil,metasgd,protonet");
  cmd->add_option("--tasks", o->tasks, "Tasks, comma-separated: detection,classification,rare (default all)");
  cmd->add_option("--shots", o->shots, "K values, comma-separated (default: the config's, 1,5,10)");
  cmd->add_option("--threads", o->threads, "Worker threads (meta-training and episodes)")->capture_default_str();
  cmd->add_option("--iterations", o->iterations, "Meta-training iterations per model (default: config or 1000)");
  cmd->add_option("--train-shots", o->train_shots, "K of the meta-training episodes (0: the K being evaluated)");
  cmd->add_option("--pretrain-steps", o->pretrain_steps, "Supervised pre-training steps (default 2000)");
  cmd->add_flag("--quiet", o->quiet, "No progress lines");
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("experiment", register_experiment);

}  // namespace
}  // namespace metaids::cli
