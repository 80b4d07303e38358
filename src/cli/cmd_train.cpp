// `metaids train`: meta-train one method on an FSND-1 config and save a model file.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "data/experiment.h"
#include "eval/deploy.h"
#include "eval/learners.h"
#include "model/model_file.h"

namespace metaids::cli {
namespace {

struct TrainOptions {
  std::string config, data, algorithm, task = "detection", out, checkpoint;
  std::uint64_t seed = 0;
  int iterations = -1;
  int shots = 5;
  int threads = 2;
  int support_per_class = 20;
  int checkpoint_every = 100;
  bool resume = false;
  bool quiet = false;
};

void run(const TrainOptions& o) {
  const meta::Algorithm algorithm = meta::algorithm_from_string(o.algorithm);
  const eval::TaskKind task = eval::task_kind_from_string(o.task);
  require(task != eval::TaskKind::rare, "--task must be detection or classification");
  require(o.shots >= 1 && o.shots <= 1000, "--shots must be in [1, 1000], got {}", o.shots);
  require(o.threads >= 1 && o.threads <= 256, "--threads must be in [1, 256], got {}", o.threads);
  require(!o.resume || !o.checkpoint.empty(), "--resume needs --checkpoint");
  const std::string data_dir = resolve_data_dir(o.data);
  const data::ExperimentConfig config = data::load_experiment_config(o.config);
  eval::MetaTrainingOptions training;
  training.apply_json(config.training);
  if (o.iterations >= 0) training.iterations = o.iterations;
  training.threads = o.threads;
  training.checkpoint_path = o.checkpoint;
  training.checkpoint_every = o.checkpoint.empty() ? 0 : o.checkpoint_every;
  training.resume = o.resume;
  const data::ExperimentData data = data::prepare_experiment(config, data_dir);
  const eval::Split split = eval::make_split(data);
  const std::string tag = fmt::format("train {} {} seed {}", o.algorithm, o.task, o.seed);
  const eval::TrainedLearner trained = eval::train_meta_learner(
      split, algorithm, task, config.episodes.classification_ways, o.shots, o.seed, training,
      [&](const meta::TrainingProgress& p) {
        if (o.quiet) return;
        fmt::print(stderr, "{}: {}\n", tag, meta::describe(p));
      });
  eval::DeployedModel model = eval::build_deployed_model(data, split, trained, task, o.support_per_class, o.seed);
  nlohmann::json hyper = training.to_json();
  hyper["seed"] = o.seed;
  hyper["train_shots"] = o.shots;
  hyper["support_per_class"] = o.support_per_class;
  model.header["hyperparameters"] = hyper;
  model.header["experiment"] = config.to_json();
  model.header["training_data_hash"] = data.training_data_hash;
  model.header["metrics"] = {{"validation_family", data.validation_family},
                             {"validation_accuracy", trained.validation_accuracy},
                             {"iterations", trained.iterations},
                             {"training_seconds", trained.seconds}};
  model::save_model(o.out, eval::to_model_file(model));
  std::printf("train: wrote %s: %s %s, %d iterations, validation accuracy %.4f on %s, classes:", o.out.c_str(),
              o.algorithm.c_str(), o.task.c_str(), trained.iterations, trained.validation_accuracy,
              data.validation_family.c_str());
  for (const auto& c : model.class_names) std::printf(" %s;", c.c_str());
  std::printf("\n");
}

void register_train(CLI::App& parent) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* cmd = parent.add_subcommand("train", "Meta-train one method on an FSND-1 config and save a model file");
  cmd->add_option("--config", o->config, "Experiment config (configs/cicids2017.json ...)")->required();
  cmd->add_option("--data", o->data, "Directory the config's dataset paths are relative to (default: $METAIDS_DATA)");
  cmd->add_option("--algorithm", o->algorithm, "maml, fomaml, reptile, anil, metasgd or protonet")->required();
  cmd->add_option("--task", o->task, "detection (benign vs attack, 2-way) or classification (5-way)")->capture_default_str();
  cmd->add_option("--out", o->out, "Model file to write (atomically)")->required();
  cmd->add_option("--seed", o->seed, "Meta-training seed")->capture_default_str();
  cmd->add_option("--iterations", o->iterations, "Meta-training iterations (default: config or 1000)")
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--shots", o->shots, "K of the meta-training episodes")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Worker threads")->capture_default_str();
  cmd->add_option("--support-per-class", o->support_per_class, "Reference flows per class kept in the model")
      ->capture_default_str();
  cmd->add_option("--checkpoint", o->checkpoint, "Checkpoint file (written every --checkpoint-every iterations)");
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "Iterations between checkpoints")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue from --checkpoint if it exists");
  cmd->add_flag("--quiet", o->quiet, "No progress lines");
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("train", register_train);

}  // namespace
}  // namespace metaids::cli
