// `metaids calibrate`: the site's own traffic (unlabelled, assumed mostly benign) sets the
// alert threshold for a false-positive rate and becomes the model's local benign reference.
#include <fmt/format.h>

#include <cmath>

#include "cli/command.h"
#include "core/error.h"
#include "detect/builtin_model.h"
#include "detect/collect.h"
#include "model/calibration.h"
#include "model/digest.h"

namespace metaids::cli {
namespace {

struct CalibrateOptions {
  std::string model, out, flows;
  std::vector<std::string> pcaps;
  double duration_s = 0;
  double fpr = 0.001;
  double unknown_rate = -1;
  std::uint64_t seed = 0;
  FlowTableOptions table;
  LiveCaptureOptions live;
};

void run(const CalibrateOptions& o) {
  const int sources = (o.pcaps.empty() ? 0 : 1) + (o.live.interface.empty() ? 0 : 1) + (o.flows.empty() ? 0 : 1);
  require_usage(sources == 1, "give exactly one source of the site's traffic: --pcap FILE…, --interface IF --duration D "
                        "or --flows CSV");
  require_usage(o.live.interface.empty() || o.duration_s > 0, "--interface needs --duration SECONDS");
  require_usage(o.live.interface.empty() == (o.duration_s == 0), "--duration applies to --interface only");
  require_usage(std::isfinite(o.fpr) && o.fpr > 0 && o.fpr < 1, "--fpr must be in (0, 1), got {}", o.fpr);
  model::Model model = detect::load_model_or_builtin(o.model);
  detect::CollectedFlows flows;
  nlohmann::json event;
  if (!o.pcaps.empty()) {
    flows = detect::collect_from_captures(o.pcaps, o.live.filter(), model, o.table.config());
    nlohmann::json sources_json = nlohmann::json::array();
    for (const auto& p : o.pcaps)
      sources_json.push_back({{"path", p}, {"sha256", p == "-" ? std::string() : model::sha256_file(p)}});
    event["source"] = sources_json;
    if (!o.live.filter().empty()) event["bpf"] = o.live.filter();
  } else if (!o.flows.empty()) {
    flows = detect::collect_from_csv(o.flows, model);
    event["source"] = {{{"path", o.flows}, {"sha256", o.flows == "-" ? std::string() : model::sha256_file(o.flows)}}};
  } else {
    flows = detect::collect_live(o.live.live_options(), o.duration_s, model, o.table.config());
    event["source"] = {{{"interface", o.live.interface}, {"seconds", o.duration_s}}};
  }
  require(flows.raw.rows() >= 2, "calibration needs at least 2 flows of the site's traffic, got {} ({})", flows.raw.rows(),
          flows.summary);
  fmt::print(stderr, "calibrate: {}\n", flows.summary);
  const double unknown = o.unknown_rate >= 0 ? o.unknown_rate : o.fpr;
  const auto result =
      model::calibrate_to_site(model, detect::transform_rows(model, flows.raw), o.fpr, unknown, event, o.seed);
  model::save(o.out, model);
  const auto& c = model.calibration;
  fmt::print("calibrate: wrote {}: {} site flows, {} as benign support in {} prototype groups, {} as benign reference; "
             "alert thresholds {} (FPR {:.4g} on the reference, target {:g}); unknown when novelty > {}\n",
             o.out, result.flows, result.support, result.groups, result.reference, c.describe_thresholds(),
             c.reference_fpr, o.fpr,
             std::isfinite(c.novelty_threshold) ? fmt::format("{:.4g}", c.novelty_threshold) : std::string("never"));
  if (static_cast<double>(result.reference) * o.fpr < 1)
    fmt::print(stderr,
               "calibrate: note: {} reference flows cannot resolve an FPR of {:g}; the threshold sits above every one "
               "of them (more traffic gives a finer threshold)\n",
               result.reference, o.fpr);
}

void register_calibrate(CLI::App& parent) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "calibrate", "Learn the site's normal traffic: set the alert threshold and local benign reference from it");
  cmd->add_option("--model", o->model, "Model file (default: the built-in model)");
  cmd->add_option("--pcap,-r", o->pcaps, "Capture file(s) of the site's ordinary traffic");
  cmd->add_option("--flows", o->flows, "A flow CSV of the site's ordinary traffic");
  cmd->add_option("--duration", o->duration_s, "Seconds to capture from --interface");
  cmd->add_option("--fpr", o->fpr, "False-positive rate of the alert threshold on the site's flows")->capture_default_str();
  cmd->add_option("--unknown-rate", o->unknown_rate, "Share of known flows reported unknown (default: --fpr)");
  cmd->add_option("--seed", o->seed, "Seed of the split of the site's flows and of the prototype groups");
  cmd->add_option("--out", o->out, "Calibrated model file to write")->required();
  o->table.add_to(*cmd);
  o->live.add_to(*cmd);
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("calibrate", register_calibrate);

}  // namespace
}  // namespace metaids::cli
