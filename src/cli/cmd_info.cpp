// `metaids info MODEL`: a saved model's metadata (header fields, tensors), or the header as
// JSON with --json.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "model/model.h"
#include "model/model_file.h"

namespace metaids::cli {
namespace {

struct InfoOptions {
  std::string model;
  bool json = false;
};

void register_info(CLI::App& parent) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* cmd = parent.add_subcommand("info", "Print a model file's metadata (checks magic, version and checksum)");
  cmd->add_option("model", options->model, "Model file written by metaids train or adapt")->required();
  cmd->add_flag("--json", options->json, "Print the whole JSON header (and tensor sizes) instead of a summary");
  cmd->callback([options] {
    const model::ModelFile m = model::load_model(options->model);
    if (options->json) {
      nlohmann::json tensors = nlohmann::json::array();
      for (const auto& t : m.tensors) tensors.push_back({{"name", t.name}, {"size", t.values.size()}});
      fmt::print("{}\n", nlohmann::json{{"header", m.header}, {"tensors", tensors}}.dump(2));
    } else {
      // A file that loads as a model is described in full (classes, calibration, history);
      // one that does not still gets its header, then the reason it cannot score.
      try {
        const model::Model loaded = model::from_file(m, options->model);
        fmt::print("{}", model::describe(loaded, m, options->model));
      } catch (const Error& e) {
        fmt::print("{}", model::describe_model(m, options->model));
        fmt::print("{:<20}no: {}\n", "scores flows", e.what());
      }
    }
  });
}

}  // namespace

METAIDS_COMMAND("info", register_info);

}  // namespace metaids::cli
