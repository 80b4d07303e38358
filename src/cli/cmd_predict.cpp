// `metaids predict`: class and score for every flow of a CSV, with a saved model.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/deploy.h"
#include "eval/flows_io.h"
#include "model/model_file.h"

namespace metaids::cli {
namespace {

struct PredictOptions {
  std::string model, input, out, format = "csv";
  bool quiet = false;
};

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void run(const PredictOptions& o) {
  require(o.format == "csv" || o.format == "jsonl", "--format must be csv or jsonl, got '{}'", o.format);
  const eval::DeployedModel model = eval::from_model_file(model::load_model(o.model));
  constexpr const char* kUnlabelled = "\x01unlabelled";
  const data::FeatureTable table = eval::load_flows(o.input, model.schema, kUnlabelled);
  const eval::Prediction p = eval::predict(model, model.transform.apply(table));
  const bool labelled = !(table.class_names.size() == 1 && table.class_names[0] == kUnlabelled);
  std::string out;
  if (o.format == "csv") out = labelled ? "row,class,score,attack_score,label\n" : "row,class,score,attack_score\n";
  for (size_t r = 0; r < table.rows(); ++r) {
    const std::string& cls = model.class_names[static_cast<size_t>(p.predicted[r])];
    const std::string label = labelled ? table.class_names[static_cast<size_t>(table.class_ids[r])] : std::string();
    if (o.format == "csv") {
      out += fmt::format("{},{},{:.6f},{:.6f}", r, csv_field(cls), p.score[r], p.attack_score[r]);
      if (labelled) out += "," + csv_field(label);
      out += "\n";
    } else {
      nlohmann::json line = {{"row", r}, {"class", cls}, {"score", p.score[r]}, {"attack_score", p.attack_score[r]}};
      if (labelled) line["label"] = label;
      out += line.dump() + "\n";
    }
  }
  if (o.out.empty()) {
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    write_file_atomically(o.out, out);
  }
  if (!o.quiet) {
    size_t attacks = 0;
    for (int c : p.predicted) attacks += c != 0 ? 1 : 0;
    std::fprintf(stderr, "predict: %zu flows, %zu not %s; %s\n", table.rows(), attacks, model.class_names[0].c_str(),
                 table.report.summary().c_str());
  }
}

void register_predict(CLI::App& parent) {
  auto o = std::make_shared<PredictOptions>();
  CLI::App* cmd = parent.add_subcommand("predict", "Class and score of every flow in a CSV with a saved model");
  cmd->add_option("--model", o->model, "Model file from metaids train or adapt")->required();
  cmd->add_option("--input", o->input, "Flow CSV (columns matched by name; label column optional)")->required();
  cmd->add_option("--format", o->format, "csv or jsonl")->capture_default_str();
  cmd->add_option("--out", o->out, "Output file (default: stdout); written atomically");
  cmd->add_flag("--quiet", o->quiet, "No summary line on stderr");
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("predict", register_predict);

}  // namespace
}  // namespace metaids::cli
