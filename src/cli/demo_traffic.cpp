// The demo of the whole loop on traffic: a seeded generator (metaids synth) makes the site's
// ordinary traffic, a test capture of every family with exact ground truth, and a capture of
// the "new" family that an analyst labels five flows of. The shipped model detects on the test
// capture as shipped, after calibrating to the site, and after adapting from the five flows;
// per family, the share of flows alerted on, and the benign false-positive rate.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli/command.h"
#include "cli/demo_traffic.h"
#include "core/error.h"
#include "detect/builtin_model.h"
#include "detect/collect.h"
#include "detect/detector.h"
#include "model/calibration.h"
#include "synth/synth.h"

namespace metaids::cli {
namespace {

namespace fs = std::filesystem;

struct TupleKey {
  std::uint32_t src = 0, dst = 0;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint8_t protocol = 0;
  std::int64_t start_us = 0;
  auto operator<=>(const TupleKey&) const = default;
};

std::uint32_t ipv4(const std::array<std::uint8_t, 16>& bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) | bytes[3];
}

// A temporary directory removed at the end (unless kept).
class WorkDir {
 public:
  explicit WorkDir(const std::string& keep) : keep_(!keep.empty()) {
    if (keep_) {
      path_ = keep;
      fs::create_directories(path_);
    } else {
      std::string pattern = (fs::temp_directory_path() / "metaids-demo-XXXXXX").string();
      require(::mkdtemp(pattern.data()) != nullptr, "cannot create a temporary directory: {}", std::strerror(errno));
      path_ = pattern;
    }
  }
  ~WorkDir() {
    std::error_code ec;
    if (!keep_) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  bool keep_;
};

struct PassResult {
  std::map<std::string, std::uint64_t> flows, alerts, named;  // by family
  double seconds = 0;
  std::uint64_t packets = 0, flow_count = 0;
};

// One detection pass over the test capture, tallied by the ground truth's families.
PassResult detect_pass(const model::Model& model, const fs::path& capture, const fs::path& eve,
                       const std::map<TupleKey, synth::Family>& truth, const std::string& new_label,
                       synth::Family new_family) {
  PassResult result;
  detect::EveOutput out(eve.string());
  detect::DetectorOptions options;
  detect::Detector detector(model, options, out);
  detector.on_verdict = [&](const detect::FlowRecord& r, const model::Verdict& v) {
    const TupleKey key{ipv4(r.src_address), ipv4(r.dst_address), r.src_port, r.dst_port, r.protocol, r.start_us};
    const auto it = truth.find(key);
    const std::string family = it == truth.end() ? "(not in the truth)" : std::string(synth::family_name(it->second));
    ++result.flows[family];
    if (v.alert) ++result.alerts[family];
    if (it != truth.end() && it->second == new_family && v.alert && v.reported >= 0 &&
        model.classes[static_cast<size_t>(v.reported)].name == new_label)
      ++result.named[family];
  };
  flow::FlowMeter meter(flow::FlowTableConfig{}, detector);
  flow::CaptureSummary summary;
  const auto started = std::chrono::steady_clock::now();
  flow::read_capture_file(capture.string(), meter, summary);
  meter.finish();
  detector.flush();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  require(summary.read_error.empty(), "reading {} failed: {}", capture.string(), summary.read_error);
  result.packets = meter.stats().packets;
  result.flow_count = detector.stats().flows;
  return result;
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? std::string("-") : fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

}  // namespace

void run_traffic_demo(const TrafficDemoOptions& o) {
  const auto new_family = synth::parse_family(o.new_family);
  require(new_family.has_value() && synth::is_attack(*new_family), "--new-family must be an attack family of metaids "
          "synth (portscan, synflood, bruteforce, slowhttp, beacon, exfil), got '{}'", o.new_family);
  require(o.shots >= 1 && o.shots <= 1000, "--shots must be in [1, 1000]");
  model::Model model = detect::load_model_or_builtin(o.model);
  const std::string model_name = o.model.empty() ? std::string(detect::kBuiltinModelName) : o.model;
  WorkDir dir(o.keep_dir);
  const std::uint64_t sessions = o.quick ? 2500 : 6000;
  const std::string new_label = fmt::format("{} (analyst)", synth::family_label(*new_family));

  fmt::print("metaids demo: detect threats in generated traffic, learn the site's normal, then a new family from {} "
             "flows\n",
             o.shots);
  fmt::print("model: {} ({} {}, {} classes: {})\n\n", model_name, meta::to_string(model.config.algorithm), model.task,
             model.classes.size(), fmt::join(model.class_names(), ", "));

  // 1. The captures, seeded: the site's ordinary traffic, a test capture with ground truth, and
  //    a capture of the new family the analyst looks at.
  synth::SynthConfig site;
  site.seed = o.seed * 3 + 1;
  site.sessions = sessions / 2;
  const std::vector<synth::Family> benign{synth::Family::Web, synth::Family::Dns, synth::Family::Ssh};
  site.select_families(benign);
  synth::write_pcap(site, dir.path() / "site.pcap");
  synth::SynthConfig test;
  test.seed = o.seed * 3;
  test.sessions = sessions;
  const auto test_summary = synth::write_pcap(test, dir.path() / "test.pcap", dir.path() / "test.truth.csv");
  synth::SynthConfig sample;
  sample.seed = o.seed * 3 + 2;
  sample.sessions = 200;
  const std::vector<synth::Family> only_new{*new_family};
  sample.select_families(only_new);
  synth::write_pcap(sample, dir.path() / "new.pcap");
  std::map<TupleKey, synth::Family> truth;
  for (const auto& f : synth::read_ground_truth_csv(dir.path() / "test.truth.csv"))
    truth[{f.tuple.src_ip, f.tuple.dst_ip, f.tuple.src_port, f.tuple.dst_port, f.tuple.protocol,
           static_cast<std::int64_t>(f.first_timestamp_us)}] = f.family;
  fmt::print("captures (metaids synth, seed {}), in {}:\n", o.seed, dir.path().string());
  fmt::print("  site.pcap  the site's ordinary traffic: {} sessions of web, dns and ssh\n", site.sessions);
  fmt::print("  test.pcap  {} sessions of every family: {} packets, {} flows, with exact ground truth\n", sessions,
             test_summary.packets, test_summary.flows);
  fmt::print("  new.pcap   '{}' ({}) only: the analyst labels {} of its flows\n\n", o.new_family,
             synth::family_label(*new_family), o.shots);

  // 2. As shipped.
  const PassResult shipped =
      detect_pass(model, dir.path() / "test.pcap", dir.path() / "eve-shipped.json", truth, new_label, *new_family);
  // 3. Calibrated to the site (metaids calibrate).
  const detect::CollectedFlows site_flows =
      detect::collect_from_captures({(dir.path() / "site.pcap").string()}, "", model, flow::FlowTableConfig{});
  const auto calibration = model::calibrate_to_site(model, detect::transform_rows(model, site_flows.raw), 0.01, 0.01,
                                                    {{"source", "demo site.pcap"}}, o.seed);
  const model::Calibration calibrated_at = model.calibration;
  const PassResult calibrated =
      detect_pass(model, dir.path() / "test.pcap", dir.path() / "eve-calibrated.json", truth, new_label, *new_family);
  // 4. Adapted from the first K flows of the new family (metaids adapt).
  detect::CollectedFlows labelled =
      detect::collect_from_captures({(dir.path() / "new.pcap").string()}, "", model, flow::FlowTableConfig{});
  require(labelled.records.size() >= static_cast<size_t>(o.shots), "new.pcap holds only {} flows",
          labelled.records.size());
  detect::keep_first(labelled, static_cast<size_t>(o.shots));
  const data::FeatureMatrix support = detect::transform_rows(model, labelled.raw);
  const auto adapt_start = std::chrono::steady_clock::now();
  model::add_support(model, support, new_label, {{"source", "demo new.pcap"}, {"k", o.shots}});
  const double adapt_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - adapt_start).count();
  if (!o.keep_dir.empty()) model::save(dir.path() / "adapted.mids", model);
  const PassResult adapted =
      detect_pass(model, dir.path() / "test.pcap", dir.path() / "eve-adapted.json", truth, new_label, *new_family);

  // 5. The table.
  fmt::print("share of flows alerted on, per family of test.pcap:\n\n");
  fmt::print("| family | label | flows | shipped | calibrated | + {} flows of {} |\n|---|---|---|---|---|---|\n",
             o.shots, o.new_family);
  std::uint64_t benign_flows = 0, benign_alerts[3] = {0, 0, 0};
  for (std::size_t i = 0; i < synth::kFamilyCount; ++i) {
    const auto family = static_cast<synth::Family>(i);
    const std::string name(synth::family_name(family));
    const std::uint64_t n = adapted.flows.count(name) ? adapted.flows.at(name) : 0;
    if (n == 0) continue;
    auto alerts = [&](const PassResult& p) { return p.alerts.count(name) ? p.alerts.at(name) : 0; };
    std::string last = percent(alerts(adapted), n);
    if (family == *new_family)
      last += fmt::format(" ({} named '{}')", percent(adapted.named.count(name) ? adapted.named.at(name) : 0, n), new_label);
    fmt::print("| {}{} | {} | {} | {} | {} | {} |\n", name, family == *new_family ? " (new)" : "",
               synth::is_attack(family) ? std::string(synth::family_label(family)) : std::string("benign"), n,
               percent(alerts(shipped), n), percent(alerts(calibrated), n), last);
    if (!synth::is_attack(family)) {
      benign_flows += n;
      benign_alerts[0] += alerts(shipped);
      benign_alerts[1] += alerts(calibrated);
      benign_alerts[2] += alerts(adapted);
    }
  }
  fmt::print("| **benign false-positive rate** | | {} | {} | {} | {} |\n\n", benign_flows,
             percent(benign_alerts[0], benign_flows), percent(benign_alerts[1], benign_flows),
             percent(benign_alerts[2], benign_flows));
  const PassResult* passes[] = {&shipped, &calibrated, &adapted};
  double best = 0;
  for (const auto* p : passes) best = std::max(best, static_cast<double>(p->flow_count) / p->seconds);
  fmt::print("calibration: {} site flows → {} benign prototypes in {} groups, alert thresholds {} (FPR {:.3g} on "
             "{} held-out site flows)\n",
             calibration.flows, calibration.support, calibration.groups, calibrated_at.describe_thresholds(),
             calibrated_at.reference_fpr, calibration.reference);
  fmt::print("adaptation: {} flows of '{}' → class '{}' in {:.0f} µs (the learner's adaptation, and the new class's "
             "threshold at the same per-class rate, {:.4g})\n",
             o.shots, o.new_family, new_label, adapt_us, model.calibration.class_thresholds.back());
  fmt::print("detection: {} packets → {} flows → alerts in {:.3f} s per pass: {:.0f} flows/s, {:.2f} M packets/s "
             "(capture file to EVE JSON, one thread)\n",
             adapted.packets, adapted.flow_count, adapted.seconds, best,
             static_cast<double>(adapted.packets) / adapted.seconds / 1e6);
  fmt::print(
      "\nReading: the shipped model learnt CIC-IDS2017's traffic, not this network's; as shipped it alerts on much of\n"
      "the ordinary traffic (mostly as 'unknown', far from every class it knows). Calibrating on the site's own\n"
      "traffic teaches it the local normal. Five labelled flows then add the new family as a class of its own.\n"
      "The attack families are alerted on mostly as 'unknown' rather than by a CIC-IDS2017 name: generated flows\n"
      "differ from that dataset's. Same commands on your own captures: docs/end-to-end.md.\n");
  if (o.keep_dir.empty()) fmt::print("(--keep DIR keeps the captures, the EVE files and the adapted model)\n");
}

}  // namespace metaids::cli
