#include "flow/capture.h"

#include <fmt/format.h>
#include <grp.h>
#include <pcap/pcap.h>
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace metaids::flow {
namespace {

volatile std::sig_atomic_t g_stop = 0;
std::atomic<pcap_t*> g_live_handle{nullptr};

void on_stop_signal(int /*signal*/) {
  g_stop = 1;
  if (pcap_t* handle = g_live_handle.load()) pcap_breakloop(handle);
}

struct PcapCloser {
  void operator()(pcap_t* handle) const { pcap_close(handle); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

int64_t timestamp_us(const pcap_pkthdr& header) {
  return static_cast<int64_t>(header.ts.tv_sec) * 1'000'000 + static_cast<int64_t>(header.ts.tv_usec);
}

int64_t wall_clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void drop_privileges(const std::string& user) {
  errno = 0;
  const passwd* entry = ::getpwnam(user.c_str());
  require(entry != nullptr, "--drop-privileges: no user named '{}'", user);
  require(::setgroups(0, nullptr) == 0 || errno == EPERM, "--drop-privileges: setgroups failed: {}",
          std::strerror(errno));
  require(::setgid(entry->pw_gid) == 0, "--drop-privileges: setgid({}) failed: {}", entry->pw_gid,
          std::strerror(errno));
  require(::setuid(entry->pw_uid) == 0, "--drop-privileges: setuid({}) failed: {}", entry->pw_uid,
          std::strerror(errno));
  require(::setuid(0) != 0, "--drop-privileges: root privileges could be regained; refusing to continue");
}

}  // namespace

uint64_t MeterStats::skipped_total() const {
  uint64_t total = 0;
  for (const uint64_t n : skipped) total += n;
  return total;
}

std::string format_summary(const MeterStats& stats, const FlowTable& table, const CaptureSummary& summary) {
  std::string reasons;
  for (size_t i = 1; i < stats.skipped.size(); ++i) {
    if (stats.skipped[i] == 0) continue;
    if (!reasons.empty()) reasons += ' ';
    fmt::format_to(std::back_inserter(reasons), "{}={}", skip_reason_name(static_cast<SkipReason>(i)),
                   stats.skipped[i]);
  }
  const double rate = summary.elapsed_s > 0 ? static_cast<double>(stats.frames) / summary.elapsed_s : 0.0;
  std::string line = fmt::format(
      "summary: frames={} packets={} flows={} skipped={}{}{}{} first_fragments={} evicted={} elapsed={:.3f}s "
      "packets/s={:.0f}",
      stats.frames, stats.packets, table.flows_emitted(), stats.skipped_total(), reasons.empty() ? "" : " (",
      reasons, reasons.empty() ? "" : ")", stats.first_fragments, table.evicted(), summary.elapsed_s, rate);
  if (summary.live) {
    fmt::format_to(std::back_inserter(line), " kernel_received={} kernel_dropped={} interface_dropped={}",
                   summary.kernel_received, summary.kernel_dropped, summary.interface_dropped);
  }
  if (!summary.read_error.empty()) line += " read_error=\"" + summary.read_error + "\"";
  return line;
}

void read_capture_file(const std::string& path, FlowMeter& meter, CaptureSummary& summary) {
  char error[PCAP_ERRBUF_SIZE] = {};
  PcapHandle handle(pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, error));
  require(handle != nullptr, "cannot read capture {}: {}", path, error);
  const int link_type = pcap_datalink(handle.get());
  const auto started = std::chrono::steady_clock::now();
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  for (;;) {
    const int result = pcap_next_ex(handle.get(), &header, &data);
    if (result == 1) {
      meter.process(link_type, timestamp_us(*header), data, header->caplen, header->len);
      continue;
    }
    if (result == PCAP_ERROR_BREAK) break;  // end of file
    const std::string message = pcap_geterr(handle.get());
    if (message.find("truncated") != std::string::npos) {
      meter.count_skip(SkipReason::truncated_record);
    } else {
      summary.read_error = message;
    }
    break;
  }
  summary.elapsed_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

void install_stop_signals() {
  g_stop = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking read returns
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void request_stop() { on_stop_signal(0); }
bool stop_requested() { return g_stop != 0; }

LiveCapture::LiveCapture(const LiveOptions& options) : options_(options) {
  char error[PCAP_ERRBUF_SIZE] = {};
  PcapHandle handle(pcap_create(options.interface.c_str(), error));
  require(handle != nullptr, "cannot open interface {}: {}", options.interface, error);
  require(options.snaplen > 0, "--snaplen must be positive, got {}", options.snaplen);
  pcap_set_snaplen(handle.get(), options.snaplen);
  pcap_set_promisc(handle.get(), 1);
  pcap_set_timeout(handle.get(), options.read_timeout_ms);
  if (options.buffer_size_bytes > 0) pcap_set_buffer_size(handle.get(), options.buffer_size_bytes);
  if (options.immediate) pcap_set_immediate_mode(handle.get(), 1);
  const int activated = pcap_activate(handle.get());
  require(activated >= 0, "cannot capture on {}: {}", options.interface,
          activated == PCAP_ERROR ? std::string(pcap_geterr(handle.get())) : std::string(pcap_statustostr(activated)));
  if (!options.bpf_filter.empty()) {
    bpf_program program{};
    require(pcap_compile(handle.get(), &program, options.bpf_filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0,
            "bad --bpf filter '{}': {}", options.bpf_filter, pcap_geterr(handle.get()));
    const int set = pcap_setfilter(handle.get(), &program);
    pcap_freecode(&program);
    require(set == 0, "cannot set --bpf filter: {}", pcap_geterr(handle.get()));
  }
  if (!options.drop_privileges_user.empty()) drop_privileges(options.drop_privileges_user);
  handle_ = handle.release();
}

LiveCapture::~LiveCapture() {
  if (handle_ != nullptr) pcap_close(handle_);
}

void LiveCapture::run(FlowMeter& meter, CaptureSummary& summary, const std::function<void()>& tick) {
  const LiveOptions& options = options_;
  PcapHandle handle(handle_);
  handle_ = nullptr;
  const int link_type = pcap_datalink(handle.get());
  summary.live = true;
  g_live_handle.store(handle.get());
  const auto started = std::chrono::steady_clock::now();
  auto last_tick = started;
  struct Context {
    FlowMeter* meter;
    int link_type;
  } context{&meter, link_type};
  while (!stop_requested()) {
    const int result = pcap_dispatch(
        handle.get(), 4096,
        [](u_char* user, const pcap_pkthdr* header, const u_char* data) {
          auto* ctx = reinterpret_cast<Context*>(user);
          ctx->meter->process(ctx->link_type, timestamp_us(*header), data, header->caplen, header->len);
        },
        reinterpret_cast<u_char*>(&context));
    if (result == PCAP_ERROR) {
      summary.read_error = pcap_geterr(handle.get());
      break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_tick >= std::chrono::milliseconds(options.read_timeout_ms)) {
      meter.table().expire_idle(wall_clock_us());
      if (tick) tick();
      last_tick = now;
    }
  }
  g_live_handle.store(nullptr);
  pcap_stat stats{};
  if (pcap_stats(handle.get(), &stats) == 0) {
    summary.kernel_received = stats.ps_recv;
    summary.kernel_dropped = stats.ps_drop;
    summary.interface_dropped = stats.ps_ifdrop;
  }
  summary.elapsed_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace metaids::flow
