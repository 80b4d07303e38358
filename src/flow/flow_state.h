// The state of one bidirectional flow: O(1) in the number of packets (streaming statistics,
// no per-packet lists), updated by FlowState::add_packet with CICFlowMeter's semantics (the
// corrected GintsEngelen fork; docs/flow-features.md gives every definition).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

#include "flow/packet.h"

namespace metaids::flow {

// Direction-free identity of a flow: endpoint `a` is the smaller (address, port) pair.
struct FlowKey {
  std::array<uint8_t, 16> a_ip{};
  std::array<uint8_t, 16> b_ip{};
  uint16_t a_port = 0;
  uint16_t b_port = 0;
  uint8_t protocol = 0;
  uint8_t ip_version = 0;

  bool operator==(const FlowKey&) const = default;
};

// Builds the key of a packet; `packet_is_a` tells whether the packet's source is endpoint a.
FlowKey make_flow_key(const PacketInfo& packet, bool& packet_is_a);
uint64_t hash_flow_key(const FlowKey& key);

// Streaming mean/variance (Welford) with min and max; the count is kept by the owner. Min
// and max are 32-bit: every time statistic of a flow is bounded by the flow timeout, which is
// at most kMaxFlowTimeoutUs (FlowTable::add never lets time run backwards within a flow, so no
// value is negative either; anything beyond saturates).
struct RunningStats {
  double mean = 0.0;
  double m2 = 0.0;  // sum of squared deviations from the mean
  int32_t min = std::numeric_limits<int32_t>::max();
  int32_t max = std::numeric_limits<int32_t>::min();

  // `n` is the count including this value.
  void add(int64_t value, uint64_t n) {
    const double x = static_cast<double>(value);
    const double delta = x - mean;
    mean += delta / static_cast<double>(n);
    m2 += delta * (x - mean);
    const auto clamped = static_cast<int32_t>(
        std::clamp<int64_t>(value, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    if (clamped < min) min = clamped;
    if (clamped > max) max = clamped;
  }
  double sample_std(uint64_t n) const;
};

// The largest flow timeout the 32-bit time statistics can hold (about 35 minutes).
inline constexpr int64_t kMaxFlowTimeoutUs = std::numeric_limits<int32_t>::max();

// Count, sum and sum of squares of packet payload lengths: exact integer moments.
struct LengthStats {
  uint64_t sum = 0;
  uint64_t sum_squares = 0;
  uint32_t count = 0;
  uint16_t min = std::numeric_limits<uint16_t>::max();
  uint16_t max = 0;

  void add(uint32_t length) {
    const uint16_t clamped = length > 0xffff ? uint16_t{0xffff} : static_cast<uint16_t>(length);
    sum += length;
    sum_squares += static_cast<uint64_t>(length) * length;
    ++count;
    if (clamped < min) min = clamped;
    if (clamped > max) max = clamped;
  }
};

// Sample variance of the union of two length populations (exact integer arithmetic).
double sample_variance(const LengthStats& a, const LengthStats& b);
double sample_variance(const LengthStats& a);

// CICFlowMeter's bulk detector for one direction: a bulk is 4 or more payload-carrying
// packets in this direction with no payload packet of the other direction in between and
// gaps of at most 1 s.
struct BulkState {
  int64_t start_helper = 0;  // 0: no candidate bulk
  int64_t last_timestamp = 0;
  uint32_t packet_count_helper = 0;
  uint32_t size_helper = 0;
  uint32_t state_count = 0;
  uint32_t packet_count = 0;
  uint64_t size_total = 0;
  int64_t duration = 0;
};

struct FlowState {
  enum class Tcp : uint8_t { open, ready_for_termination };
  FlowKey key;
  bool src_is_a = true;        // the forward direction starts at endpoint a
  bool id_src_is_a = true;     // the printed Flow ID starts at endpoint a (CICFlowMeter keeps
                               // the first flow's ID for flows split off it later)
  bool expired = false;        // emitted by a timeout; kept only to carry the connection start
  Tcp tcp_state = Tcp::open;
  uint8_t fin_directions = 0;  // bit 0: forward FIN seen, bit 1: backward FIN seen
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint8_t fwd_seg_size_min = 0;
  uint8_t bwd_seg_size_min = 0;
  uint16_t fwd_init_window = 0;
  uint16_t bwd_init_window = 0;

  int64_t start_us = 0;
  int64_t last_us = 0;
  int64_t fwd_last_us = 0;
  int64_t bwd_last_us = 0;
  int64_t active_start_us = 0;  // the current active period; it ends at last_us
  int64_t connection_start_us = 0;

  LengthStats fwd_length;
  LengthStats bwd_length;
  RunningStats flow_iat;  // count: packets - 1
  RunningStats fwd_iat;   // count: forward packets - 1
  RunningStats bwd_iat;
  RunningStats active;
  RunningStats idle;
  uint32_t active_count = 0;
  uint32_t idle_count = 0;

  uint64_t fwd_header_bytes = 0;
  uint64_t bwd_header_bytes = 0;
  uint32_t fin_count = 0, syn_count = 0, ack_count = 0, cwr_count = 0, ece_count = 0;
  uint32_t fwd_psh = 0, bwd_psh = 0, fwd_urg = 0, bwd_urg = 0, fwd_rst = 0, bwd_rst = 0;
  uint32_t fwd_act_data = 0, bwd_act_data = 0;
  uint32_t subflow_count = 0;

  BulkState fwd_bulk;
  BulkState bwd_bulk;

  uint64_t packets() const { return uint64_t{fwd_length.count} + bwd_length.count; }

  // Starts the flow with its first packet. `forward` tells whether the packet goes from the
  // flow's source to its destination (false for a SYN/ACK seen without its SYN).
  void start(const PacketInfo& packet, bool forward);
  // Adds a later packet of this flow; `activity_timeout_us` splits active and idle periods.
  void add_packet(const PacketInfo& packet, bool forward, int64_t activity_timeout_us);

 private:
  void update_bulk(const PacketInfo& packet, bool forward);
  void update_subflow(const PacketInfo& packet);
  void count_flags(const PacketInfo& packet, bool forward);
  void update_tcp_state(const PacketInfo& packet, bool forward);
};

}  // namespace metaids::flow
