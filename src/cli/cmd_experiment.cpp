// `metaids experiment`: FSND-1 end to end (../shared/docs/PROTOCOL.md). Progress on stderr;
// DIR/results.json, DIR/results.md, DIR/run.json and DIR/accuracy_vs_k.png.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli/command.h"
#include "flow/capture.h"
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
  int tuning_episodes = -1;
  bool quiet = false;
  // Which options were given (an empty or negative value given is an error, not a default).
  const CLI::Option* seeds_option = nullptr;
  const CLI::Option* methods_option = nullptr;
  const CLI::Option* tasks_option = nullptr;
  const CLI::Option* shots_option = nullptr;
  const CLI::Option* episodes_option = nullptr;
  const CLI::Option* iterations_option = nullptr;
  const CLI::Option* train_shots_option = nullptr;
  const CLI::Option* pretrain_steps_option = nullptr;
  const CLI::Option* tuning_episodes_option = nullptr;
};

bool given(const CLI::Option* option) { return option != nullptr && option->count() > 0; }

// "a,b,c" → {a, b, c}; an empty list or an empty entry ("a,,b", "a,") is an error.
std::vector<std::string> split_list(const std::string& text, const char* option) {
  require(!text.empty(), "--{} needs at least one value", option);
  std::vector<std::string> items;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    items.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    require(!items.back().empty(), "--{} has an empty entry in '{}' (values are separated by single commas)", option,
            text);
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

// Non-negative integers in [low, high], separated by commas, each at most once.
std::vector<std::uint64_t> parse_numbers(const std::string& text, const char* option, std::uint64_t low,
                                         std::uint64_t high) {
  std::vector<std::uint64_t> values;
  std::set<std::uint64_t> seen;
  for (const std::string& item : split_list(text, option)) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    require(ec == std::errc() && end == item.data() + item.size() && v >= low && v <= high,
            "bad {} '{}' (expected integers in [{}, {}] separated by commas)", option, item, low, high);
    require(seen.insert(v).second, "--{}: {} is given twice", option, v);
    values.push_back(v);
  }
  return values;
}

// Each entry at most once.
std::vector<std::string> parse_names(const std::string& text, const char* option) {
  std::vector<std::string> names = split_list(text, option);
  std::set<std::string> seen;
  for (const auto& n : names) require(seen.insert(n).second, "--{}: {} is given twice", option, n);
  return names;
}

void require_in(const CLI::Option* option, int value, int low, int high, const char* name) {
  if (given(option)) require(value >= low && value <= high, "--{} must be in [{}, {}], got {}", name, low, high, value);
}

// The command line as ExperimentOptions; every value checked before any data is read (a
// value refused here is a usage error: run() turns the Error into a UsageError, exit 2).
eval::ExperimentOptions parse_options(const ExperimentCommandOptions& o) {
  require(o.threads >= 1 && o.threads <= 256, "--threads must be in [1, 256], got {}", o.threads);
  require_in(o.episodes_option, o.episodes, 1, eval::kMaxEpisodes, "episodes");
  require_in(o.iterations_option, o.iterations, 0, 1000000000, "iterations");
  require_in(o.train_shots_option, o.train_shots, 0, 1000, "train-shots");
  require_in(o.pretrain_steps_option, o.pretrain_steps, 0, 1000000000, "pretrain-steps");
  require_in(o.tuning_episodes_option, o.tuning_episodes, 1, 100000, "tuning-episodes");
  eval::ExperimentOptions options;
  if (given(o.seeds_option)) {
    options.seeds = parse_numbers(o.seeds, "seeds", 0, std::numeric_limits<std::uint64_t>::max());
    require(options.seeds.size() <= data::kMaxSeeds, "--seeds: at most {} seeds, got {}", data::kMaxSeeds,
            options.seeds.size());
  }
  if (given(o.shots_option))
    for (std::uint64_t k : parse_numbers(o.shots, "shots", 1, 1000)) options.shots.push_back(static_cast<int>(k));
  if (given(o.methods_option)) {
    options.methods = parse_names(o.methods, "methods");
    for (const auto& m : options.methods)
      require(std::find(eval::all_methods().begin(), eval::all_methods().end(), m) != eval::all_methods().end(),
              "--methods: unknown method '{}' (known: {})", m, fmt::join(eval::all_methods(), ","));
  }
  if (given(o.tasks_option)) {
    options.tasks.clear();
    for (const auto& t : parse_names(o.tasks, "tasks")) options.tasks.push_back(eval::task_kind_from_string(t));
  }
  if (given(o.iterations_option)) options.training.iterations = o.iterations;
  if (given(o.train_shots_option)) options.training.train_shots = o.train_shots;
  if (given(o.pretrain_steps_option)) options.pretrain.steps = o.pretrain_steps;
  if (given(o.tuning_episodes_option)) options.tuning_episodes = o.tuning_episodes;
  options.episodes = given(o.episodes_option) ? o.episodes : 0;
  options.threads = o.threads;
  eval::validate_options(options);
  return options;
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

// The exact command line of this process (/proc/self/cmdline), each argument quoted where the
// shell would need it; empty where it cannot be read.
std::string exact_command_line() {
  std::FILE* f = std::fopen("/proc/self/cmdline", "rb");
  if (f == nullptr) return {};
  std::string raw;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) raw.append(buffer, n);
  std::fclose(f);
  std::string line;
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    const std::string arg = raw.substr(start, end - start);
    const bool plain = !arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789-_./=,:+@%") == std::string::npos;
    line += (line.empty() ? "" : " ") + (plain ? arg : shell_quote(arg));
    start = end + 1;
  }
  return line;
}

// First line of a command's standard output ("" if it fails).
std::string first_line_of(const std::string& command) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  char buffer[256] = {};
  std::string line;
  if (std::fgets(buffer, sizeof buffer, pipe) != nullptr) line = buffer;
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
  }
  const int status = ::pclose(pipe);
  if (status != 0) return {};
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

// What produced the results: the git commit of the tree the binary was built in (found from
// the binary's directory upwards; `git rev-parse HEAD` when git and the tree are there, else
// "unknown"), whether tracked files differed from it when the run started, and the binary.
nlohmann::json provenance() {
  nlohmann::json p{{"commit", "unknown"}};
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return p;
  p["binary"] = exe.string();
  const auto modified = std::filesystem::last_write_time(exe, ec);
  if (!ec) {
    const std::time_t seconds =
        std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::system_clock::duration>(
            std::chrono::file_clock::to_sys(modified)));
    std::tm utc{};
    char text[32] = {};
    if (::gmtime_r(&seconds, &utc) != nullptr && std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc) > 0)
      p["binary_modified"] = text;
  }
  if (access("/usr/bin/git", X_OK) != 0) return p;
  const std::string dir = shell_quote(exe.parent_path().string());
  const std::string commit = first_line_of("/usr/bin/git -C " + dir + " rev-parse HEAD 2>/dev/null");
  if (commit.size() != 40 || commit.find_first_not_of("0123456789abcdef") != std::string::npos) return p;
  p["commit"] = commit;
  p["describe"] = first_line_of("/usr/bin/git -C " + dir + " describe --always --dirty 2>/dev/null");
  p["tracked_files_modified"] =
      !first_line_of("/usr/bin/git -C " + dir + " status --porcelain --untracked-files=no 2>/dev/null").empty();
  return p;
}

void run(const ExperimentCommandOptions& o) {
  require(!o.config.empty(), "--config is required");
  require(!o.out.empty(), "--out is required");
  eval::ExperimentOptions options;
  try {
    options = parse_options(o);
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {  // a bad option value is a usage error (exit 2)
    throw UsageError(e.what());
  }
  const std::string data_dir = resolve_data_dir(o.data);
  const auto start = std::chrono::steady_clock::now();
  auto log = [&](const std::string& line) {
    if (o.quiet) return;
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "experiment [%7.1f s] %s\n", t, line.c_str());
    std::fflush(stderr);
  };
  const data::ExperimentConfig config = data::load_experiment_config(o.config);
  // The config's "training" section, then the command line's overrides on top.
  options.training.apply_json(config.training);
  if (given(o.iterations_option)) options.training.iterations = o.iterations;
  if (given(o.train_shots_option)) options.training.train_shots = o.train_shots;
  options.log = log;
  const nlohmann::json origin = provenance();  // before the run: the tree as it was when it started
  const std::string command_line = exact_command_line();
  // SIGINT/SIGTERM: the methods finished are written, the one running is left out.
  flow::install_stop_signals();
  options.should_stop = [] { return flow::stop_requested(); };
  std::filesystem::create_directories(o.out);
  log("loading " + config.name + " from " + data_dir);
  const data::ExperimentData data = data::prepare_experiment(config, data_dir);
  log(fmt::format("meta-train {} rows, meta-test {} rows, {} input features", data.meta_train.rows(),
                  data.meta_test.rows(), data.meta_train_x.cols()));
  eval::ExperimentReport report = eval::run_experiment(data, options);
  report.run["command"] = fmt::format("metaids experiment --config {} --data {} --out {}", o.config, data_dir, o.out);
  report.run["command_line"] = command_line.empty() ? report.run["command"].get<std::string>() : command_line;
  report.run["provenance"] = origin;
  const std::filesystem::path out(o.out);
  write_file_atomically(out / "results.json", report.results.dump(2) + "\n");
  write_file_atomically(out / "run.json", report.run.dump(2) + "\n");
  write_file_atomically(out / "results.md", report.markdown);
  plot(out / "results.json", out / "accuracy_vs_k.png");
  log("wrote " + (out / "results.json").string() + ", results.md, run.json, accuracy_vs_k.png");
  if (flow::stop_requested()) {
    log("stopped by a signal: the results above are of the methods that finished");
    exit_code() = flow::exit_status_for_signal(flow::stop_signal() > 0 ? flow::stop_signal() : SIGTERM);
  }
}

void register_experiment(CLI::App& parent) {
  auto o = std::make_shared<ExperimentCommandOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "experiment", "Run the FSND-1 few-shot evaluation end to end: every method, the same test episodes, 3 seeds");
  cmd->add_option("--config", o->config, "Experiment config (configs/cicids2017.json, configs/nslkdd.json)")->required();
  cmd->add_option("--data", o->data, "Directory the config's dataset paths are relative to (default: $METAIDS_DATA)");
  cmd->add_option("--out", o->out, "Output directory (results.json, results.md, run.json, accuracy_vs_k.png)")->required();
  o->seeds_option = cmd->add_option("--seeds", o->seeds,
                                    "Meta-training seeds, distinct, comma-separated (default: the config's, 0,1,2)");
  o->episodes_option =
      cmd->add_option("--episodes", o->episodes, "Test episodes per setting, 1 to 1000000 (default: the config's, 1000)");
  o->methods_option = cmd->add_option("--methods", o->methods,
                                      "Methods, comma-separated (default all): nearest_centroid,scratch,finetune,"
                                      "pretrained_centroid,random_forest,xgboost,maml,fomaml,reptile,anil,metasgd,"
                                      "protonet");
  o->tasks_option =
      cmd->add_option("--tasks", o->tasks, "Tasks, comma-separated: detection,classification,rare (default all)");
  o->shots_option = cmd->add_option("--shots", o->shots, "K values in [1, 1000], comma-separated (default: the config's, 1,5,10)");
  cmd->add_option("--threads", o->threads, "Worker threads (meta-training and episodes)")->capture_default_str();
  o->iterations_option =
      cmd->add_option("--iterations", o->iterations, "Meta-training iterations per model (default: config or 1000)");
  o->train_shots_option =
      cmd->add_option("--train-shots", o->train_shots, "K of the meta-training episodes (0: the K being evaluated)");
  o->pretrain_steps_option =
      cmd->add_option("--pretrain-steps", o->pretrain_steps, "Supervised pre-training steps (default 2000)");
  o->tuning_episodes_option = cmd->add_option(
      "--tuning-episodes", o->tuning_episodes,
      "Meta-train episodes each tree-baseline candidate is scored on, per task and K (default 100)");
  cmd->add_flag("--quiet", o->quiet, "No progress lines");
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("experiment", register_experiment);

}  // namespace
}  // namespace metaids::cli
