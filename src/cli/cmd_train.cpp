// `metaids train`: meta-train one method on an FSND-1 config and save a model file.
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/command.h"
#include "flow/capture.h"
#include "core/error.h"
#include "data/experiment.h"
#include "eval/learners.h"
#include "eval/model_builder.h"
#include "model/model.h"

namespace metaids::cli {
namespace {

struct TrainOptions {
  std::string config, data, algorithm, task = "detection", out, checkpoint;
  std::uint64_t seed = 0;
  int iterations = -1;
  int shots = 5;
  int threads = 2;
  int support_per_class = 20;
  int benign_reference = 600;
  int reference_per_class = 50;
  double fpr = 0.01;
  double unknown_rate = -1;  // default: the same as fpr
  double weight_decay = -1;      // λ₁; negative: the config's (default 0)
  double gradient_penalty = -1;  // λ₂; negative: the config's (default 0)
  std::string command_line;
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
  require_usage(!std::isnan(o.weight_decay) && !std::isnan(o.gradient_penalty),
          "--weight-decay and --gradient-penalty must be numbers >= 0");
  const std::string data_dir = resolve_data_dir(o.data);
  const data::ExperimentConfig config = data::load_experiment_config(o.config);
  eval::MetaTrainingOptions training;
  training.apply_json(config.training);
  if (o.iterations >= 0) training.iterations = o.iterations;
  if (o.weight_decay >= 0) training.weight_decay = o.weight_decay;
  if (o.gradient_penalty >= 0) training.gradient_penalty = o.gradient_penalty;
  training.threads = o.threads;
  // A checkpoint is written when a signal stops training (at --checkpoint, else beside --out),
  // so that --resume continues where it stopped.
  training.checkpoint_path = o.checkpoint.empty() ? o.out + ".checkpoint" : o.checkpoint;
  training.checkpoint_every = o.checkpoint.empty() ? 0 : o.checkpoint_every;
  training.resume = o.resume;
  flow::install_stop_signals();
  training.should_stop = [] { return flow::stop_requested(); };
  const data::ExperimentData data = data::prepare_experiment(config, data_dir);
  if (!o.quiet) fmt::print(stderr, "train: loaded {}\n", data.report.summary());
  const eval::Split split = eval::make_split(data);
  const std::string tag = fmt::format("train {} {} seed {}", o.algorithm, o.task, o.seed);
  const eval::TrainedLearner trained = eval::train_meta_learner(
      split, algorithm, task, config.episodes.classification_ways, o.shots, o.seed, training,
      [&](const meta::TrainingProgress& p) {
        if (o.quiet) return;
        fmt::print(stderr, "{}: {}\n", tag, meta::describe(p));
      });
  if (trained.interrupted) {
    fmt::print(stderr,
               "train: stopped by a signal at iteration {}; checkpoint written to {} (run the same command with "
               "--checkpoint {} --resume to continue); no model written\n",
               trained.iterations, training.checkpoint_path.string(), training.checkpoint_path.string());
    exit_code() = flow::exit_status_for_signal(flow::stop_signal() > 0 ? flow::stop_signal() : SIGTERM);
    return;
  }
  eval::ModelBuildOptions build;
  build.support_per_class = o.support_per_class;
  build.benign_reference = o.benign_reference;
  build.reference_per_class = o.reference_per_class;
  build.fpr = o.fpr;
  build.unknown_rate = o.unknown_rate < 0 ? o.fpr : o.unknown_rate;
  build.seed = o.seed;
  model::Model model = eval::build_model(data, split, trained, task, build);
  nlohmann::json hyper = training.to_json();
  hyper["seed"] = o.seed;
  hyper["train_shots"] = o.shots;
  hyper["support_per_class"] = o.support_per_class;
  hyper.erase("threads");  // the result does not depend on it
  hyper.erase("checkpoint_path");
  model.header["hyperparameters"] = hyper;
  model.header["experiment"] = config.to_json();
  model.header["training_data_hash"] = data.training_data_hash;
  model.header["metrics"] = {{"validation_family", data.validation_family},
                             {"validation_accuracy", trained.validation_accuracy},
                             {"iterations", trained.iterations}};
  model.header["load_report"] = data.report.summary();
  model.provenance = {{"command", o.command_line},
                      {"config", std::filesystem::path(o.config).filename().string()},
                      {"training_data_hash", data.training_data_hash},
                      {"metaids_version", "0.1.0"}};
  model.history.push_back(model::history_event(
      "train", {{"algorithm", o.algorithm}, {"task", o.task}, {"seed", o.seed}, {"iterations", trained.iterations},
                {"classes", model.class_names()}, {"fpr", build.fpr}, {"thresholds", model.calibration.describe_thresholds()}}));
  model::save(o.out, model);
  std::printf("train: wrote %s: %s %s, %d iterations, validation accuracy %.4f on %s, classes:", o.out.c_str(),
              o.algorithm.c_str(), o.task.c_str(), trained.iterations, trained.validation_accuracy,
              data.validation_family.c_str());
  for (const auto& c : model.classes) std::printf(" %s;", c.name.c_str());
  std::printf(" alert thresholds %s (FPR %.4g on %d held-out benign flows)\n",
              model.calibration.describe_thresholds().c_str(),
              model.calibration.reference_fpr, o.benign_reference);
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
  cmd->add_option("--benign-reference", o->benign_reference,
                  "Held-out benign flows kept in the model to set the alert threshold on")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--reference-per-class", o->reference_per_class,
                  "Held-out flows per attack class kept to calibrate the open set (unknown)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--fpr", o->fpr, "False-positive rate of the alert threshold on the held-out benign flows")
      ->capture_default_str();
  cmd->add_option("--unknown-rate", o->unknown_rate,
                  "Share of held-out known-class flows reported unknown (default: --fpr)");
  cmd->add_option("--weight-decay", o->weight_decay,
                  "λ₁ of the meta-objective L + λ₁‖θ‖² + λ₂‖∇L‖ (default: the config's \"training\" weight_decay, 0)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--gradient-penalty", o->gradient_penalty,
                  "λ₂ of the meta-objective, the gradient-norm penalty (default: the config's \"training\" "
                  "gradient_penalty, 0)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--checkpoint", o->checkpoint, "Checkpoint file (written every --checkpoint-every iterations)");
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "Iterations between checkpoints")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue from --checkpoint if it exists");
  cmd->add_flag("--quiet", o->quiet, "No progress lines");
  cmd->callback([o] {
    // What the model records as the command that made it (the options that change the result).
    o->command_line = fmt::format("metaids train --config {} --algorithm {} --task {} --seed {} --shots {}", o->config,
                                  o->algorithm, o->task, o->seed, o->shots);
    if (o->iterations >= 0) o->command_line += fmt::format(" --iterations {}", o->iterations);
    if (o->weight_decay >= 0) o->command_line += fmt::format(" --weight-decay {}", o->weight_decay);
    if (o->gradient_penalty >= 0) o->command_line += fmt::format(" --gradient-penalty {}", o->gradient_penalty);
    run(*o);
  });
}

METAIDS_COMMAND("train", register_train);

}  // namespace
}  // namespace metaids::cli
