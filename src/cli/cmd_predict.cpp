// `metaids predict`: the verdict on every flow of a CSV, with a saved model. Rows are numbered
// by input record and line, the flow's identity columns are carried through, and every row
// whose features are usable is scored, labelled or not.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "detect/builtin_model.h"
#include "detect/eve.h"
#include "detect/flow_record.h"
#include "model/scoring.h"

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
  require_usage(o.format == "csv" || o.format == "jsonl", "--format must be csv or jsonl, got '{}'", o.format);
  const model::Model model = detect::load_model_or_builtin(o.model);
  detect::FlowCsvReader reader(std::filesystem::path(o.input), detect::input_layout(model));
  const bool identity = reader.has_identity(), labelled = reader.has_label();
  model::Scorer scorer(model);
  const auto d = static_cast<Eigen::Index>(model.features());
  constexpr Eigen::Index kBatch = 1024;
  model::Matrix<float> x(d, kBatch);
  std::vector<detect::FlowRecord> records(static_cast<size_t>(kBatch));
  std::vector<model::Verdict> verdicts;
  std::string text;
  if (o.format == "csv") {
    text = "record,line";
    if (identity) text += ",src_ip,src_port,dst_ip,dst_port,protocol";
    text += ",class,predicted,probability,attack_margin,novelty,alert";
    if (labelled) text += ",label";
    text += "\n";
  }
  std::uint64_t record_number = 0, alerts = 0, flows = 0;
  const auto names = model.class_names();
  auto emit = [&](Eigen::Index n) {
    if (n == 0) return;
    const model::Matrix<float> batch = x.leftCols(n);
    scorer.score(batch, verdicts);
    for (Eigen::Index j = 0; j < n; ++j) {
      const auto& r = records[static_cast<size_t>(j)];
      const auto& v = verdicts[static_cast<size_t>(j)];
      const std::string cls = v.reported == model::Verdict::kUnknown ? model::kUnknownClass : names[static_cast<size_t>(v.reported)];
      ++flows;
      alerts += v.alert ? 1 : 0;
      ++record_number;
      if (o.format == "csv") {
        text += fmt::format("{},{}", record_number, r.line);
        if (identity)
          text += fmt::format(",{},{},{},{},{}", r.has_identity ? r.src_ip : "", r.src_port, r.has_identity ? r.dst_ip : "",
                              r.dst_port, r.protocol);
        text += fmt::format(",{},{},{:.6f},{:.6g},{:.6g},{}", csv_field(cls), csv_field(names[static_cast<size_t>(v.predicted)]),
                            v.probability, v.margin, v.novelty, v.alert ? 1 : 0);
        if (labelled) text += "," + csv_field(r.label);
        text += "\n";
      } else {
        text += fmt::format("{{\"record\":{},\"line\":{}", record_number, r.line);
        if (identity && r.has_identity) {
          text += ",\"src_ip\":";
          detect::append_json_string(text, r.src_ip);
          text += fmt::format(",\"src_port\":{},\"dst_ip\":", r.src_port);
          detect::append_json_string(text, r.dst_ip);
          text += fmt::format(",\"dst_port\":{},\"protocol\":{}", r.dst_port, r.protocol);
        }
        text += ",\"class\":";
        detect::append_json_string(text, cls);
        text += ",\"predicted\":";
        detect::append_json_string(text, names[static_cast<size_t>(v.predicted)]);
        text += fmt::format(",\"probability\":{},\"attack_margin\":{},\"novelty\":{},\"alert\":{}",
                            std::isfinite(v.probability) ? v.probability : 0.0f, std::isfinite(v.margin) ? v.margin : 0.0f,
                            std::isfinite(v.novelty) ? v.novelty : 0.0f, v.alert);
        if (labelled) {
          text += ",\"label\":";
          detect::append_json_string(text, r.label);
        }
        text += "}\n";
      }
    }
  };
  Eigen::Index pending = 0;
  std::vector<float> row(static_cast<size_t>(d));
  detect::FlowRecord record;
  while (reader.next(record, row)) {
    std::copy(row.begin(), row.end(), x.data() + pending * d);
    model.transform.apply_row_in_place(std::span<float>(x.data() + pending * d, static_cast<size_t>(d)));
    records[static_cast<size_t>(pending)] = record;
    if (++pending == kBatch) {
      emit(pending);
      pending = 0;
    }
  }
  emit(pending);
  write_file_atomically(o.out.empty() ? std::string("-") : o.out, text);
  if (!o.quiet)
    fmt::print(stderr, "predict: {} flows scored, {} alerts (thresholds {}); {}\n", flows, alerts,
               model.calibration.describe_thresholds(), reader.report().summary());
}

void register_predict(CLI::App& parent) {
  auto o = std::make_shared<PredictOptions>();
  CLI::App* cmd = parent.add_subcommand("predict", "The verdict on every flow of a CSV, with a saved model");
  cmd->add_option("--model", o->model, "Model file (default: the built-in model)");
  cmd->add_option("--input", o->input, "Flow CSV (columns matched by name; label column optional; - for stdin)")
      ->required();
  cmd->add_option("--format", o->format, "csv or jsonl")->capture_default_str();
  cmd->add_option("--out", o->out, "Output file (default or -: stdout)");
  cmd->add_flag("--quiet", o->quiet, "No summary line on stderr");
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("predict", register_predict);

}  // namespace
}  // namespace metaids::cli
