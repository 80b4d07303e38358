// The CIC feature vector of a finished flow, with the column names and order of the improved
// CIC-IDS2017 release (../shared/data/cicids2017-improved-sample/data_header_reference.csv,
// without id, Label and Attempted Category). Definitions: docs/flow-features.md.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "flow/flow_state.h"

namespace metaids::flow {

// The identifier columns (Flow ID, Src IP, Src Port, Dst IP, Dst Port, Protocol, Timestamp)
// come first; then the numeric features, in this order.
enum class Feature : uint8_t {
  flow_duration, total_fwd_packets, total_bwd_packets, total_length_fwd, total_length_bwd,
  fwd_length_max, fwd_length_min, fwd_length_mean, fwd_length_std,
  bwd_length_max, bwd_length_min, bwd_length_mean, bwd_length_std,
  flow_bytes_per_s, flow_packets_per_s,
  flow_iat_mean, flow_iat_std, flow_iat_max, flow_iat_min,
  fwd_iat_total, fwd_iat_mean, fwd_iat_std, fwd_iat_max, fwd_iat_min,
  bwd_iat_total, bwd_iat_mean, bwd_iat_std, bwd_iat_max, bwd_iat_min,
  fwd_psh_flags, bwd_psh_flags, fwd_urg_flags, bwd_urg_flags, fwd_rst_flags, bwd_rst_flags,
  fwd_header_length, bwd_header_length, fwd_packets_per_s, bwd_packets_per_s,
  length_min, length_max, length_mean, length_std, length_variance,
  fin_count, syn_count, rst_count, psh_count, ack_count, urg_count, cwr_count, ece_count,
  down_up_ratio, average_packet_size, fwd_segment_size_avg, bwd_segment_size_avg,
  fwd_bytes_per_bulk, fwd_packets_per_bulk, fwd_bulk_rate,
  bwd_bytes_per_bulk, bwd_packets_per_bulk, bwd_bulk_rate,
  subflow_fwd_packets, subflow_fwd_bytes, subflow_bwd_packets, subflow_bwd_bytes,
  fwd_init_window, bwd_init_window, fwd_act_data_packets, fwd_seg_size_min,
  active_mean, active_std, active_max, active_min,
  idle_mean, idle_std, idle_max, idle_min,
  icmp_code, icmp_type, total_tcp_flow_time,
  // Extra columns of the later fork (emitted with FlowWriter's `extra_columns`).
  bwd_act_data_packets, bwd_seg_size_min,
  count
};

inline constexpr size_t kFeatureCount = static_cast<size_t>(Feature::count);
inline constexpr size_t kStandardFeatureCount = static_cast<size_t>(Feature::bwd_act_data_packets);
inline constexpr size_t kIdentifierColumnCount = 7;

// Column name of a numeric feature, exactly as in the reference header.
std::string_view feature_name(Feature feature);
// Whether the feature is printed as an integer.
bool feature_is_integer(Feature feature);
// The identifier column names, in order.
const std::array<std::string_view, kIdentifierColumnCount>& identifier_columns();

using FeatureVector = std::array<double, kFeatureCount>;
FeatureVector compute_features(const FlowState& flow);

// The identifiers of a flow, as printed.
struct FlowIdentity {
  std::string src_ip;
  std::string dst_ip;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t protocol = 0;
  std::string flow_id;    // "src-dst-srcport-dstport-protocol" (CICFlowMeter's naming)
  std::string timestamp;  // first packet, UTC, "YYYY-MM-DD HH:MM:SS.ffffff"
};
FlowIdentity identify(const FlowState& flow);
std::string format_ip(const std::array<uint8_t, 16>& address, uint8_t ip_version);
std::string format_timestamp_us(int64_t timestamp_us);

}  // namespace metaids::flow
