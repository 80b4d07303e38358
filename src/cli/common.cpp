// Helpers shared by several subcommands.
#include <unistd.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/atomic_file.h"

#include "cli/command.h"
#include "core/error.h"
#include "model/model.h"

namespace metaids::cli {

std::string resolve_data_dir(const std::string& option) {
  std::string data_dir = option;
  if (data_dir.empty()) {
    const char* env = std::getenv("METAIDS_DATA");
    require(env != nullptr, "--data is required (or set METAIDS_DATA)");
    data_dir = env;
  }
  require(std::filesystem::is_directory(data_dir), "data directory {} does not exist", data_dir);
  return data_dir;
}

namespace {
int64_t seconds_to_us(double seconds, const char* option) {
  require_usage(std::isfinite(seconds) && seconds > 0 && seconds <= 1e9, "{} must be a positive number of seconds, got {}",
          option, seconds);
  return static_cast<int64_t>(std::llround(seconds * 1e6));
}
}  // namespace

void add_max_class_flows_option(CLI::App& command, std::size_t& max_class_flows) {
  command.add_option("--max-class-flows", max_class_flows,
                     fmt::format("Labelled flows a class keeps, its most recent (default {}; older ones leave its "
                                 "support; 0: no limit)",
                                 model::kDefaultMaxClassFlows));
}

void FlowTableOptions::add_to(CLI::App& cmd) {
  cmd.add_option("--flow-timeout", flow_timeout_s, "Flow timeout in seconds (from the first packet)")
      ->capture_default_str();
  cmd.add_option("--activity-timeout", activity_timeout_s, "Activity timeout for active/idle, seconds")
      ->capture_default_str();
  cmd.add_option("--max-flows", max_flows, "Most flows held at once; least recently seen evicted first")
      ->capture_default_str();
}

flow::FlowTableConfig FlowTableOptions::config() const {
  flow::FlowTableConfig config;
  config.flow_timeout_us = seconds_to_us(flow_timeout_s, "--flow-timeout");
  require_usage(config.flow_timeout_us <= flow::kMaxFlowTimeoutUs, "--flow-timeout must be at most {} s, got {}",
          flow::kMaxFlowTimeoutUs / 1'000'000, flow_timeout_s);
  config.activity_timeout_us = seconds_to_us(activity_timeout_s, "--activity-timeout");
  require_usage(max_flows >= 1 && max_flows <= flow::FlowTable::kMaxFlows, "--max-flows must be between 1 and 2^30, got {}",
          max_flows);
  config.max_flows = max_flows;
  return config;
}

void LiveCaptureOptions::add_to(CLI::App& cmd, bool with_interface) {
  if (with_interface) cmd.add_option("--interface,-i", interface, "Network interface to capture from (live)");
  cmd.add_option("--bpf", bpf, "BPF filter (tcpdump syntax), for capture files and live capture");
  cmd.add_option("-F", bpf_file, "Read the BPF filter from this file (as tcpdump -F)");
  cmd.add_option("--snaplen,-s", snaplen, "Bytes captured per packet (live)")->capture_default_str();
  cmd.add_option("--buffer-size,-B", buffer_size, "Kernel capture buffer in bytes (live)")->capture_default_str();
  cmd.add_flag("--immediate", immediate,
               "Deliver each packet at once instead of in blocks (live). On an interface with offloads on, libpcap "
               "then gives every packet a slot of --snaplen bytes (at most 64 KiB) in the buffer: turn them off "
               "(ethtool -K IF gro off lro off tso off gso off) or lower --snaplen, else it drops (docs/performance.md)");
  cmd.add_flag("--no-promiscuous,-p", no_promiscuous, "Do not put the interface in promiscuous mode (live)");
  cmd.add_option("--drop-privileges,-Z", drop_user, "User to switch to after opening the interface")
      ->each([this](const std::string&) { drop_given = true; });
}

std::string LiveCaptureOptions::filter() const {
  require_usage(bpf.empty() || bpf_file.empty(), "give the BPF filter with --bpf or -F, not both");
  if (bpf_file.empty()) return bpf;
  std::string text = read_whole_file(bpf_file);
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return text;
}

flow::LiveOptions LiveCaptureOptions::live_options() const {
  require_usage(snaplen > 0 && snaplen <= 262144, "--snaplen must be in [1, 262144], got {}", snaplen);
  require_usage(buffer_size >= 0 && buffer_size <= (1 << 30), "--buffer-size must be in [0, 2^30], got {}", buffer_size);
  flow::LiveOptions live;
  live.interface = interface;
  live.bpf_filter = filter();
  live.snaplen = snaplen;
  live.buffer_size_bytes = buffer_size;
  live.immediate = immediate;
  live.promiscuous = !no_promiscuous;
  if (drop_given) {
    require_usage(!drop_user.empty(), "--drop-privileges needs a user name");
    live.drop_privileges_user = drop_user;
  }
  return live;
}

PidFile::PidFile(std::string path) : path_(std::move(path)) {
  if (!path_.empty()) write_file_atomically(path_, std::to_string(::getpid()) + "\n");
}

PidFile::~PidFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

}  // namespace metaids::cli
