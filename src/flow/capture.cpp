#include "flow/capture.h"

#include <fmt/format.h>
#include <grp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace metaids::flow {
namespace {

volatile std::sig_atomic_t g_stop = 0;         // the signal number (or -1: request_stop)
volatile std::sig_atomic_t g_reopen = 0;
std::atomic<pcap_t*> g_live_handle{nullptr};

void on_stop_signal(int signal) {
  g_stop = signal > 0 ? signal : -1;
  if (pcap_t* handle = g_live_handle.load()) pcap_breakloop(handle);
}

void on_reopen_signal(int /*signal*/) { g_reopen = 1; }

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
  require(!user.empty(), "--drop-privileges needs a user name");
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
  // Nothing run from here on (there is nothing, but a future exec) may gain privileges again.
  require(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "--drop-privileges: cannot set no_new_privs: {}",
          std::strerror(errno));
}

// A gzip stream (or any file, read transparently by zlib) as the FILE* libpcap reads from.
ssize_t gz_read(void* cookie, char* buffer, size_t size) {
  const int n = gzread(static_cast<gzFile>(cookie), buffer, static_cast<unsigned>(std::min<size_t>(size, 1u << 30)));
  if (n < 0) {
    errno = EIO;
    return -1;
  }
  return n;
}
int gz_close(void* cookie) { return gzclose(static_cast<gzFile>(cookie)) == Z_OK ? 0 : -1; }

bool starts_with_gzip_magic(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  unsigned char magic[2] = {};
  const bool gzip = std::fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  std::fclose(f);
  return gzip;
}

// Opens a capture: "-" is standard input (gzip or not), a gzip file is decompressed through
// zlib, anything else goes straight to libpcap.
pcap_t* open_capture(const std::string& path, char* error) {
  const bool is_stdin = path == "-";
  if (!is_stdin && !starts_with_gzip_magic(path))
    return pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, error);
  gzFile gz = is_stdin ? gzdopen(::dup(0), "rb") : gzopen(path.c_str(), "rb");
  if (gz == nullptr) {
    std::snprintf(error, PCAP_ERRBUF_SIZE, "%s", std::strerror(errno));
    return nullptr;
  }
  gzbuffer(gz, 1 << 17);
  cookie_io_functions_t io{};
  io.read = gz_read;
  io.close = gz_close;
  std::FILE* file = fopencookie(gz, "rb", io);
  if (file == nullptr) {
    gzclose(gz);
    std::snprintf(error, PCAP_ERRBUF_SIZE, "%s", std::strerror(errno));
    return nullptr;
  }
  pcap_t* handle = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, error);
  if (handle == nullptr) std::fclose(file);
  return handle;
}

void set_filter(pcap_t* handle, const std::string& bpf, const std::string& what) {
  if (bpf.empty()) return;
  bpf_program program{};
  require(pcap_compile(handle, &program, bpf.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0, "bad BPF filter '{}' for {}: {}",
          bpf, what, pcap_geterr(handle));
  const int set = pcap_setfilter(handle, &program);
  pcap_freecode(&program);
  require(set == 0, "cannot set the BPF filter for {}: {}", what, pcap_geterr(handle));
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
      "summary: frames={} packets={} flows={} skipped={}{}{}{} first_fragments={} out_of_order={} evicted={} "
      "elapsed={:.3f}s packets/s={:.0f}",
      stats.frames, stats.packets, table.flows_emitted(), stats.skipped_total(), reasons.empty() ? "" : " (",
      reasons, reasons.empty() ? "" : ")", stats.first_fragments, stats.out_of_order, table.evicted(),
      summary.elapsed_s, rate);
  if (summary.live) {
    fmt::format_to(std::back_inserter(line), " kernel_received={} kernel_dropped={} interface_dropped={}",
                   summary.kernel_received, summary.kernel_dropped, summary.interface_dropped);
  }
  if (!summary.read_error.empty()) line += " read_error=\"" + summary.read_error + "\"";
  return line;
}

void check_capture_file(const std::string& path, const std::string& bpf) {
  if (path != "-") {
    std::FILE* probe = std::fopen(path.c_str(), "rb");
    require(probe != nullptr, "cannot read capture {}: {}", path, std::strerror(errno));
    std::fclose(probe);
    char error[PCAP_ERRBUF_SIZE] = {};
    PcapHandle handle(open_capture(path, error));
    require(handle != nullptr, "cannot read capture {}: {}", path, error);
    set_filter(handle.get(), bpf, path);
  } else if (!bpf.empty()) {
    // Standard input cannot be read twice: check the filter on a dead handle.
    PcapHandle dead(pcap_open_dead(DLT_EN10MB, 65535));
    set_filter(dead.get(), bpf, "standard input");
  }
}

void read_capture_file(const std::string& path, FlowMeter& meter, CaptureSummary& summary, const std::string& bpf) {
  char error[PCAP_ERRBUF_SIZE] = {};
  PcapHandle handle(open_capture(path, error));
  require(handle != nullptr, "cannot read capture {}: {}", path == "-" ? std::string("standard input") : path, error);
  set_filter(handle.get(), bpf, path);
  const int link_type = pcap_datalink(handle.get());
  const auto started = std::chrono::steady_clock::now();
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  for (;;) {
    if (g_stop != 0) {
      summary.stopped_by_signal = g_stop > 0 ? static_cast<int>(g_stop) : 0;
      break;
    }
    const int result = pcap_next_ex(handle.get(), &header, &data);
    if (result == 1) {
      meter.process(link_type, timestamp_us(*header), data, header->caplen, header->len);
      continue;
    }
    if (result == 0) continue;              // filtered out (savefiles never time out)
    if (result == PCAP_ERROR_BREAK) break;  // end of file
    if (g_stop != 0) {  // a read interrupted by the stop signal (a pipe): stopped, not an error
      summary.stopped_by_signal = g_stop > 0 ? static_cast<int>(g_stop) : 0;
      break;
    }
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
  g_reopen = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking read returns
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // SIGHUP reopens outputs, unless it was ignored (nohup): then it stays ignored.
  struct sigaction current {};
  if (sigaction(SIGHUP, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_IGN)
    return;
  struct sigaction reopen {};
  reopen.sa_handler = on_reopen_signal;
  sigemptyset(&reopen.sa_mask);
  reopen.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &reopen, nullptr);
}

void request_stop() { on_stop_signal(0); }
bool stop_requested() { return g_stop != 0; }
int stop_signal() { return g_stop > 0 ? static_cast<int>(g_stop) : 0; }
bool take_reopen_request() {
  if (g_reopen == 0) return false;
  g_reopen = 0;
  return true;
}
int exit_status_for_signal(int signal) { return signal > 0 ? 128 + signal : 0; }

LiveCapture::LiveCapture(const LiveOptions& options) : options_(options) {
  char error[PCAP_ERRBUF_SIZE] = {};
  PcapHandle handle(pcap_create(options.interface.c_str(), error));
  require(handle != nullptr, "cannot open interface {}: {}", options.interface, error);
  require(options.snaplen > 0, "--snaplen must be positive, got {}", options.snaplen);
  pcap_set_snaplen(handle.get(), options.snaplen);
  pcap_set_promisc(handle.get(), options.promiscuous ? 1 : 0);
  pcap_set_timeout(handle.get(), options.read_timeout_ms);
  if (options.buffer_size_bytes > 0) pcap_set_buffer_size(handle.get(), options.buffer_size_bytes);
  if (options.immediate) pcap_set_immediate_mode(handle.get(), 1);
  const int activated = pcap_activate(handle.get());
  require(activated >= 0, "cannot capture on {}: {}", options.interface,
          activated == PCAP_ERROR ? std::string(pcap_geterr(handle.get())) : std::string(pcap_statustostr(activated)));
  set_filter(handle.get(), options.bpf_filter, options.interface);
  require(pcap_setnonblock(handle.get(), 1, error) == 0, "cannot capture on {} without blocking: {}", options.interface,
          error);
  require(pcap_get_selectable_fd(handle.get()) >= 0, "cannot wait for packets on {} (no selectable descriptor)",
          options.interface);
  if (options.drop_privileges_user != kKeepPrivileges) drop_privileges(options.drop_privileges_user);
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
  // Non-blocking reads behind poll(): on Linux a blocking pcap_dispatch does not return while
  // no packet arrives (its read timeout only retires a ring block that holds packets), so
  // flows idle past their timeout would wait for the next packet. poll wakes at least every
  // read timeout, traffic or not.
  const int fd = pcap_get_selectable_fd(handle.get());
  while (!stop_requested()) {
    pollfd waiting{fd, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, options.read_timeout_ms);
    if (ready < 0 && errno != EINTR) {
      summary.read_error = fmt::format("poll: {}", std::strerror(errno));
      break;
    }
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
  summary.stopped_by_signal = stop_signal();
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
