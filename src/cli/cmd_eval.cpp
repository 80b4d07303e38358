// `metaids eval`: FSND-1 for one saved model (its task's settings, the config's test episodes).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "data/experiment.h"
#include "eval/model_builder.h"
#include "model/model.h"
#include "eval/experiment.h"
#include "model/model_file.h"

namespace metaids::cli {
namespace {

struct EvalOptions {
  std::string model, config, data, out;
  int episodes = 0;
  int threads = 2;
  bool quiet = false;
};

void run(const EvalOptions& o) {
  require_usage(o.threads >= 1 && o.threads <= 256, "--threads must be in [1, 256], got {}", o.threads);
  require_usage(o.episodes >= 0 && o.episodes <= 1'000'000, "--episodes must be in [1, 1000000], got {}", o.episodes);
  const model::Model model = model::load(o.model);
  const std::string data_dir = resolve_data_dir(o.data);
  const data::ExperimentConfig config = data::load_experiment_config(o.config);
  data::ExperimentData data = data::prepare_experiment(config, data_dir);
  if (!(data.transform == model.transform)) {
    // A model trained on other data: evaluate it through its own transform.
    std::fprintf(stderr, "eval: warning: the model was trained on other data (hash %s, this config's %s); using the "
                 "model's transform\n",
                 model.header.value("training_data_hash", std::string("?")).c_str(), data.training_data_hash.c_str());
    data.transform = model.transform;
    data.meta_train_x = model.transform.apply(data.meta_train);
    data.meta_test_x = model.transform.apply(data.meta_test);
  }
  require(data.meta_test_x.cols() == model.config.inputs, "the data gives {} features, the model takes {}",
          data.meta_test_x.cols(), model.config.inputs);
  eval::ExperimentOptions options;
  options.episodes = o.episodes;
  options.threads = o.threads;
  options.tasks = model.task == "classification"
                      ? std::vector<eval::TaskKind>{eval::TaskKind::classification}
                      : std::vector<eval::TaskKind>{eval::TaskKind::detection, eval::TaskKind::rare};
  if (!o.quiet) options.log = [](const std::string& line) { std::fprintf(stderr, "eval: %s\n", line.c_str()); };
  eval::TrainedLearner learner = eval::restore_learner(model.config, model.phi);
  if (model.config.algorithm != meta::Algorithm::protonet && model.task == "classification")
    require(model.config.ways == config.episodes.classification_ways,
            "the model is {}-way but the config's classification episodes are {}-way", model.config.ways,
            config.episodes.classification_ways);
  const std::string name = meta::to_string(model.config.algorithm);
  const eval::ExperimentReport report = eval::evaluate_learner(data, learner, name, options);
  if (!o.out.empty()) write_file_atomically(o.out, report.results.dump(2) + "\n");
  std::fputs(report.markdown.c_str(), stdout);
}

void register_eval(CLI::App& parent) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = parent.add_subcommand("eval", "FSND-1 evaluation of one saved model on a config's test episodes");
  cmd->add_option("--model", o->model, "Model file from metaids train")->required();
  cmd->add_option("--config", o->config, "Experiment config")->required();
  cmd->add_option("--data", o->data, "Directory the config's dataset paths are relative to (default: $METAIDS_DATA)");
  cmd->add_option("--episodes", o->episodes, "Test episodes per setting (default: the config's)");
  cmd->add_option("--threads", o->threads, "Worker threads")->capture_default_str();
  cmd->add_option("--out", o->out, "Also write the results as JSON here");
  cmd->add_flag("--quiet", o->quiet, "No progress lines");
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("eval", register_eval);

}  // namespace
}  // namespace metaids::cli
