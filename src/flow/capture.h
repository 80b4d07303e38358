// Packets in: capture files (pcap and pcapng, both through libpcap's pcap_open_offline) and
// live interfaces. FlowMeter joins the decoder and the flow table and counts every frame
// that did not become part of a flow, by reason.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "flow/decoder.h"
#include "flow/flow_table.h"

struct pcap;  // libpcap's pcap_t

namespace metaids::flow {

struct MeterStats {
  uint64_t frames = 0;           // frames read
  uint64_t wire_bytes = 0;       // their original lengths
  uint64_t packets = 0;          // frames that became part of a flow
  uint64_t first_fragments = 0;  // of those, first fragments of a fragmented IP packet
  uint64_t out_of_order = 0;     // of those, older than their flow's last packet (FlowTable::add)
  std::array<uint64_t, static_cast<size_t>(SkipReason::count)> skipped{};

  uint64_t skipped_total() const;
};

class FlowMeter {
 public:
  FlowMeter(const FlowTableConfig& config, FlowSink& sink) : table_(config, sink) {}

  // Decodes one frame and adds it to its flow, or counts why it was skipped.
  void process(int link_type, int64_t timestamp_us, const uint8_t* data, uint32_t caplen, uint32_t wire_length) {
    ++stats_.frames;
    stats_.wire_bytes += wire_length;
    PacketInfo packet;
    const SkipReason reason = decode_packet(link_type, data, caplen, packet);
    if (reason != SkipReason::none) {
      ++stats_.skipped[static_cast<size_t>(reason)];
      return;
    }
    packet.timestamp_us = timestamp_us;
    packet.wire_bytes = wire_length;
    ++stats_.packets;
    stats_.first_fragments += packet.first_fragment ? 1 : 0;
    stats_.out_of_order += table_.add(packet) ? 1 : 0;
  }
  void count_skip(SkipReason reason) { ++stats_.skipped[static_cast<size_t>(reason)]; }
  // Emits every open flow.
  void finish() { table_.flush(); }

  FlowTable& table() { return table_; }
  const MeterStats& stats() const { return stats_; }

 private:
  FlowTable table_;
  MeterStats stats_;
};

struct CaptureSummary {
  double elapsed_s = 0.0;
  bool live = false;
  int stopped_by_signal = 0;     // SIGINT/SIGTERM that ended reading early (0: none)
  uint64_t kernel_received = 0;  // pcap_stats, live capture only
  uint64_t kernel_dropped = 0;
  uint64_t interface_dropped = 0;
  std::string read_error;  // a read error that ended a file early (not a truncated last record)
};

// "summary: frames=... packets=... flows=... skipped=... (reason=n ...) first_fragments=...
// out_of_order=... evicted=... elapsed=...s packets/s=..." (+ kernel counters when live)
std::string format_summary(const MeterStats& stats, const FlowTable& table, const CaptureSummary& summary);

// Reads a capture file into the meter (without calling finish). "-" is standard input; a
// gzip-compressed capture (by its magic bytes, e.g. `.pcap.gz`) is decompressed as it is read.
// `bpf` (tcpdump's filter language) keeps only the packets it matches, as tcpdump -r does.
// Stops early, keeping what was read, when SIGINT/SIGTERM arrives (install_stop_signals).
// Throws metaids::Error when the file cannot be opened or the filter does not compile; a
// partial last record is counted as truncated_record.
void read_capture_file(const std::string& path, FlowMeter& meter, CaptureSummary& summary,
                       const std::string& bpf = {});
// Opens and closes a capture (and compiles the filter) to fail early, before any output.
void check_capture_file(const std::string& path, const std::string& bpf = {});

// LiveOptions::drop_privileges_user when no drop was asked for ("" is refused as a user name).
inline constexpr const char* kKeepPrivileges = "\x01keep";

struct LiveOptions {
  std::string interface;
  std::string bpf_filter;
  int snaplen = 262144;
  int buffer_size_bytes = 64 << 20;  // the kernel ring: 64 MiB (docs/performance.md, "kernel drops at 1 Mpps")
  bool immediate = false;
  bool promiscuous = true;
  std::string drop_privileges_user = kKeepPrivileges;  // after the device is opened
  int read_timeout_ms = 100;
};

// A live capture: the constructor opens and configures the interface (and drops root
// privileges if asked), so that errors come before any output; run() captures.
class LiveCapture {
 public:
  explicit LiveCapture(const LiveOptions& options);  // throws metaids::Error
  ~LiveCapture();
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;

  // Captures until SIGINT/SIGTERM (see install_stop_signals) or request_stop(); calls `tick`
  // about every read timeout, with traffic or without (the caller flushes output there), after
  // emitting the flows idle past their timeout, so a finished flow leaves within a tick even
  // on a quiet link. Fills the kernel statistics.
  void run(FlowMeter& meter, CaptureSummary& summary, const std::function<void()>& tick);

 private:
  LiveOptions options_;
  ::pcap* handle_ = nullptr;
};

// SIGINT and SIGTERM stop reading (a capture file or a live interface) cleanly: the caller
// then flushes the open flows, writes them and prints its summary. SIGHUP asks the caller to
// reopen its outputs (log rotation), as Suricata does.
void install_stop_signals();
void request_stop();
bool stop_requested();
int stop_signal();            // the signal that asked to stop (0: request_stop() or none)
bool take_reopen_request();   // true once per SIGHUP received
// The exit status a command stopped by `signal` returns: 128 + signal, as shells report it.
int exit_status_for_signal(int signal);

}  // namespace metaids::flow
