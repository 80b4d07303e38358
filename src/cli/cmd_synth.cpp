// `metaids synth`: write a seeded, labelled synthetic capture and its ground-truth CSV.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "synth/synth.h"

namespace metaids::cli {
namespace {

struct SynthOptions {
  std::string out;
  std::string truth;
  std::uint64_t seed = 1;
  std::uint64_t packets = 0;
  std::uint64_t sessions = 0;
  std::string families;
  double duration = 60.0;
  bool quiet = false;
};

std::vector<synth::Family> parse_families(const std::string& list) {
  std::vector<synth::Family> families;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string name = list.substr(start, comma - start);
    const auto family = synth::parse_family(name);
    if (!family) {
      std::string known;
      for (std::size_t i = 0; i < synth::kFamilyCount; ++i) {
        if (i > 0) known += ",";
        known += synth::family_name(static_cast<synth::Family>(i));
      }
      fail("unknown traffic family '{}' in --families (known: {})", name, known);
    }
    families.push_back(*family);
    start = comma + 1;
  }
  return families;
}

void run_synth(const SynthOptions& options) {
  require(!options.out.empty(), "--out is required");
  synth::SynthConfig config;
  config.seed = options.seed;
  config.duration_s = options.duration;
  if (options.packets > 0) {
    config.target_packets = options.packets;
  } else if (options.sessions > 0) {
    config.sessions = options.sessions;
  }
  if (!options.families.empty()) config.select_families(parse_families(options.families));
  config.collect_ground_truth = !options.truth.empty();
  const synth::SynthSummary summary = synth::write_pcap(config, options.out, options.truth);
  if (!options.quiet) {
    std::string per_family;
    for (std::size_t i = 0; i < synth::kFamilyCount; ++i) {
      if (summary.packets_per_family[i] == 0) continue;
      per_family += fmt::format(" {}={}", synth::family_name(static_cast<synth::Family>(i)), summary.packets_per_family[i]);
    }
    std::printf("synth: wrote %s: %llu packets, %llu bytes, %.3f s%s%s\n", options.out.c_str(),
                static_cast<unsigned long long>(summary.packets), static_cast<unsigned long long>(summary.bytes),
                static_cast<double>(summary.last_timestamp_us - summary.first_timestamp_us) / 1e6,
                options.truth.empty() ? "" : fmt::format(", {} flows in {}", summary.flows, options.truth).c_str(),
                "");
    std::printf("synth: packets per family:%s\n", per_family.c_str());
  }
}

void register_synth(CLI::App& parent) {
  auto options = std::make_shared<SynthOptions>();
  CLI::App* command = parent.add_subcommand(
      "synth", "Write a seeded synthetic capture (pcap) of benign and attack traffic with a ground-truth flow CSV");
  command->add_option("--out", options->out, "Output pcap file")->required();
  command->add_option("--truth", options->truth, "Ground-truth CSV (one row per bidirectional flow)");
  command->add_option("--seed", options->seed, "Random seed (same seed: byte-identical output)");
  auto* packets = command->add_option("--packets", options->packets, "Stop after exactly this many packets")
                      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000'000ULL}));
  auto* sessions = command->add_option("--sessions", options->sessions, "Number of sessions (default 1000)")
                       ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000ULL}));
  packets->excludes(sessions);
  sessions->excludes(packets);
  command->add_option("--families", options->families,
                      "Comma-separated families: web,dns,ssh,portscan,synflood,bruteforce,slowhttp,beacon,exfil "
                      "(default: all)");
  command->add_option("--duration", options->duration, "Seconds over which sessions start (default 60)")
      ->check(CLI::Range(0.001, 1e7));
  command->add_flag("--quiet", options->quiet, "Print nothing on success");
  command->callback([options] { run_synth(*options); });
}

}  // namespace

METAIDS_COMMAND("synth", register_synth);

}  // namespace metaids::cli
