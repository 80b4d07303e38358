// `metaids bench flows`: flow-meter throughput and memory, one JSON object per line.
// Traces come from metaids::synth (seeded): mixed traffic (every family) and a SYN flood in
// which every packet opens a new flow. Each trace is measured three ways:
//   libpcap_read  a bare pcap_next_ex loop over the trace written as a pcap file (reference)
//   meter_file    metaids' flow meter reading the same file (libpcap + decode + flows + features)
//   meter_memory  the flow meter over the packets held in memory (decode + flows + features)
// plus the memory held per open flow (flow slots, list links and hash index, all counted).
#include <fmt/format.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "flow/capture.h"
#include "flow/features.h"
#include "synth/synth.h"

namespace metaids::cli {
namespace {

struct BenchOptions {
  uint64_t packets = 1'000'000;
  uint64_t seed = 1;
  int snaplen = 256;
  std::string keep_pcap;  // write the traces here instead of a temporary directory
  std::vector<std::string> traces = {"mixed", "syn_flood"};
};

// Frames of a trace, contiguous in memory.
struct Trace {
  std::string name;
  std::vector<uint8_t> bytes;
  struct Record {
    int64_t timestamp_us;
    uint64_t offset;
    uint32_t caplen;
    uint32_t wire_length;
  };
  std::vector<Record> records;
};

// Computes every flow's features (as the writer would) without formatting text.
class FeatureSink : public flow::FlowSink {
 public:
  void on_flow(const flow::FlowState& state, flow::FlowEnd /*reason*/) override {
    const auto features = flow::compute_features(state);
    checksum_ += features[0];
    ++flows_;
  }
  uint64_t flows() const { return flows_; }
  double checksum() const { return checksum_; }

 private:
  uint64_t flows_ = 0;
  double checksum_ = 0;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// CPU time of this process: on a shared machine it is what one dedicated core would take.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct Stopwatch {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = cpu_seconds();
  double wall_seconds() const { return seconds_since(wall); }
  double cpu_seconds_used() const { return cpu_seconds() - cpu; }
};

Trace generate(const std::string& name, const synth::SynthConfig& config, int snaplen) {
  Trace trace;
  trace.name = name;
  synth::Generator generator(config);
  synth::Packet packet;
  trace.records.reserve(config.target_packets);
  while (generator.next(packet)) {
    const uint32_t caplen = std::min<uint32_t>(packet.length, static_cast<uint32_t>(snaplen));
    trace.records.push_back({static_cast<int64_t>(packet.timestamp_us), trace.bytes.size(), caplen, packet.length});
    trace.bytes.insert(trace.bytes.end(), packet.data.begin(), packet.data.begin() + caplen);
  }
  return trace;
}

void write_pcap_file(const Trace& trace, const std::filesystem::path& path, int snaplen) {
  std::ofstream out(path, std::ios::binary);
  require(static_cast<bool>(out), "cannot write {}", path.string());
  const uint32_t header[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, static_cast<uint32_t>(snaplen), 1};
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  for (const auto& r : trace.records) {
    const uint32_t record[4] = {static_cast<uint32_t>(r.timestamp_us / 1'000'000),
                                static_cast<uint32_t>(r.timestamp_us % 1'000'000), r.caplen, r.wire_length};
    out.write(reinterpret_cast<const char*>(record), sizeof(record));
    out.write(reinterpret_cast<const char*>(trace.bytes.data() + r.offset), r.caplen);
  }
  require(static_cast<bool>(out), "cannot write {}", path.string());
}

void print_line(const Trace& trace, const char* stage, uint64_t packets, const Stopwatch& watch,
                const std::string& extra) {
  const double seconds = watch.wall_seconds();
  const double cpu = watch.cpu_seconds_used();
  fmt::print("{{\"bench\":\"flows\",\"trace\":\"{}\",\"stage\":\"{}\",\"packets\":{},\"seconds\":{:.4f},"
             "\"cpu_seconds\":{:.4f},\"packets_per_s\":{:.0f},\"packets_per_cpu_s\":{:.0f}{}}}\n",
             trace.name, stage, packets, seconds, cpu, seconds > 0 ? static_cast<double>(packets) / seconds : 0.0,
             cpu > 0 ? static_cast<double>(packets) / cpu : 0.0, extra);
  std::fflush(stdout);
}

void bench_libpcap(const Trace& trace, const std::filesystem::path& file) {
  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_open_offline(file.c_str(), error);
  require(handle != nullptr, "cannot read {}: {}", file.string(), error);
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  uint64_t packets = 0, touched = 0;
  const Stopwatch watch;
  while (pcap_next_ex(handle, &header, &data) == 1) {
    ++packets;
    touched += data[header->caplen > 12 ? 12 : 0];  // read the frame, as a decoder would
  }
  print_line(trace, "libpcap_read", packets, watch, fmt::format(",\"checksum\":{}", touched));
  pcap_close(handle);
}

void bench_meter_file(const Trace& trace, const std::filesystem::path& file, const flow::FlowTableConfig& config) {
  FeatureSink sink;
  flow::FlowMeter meter(config, sink);
  flow::CaptureSummary summary;
  const Stopwatch watch;
  flow::read_capture_file(file.string(), meter, summary);
  meter.finish();
  print_line(trace, "meter_file", meter.stats().frames, watch, fmt::format(",\"flows\":{}", sink.flows()));
}

void bench_meter_memory(const Trace& trace, const flow::FlowTableConfig& config) {
  FeatureSink sink;
  flow::FlowMeter meter(config, sink);
  size_t peak_open = 0, memory_at_peak = 0;
  const Stopwatch watch;
  uint64_t i = 0;
  for (const auto& r : trace.records) {
    meter.process(flow::link_type::kEthernet, r.timestamp_us, trace.bytes.data() + r.offset, r.caplen,
                  r.wire_length);
    if ((++i & 0xffff) == 0 && meter.table().open_flows() > peak_open) {
      peak_open = meter.table().open_flows();
      memory_at_peak = meter.table().memory_bytes();
    }
  }
  if (meter.table().open_flows() > peak_open) {
    peak_open = meter.table().open_flows();
    memory_at_peak = meter.table().memory_bytes();
  }
  const uint64_t evicted = meter.table().evicted();
  meter.finish();
  print_line(trace, "meter_memory", meter.stats().frames, watch,
             fmt::format(",\"flows\":{},\"evicted\":{},\"peak_open_flows\":{},\"bytes_at_peak\":{},"
                         "\"bytes_per_open_flow\":{:.1f},\"flow_state_bytes\":{}",
                         sink.flows(), evicted, peak_open, memory_at_peak,
                         peak_open ? static_cast<double>(memory_at_peak) / static_cast<double>(peak_open) : 0.0,
                         sizeof(flow::FlowState)));
}

void run_bench(const BenchOptions& o) {
  require(o.packets >= 1000, "--packets must be at least 1000");
  require(o.snaplen >= 64 && o.snaplen <= 1514, "--snaplen must be between 64 and 1514");
  for (const auto& name : o.traces)
    require(name == "mixed" || name == "syn_flood", "unknown trace '{}' (expected mixed or syn_flood)", name);
  const std::filesystem::path dir =
      o.keep_pcap.empty() ? std::filesystem::temp_directory_path() / fmt::format("metaids-bench-flows-{}", ::getpid())
                          : std::filesystem::path(o.keep_pcap);
  std::filesystem::create_directories(dir);
  struct Case {
    std::string name;
    synth::SynthConfig config;
  };
  std::vector<Case> cases;
  synth::SynthConfig mixed;
  mixed.seed = o.seed;
  mixed.target_packets = o.packets;
  mixed.collect_ground_truth = false;
  cases.push_back({"mixed", mixed});
  synth::SynthConfig flood = mixed;
  const synth::Family only_flood[] = {synth::Family::SynFlood};
  flood.select_families(only_flood);
  flood.syn_flood_reply_fraction = 0;  // unanswered: every packet opens a flow of its own
  cases.push_back({"syn_flood", flood});
  flow::FlowTableConfig config;  // the defaults of `metaids flows`
  for (const auto& c : cases) {
    if (std::find(o.traces.begin(), o.traces.end(), c.name) == o.traces.end()) continue;
    const auto generate_start = std::chrono::steady_clock::now();
    const Trace trace = generate(c.name, c.config, o.snaplen);
    const auto file = dir / (c.name + ".pcap");
    write_pcap_file(trace, file, o.snaplen);
    std::fprintf(stderr, "bench flows: %s trace of %zu packets generated in %.1f s (%s)\n", c.name.c_str(),
                 trace.records.size(), seconds_since(generate_start), file.c_str());
    bench_libpcap(trace, file);
    bench_meter_file(trace, file, config);
    bench_meter_memory(trace, config);
    if (o.keep_pcap.empty()) std::filesystem::remove(file);
  }
  if (o.keep_pcap.empty()) std::filesystem::remove_all(dir);
}

void register_bench_flows(CLI::App& parent) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = parent.add_subcommand("flows", "Flow meter: packets/s and bytes per open flow (JSON lines)");
  cmd->add_option("--packets", options->packets, "Packets per trace")->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seed of the generated traces")->capture_default_str();
  cmd->add_option("--snaplen", options->snaplen, "Bytes kept per frame")->capture_default_str();
  cmd->add_option("--keep-pcap", options->keep_pcap, "Keep the generated traces in this directory");
  cmd->add_option("--traces", options->traces, "Traces to measure (mixed, syn_flood)")->delimiter(',')->capture_default_str();
  cmd->callback([options] { run_bench(*options); });
}

METAIDS_COMMAND("bench/flows", register_bench_flows);

}  // namespace
}  // namespace metaids::cli
