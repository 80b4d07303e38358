// `metaids adapt`: K labelled flows of a new attack → a model that knows that class too.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "eval/deploy.h"
#include "eval/flows_io.h"
#include "model/model_file.h"

namespace metaids::cli {
namespace {

struct AdaptOptions {
  std::string model, support, out, label;
};

void run(const AdaptOptions& o) {
  eval::DeployedModel model = eval::from_model_file(model::load_model(o.model));
  const data::FeatureTable table = eval::load_flows(o.support, model.schema, o.label);
  require(table.rows() > 0, "{} has no usable flows ({})", o.support, table.report.summary());
  std::vector<std::string> labels;
  labels.reserve(table.rows());
  for (size_t r = 0; r < table.rows(); ++r)
    labels.push_back(o.label.empty() ? table.class_names[static_cast<size_t>(table.class_ids[r])] : o.label);
  const std::vector<std::string> before = model.class_names;
  const std::vector<std::string> added = eval::add_support(model, model.transform.apply(table), labels);
  nlohmann::json record = {{"source", o.support}, {"flows", table.rows()}, {"classes_added", added},
                           {"load_report", table.report.summary()}};
  model.header["adaptations"].push_back(record);
  model::save_model(o.out, eval::to_model_file(model));
  std::printf("adapt: wrote %s: %zu flows from %s; ", o.out.c_str(), table.rows(), o.support.c_str());
  if (added.empty()) {
    std::printf("no new class (flows added to known classes)");
  } else {
    std::printf("new class%s:", added.size() > 1 ? "es" : "");
    for (const auto& c : added) std::printf(" %s;", c.c_str());
  }
  std::printf(" the model now knows %zu classes (was %zu)\n", model.class_names.size(), before.size());
}

void register_adapt(CLI::App& parent) {
  auto o = std::make_shared<AdaptOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "adapt", "Add a class to a model from a few labelled flows (a CSV in the model's schema, label column or --label)");
  cmd->add_option("--model", o->model, "Model file from metaids train or adapt")->required();
  cmd->add_option("--support", o->support, "CSV of the labelled flows (e.g. 5 flows of the new attack)")->required();
  cmd->add_option("--out", o->out, "Adapted model file to write (atomically)")->required();
  cmd->add_option("--label", o->label, "Class of every flow in --support (overrides / replaces the label column)");
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("adapt", register_adapt);

}  // namespace
}  // namespace metaids::cli
