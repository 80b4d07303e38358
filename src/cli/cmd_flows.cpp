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
  std::vector<std::string> pcaps;
  std::string out;
  std::string format = "csv";
  bool extra_columns = false;
  bool quiet = false;
  std::string pidfile;
  FlowTableOptions table;
  LiveCaptureOptions live;
};

void run_flows(const FlowsOptions& o) {
  require_usage(o.pcaps.empty() != o.live.interface.empty(), "give exactly one of --pcap FILE… or --interface IF");
  require_usage(o.format == "csv" || o.format == "jsonl", "--format must be csv or jsonl, got '{}'", o.format);
  if (o.live.interface.empty()) {
    require_usage(!o.live.immediate && !o.live.drop_given, "--immediate, --buffer-size and --drop-privileges need --interface");
  }
  const flow::FlowTableConfig config = o.table.config();
  const std::string bpf = o.live.filter();

  flow::WriterOptions writer_options;
  writer_options.format = o.format == "csv" ? flow::OutputFormat::csv : flow::OutputFormat::jsonl;
  writer_options.path = o.out;
  writer_options.extra_columns = o.extra_columns;
  // Fail on a missing or unreadable file, or a bad filter, before creating the output.
  for (const auto& p : o.pcaps) flow::check_capture_file(p, bpf);
  std::unique_ptr<flow::LiveCapture> capture;
  if (!o.live.interface.empty()) capture = std::make_unique<flow::LiveCapture>(o.live.live_options());
  flow::FlowWriter writer(writer_options);
  flow::FlowMeter meter(config, writer);
  flow::CaptureSummary summary;
  flow::install_stop_signals();
  PidFile pid(o.pidfile);
  auto tick = [&writer] {
    if (flow::take_reopen_request()) {
      writer.reopen();
    } else {
      writer.flush();
    }
  };
  if (capture == nullptr) {
    for (const auto& path : o.pcaps) {
      flow::read_capture_file(path, meter, summary, bpf);
      if (!summary.read_error.empty() || summary.stopped_by_signal != 0) break;
      tick();
    }
  } else {
    capture->run(meter, summary, tick);
  }
  // The flows still open at the end (or when a signal stopped the reading) are emitted and
  // written now: count that in `elapsed` (after a flood it is most of the work).
  const auto finish_start = std::chrono::steady_clock::now();
  meter.finish();
  writer.close();
  summary.elapsed_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - finish_start).count();
  if (!o.quiet) std::fprintf(stderr, "%s\n", flow::format_summary(meter.stats(), meter.table(), summary).c_str());
  require(summary.read_error.empty(), "reading stopped early: {} (the flows read so far were written)",
          summary.read_error);
  if (summary.stopped_by_signal != 0) exit_code() = flow::exit_status_for_signal(summary.stopped_by_signal);
}

void register_flows(CLI::App& parent) {
  auto options = std::make_shared<FlowsOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "flows", "Turn packets (pcap/pcapng files or a live interface) into CICFlowMeter-compatible flows");
  cmd->add_option("--pcap,-r", options->pcaps,
                  "Capture file(s) to read (pcap, pcapng, gzip-compressed; - for standard input), as one stream");
  cmd->add_option("--out,-w", options->out,
                  "Output file (default or -: stdout); a regular file is replaced atomically, a FIFO or device "
                  "written directly");
  cmd->add_option("--format", options->format, "Output format: csv (CIC column order) or jsonl")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  cmd->add_flag("--extra-columns", options->extra_columns,
                "Append the later fork's 'Bwd Act Data Pkts' and 'Bwd Seg Size Min' columns");
  cmd->add_option("--pidfile", options->pidfile, "Write the process id here (removed at exit)");
  cmd->add_flag("--quiet,-q", options->quiet, "Do not print the summary line");
  options->table.add_to(*cmd);
  options->live.add_to(*cmd);
  cmd->callback([options] { run_flows(*options); });
}

METAIDS_COMMAND("flows", register_flows);

}  // namespace
}  // namespace metaids::cli
