// `metaids detect`: packets (capture files or a live interface) or flow CSVs → scored flows →
// EVE JSON alerts, with a summary line on stderr. See docs/detect.md.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>

#include "cli/command.h"
#include "core/error.h"
#include "detect/builtin_model.h"
#include "detect/collect.h"
#include "detect/detector.h"
#include "detect/model_follower.h"
#include "flow/capture.h"
#include "model/calibration.h"
#include "serve/http_server.h"

namespace metaids::cli {
namespace {

struct DetectOptions {
  std::string model;
  std::vector<std::string> pcaps;
  std::vector<std::string> flow_files;
  std::string out = "-";
  bool all_flows = false;
  bool no_features = false;
  double fpr = -1;
  double unknown_rate = -1;
  double threshold = std::numeric_limits<double>::quiet_NaN();
  double calibrate_first_s = 0;
  std::string calibrated_model;
  std::string pidfile;
  bool quiet = false;
  int threads = 2;
  std::string model_url;
  double refresh_s = 10;
  bool refresh_given = false;
  std::string model_token_file;
  FlowTableOptions table;
  LiveCaptureOptions live;
};

// The sink while `--calibrate-first D` is on: the first D seconds of flows (by packet time)
// calibrate the model to the site; then a detector takes over.
class CalibrateFirst : public flow::FlowSink {
 public:
  CalibrateFirst(model::Model& model, const DetectOptions& o, const detect::DetectorOptions& detector_options,
                 detect::EveOutput& out)
      : model_(model), o_(o), detector_options_(detector_options), out_(out), mapper_(model) {}

  void on_flow(const flow::FlowState& flow, flow::FlowEnd reason) override {
    if (detector_) {
      detector_->on_flow(flow, reason);
      return;
    }
    if (first_us_ == 0) first_us_ = flow.start_us;
    if (static_cast<double>(flow.last_us - first_us_) / 1e6 >= o_.calibrate_first_s) {
      calibrate();
      detector_->on_flow(flow, reason);
      return;
    }
    const size_t width = static_cast<size_t>(model_.features());
    const size_t at = rows_.size();
    rows_.resize(at + width);
    mapper_.map(flow::compute_features(flow), flow.key.protocol, std::span<float>(rows_.data() + at, width));
  }
  // Live: the calibration period also ends by the wall clock.
  void tick() {
    if (!detector_ && std::chrono::steady_clock::now() - started_ >= std::chrono::duration<double>(o_.calibrate_first_s))
      calibrate();
    if (detector_) detector_->flush();
  }
  detect::Detector& detector() {
    if (!detector_) calibrate();
    return *detector_;
  }

 private:
  void calibrate() {
    const size_t width = static_cast<size_t>(model_.features());
    const auto n = static_cast<Eigen::Index>(rows_.size() / width);
    require(n >= 2, "--calibrate-first {} s saw {} finished flows; at least 2 are needed (a longer period?)",
            o_.calibrate_first_s, n);
    const data::FeatureMatrix raw =
        Eigen::Map<const data::FeatureMatrix>(rows_.data(), n, static_cast<Eigen::Index>(width));
    const double fpr = o_.fpr > 0 ? o_.fpr : 0.001;
    const double unknown = o_.unknown_rate >= 0 ? o_.unknown_rate : fpr;
    const auto result = model::calibrate_to_site(model_, detect::transform_rows(model_, raw), fpr, unknown,
                                                 {{"source", "detect --calibrate-first"},
                                                  {"seconds", o_.calibrate_first_s}},
                                                 0);
    if (!o_.quiet)
      fmt::print(stderr,
                 "detect: calibrated on the first {:g} s: {} flows ({} benign support in {} groups, {} reference); "
                 "alert thresholds {} (FPR {:.4g} on them)\n",
                 o_.calibrate_first_s, result.flows, result.support, result.groups, result.reference,
                 model_.calibration.describe_thresholds(), model_.calibration.reference_fpr);
    if (!o_.calibrated_model.empty()) model::save(o_.calibrated_model, model_);
    rows_.clear();
    rows_.shrink_to_fit();
    detector_ = std::make_unique<detect::Detector>(model_, detector_options_, out_);
  }

  model::Model& model_;
  const DetectOptions& o_;
  detect::DetectorOptions detector_options_;
  detect::EveOutput& out_;
  detect::FeatureMapper mapper_;
  std::vector<float> rows_;
  std::int64_t first_us_ = 0;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::unique_ptr<detect::Detector> detector_;
};

void run(const DetectOptions& o) {
  const int sources = (o.pcaps.empty() ? 0 : 1) + (o.live.interface.empty() ? 0 : 1) + (o.flow_files.empty() ? 0 : 1);
  require_usage(sources == 1, "give exactly one source: --pcap FILE…, --interface IF or --flows CSV…");
  const bool packets = o.flow_files.empty();
  if (!packets) require_usage(o.live.bpf.empty() && o.live.bpf_file.empty(), "--bpf applies to packets, not to --flows");
  if (o.live.interface.empty())
    require_usage(!o.live.immediate && !o.live.drop_given, "--immediate and --drop-privileges need --interface");
  require_usage(o.calibrate_first_s >= 0 && std::isfinite(o.calibrate_first_s), "--calibrate-first must be >= 0 seconds");
  require_usage(o.calibrate_first_s == 0 || packets, "--calibrate-first needs packets (--pcap or --interface)");
  require_usage(o.calibrated_model.empty() || o.calibrate_first_s > 0, "--calibrated-model needs --calibrate-first");
  require_usage(!(o.fpr > 0 && !std::isnan(o.threshold)), "give --fpr or --threshold, not both");
  require_usage(o.model_url.empty() || o.calibrate_first_s == 0, "--model-url and --calibrate-first exclude each other");
  require_usage(!o.refresh_given || !o.model_url.empty(), "--refresh needs --model-url");
  require_usage(o.model_token_file.empty() || !o.model_url.empty(), "--model-token-file needs --model-url");
  const flow::FlowTableConfig table = o.table.config();
  // A sensor that follows a service (--model-url): the service's model when it answers, else
  // --model or the built-in one until it does.
  // --fpr / --unknown-rate: every model detected with (the first, and each one a followed
  // service sends later) is calibrated on its reference flows the same way, once.
  std::function<void(model::Model&)> prepare;
  if (o.calibrate_first_s == 0 && o.fpr >= 0) {
    const double fpr = o.fpr, unknown = o.unknown_rate >= 0 ? o.unknown_rate : o.fpr;
    prepare = [fpr, unknown](model::Model& m) { model::calibrate_from_reference(m, fpr, unknown); };
  } else if (o.calibrate_first_s == 0 && o.unknown_rate >= 0) {
    const double unknown = o.unknown_rate;
    prepare = [unknown](model::Model& m) {
      model::calibrate_from_reference(m, m.calibration.target_fpr > 0 ? m.calibration.target_fpr : 0.01, unknown);
    };
  }
  std::unique_ptr<detect::ModelFollower> follower;
  std::shared_ptr<const model::Model> followed;
  if (!o.model_url.empty()) {
    detect::FollowerOptions follow;
    follow.url = o.model_url;
    follow.refresh_s = o.refresh_s;
    if (!o.model_token_file.empty()) follow.token = serve::read_token_file(o.model_token_file);
    follow.prepare = prepare;
    const bool quiet = o.quiet;
    follower = std::make_unique<detect::ModelFollower>(std::move(follow), [quiet](const std::string& line) {
      if (!quiet) fmt::print(stderr, "{}\n", escape_for_terminal(line));
    });
    followed = follower->fetch_now();
  }
  model::Model model = followed ? *followed : detect::load_model_or_builtin(o.model);
  const std::string model_name = followed ? fmt::format("{} (version {})", o.model_url, follower->version())
                                 : o.model.empty() ? std::string(detect::kBuiltinModelName)
                                                   : o.model;
  if (!followed && prepare) prepare(model);  // a followed model was prepared by the follower
  if (packets) detect::FeatureMapper check(model);  // a model for other columns fails here
  const std::string bpf = o.live.filter();
  for (const auto& p : o.pcaps) flow::check_capture_file(p, bpf);
  std::unique_ptr<flow::LiveCapture> capture;
  if (!o.live.interface.empty()) capture = std::make_unique<flow::LiveCapture>(o.live.live_options());
  for (const auto& path : o.flow_files)  // columns, before any output (standard input cannot be read twice)
    if (path != "-") detect::FlowCsvReader check(path, detect::input_layout(model));
  detect::EveOutput out(o.out);
  detect::DetectorOptions detector_options;
  detector_options.all_flows = o.all_flows;
  detector_options.include_features = !o.no_features;
  detector_options.threshold = o.threshold;
  detector_options.pipeline = o.threads > 1;
  if (!o.quiet) {
    const auto& c = model.calibration;
    const std::string threshold = std::isnan(o.threshold) ? c.describe_thresholds() : fmt::format("{:.4g}", o.threshold);
    fmt::print(stderr, "detect: model {} ({} {}, {} classes); alert thresholds {}{}; unknown {}\n", model_name,
               meta::to_string(model.config.algorithm), model.task, model.classes.size(), threshold,
               std::isnan(o.threshold) && c.target_fpr > 0
                   ? fmt::format(" (FPR {:g} target, {:.4g} on {} benign reference flows, {})", c.target_fpr,
                                 c.reference_fpr, std::count(model.reference_y.begin(), model.reference_y.end(), 0),
                                 c.method)
                   : std::string(" (set directly)"),
               std::isfinite(c.novelty_threshold) ? fmt::format("when novelty > {:.4g}", c.novelty_threshold)
                                                  : std::string("never reported"));
  }
  flow::install_stop_signals();
  PidFile pid(o.pidfile);
  const auto started = std::chrono::steady_clock::now();
  auto reopen_if_asked = [&out] {
    if (flow::take_reopen_request()) out.reopen();
  };
  if (follower) {
    // The columns are the detector's from now on; a followed model for others is refused.
    follower->start(followed ? follower->version() : model.version());
  }
  // Between batches: the newest model the follower verified, if any.
  auto follow_service = [&](detect::Detector& detector) {
    if (!follower) return;
    const auto next = follower->take();
    if (!next) return;
    try {
      detector.replace_model(next);
      if (!o.quiet)
        fmt::print(stderr, "detect: now detecting with model version {} from {} ({} classes)\n", follower->version(),
                   o.model_url, next->classes.size());
    } catch (const Error& e) {
      if (!o.quiet) fmt::print(stderr, "detect: {}; keeping the model in use\n", escape_for_terminal(e.what()));
    }
  };

  if (!packets) {
    detect::Detector detector(model, detector_options, out);
    bool warned = false;
    std::vector<float> row(static_cast<size_t>(model.features()));
    detect::FlowRecord record;
    int stopped = 0;
    for (const auto& path : o.flow_files) {
      detect::FlowCsvReader reader(path, detect::input_layout(model));
      if (!reader.has_identity() && !warned && !o.quiet) {
        fmt::print(stderr, "detect: warning: {} has no Src IP / Dst IP columns; alerts carry no addresses\n", path);
        warned = true;
      }
      while (reader.next(record, row)) {
        follow_service(detector);
        detector.add(record, row);
        if (flow::stop_requested()) break;
        if ((reader.report().rows & 4095) == 0) reopen_if_asked();
      }
      if (!o.quiet) fmt::print(stderr, "detect: {}: {}\n", path, reader.report().summary());
      if (flow::stop_requested()) {
        stopped = flow::stop_signal();
        break;
      }
    }
    detector.flush();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!o.quiet) fmt::print(stderr, "{}\n", detector.summary(elapsed));
    if (stopped != 0) exit_code() = flow::exit_status_for_signal(stopped);
    return;
  }

  std::optional<CalibrateFirst> phased;
  std::optional<detect::Detector> direct;
  flow::FlowSink* sink = nullptr;
  if (o.calibrate_first_s > 0) {
    phased.emplace(model, o, detector_options, out);
    sink = &*phased;
  } else {
    direct.emplace(model, detector_options, out);
    sink = &*direct;
  }
  flow::FlowMeter meter(table, *sink);
  flow::CaptureSummary summary;
  auto tick = [&] {
    reopen_if_asked();
    if (phased) phased->tick();
    if (direct) direct->flush();
    if (direct) follow_service(*direct);
  };
  if (capture) {
    capture->run(meter, summary, tick);
  } else {
    for (const auto& path : o.pcaps) {
      flow::read_capture_file(path, meter, summary, bpf);
      if (!summary.read_error.empty() || summary.stopped_by_signal != 0) break;
      tick();
    }
  }
  // What was read is scored and written, whatever stopped the reading.
  meter.finish();
  detect::Detector& detector = phased ? phased->detector() : *direct;
  detector.flush();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  summary.elapsed_s = elapsed;
  if (!o.quiet) {
    fmt::print(stderr, "{}\n", flow::format_summary(meter.stats(), meter.table(), summary));
    fmt::print(stderr, "{}\n", detector.summary(elapsed));
  }
  require(summary.read_error.empty(), "reading stopped early: {} (the flows read so far were scored and written)",
          summary.read_error);
  if (summary.stopped_by_signal != 0) exit_code() = flow::exit_status_for_signal(summary.stopped_by_signal);
}

void register_detect(CLI::App& parent) {
  auto o = std::make_shared<DetectOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "detect", "Detect threats in traffic: packets or flows → scored flows → EVE JSON alerts (docs/detect.md)");
  cmd->add_option("--model", o->model, "Model file (default: the built-in model, trained on CIC-IDS2017)");
  cmd->add_option("--pcap,-r", o->pcaps, "Capture file(s) to read (pcap, pcapng, .gz; - for standard input)");
  cmd->add_option("--flows", o->flow_files, "Flow CSV(s) in the model's schema (CICFlowMeter columns)");
  cmd->add_option("--out,-w", o->out, "EVE JSON file to append alerts to (- for standard output)")->capture_default_str();
  cmd->add_flag("--all-flows", o->all_flows, "Also write an event_type \"flow\" record for every scored flow");
  cmd->add_flag("--no-features", o->no_features, "Leave the flow's features out of the records (smaller; no adapt --eve)");
  cmd->add_option("--fpr", o->fpr, "Set the alert threshold for this false-positive rate on the model's benign "
                                   "reference flows (with --calibrate-first: on the site's)");
  cmd->add_option("--unknown-rate", o->unknown_rate,
                  "Share of known-class reference flows reported unknown (default: --fpr)");
  cmd->add_option("--threshold", o->threshold, "Alert when the attack margin (log-odds) is at least this");
  cmd->add_option("--calibrate-first", o->calibrate_first_s,
                  "Learn the site's normal traffic from the first SECONDS of flows, then detect");
  cmd->add_option("--calibrated-model", o->calibrated_model, "Save the model --calibrate-first made here");
  cmd->add_option("--pidfile", o->pidfile, "Write the process id here (removed at exit)");
  cmd->add_flag("--quiet,-q", o->quiet, "No summary lines on stderr");
  cmd->add_option("--threads", o->threads,
                  "1: meter, score and write on one thread; 2: score on a second one too (same output, in order)")
      ->check(CLI::Range(1, 2))
      ->capture_default_str();
  cmd->add_option("--model-url", o->model_url,
                  "Follow a detection service (metaids serve): its model at start, then each new version, "
                  "verified and swapped between batches");
  cmd->add_option("--refresh", o->refresh_s, "Seconds between two checks for a new model (--model-url)")
      ->capture_default_str()
      ->each([o](const std::string&) { o->refresh_given = true; });
  cmd->add_option("--model-token-file", o->model_token_file,
                  "Bearer token for the service, read from this file (--model-url; not needed by default)");
  o->table.add_to(*cmd);
  o->live.add_to(*cmd);
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("detect", register_detect);

}  // namespace
}  // namespace metaids::cli
