// `metaids adapt`: a few labelled flows (selected from a capture, rows of a CSV, or alerts an
// analyst confirmed) → a model that knows that class, or knows a known one better.
#include <fmt/format.h>

#include <chrono>
#include <map>

#include "cli/command.h"
#include "core/error.h"
#include "detect/builtin_model.h"
#include "detect/collect.h"
#include "model/digest.h"

namespace metaids::cli {
namespace {

struct AdaptOptions {
  std::string model, out, label, flows, eve, select, from, to, category;
  std::vector<std::string> pcaps;
  std::vector<std::uint64_t> flow_ids;
  int shots = 0;
  int severity = 0;
  std::size_t max_class_flows = model::kDefaultMaxClassFlows;
  FlowTableOptions table;
};

void run(const AdaptOptions& o) {
  const int sources = (o.pcaps.empty() ? 0 : 1) + (o.flows.empty() ? 0 : 1) + (o.eve.empty() ? 0 : 1);
  require_usage(sources == 1, "give exactly one source of labelled flows: --pcap FILE --select BPF, --flows CSV or --eve "
                        "alerts.json --flow-id ID…");
  require_usage(o.pcaps.empty() || !o.select.empty(), "--pcap needs --select \"BPF expression\" (the flows to learn from)");
  require_usage(o.select.empty() || !o.pcaps.empty(), "--select applies to --pcap");
  require_usage((o.from.empty() && o.to.empty()) || !o.pcaps.empty(), "--from and --to apply to --pcap");
  require_usage(o.eve.empty() == o.flow_ids.empty(), "--eve and --flow-id go together");
  require_usage(o.shots >= 0, "--shots must be >= 0");
  require_usage(o.severity >= 0 && o.severity <= 4, "--severity must be 1 (high) to 4");
  require_usage(o.label != model::kUnknownClass, "'{}' is reserved for flows far from every class; choose another label",
                o.label);
  model::Model model = detect::load_model_or_builtin(o.model);
  detect::CollectedFlows flows;
  nlohmann::json event;
  std::string source;
  if (!o.pcaps.empty()) {
    detect::TimeWindow window;
    if (!o.from.empty()) window.from_us = detect::parse_time(o.from, "--from");
    if (!o.to.empty()) window.to_us = detect::parse_time(o.to, "--to");
    require(window.from_us <= window.to_us, "--from is after --to");
    flows = detect::collect_from_captures(o.pcaps, o.select, model, o.table.config(), window);
    source = fmt::format("{} matching '{}'", fmt::join(o.pcaps, ", "), o.select);
    nlohmann::json files = nlohmann::json::array();
    for (const auto& p : o.pcaps) files.push_back({{"path", p}, {"sha256", p == "-" ? std::string() : model::sha256_file(p)}});
    event["source"] = files;
    event["select"] = o.select;
    if (!o.from.empty()) event["from"] = o.from;
    if (!o.to.empty()) event["to"] = o.to;
    require(!flows.records.empty(), "no flows in {} match '{}'{}", fmt::join(o.pcaps, ", "), o.select,
            o.from.empty() && o.to.empty() ? "" : " in the time window");
  } else if (!o.flows.empty()) {
    flows = detect::collect_from_csv(o.flows, model);
    source = o.flows;
    event["source"] = {{{"path", o.flows}, {"sha256", o.flows == "-" ? std::string() : model::sha256_file(o.flows)}}};
    require(!flows.records.empty(), "{} has no usable flows ({})", o.flows, flows.summary);
  } else {
    flows = detect::collect_from_eve(o.eve, o.flow_ids, model);
    source = o.eve;
    event["source"] = {{{"path", o.eve}, {"sha256", model::sha256_file(o.eve)}}};
    event["flow_ids"] = o.flow_ids;
  }
  // Labels: --label for every flow, else a CSV's own label column.
  std::map<std::string, std::vector<Eigen::Index>> by_label;
  for (size_t i = 0; i < flows.records.size(); ++i) {
    const std::string& label = o.label.empty() ? flows.records[i].label : o.label;
    require(!label.empty(), "{} gives no label for its flows: name the class with --label", source);
    auto& rows = by_label[label];
    if (o.shots == 0 || rows.size() < static_cast<size_t>(o.shots)) rows.push_back(static_cast<Eigen::Index>(i));
  }
  const size_t classes_before = model.classes.size();
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::string> added, extended;
  for (const auto& [label, rows] : by_label) {
    data::FeatureMatrix raw(static_cast<Eigen::Index>(rows.size()), flows.raw.cols());
    for (size_t j = 0; j < rows.size(); ++j) raw.row(static_cast<Eigen::Index>(j)) = flows.raw.row(rows[j]);
    nlohmann::json e = event;
    e["k"] = rows.size();
    model::ClassInfo description = model::describe_class(label, 0, false);
    if (!o.category.empty()) description.category = o.category;
    if (o.severity > 0) description.severity = o.severity;
    const bool is_new = model::add_support(model, detect::transform_rows(model, raw), label, e, &description,
                                            o.max_class_flows);
    const nlohmann::json& done = model.history.back();
    const size_t duplicates = done.value("duplicates", size_t{0});
    const size_t dropped = done.value("dropped", size_t{0});
    (is_new ? added : extended)
        .push_back(fmt::format("{} ({} flows{}{})", label, done.value("flows", rows.size()),
                               duplicates == 0 ? "" : fmt::format(", {} already in its support", duplicates),
                               dropped == 0 ? "" : fmt::format(", {} oldest left it (--max-class-flows {})", dropped,
                                                               o.max_class_flows)));
  }
  const double micros = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();
  model::save(o.out, model);
  fmt::print("adapt: wrote {} (version {}): from {}: {}{}{}; the model now knows {} classes (was {}); adaptation "
             "took {:.0f} µs\n",
             o.out, model.version(), source, added.empty() ? "" : fmt::format("new class {}", fmt::join(added, ", ")),
             !added.empty() && !extended.empty() ? "; " : "",
             extended.empty() ? "" : fmt::format("more flows of {}", fmt::join(extended, ", ")), model.classes.size(),
             classes_before, micros);
}

void register_adapt(CLI::App& parent) {
  auto o = std::make_shared<AdaptOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "adapt", "Teach a model a class from a few labelled flows: a selection of a capture, a CSV, or confirmed alerts");
  cmd->add_option("--model", o->model, "Model file (default: the built-in model)");
  cmd->add_option("--label", o->label, "The class of the flows (a new one, or one the model knows)");
  cmd->add_option("--pcap,-r", o->pcaps, "Capture file(s) holding the flows");
  cmd->add_option("--select", o->select, "BPF expression selecting the flows' packets, e.g. \"host 10.0.0.5\"");
  cmd->add_option("--from", o->from, "Only flows starting at or after this time (UTC ISO 8601 or epoch seconds)");
  cmd->add_option("--to", o->to, "Only flows starting at or before this time");
  cmd->add_option("--flows,--support", o->flows, "CSV of the labelled flows (label column or --label)");
  cmd->add_option("--eve", o->eve, "EVE JSON written by metaids detect");
  cmd->add_option("--flow-id", o->flow_ids, "flow_id of a confirmed alert in --eve (repeat or comma-separate)")
      ->delimiter(',');
  cmd->add_option("--shots,-k", o->shots, "Use at most this many flows per class (0: all)");
  add_max_class_flows_option(*cmd, o->max_class_flows);
  cmd->add_option("--category", o->category, "EVE alert.category of a new class (default: guessed from its name)");
  cmd->add_option("--severity", o->severity, "EVE alert.severity of a new class, 1 (high) to 4");
  cmd->add_option("--out", o->out, "Adapted model file to write")->required();
  o->table.add_to(*cmd);
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("adapt", register_adapt);

}  // namespace
}  // namespace metaids::cli
