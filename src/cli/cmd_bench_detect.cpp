// `metaids bench detect`: the detector's speed, one JSON object per line (docs/performance.md).
//
//   pcap_to_alerts  the same capture file through `metaids flows` (CSV to /dev/null) and through
//                   `metaids detect` (EVE to /dev/null; as it runs by default, scoring and
//                   writing on a second thread; with --threads 1; with --all-flows), interleaved,
//                   best of --rounds: packets/s and the ratio detect/flows. Two traces: mixed
//                   full-payload traffic (few long flows and many short ones) and an unanswered
//                   SYN flood (every packet a flow).
//   scoring         Scorer::score on transformed rows with the adapted state reused, one thread:
//                   a 78-64-64-2 detection network (MAML) and the shipped ProtoNet model.
//   adaptation      from 5 flows: the learner's adaptation alone (MAML 5-shot binary, 10 steps,
//                   as the PyTorch peer measures it; ProtoNet: a new prototype), and the whole
//                   `adapt` step on the shipped model (new class, its threshold, the self-check).
//   memory          what the detector holds besides the flow table (bounded: one batch on one
//                   thread, Detector::kPool batches pipelined).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>

#include "cli/command.h"
#include "core/error.h"
#include "detect/builtin_model.h"
#include "detect/detector.h"
#include "flow/capture.h"
#include "flow/writer.h"
#include "model/scoring.h"
#include "synth/synth.h"

namespace metaids::cli {
namespace {

namespace fs = std::filesystem;

struct BenchDetectOptions {
  std::uint64_t packets = 500'000;
  std::uint64_t seed = 1;
  int rounds = 3;
  double seconds = 1.0;
  std::string model;
  std::vector<std::string> parts = {"pcap_to_alerts", "scoring", "adaptation", "memory"};
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// An unanswered SYN flood of `packets` packets: every packet a flow of its own.
synth::SynthConfig flood_config(std::uint64_t seed, std::uint64_t packets) {
  synth::SynthConfig flood;
  flood.seed = seed;
  flood.target_packets = packets;
  flood.collect_ground_truth = false;
  const synth::Family only_flood[] = {synth::Family::SynFlood};
  flood.select_families(only_flood);
  flood.syn_flood_reply_fraction = 0;
  return flood;
}

// One pass of `metaids flows --pcap F --out /dev/null`.
double flows_pass(const fs::path& capture, std::uint64_t& packets, std::uint64_t& flows) {
  flow::WriterOptions writer_options;
  writer_options.path = "/dev/null";
  flow::FlowWriter writer(writer_options);
  flow::FlowMeter meter(flow::FlowTableConfig{}, writer);
  flow::CaptureSummary summary;
  const double start = now_s();
  flow::read_capture_file(capture.string(), meter, summary);
  meter.finish();
  writer.close();
  const double seconds = now_s() - start;
  packets = meter.stats().frames;
  flows = writer.flows_written();
  return seconds;
}

// One pass of `metaids detect --pcap F --out /dev/null [--all-flows] [--threads 1]`.
double detect_pass(const model::Model& model, const fs::path& capture, bool all_flows, bool pipeline,
                   std::uint64_t& packets, std::uint64_t& alerts, size_t* buffer_bytes = nullptr) {
  detect::EveOutput out("/dev/null");
  detect::DetectorOptions options;
  options.all_flows = all_flows;
  options.pipeline = pipeline;
  detect::Detector detector(model, options, out);
  flow::FlowMeter meter(flow::FlowTableConfig{}, detector);
  flow::CaptureSummary summary;
  const double start = now_s();
  flow::read_capture_file(capture.string(), meter, summary);
  meter.finish();
  detector.flush();
  const double seconds = now_s() - start;
  packets = meter.stats().frames;
  alerts = detector.stats().alerts;
  if (buffer_bytes != nullptr) *buffer_bytes = detector.buffer_bytes();
  return seconds;
}

void bench_pcap_to_alerts(const BenchDetectOptions& o, const model::Model& model) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("metaids-bench-detect-{}", ::getpid());
  fs::create_directories(dir);
  struct Trace {
    std::string name;
    synth::SynthConfig config;
  };
  synth::SynthConfig mixed;
  mixed.seed = o.seed;
  mixed.target_packets = o.packets;
  mixed.collect_ground_truth = false;
  for (const Trace& t : {Trace{"mixed_full_payload", mixed}, Trace{"syn_flood", flood_config(o.seed, o.packets)}}) {
    const fs::path capture = dir / (t.name + ".pcap");
    const auto written = synth::write_pcap(t.config, capture);
    double best_flows = 1e30, best_detect = 1e30, best_one = 1e30, best_all = 1e30;
    std::uint64_t packets = 0, flows = 0, alerts = 0, one_alerts = 0, all_alerts = 0;
    for (int r = 0; r < o.rounds; ++r) {  // interleaved: host speed drift hits all alike
      best_flows = std::min(best_flows, flows_pass(capture, packets, flows));
      best_detect = std::min(best_detect, detect_pass(model, capture, false, true, packets, alerts));
      best_one = std::min(best_one, detect_pass(model, capture, false, false, packets, one_alerts));
      best_all = std::min(best_all, detect_pass(model, capture, true, true, packets, all_alerts));
    }
    require(one_alerts == alerts, "internal error: {} alerts on one thread, {} on two", one_alerts, alerts);
    const auto rate = [&](double s) { return static_cast<double>(packets) / s; };
    fmt::print("{{\"bench\":\"detect\",\"part\":\"pcap_to_alerts\",\"trace\":\"{}\",\"packets\":{},\"bytes\":{},"
               "\"flows\":{},\"alerts\":{},\"flows_packets_per_s\":{:.0f},\"detect_packets_per_s\":{:.0f},"
               "\"detect_one_thread_packets_per_s\":{:.0f},\"detect_all_flows_packets_per_s\":{:.0f},"
               "\"detect_over_flows\":{:.3f},\"detect_one_thread_over_flows\":{:.3f},"
               "\"detect_all_flows_over_flows\":{:.3f},\"detect_flows_per_s\":{:.0f},\"rounds\":{}}}\n",
               t.name, packets, written.bytes, flows, alerts, rate(best_flows), rate(best_detect), rate(best_one),
               rate(best_all), best_flows / best_detect, best_flows / best_one, best_flows / best_all,
               static_cast<double>(flows) / best_detect, o.rounds);
    std::fflush(stdout);
    fs::remove(capture);
  }
  fs::remove_all(dir);
}

// Runs `body` (which handles `per_call` flows) for about `seconds`; best of 5 blocks, flows/s.
template <typename Body>
double flows_per_second(double seconds, double per_call, Body&& body) {
  double best = 0;
  for (int block = 0; block < 5; ++block) {
    int calls = 0;
    const double start = now_s();
    double elapsed = 0;
    do {
      body();
      ++calls;
      elapsed = now_s() - start;
    } while (elapsed < seconds / 5);
    best = std::max(best, per_call * calls / elapsed);
  }
  return best;
}

// A detection model 78-64-64-2 (MAML), adapted to a 5-shot binary support.
model::Model detection_network(std::uint64_t seed) {
  model::Model m;
  std::vector<std::string> names;
  for (int i = 0; i < 78; ++i) names.push_back(fmt::format("f{}", i));
  m.transform = data::FeatureTransform::from_json({{"kind", "signed_log1p_zscore_clip"},
                                                   {"version", 1},
                                                   {"clip", 10},
                                                   {"numeric", names},
                                                   {"categorical", nlohmann::json::array()},
                                                   {"mean", std::vector<float>(78, 0.0f)},
                                                   {"std", std::vector<float>(78, 1.0f)}});
  m.schema = data::cicflowmeter_schema();
  m.config.algorithm = meta::Algorithm::maml;
  m.config.inputs = 78;
  m.config.ways = 2;
  m.config.hidden = {64, 64};
  m.config.adapt_steps = 10;
  m.task = "detection";
  std::mt19937_64 rng(seed);
  m.phi = meta::make_learner<float>(m.config)->initial_meta_parameters(rng);
  m.classes = {model::describe_class("BENIGN", 9100001, true), model::describe_class("ATTACK", 9100002, false)};
  std::normal_distribution<float> normal;
  m.support_x.resize(78, 10);
  for (Eigen::Index j = 0; j < 10; ++j)
    for (Eigen::Index i = 0; i < 78; ++i) m.support_x(i, j) = normal(rng) + (j < 5 ? 0.0f : 1.0f);
  m.support_y = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
  m.reference_x = m.support_x;
  m.reference_y = m.support_y;
  m.adapt();
  return m;
}

void bench_scoring(const BenchDetectOptions& o, const model::Model& shipped) {
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> normal;
  for (const auto& [name, m] : {std::pair<std::string, model::Model>{"maml_78_64_64_2", detection_network(o.seed)},
                                std::pair<std::string, model::Model>{"shipped_protonet", shipped}}) {
    for (const Eigen::Index batch : {Eigen::Index{256}, Eigen::Index{4096}}) {
      model::Matrix<float> x(m.features(), batch);
      for (Eigen::Index j = 0; j < x.size(); ++j) x.data()[j] = normal(rng);
      model::Scorer scorer(m);
      std::vector<model::Verdict> verdicts;
      const double rate = flows_per_second(o.seconds, static_cast<double>(batch), [&] { scorer.score(x, verdicts); });
      fmt::print("{{\"bench\":\"detect\",\"part\":\"scoring\",\"model\":\"{}\",\"network\":\"{}\",\"groups\":{},"
                 "\"batch\":{},\"threads\":1,\"flows_per_s\":{:.0f}}}\n",
                 name, fmt::join(m.state().network().spec().sizes, "-"), m.state().groups(), batch, rate);
      std::fflush(stdout);
    }
  }
}

void bench_adaptation(const BenchDetectOptions& o, const model::Model& shipped) {
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> normal;
  auto median_us = [&](auto&& body) {
    std::vector<double> times;
    const double until = now_s() + o.seconds;
    while (now_s() < until || times.size() < 5) {
      const double start = now_s();
      body();
      times.push_back((now_s() - start) * 1e6);
    }
    std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
    return std::pair<double, size_t>{times[times.size() / 2], times.size()};
  };
  {  // The learner's adaptation, as the PyTorch peer measures it: MAML, 5-shot binary, 10 steps.
    const model::Model m = detection_network(o.seed);
    const auto learner = meta::make_learner<float>(m.config);
    meta::Scratch<float> scratch;
    const meta::Batch<float> support{m.support_x, m.support_y};
    const auto [us, n] = median_us([&] { (void)learner->deploy(m.phi, support, 2, {}, scratch); });
    fmt::print("{{\"bench\":\"detect\",\"part\":\"adaptation\",\"what\":\"learner_deploy\",\"model\":\"maml_78_64_64_2\","
               "\"support\":10,\"steps\":10,\"median_us\":{:.1f},\"repeats\":{}}}\n",
               us, n);
  }
  {  // ProtoNet: the shipped model's support plus 5 flows of a new class.
    const auto learner = meta::make_learner<float>(shipped.config);
    meta::Scratch<float> scratch;
    meta::Batch<float> support{shipped.support_x, shipped.support_y};
    const Eigen::Index old_n = support.x.cols();
    support.x.conservativeResize(Eigen::NoChange, old_n + 5);
    for (Eigen::Index j = old_n; j < old_n + 5; ++j) {
      for (Eigen::Index i = 0; i < support.x.rows(); ++i) support.x(i, j) = normal(rng);
      support.y.push_back(static_cast<int>(shipped.classes.size()));
    }
    std::vector<int> groups = shipped.support_group.empty() ? shipped.support_y : shipped.support_group;
    const int next_group = *std::max_element(groups.begin(), groups.end()) + 1;
    for (int i = 0; i < 5; ++i) groups.push_back(next_group);
    const int classes = static_cast<int>(shipped.classes.size()) + 1;
    const auto [us, n] = median_us([&] { (void)learner->deploy(shipped.phi, support, classes, groups, scratch); });
    fmt::print("{{\"bench\":\"detect\",\"part\":\"adaptation\",\"what\":\"learner_deploy\",\"model\":\"shipped_protonet\","
               "\"support\":{},\"median_us\":{:.1f},\"repeats\":{}}}\n",
               support.x.cols(), us, n);
  }
  {  // The whole adapt step on the shipped model: a copy of it (the model in use stays as it is
     // while the copy adapts), the new class, re-adaptation, its threshold, the self-check.
    data::FeatureMatrix rows(5, shipped.features());
    for (Eigen::Index j = 0; j < rows.size(); ++j) rows.data()[j] = normal(rng);
    const auto [us, n] = median_us([&] {
      model::Model m = shipped;
      model::extend_support(m, rows, "New", {});
    });
    fmt::print("{{\"bench\":\"detect\",\"part\":\"adaptation\",\"what\":\"add_support\",\"model\":\"shipped_protonet\","
               "\"reference_flows\":{},\"median_us\":{:.1f},\"repeats\":{}}}\n",
               shipped.reference_y.size(), us, n);
  }
  std::fflush(stdout);
}

void bench_memory(const BenchDetectOptions& o, const model::Model& shipped) {
  // The detector's own buffers after a SYN flood (every flow alerts, with --all-flows: the
  // largest lines), on one thread and pipelined. They do not grow with the traffic; the flow
  // table's bound (--max-flows) is the only per-flow memory.
  const fs::path dir = fs::temp_directory_path() / fmt::format("metaids-bench-memory-{}", ::getpid());
  fs::create_directories(dir);
  const fs::path capture = dir / "syn_flood.pcap";
  synth::write_pcap(flood_config(o.seed, 20'000), capture);
  std::uint64_t packets = 0, alerts = 0;
  size_t one = 0, two = 0;
  detect_pass(shipped, capture, true, false, packets, alerts, &one);
  detect_pass(shipped, capture, true, true, packets, alerts, &two);
  fs::remove_all(dir);
  fmt::print("{{\"bench\":\"detect\",\"part\":\"memory\",\"batch\":{},\"inputs\":{},\"packets\":{},"
             "\"detector_buffer_bytes_one_thread\":{},\"detector_buffer_bytes_pipelined\":{},"
             "\"flow_state_bytes\":{}}}\n",
             detect::Detector::kBatch, shipped.features(), packets, one, two, sizeof(flow::FlowState));
}

void run(const BenchDetectOptions& o) {
  require_usage(o.packets >= 1000 && o.packets <= 100'000'000, "--packets must be in [1000, 1e8]");
  require_usage(o.rounds >= 1 && o.rounds <= 100, "--rounds must be in [1, 100]");
  require_usage(o.seconds > 0 && o.seconds <= 600, "--seconds must be in (0, 600]");
  static const std::vector<std::string> known{"pcap_to_alerts", "scoring", "adaptation", "memory"};
  for (const auto& p : o.parts)
    require_usage(std::find(known.begin(), known.end(), p) != known.end(),
                  "unknown part '{}' (pcap_to_alerts, scoring, adaptation, memory)", p);
  const model::Model shipped = detect::load_model_or_builtin(o.model);
  auto wants = [&](const char* part) { return std::find(o.parts.begin(), o.parts.end(), part) != o.parts.end(); };
  if (wants("scoring")) bench_scoring(o, shipped);
  if (wants("adaptation")) bench_adaptation(o, shipped);
  if (wants("memory")) bench_memory(o, shipped);
  if (wants("pcap_to_alerts")) bench_pcap_to_alerts(o, shipped);
}

void register_bench_detect(CLI::App& parent) {
  auto o = std::make_shared<BenchDetectOptions>();
  CLI::App* cmd = parent.add_subcommand("detect", "Detector: pcap → alerts against flows, scoring, adaptation (JSON)");
  cmd->add_option("--packets", o->packets, "Packets per generated trace")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the traces and inputs")->capture_default_str();
  cmd->add_option("--rounds", o->rounds, "Interleaved rounds of flows and detect per trace (best kept)")
      ->capture_default_str();
  cmd->add_option("--seconds", o->seconds, "Seconds per scoring or adaptation measurement")->capture_default_str();
  cmd->add_option("--model", o->model, "Model (default: the built-in one)");
  cmd->add_option("--parts", o->parts, "What to measure: pcap_to_alerts, scoring, adaptation, memory")
      ->delimiter(',')
      ->capture_default_str();
  cmd->callback([o] { run(*o); });
}

METAIDS_COMMAND("bench/detect", register_bench_detect);

}  // namespace
}  // namespace metaids::cli
