// `metaids flows`: packets (a capture file or a live interface) to CICFlowMeter-compatible
// bidirectional flows, as CSV or JSON lines, with a summary line on stderr.
#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include <pcap/pcap.h>

#include "cli/command.h"
#include "core/error.h"
#include "flow/capture.h"
#include "flow/writer.h"

namespace metaids::cli {
namespace {

struct FlowsOptions {
  std::string pcap;
  std::string interface;
  std::string bpf;
  std::string out;
  std::string format = "csv";
  double flow_timeout_s = 120.0;
  double activity_timeout_s = 5.0;
  uint64_t max_flows = 1'000'000;
  int snaplen = 262144;
  int buffer_size = 0;
  bool immediate = false;
  bool extra_columns = false;
  bool quiet = false;
  std::string drop_user;
};

int64_t seconds_to_us(double seconds, const char* option) {
  require(std::isfinite(seconds) && seconds > 0 && seconds <= 1e9, "{} must be a positive number of seconds, got {}",
          option, seconds);
  return static_cast<int64_t>(std::llround(seconds * 1e6));
}

void run_flows(const FlowsOptions& o) {
  require(o.pcap.empty() != o.interface.empty(), "give exactly one of --pcap FILE or --interface IF");
  require(o.format == "csv" || o.format == "jsonl", "--format must be csv or jsonl, got '{}'", o.format);
  if (o.interface.empty()) {
    require(o.bpf.empty() && !o.immediate && o.drop_user.empty() && o.buffer_size == 0,
            "--bpf, --immediate, --buffer-size and --drop-privileges need --interface");
  }
  flow::FlowTableConfig config;
  config.flow_timeout_us = seconds_to_us(o.flow_timeout_s, "--flow-timeout");
  require(config.flow_timeout_us <= flow::kMaxFlowTimeoutUs, "--flow-timeout must be at most {} s, got {}",
          flow::kMaxFlowTimeoutUs / 1'000'000, o.flow_timeout_s);
  config.activity_timeout_us = seconds_to_us(o.activity_timeout_s, "--activity-timeout");
  require(o.max_flows >= 1 && o.max_flows <= flow::FlowTable::kMaxFlows, "--max-flows must be between 1 and 2^30, got {}",
          o.max_flows);
  config.max_flows = o.max_flows;

  flow::WriterOptions writer_options;
  writer_options.format = o.format == "csv" ? flow::OutputFormat::csv : flow::OutputFormat::jsonl;
  writer_options.path = o.out;
  writer_options.extra_columns = o.extra_columns;
  if (!o.pcap.empty()) {
    // Fail on a missing or unreadable file before creating the output (no header for nothing).
    std::FILE* probe = std::fopen(o.pcap.c_str(), "rb");
    require(probe != nullptr, "cannot read capture {}: {}", o.pcap, std::strerror(errno));
    std::fclose(probe);
    char pcap_error[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle = pcap_open_offline(o.pcap.c_str(), pcap_error);
    require(handle != nullptr, "cannot read capture {}: {}", o.pcap, pcap_error);
    pcap_close(handle);
  }
  std::unique_ptr<flow::LiveCapture> capture;
  if (!o.interface.empty()) {
    flow::LiveOptions live;
    live.interface = o.interface;
    live.bpf_filter = o.bpf;
    live.snaplen = o.snaplen;
    live.buffer_size_bytes = o.buffer_size;
    live.immediate = o.immediate;
    live.drop_privileges_user = o.drop_user;
    capture = std::make_unique<flow::LiveCapture>(live);  // errors before any output
  }
  flow::FlowWriter writer(writer_options);
  flow::FlowMeter meter(config, writer);
  flow::CaptureSummary summary;
  if (capture == nullptr) {
    flow::read_capture_file(o.pcap, meter, summary);
  } else {
    flow::install_stop_signals();
    capture->run(meter, summary, [&writer] { writer.flush(); });
  }
  // The flows still open at the end are emitted and written now: count that in `elapsed`
  // (after a flood it is most of the work).
  const auto finish_start = std::chrono::steady_clock::now();
  meter.finish();
  writer.close();
  summary.elapsed_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - finish_start).count();
  if (!o.quiet) std::fprintf(stderr, "%s\n", flow::format_summary(meter.stats(), meter.table(), summary).c_str());
  require(summary.read_error.empty(), "reading stopped early: {} (the flows read so far were written)",
          summary.read_error);
}

void register_flows(CLI::App& parent) {
  auto options = std::make_shared<FlowsOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "flows", "Turn packets (a pcap/pcapng file or a live interface) into CICFlowMeter-compatible flows");
  cmd->add_option("--pcap", options->pcap, "Capture file to read (pcap or pcapng)");
  cmd->add_option("--interface", options->interface, "Network interface to capture from (live)");
  cmd->add_option("--out", options->out, "Output file (default: stdout); written atomically");
  cmd->add_option("--format", options->format, "Output format: csv (CIC column order) or jsonl")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  cmd->add_option("--flow-timeout", options->flow_timeout_s, "Flow timeout in seconds (from the first packet)")
      ->capture_default_str();
  cmd->add_option("--activity-timeout", options->activity_timeout_s, "Activity timeout for active/idle, seconds")
      ->capture_default_str();
  cmd->add_option("--max-flows", options->max_flows, "Most flows held at once; least recently seen evicted first")
      ->capture_default_str();
  cmd->add_option("--bpf", options->bpf, "BPF capture filter (live)");
  cmd->add_option("--snaplen", options->snaplen, "Bytes captured per packet (live)")->capture_default_str();
  cmd->add_option("--buffer-size", options->buffer_size, "Kernel capture buffer in bytes (live; 0: default)");
  cmd->add_flag("--immediate", options->immediate, "Deliver packets as they arrive (live)");
  cmd->add_option("--drop-privileges", options->drop_user, "User to switch to after opening the interface");
  cmd->add_flag("--extra-columns", options->extra_columns,
                "Append the later fork's 'Bwd Act Data Pkts' and 'Bwd Seg Size Min' columns");
  cmd->add_flag("--quiet", options->quiet, "Do not print the summary line");
  cmd->callback([options] { run_flows(*options); });
}

METAIDS_COMMAND("flows", register_flows);

}  // namespace
}  // namespace metaids::cli
