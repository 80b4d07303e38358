#include "flow/features.h"

#include <arpa/inet.h>
#include <fmt/compile.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>

namespace metaids::flow {
namespace {

struct ColumnInfo {
  std::string_view name;
  bool integer;
};

constexpr std::array<ColumnInfo, kFeatureCount> kColumns{{
    {"Flow Duration", true},
    {"Total Fwd Packet", true},
    {"Total Bwd packets", true},
    {"Total Length of Fwd Packet", true},
    {"Total Length of Bwd Packet", true},
    {"Fwd Packet Length Max", true},
    {"Fwd Packet Length Min", true},
    {"Fwd Packet Length Mean", false},
    {"Fwd Packet Length Std", false},
    {"Bwd Packet Length Max", true},
    {"Bwd Packet Length Min", true},
    {"Bwd Packet Length Mean", false},
    {"Bwd Packet Length Std", false},
    {"Flow Bytes/s", false},
    {"Flow Packets/s", false},
    {"Flow IAT Mean", false},
    {"Flow IAT Std", false},
    {"Flow IAT Max", true},
    {"Flow IAT Min", true},
    {"Fwd IAT Total", true},
    {"Fwd IAT Mean", false},
    {"Fwd IAT Std", false},
    {"Fwd IAT Max", true},
    {"Fwd IAT Min", true},
    {"Bwd IAT Total", true},
    {"Bwd IAT Mean", false},
    {"Bwd IAT Std", false},
    {"Bwd IAT Max", true},
    {"Bwd IAT Min", true},
    {"Fwd PSH Flags", true},
    {"Bwd PSH Flags", true},
    {"Fwd URG Flags", true},
    {"Bwd URG Flags", true},
    {"Fwd RST Flags", true},
    {"Bwd RST Flags", true},
    {"Fwd Header Length", true},
    {"Bwd Header Length", true},
    {"Fwd Packets/s", false},
    {"Bwd Packets/s", false},
    {"Packet Length Min", true},
    {"Packet Length Max", true},
    {"Packet Length Mean", false},
    {"Packet Length Std", false},
    {"Packet Length Variance", false},
    {"FIN Flag Count", true},
    {"SYN Flag Count", true},
    {"RST Flag Count", true},
    {"PSH Flag Count", true},
    {"ACK Flag Count", true},
    {"URG Flag Count", true},
    {"CWR Flag Count", true},
    {"ECE Flag Count", true},
    {"Down/Up Ratio", false},
    {"Average Packet Size", false},
    {"Fwd Segment Size Avg", false},
    {"Bwd Segment Size Avg", false},
    {"Fwd Bytes/Bulk Avg", false},
    {"Fwd Packet/Bulk Avg", false},
    {"Fwd Bulk Rate Avg", false},
    {"Bwd Bytes/Bulk Avg", false},
    {"Bwd Packet/Bulk Avg", false},
    {"Bwd Bulk Rate Avg", false},
    {"Subflow Fwd Packets", false},
    {"Subflow Fwd Bytes", false},
    {"Subflow Bwd Packets", false},
    {"Subflow Bwd Bytes", false},
    {"FWD Init Win Bytes", true},
    {"Bwd Init Win Bytes", true},
    {"Fwd Act Data Pkts", true},
    {"Fwd Seg Size Min", true},
    {"Active Mean", false},
    {"Active Std", false},
    {"Active Max", true},
    {"Active Min", true},
    {"Idle Mean", false},
    {"Idle Std", false},
    {"Idle Max", true},
    {"Idle Min", true},
    {"ICMP Code", true},
    {"ICMP Type", true},
    {"Total TCP Flow Time", true},
    {"Bwd Act Data Pkts", true},
    {"Bwd Seg Size Min", true},
}};

constexpr std::array<std::string_view, kIdentifierColumnCount> kIdentifiers{
    "Flow ID", "Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp"};

double ratio(double numerator, double denominator) { return denominator == 0.0 ? 0.0 : numerator / denominator; }

// Writes max, min, mean, std of a direction's payload lengths (0 when it has no packets).
void length_features(const LengthStats& stats, double* out) {
  if (stats.count == 0) {
    out[0] = out[1] = out[2] = out[3] = 0.0;
    return;
  }
  out[0] = stats.max;
  out[1] = stats.min;
  out[2] = static_cast<double>(stats.sum) / stats.count;
  out[3] = std::sqrt(sample_variance(stats));
}

// Writes total, mean, std, max, min of an inter-arrival-time population of `n` values.
void iat_features(const RunningStats& stats, uint64_t n, double* out, bool with_total) {
  double* o = out;
  if (with_total) *o++ = n == 0 ? 0.0 : stats.mean * static_cast<double>(n);
  if (n == 0) {
    o[0] = o[1] = o[2] = o[3] = 0.0;
    return;
  }
  o[0] = stats.mean;
  o[1] = stats.sample_std(n);
  o[2] = static_cast<double>(stats.max);
  o[3] = static_cast<double>(stats.min);
}

double bulk_bytes(const BulkState& b) { return b.state_count == 0 ? 0.0 : static_cast<double>(b.size_total) / b.state_count; }
double bulk_packets(const BulkState& b) { return b.state_count == 0 ? 0.0 : static_cast<double>(b.packet_count) / b.state_count; }
double bulk_rate(const BulkState& b) {
  return b.duration == 0 ? 0.0 : static_cast<double>(b.size_total) / (static_cast<double>(b.duration) / 1e6);
}

}  // namespace

std::string_view feature_name(Feature feature) { return kColumns[static_cast<size_t>(feature)].name; }
bool feature_is_integer(Feature feature) { return kColumns[static_cast<size_t>(feature)].integer; }
const std::array<std::string_view, kIdentifierColumnCount>& identifier_columns() { return kIdentifiers; }

FeatureVector compute_features(const FlowState& flow) {
  FeatureVector v{};
  auto at = [&v](Feature f) -> double& { return v[static_cast<size_t>(f)]; };
  const double fwd_packets = flow.fwd_length.count;
  const double bwd_packets = flow.bwd_length.count;
  const double packets = fwd_packets + bwd_packets;
  const double fwd_bytes = static_cast<double>(flow.fwd_length.sum);
  const double bwd_bytes = static_cast<double>(flow.bwd_length.sum);
  const int64_t duration = flow.last_us - flow.start_us;
  const double seconds = static_cast<double>(duration) / 1e6;

  at(Feature::flow_duration) = static_cast<double>(duration);
  at(Feature::total_fwd_packets) = fwd_packets;
  at(Feature::total_bwd_packets) = bwd_packets;
  at(Feature::total_length_fwd) = fwd_bytes;
  at(Feature::total_length_bwd) = bwd_bytes;
  length_features(flow.fwd_length, &at(Feature::fwd_length_max));
  length_features(flow.bwd_length, &at(Feature::bwd_length_max));
  // CICFlowMeter (corrected) writes -1 for the rates of a zero-duration flow.
  at(Feature::flow_bytes_per_s) = duration == 0 ? -1.0 : (fwd_bytes + bwd_bytes) / seconds;
  at(Feature::flow_packets_per_s) = duration == 0 ? -1.0 : packets / seconds;
  iat_features(flow.flow_iat, flow.packets() - 1, &at(Feature::flow_iat_mean), false);
  iat_features(flow.fwd_iat, flow.fwd_length.count > 1 ? flow.fwd_length.count - 1 : 0,
               &at(Feature::fwd_iat_total), true);
  iat_features(flow.bwd_iat, flow.bwd_length.count > 1 ? flow.bwd_length.count - 1 : 0,
               &at(Feature::bwd_iat_total), true);
  at(Feature::fwd_psh_flags) = flow.fwd_psh;
  at(Feature::bwd_psh_flags) = flow.bwd_psh;
  at(Feature::fwd_urg_flags) = flow.fwd_urg;
  at(Feature::bwd_urg_flags) = flow.bwd_urg;
  at(Feature::fwd_rst_flags) = flow.fwd_rst;
  at(Feature::bwd_rst_flags) = flow.bwd_rst;
  at(Feature::fwd_header_length) = static_cast<double>(flow.fwd_header_bytes);
  at(Feature::bwd_header_length) = static_cast<double>(flow.bwd_header_bytes);
  at(Feature::fwd_packets_per_s) = duration == 0 ? 0.0 : fwd_packets / seconds;
  at(Feature::bwd_packets_per_s) = duration == 0 ? 0.0 : bwd_packets / seconds;
  if (packets > 0) {
    const uint16_t min_fwd = flow.fwd_length.count ? flow.fwd_length.min : uint16_t{0xffff};
    const uint16_t min_bwd = flow.bwd_length.count ? flow.bwd_length.min : uint16_t{0xffff};
    at(Feature::length_min) = std::min(min_fwd, min_bwd);
    at(Feature::length_max) = std::max(flow.fwd_length.max, flow.bwd_length.max);
    at(Feature::length_mean) = (fwd_bytes + bwd_bytes) / packets;
    at(Feature::length_variance) = sample_variance(flow.fwd_length, flow.bwd_length);
    at(Feature::length_std) = std::sqrt(at(Feature::length_variance));
  }
  at(Feature::fin_count) = flow.fin_count;
  at(Feature::syn_count) = flow.syn_count;
  at(Feature::rst_count) = flow.fwd_rst + flow.bwd_rst;
  at(Feature::psh_count) = flow.fwd_psh + flow.bwd_psh;
  at(Feature::ack_count) = flow.ack_count;
  at(Feature::urg_count) = flow.fwd_urg + flow.bwd_urg;
  at(Feature::cwr_count) = flow.cwr_count;
  at(Feature::ece_count) = flow.ece_count;
  at(Feature::down_up_ratio) = ratio(bwd_packets, fwd_packets);
  at(Feature::average_packet_size) = ratio(fwd_bytes + bwd_bytes, packets);
  at(Feature::fwd_segment_size_avg) = ratio(fwd_bytes, fwd_packets);
  at(Feature::bwd_segment_size_avg) = ratio(bwd_bytes, bwd_packets);
  at(Feature::fwd_bytes_per_bulk) = bulk_bytes(flow.fwd_bulk);
  at(Feature::fwd_packets_per_bulk) = bulk_packets(flow.fwd_bulk);
  at(Feature::fwd_bulk_rate) = bulk_rate(flow.fwd_bulk);
  at(Feature::bwd_bytes_per_bulk) = bulk_bytes(flow.bwd_bulk);
  at(Feature::bwd_packets_per_bulk) = bulk_packets(flow.bwd_bulk);
  at(Feature::bwd_bulk_rate) = bulk_rate(flow.bwd_bulk);
  const double subflows = flow.subflow_count;
  at(Feature::subflow_fwd_packets) = ratio(fwd_packets, subflows);
  at(Feature::subflow_fwd_bytes) = ratio(fwd_bytes, subflows);
  at(Feature::subflow_bwd_packets) = ratio(bwd_packets, subflows);
  at(Feature::subflow_bwd_bytes) = ratio(bwd_bytes, subflows);
  at(Feature::fwd_init_window) = flow.fwd_init_window;
  at(Feature::bwd_init_window) = flow.bwd_init_window;
  at(Feature::fwd_act_data_packets) = flow.fwd_act_data;
  at(Feature::fwd_seg_size_min) = flow.fwd_seg_size_min;
  iat_features(flow.active, flow.active_count, &at(Feature::active_mean), false);
  iat_features(flow.idle, flow.idle_count, &at(Feature::idle_mean), false);
  const bool icmp = flow.key.protocol == kProtoIcmp || flow.key.protocol == kProtoIcmpV6;
  at(Feature::icmp_code) = icmp ? flow.icmp_code : -1.0;
  at(Feature::icmp_type) = icmp ? flow.icmp_type : -1.0;
  const bool ported = flow.key.protocol == kProtoTcp || flow.key.protocol == kProtoUdp;
  at(Feature::total_tcp_flow_time) = ported ? static_cast<double>(flow.last_us - flow.connection_start_us) : 0.0;
  at(Feature::bwd_act_data_packets) = flow.bwd_act_data;
  at(Feature::bwd_seg_size_min) = flow.bwd_seg_size_min;
  return v;
}

std::string format_ip(const std::array<uint8_t, 16>& address, uint8_t ip_version) {
  if (ip_version == 6) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, address.data(), text, sizeof(text));
    return text;
  }
  // Dotted quad by hand: glibc's inet_ntop formats IPv4 through sprintf, which was a tenth of
  // writing a flood's million rows.
  char text[16];
  char* out = text;
  for (int i = 0; i < 4; ++i) {
    const unsigned v = address[static_cast<size_t>(i)];
    if (v >= 100) *out++ = static_cast<char>('0' + v / 100);
    if (v >= 10) *out++ = static_cast<char>('0' + v / 10 % 10);
    *out++ = static_cast<char>('0' + v % 10);
    if (i < 3) *out++ = '.';
  }
  return {text, static_cast<size_t>(out - text)};
}

std::string format_timestamp_us(int64_t timestamp_us) {
  int64_t seconds = timestamp_us / 1'000'000;
  int64_t micros = timestamp_us % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    seconds -= 1;
  }
  // Flows written together mostly start in the same second: keep its date and time.
  thread_local int64_t cached_seconds = std::numeric_limits<int64_t>::min();
  thread_local std::string cached_prefix;
  if (seconds != cached_seconds) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    cached_prefix = fmt::format(FMT_COMPILE("{:04}-{:02}-{:02} {:02}:{:02}:{:02}."), tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_seconds = seconds;
  }
  std::string text = cached_prefix;
  fmt::format_to(std::back_inserter(text), FMT_COMPILE("{:06}"), micros);
  return text;
}

FlowIdentity identify(const FlowState& flow) {
  FlowIdentity id;
  const FlowKey& k = flow.key;
  const std::string a = format_ip(k.a_ip, k.ip_version);
  const std::string b = format_ip(k.b_ip, k.ip_version);
  id.protocol = k.protocol;
  if (flow.src_is_a) {
    id.src_ip = a;
    id.dst_ip = b;
    id.src_port = k.a_port;
    id.dst_port = k.b_port;
  } else {
    id.src_ip = b;
    id.dst_ip = a;
    id.src_port = k.b_port;
    id.dst_port = k.a_port;
  }
  if (flow.id_src_is_a) {
    id.flow_id = fmt::format(FMT_COMPILE("{}-{}-{}-{}-{}"), a, b, k.a_port, k.b_port, k.protocol);
  } else {
    id.flow_id = fmt::format(FMT_COMPILE("{}-{}-{}-{}-{}"), b, a, k.b_port, k.a_port, k.protocol);
  }
  id.timestamp = format_timestamp_us(flow.start_us);
  return id;
}

}  // namespace metaids::flow
