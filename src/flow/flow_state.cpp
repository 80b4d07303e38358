#include "flow/flow_state.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace metaids::flow {
namespace {

constexpr int64_t kBulkGapUs = 1'000'000;     // a gap above 1 s ends a bulk
constexpr int64_t kSubflowGapUs = 1'000'000;  // a gap above 1 s starts a new subflow

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

uint64_t mix(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

}  // namespace

FlowKey make_flow_key(const PacketInfo& packet, bool& packet_is_a) {
  FlowKey key;
  key.protocol = packet.protocol;
  key.ip_version = packet.ip_version;
  const int order = std::memcmp(packet.src_ip.data(), packet.dst_ip.data(), 16);
  packet_is_a = order < 0 || (order == 0 && packet.src_port <= packet.dst_port);
  if (packet_is_a) {
    key.a_ip = packet.src_ip;
    key.b_ip = packet.dst_ip;
    key.a_port = packet.src_port;
    key.b_port = packet.dst_port;
  } else {
    key.a_ip = packet.dst_ip;
    key.b_ip = packet.src_ip;
    key.a_port = packet.dst_port;
    key.b_port = packet.src_port;
  }
  return key;
}

uint64_t hash_flow_key(const FlowKey& key) {
  uint64_t h = (uint64_t{key.a_port} << 32) | (uint64_t{key.b_port} << 16) |
               (uint64_t{key.protocol} << 8) | key.ip_version;
  h = mix(h ^ load64(key.a_ip.data()));
  h = mix(h ^ load64(key.b_ip.data()));
  if (key.ip_version == 6) {
    h = mix(h ^ load64(key.a_ip.data() + 8));
    h = mix(h ^ load64(key.b_ip.data() + 8));
  }
  return h;
}

double RunningStats::sample_std(uint64_t n) const {
  if (n < 2) return 0.0;
  return std::sqrt(std::max(0.0, m2 / static_cast<double>(n - 1)));
}

namespace {
__extension__ typedef unsigned __int128 Uint128;
double variance_from_moments(Uint128 n, Uint128 sum, Uint128 sum_squares) {
  if (n < 2) return 0.0;
  // n*Σx² − (Σx)² is exact in 128 bits for any realistic flow.
  const Uint128 numerator = n * sum_squares - sum * sum;
  return static_cast<double>(static_cast<long double>(numerator) / static_cast<long double>(n * (n - 1)));
}
}  // namespace

double sample_variance(const LengthStats& a) { return variance_from_moments(a.count, a.sum, a.sum_squares); }

double sample_variance(const LengthStats& a, const LengthStats& b) {
  return variance_from_moments(uint64_t{a.count} + b.count, uint64_t{a.sum} + b.sum,
                               static_cast<Uint128>(a.sum_squares) + b.sum_squares);
}

void FlowState::update_bulk(const PacketInfo& packet, bool forward) {
  BulkState& self = forward ? fwd_bulk : bwd_bulk;
  const BulkState& other = forward ? bwd_bulk : fwd_bulk;
  // A payload packet in the other direction since this candidate began breaks it.
  if (other.last_timestamp > self.start_helper) self.start_helper = 0;
  const uint32_t size = packet.payload_bytes;
  if (size == 0) return;
  const int64_t now = packet.timestamp_us;
  if (self.start_helper == 0 || now - self.last_timestamp > kBulkGapUs) {
    self.start_helper = now;
    self.last_timestamp = now;
    self.packet_count_helper = 1;
    self.size_helper = size;
    return;
  }
  self.packet_count_helper += 1;
  self.size_helper += size;
  if (self.packet_count_helper == 4) {  // the candidate becomes a bulk
    self.state_count += 1;
    self.packet_count += self.packet_count_helper;
    self.size_total += self.size_helper;
    self.duration += now - self.start_helper;
  } else if (self.packet_count_helper > 4) {  // the bulk continues
    self.packet_count += 1;
    self.size_total += size;
    self.duration += now - self.last_timestamp;
  }
  self.last_timestamp = now;
}

void FlowState::update_subflow(const PacketInfo& packet) {
  if (packet.timestamp_us - last_us > kSubflowGapUs) ++subflow_count;
}

void FlowState::count_flags(const PacketInfo& packet, bool forward) {
  const uint8_t f = packet.tcp_flags;
  fin_count += (f & tcp_flag::kFin) ? 1 : 0;
  syn_count += (f & tcp_flag::kSyn) ? 1 : 0;
  ack_count += (f & tcp_flag::kAck) ? 1 : 0;
  cwr_count += (f & tcp_flag::kCwr) ? 1 : 0;
  ece_count += (f & tcp_flag::kEce) ? 1 : 0;
  const uint32_t psh = (f & tcp_flag::kPsh) ? 1 : 0;
  const uint32_t urg = (f & tcp_flag::kUrg) ? 1 : 0;
  const uint32_t rst = (f & tcp_flag::kRst) ? 1 : 0;
  if (forward) {
    fwd_psh += psh;
    fwd_urg += urg;
    fwd_rst += rst;
  } else {
    bwd_psh += psh;
    bwd_urg += urg;
    bwd_rst += rst;
  }
}

void FlowState::update_tcp_state(const PacketInfo& packet, bool forward) {
  if (packet.protocol != kProtoTcp) return;
  if (packet.has_flag(tcp_flag::kRst)) {
    tcp_state = Tcp::ready_for_termination;
  } else if (packet.has_flag(tcp_flag::kFin)) {
    fin_directions |= forward ? 1 : 2;
  } else if (fin_directions == 3 && packet.has_flag(tcp_flag::kAck)) {
    tcp_state = Tcp::ready_for_termination;  // the ACK that completes the FIN handshake
  }
}

void FlowState::start(const PacketInfo& packet, bool forward) {
  const int64_t now = packet.timestamp_us;
  update_bulk(packet, forward);
  count_flags(packet, forward);
  start_us = now;
  last_us = now;
  active_start_us = now;
  icmp_type = packet.icmp_type;
  icmp_code = packet.icmp_code;
  const auto header = static_cast<uint8_t>(std::min<uint16_t>(packet.header_bytes, 255));
  if (forward) {
    fwd_seg_size_min = header;
    fwd_init_window = packet.tcp_window;
    fwd_length.add(packet.payload_bytes);
    fwd_header_bytes = packet.header_bytes;
    fwd_last_us = now;
    fwd_act_data += packet.payload_bytes >= 1 ? 1 : 0;
  } else {
    bwd_seg_size_min = header;
    bwd_init_window = packet.tcp_window;
    bwd_length.add(packet.payload_bytes);
    bwd_header_bytes = packet.header_bytes;
    bwd_last_us = now;
    bwd_act_data += packet.payload_bytes >= 1 ? 1 : 0;
  }
  update_tcp_state(packet, forward);
}

void FlowState::add_packet(const PacketInfo& packet, bool forward, int64_t activity_timeout_us) {
  const int64_t now = packet.timestamp_us;
  // Active/idle: a gap above the activity timeout closes the active period.
  if (now - last_us > activity_timeout_us) {
    if (last_us - active_start_us > 0) active.add(last_us - active_start_us, ++active_count);
    idle.add(now - last_us, ++idle_count);
    active_start_us = now;
  }
  update_bulk(packet, forward);
  update_subflow(packet);
  count_flags(packet, forward);
  const auto header = static_cast<uint8_t>(std::min<uint16_t>(packet.header_bytes, 255));
  if (forward) {
    fwd_act_data += packet.payload_bytes >= 1 ? 1 : 0;
    fwd_length.add(packet.payload_bytes);
    fwd_header_bytes += packet.header_bytes;
    if (fwd_length.count > 1) fwd_iat.add(now - fwd_last_us, fwd_length.count - 1);
    fwd_last_us = now;
    fwd_seg_size_min = std::min(fwd_seg_size_min, header);
  } else {
    bwd_act_data += packet.payload_bytes >= 1 ? 1 : 0;
    bwd_length.add(packet.payload_bytes);
    bwd_header_bytes += packet.header_bytes;
    if (bwd_length.count > 1) bwd_iat.add(now - bwd_last_us, bwd_length.count - 1);
    bwd_last_us = now;
    bwd_seg_size_min = std::min(bwd_seg_size_min, header);
    if (bwd_init_window == 0) bwd_init_window = packet.tcp_window;
  }
  flow_iat.add(now - last_us, packets() - 1);
  last_us = now;
  update_tcp_state(packet, forward);
}

}  // namespace metaids::flow
