// `metaids synth`: write a seeded, labelled synthetic capture and its ground-truth CSV.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
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
  std::uint16_t vlan = 0;
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
  config.vlan_id = options.vlan;
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
  command->add_option("--vlan", options->vlan, "Tag every frame with this 802.1Q VLAN id (1-4094)")
      ->check(CLI::Range(1, 4094));
  command->add_flag("--quiet", options->quiet, "Print nothing on success");
  command->callback([options] { run_synth(*options); });
}

// `metaids bench synth`: in-memory generation speed (one JSON object per line).
struct BenchSynthOptions {
  std::uint64_t packets = 2'000'000;
  std::uint64_t seed = 1;
};

nlohmann::json bench_generation(const std::string& name, synth::SynthConfig config, std::uint64_t packets) {
  config.target_packets = packets;
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  synth::Generator generator(config);
  synth::Packet packet;
  std::uint64_t bytes = 0;
  std::uint64_t flows = 0;
  std::vector<synth::GroundTruthFlow> finished;
  while (generator.next(packet)) {
    bytes += packet.length;
    if (config.collect_ground_truth && (generator.packets_emitted() & 0xFFFF) == 0) {
      flows += generator.drain_finished_flows(finished);
    }
  }
  flows += generator.drain_finished_flows(finished);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // CPU time too: on a shared machine it is closer to what one free core does.
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  return {{"impl", "metaids"},
          {"benchmark", "synth_" + name},
          {"ground_truth", config.collect_ground_truth},
          {"packets", generator.packets_emitted()},
          {"flows", flows},
          {"seconds", std::round(seconds * 1e4) / 1e4},
          {"cpu_seconds", std::round(cpu_seconds * 1e4) / 1e4},
          {"packets_per_s", std::round(static_cast<double>(generator.packets_emitted()) / seconds)},
          {"packets_per_cpu_s", std::round(static_cast<double>(generator.packets_emitted()) / cpu_seconds)},
          {"megabytes_per_s", std::round(static_cast<double>(bytes) / seconds / 1e4) / 100}};
}

void register_bench_synth(CLI::App& parent) {
  auto options = std::make_shared<BenchSynthOptions>();
  CLI::App* command = parent.add_subcommand("synth", "Synthetic traffic generation speed in memory (JSON lines)");
  command->add_option("--packets", options->packets, "Packets per measurement (default 2000000)")
      ->check(CLI::Range(std::uint64_t{1000}, std::uint64_t{1'000'000'000ULL}));
  command->add_option("--seed", options->seed, "Random seed");
  command->callback([options] {
    synth::SynthConfig mixed;
    mixed.seed = options->seed;
    mixed.duration_s = 300;
    fmt::print("{}\n", bench_generation("mixed", mixed, options->packets).dump());
    mixed.collect_ground_truth = false;
    fmt::print("{}\n", bench_generation("mixed", mixed, options->packets).dump());
    synth::SynthConfig flood = mixed;
    const synth::Family only[] = {synth::Family::SynFlood};
    flood.select_families(only);
    flood.syn_flood_reply_fraction = 0;  // every packet opens a flow
    flood.collect_ground_truth = true;
    fmt::print("{}\n", bench_generation("synflood", flood, options->packets).dump());
    std::fflush(stdout);
  });
}

}  // namespace

METAIDS_COMMAND("synth", register_synth);
METAIDS_COMMAND("bench/synth", register_bench_synth);

}  // namespace metaids::cli
