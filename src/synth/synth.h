// metaids::synth — a seeded generator of labelled network traffic.
//
// It writes valid classic-pcap captures (Ethernet/IPv4/TCP|UDP, correct checksums, real TCP
// handshakes and teardowns, realistic timings) together with a ground-truth CSV that lists,
// for every bidirectional flow, exactly what a CICFlowMeter-style flow meter must report:
// flow timeout 120 s measured from the flow's first packet, the first packet's sender is the
// forward direction, FIN/RST ends a flow. Every session has a 5-tuple of its own, so the
// ground truth is unambiguous.
//
//   metaids::synth::SynthConfig config;          // seed 1, 1000 sessions over 60 s, all families
//   config.sessions = 50'000;
//   metaids::synth::Generator generator(config); // streaming: memory ~ open sessions only
//   metaids::synth::Packet packet;
//   while (generator.next(packet)) consume(packet.timestamp_us, packet.frame());
//   auto truth = generator.take_finished_flows();
//
//   metaids::synth::write_pcap(config, "trace.pcap", "trace.truth.csv");
//
// The same configuration (seed included) always gives byte-identical output.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace metaids::synth {

// Traffic families. Benign: Web, Dns, Ssh. Attacks: the rest.
enum class Family : std::uint8_t {
  Web,           // HTTP/1.1 over TCP 80, keep-alive, several requests per connection
  Dns,           // UDP 53 queries and answers to an internal resolver
  Ssh,           // interactive SSH sessions to internal servers (TCP 22)
  PortScan,      // SYN scan: SYN to many ports, SYN-ACK (then RST) or RST-ACK replies
  SynFlood,      // spoofed random sources, SYN to a web server; every SYN a new flow
  BruteForce,    // repeated short login sessions to FTP (21) or SSH (22)
  SlowHttp,      // slowloris: long HTTP sessions with trickled header lines
  Beacon,        // periodic C2 beaconing (short TLS-like sessions at a jittered interval)
  Exfiltration,  // large outbound transfer from an internal host to an external one
};
inline constexpr std::size_t kFamilyCount = 9;

// Short lower-case name used on the command line and in the CSV `family` column ("web",
// "dns", "ssh", "portscan", "synflood", "bruteforce", "slowhttp", "beacon", "exfil").
std::string_view family_name(Family family);
// CIC-IDS2017-style label: "BENIGN" for benign families, else the attack name ("PortScan",
// "DoS SYN Flood", "Brute Force", "DoS slowloris", "Bot", "Infiltration"). Flows carry a
// finer label where one exists (brute force: "FTP-Patator" or "SSH-Patator").
std::string_view family_label(Family family);
std::optional<Family> parse_family(std::string_view name);
bool is_attack(Family family);

// An IPv4 prefix, address in host byte order ("10.1.0.0/16").
struct Ipv4Range {
  std::uint32_t base = 0;
  int prefix_length = 32;
  std::uint64_t size() const { return std::uint64_t{1} << (32 - prefix_length); }
};
// Parses "a.b.c.d/len"; throws metaids::Error on bad input.
Ipv4Range parse_ipv4_range(std::string_view text);
std::string format_ipv4(std::uint32_t address);  // host byte order -> "a.b.c.d"

struct SynthConfig {
  std::uint64_t seed = 1;
  // Number of sessions (TCP connections, DNS exchanges, scan probes, flood SYNs...) started
  // over the trace. Ignored when target_packets is non-zero.
  std::uint64_t sessions = 1000;
  // If non-zero: enough sessions are started and the trace is cut after exactly this many
  // packets (the ground truth then describes the cut trace).
  std::uint64_t target_packets = 0;
  // Sessions start uniformly (Poisson) within [0, duration); their last packets may come later.
  double duration_s = 60.0;
  // Timestamp of the trace start, microseconds since the Unix epoch (2023-11-14 22:13:20 UTC).
  std::uint64_t start_time_us = 1'700'000'000'000'000ULL;
  // Relative share of sessions per family (indexed by Family); 0 disables a family.
  std::array<double, kFamilyCount> family_weights = default_family_weights();
  // Address plan (all distinct): benign internal clients, internal servers (web, DNS, SSH,
  // FTP; scan/flood/brute-force/slowloris victims), external hosts (web sites, C2, exfil
  // drop), attackers. Spoofed flood sources are random public addresses outside all four.
  Ipv4Range clients = parse_ipv4_range("10.1.0.0/16");
  Ipv4Range servers = parse_ipv4_range("10.0.0.0/24");
  Ipv4Range external = parse_ipv4_range("198.18.0.0/15");
  Ipv4Range attackers = parse_ipv4_range("203.0.113.0/24");
  // Share of SYN-flood SYNs the victim answers (SYN-ACK plus two retransmissions). Negative:
  // drawn per flood campaign from 5-40 %. 0: every flood packet is a flow of its own.
  double syn_flood_reply_fraction = -1;
  // Non-zero: every frame carries an 802.1Q tag with this VLAN id (1..4094).
  std::uint16_t vlan_id = 0;
  // Flow timeout of the flow meter whose output the ground truth describes.
  std::uint64_t flow_timeout_us = 120'000'000;
  // Keep GroundTruthFlow records (take_finished_flows). Off for pure packet benchmarks.
  bool collect_ground_truth = true;

  static std::array<double, kFamilyCount> default_family_weights();
  // Sets all weights to 0 except the listed families (which keep their default weights).
  void select_families(std::span<const Family> families);
};

// Throws metaids::Error naming the first bad field.
void validate(const SynthConfig& config);

struct Packet {
  static constexpr std::size_t kMaxFrameBytes = 1518;  // Ethernet + 802.1Q tag + 1500-byte MTU
  std::uint64_t timestamp_us = 0;  // microseconds since the Unix epoch
  std::uint32_t length = 0;        // bytes used in data (full frame, no FCS)
  Family family = Family::Web;
  std::array<std::uint8_t, kMaxFrameBytes> data{};
  std::span<const std::uint8_t> frame() const { return {data.data(), length}; }
};

struct FiveTuple {
  std::uint32_t src_ip = 0;  // host byte order; src = sender of the flow's first packet
  std::uint32_t dst_ip = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint8_t protocol = 0;  // 6 TCP, 17 UDP
  friend bool operator==(const FiveTuple&, const FiveTuple&) = default;
};

enum class FlowEnd : std::uint8_t {
  Fin,      // FIN in both directions followed by the final ACK
  Rst,      // an RST ended it (no packets of the flow follow)
  Timeout,  // no FIN/RST: ends at the flow timeout (or end of capture); also a long session
            // cut at flow_timeout_us, whose later packets form the next flow on that 5-tuple
};
std::string_view flow_end_name(FlowEnd end);  // "fin", "rst", "timeout"

// One bidirectional flow as a CICFlowMeter-style meter must report it.
struct GroundTruthFlow {
  FiveTuple tuple;
  Family family = Family::Web;
  std::string label;                    // e.g. "BENIGN", "PortScan", "SSH-Patator"
  std::uint64_t first_timestamp_us = 0;
  std::uint64_t last_timestamp_us = 0;
  std::uint64_t fwd_packets = 0, bwd_packets = 0;
  std::uint64_t fwd_payload_bytes = 0, bwd_payload_bytes = 0;  // L4 payload (CIC "Total Length")
  std::uint64_t fwd_ip_bytes = 0, bwd_ip_bytes = 0;            // sum of IPv4 total lengths
  std::uint64_t fwd_header_bytes = 0, bwd_header_bytes = 0;    // TCP/UDP header bytes
  std::uint32_t syn_packets = 0, fin_packets = 0, rst_packets = 0, psh_packets = 0,
                ack_packets = 0;                               // packets with that flag set
  FlowEnd end = FlowEnd::Timeout;
};

// Streaming generator: packets come out in timestamp order (ties in a fixed order); memory
// grows with the number of sessions open at once, not with the trace length.
class Generator {
 public:
  explicit Generator(const SynthConfig& config);  // validates; throws metaids::Error
  ~Generator();
  Generator(Generator&&) noexcept;
  Generator& operator=(Generator&&) noexcept;
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Fills `packet` with the next frame; false when the trace is over.
  bool next(Packet& packet);
  // Flows completed since the last call, in completion order. After next() returned false
  // this includes every remaining flow. Empty when collect_ground_truth is off.
  std::vector<GroundTruthFlow> take_finished_flows();
  // Same, without allocating in steady state: `into` is cleared and receives the flows (its
  // buffer is then reused by the generator on the next call). Returns the number of flows.
  std::size_t drain_finished_flows(std::vector<GroundTruthFlow>& into);
  std::uint64_t packets_emitted() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct SynthSummary {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;  // frame bytes
  std::uint64_t flows = 0;
  std::uint64_t first_timestamp_us = 0, last_timestamp_us = 0;
  std::array<std::uint64_t, kFamilyCount> packets_per_family{};
  std::array<std::uint64_t, kFamilyCount> flows_per_family{};
};

// Writes a classic pcap (microsecond timestamps, LINKTYPE_ETHERNET, snaplen 65535) and, if
// truth_csv_path is not empty, the ground-truth CSV sorted by (first timestamp, 5-tuple).
// Both files appear atomically (temporary file + rename). Throws metaids::Error.
SynthSummary write_pcap(const SynthConfig& config, const std::filesystem::path& pcap_path,
                        const std::filesystem::path& truth_csv_path = {});

// Ground-truth CSV. Header:
// src_ip,src_port,dst_ip,dst_port,protocol,label,family,first_timestamp_us,last_timestamp_us,
// fwd_packets,bwd_packets,fwd_payload_bytes,bwd_payload_bytes,fwd_ip_bytes,bwd_ip_bytes,
// fwd_header_bytes,bwd_header_bytes,syn_packets,fin_packets,rst_packets,psh_packets,
// ack_packets,end
std::string_view ground_truth_csv_header();
std::string format_ground_truth_row(const GroundTruthFlow& flow);  // no trailing newline
// Reads a ground-truth CSV written by write_pcap; throws metaids::Error on malformed rows.
std::vector<GroundTruthFlow> read_ground_truth_csv(const std::filesystem::path& path);
// Sorts by (first_timestamp_us, src_ip, src_port, dst_ip, dst_port, protocol).
void sort_ground_truth(std::vector<GroundTruthFlow>& flows);

}  // namespace metaids::synth
