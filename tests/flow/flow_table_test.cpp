// The flow table: direction, FIN/RST handling, flow and activity timeouts, idle expiry,
// eviction under a max-flows bound, and features on small hand-made flows.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "core/error.h"
#include "flow/features.h"
#include "flow/flow_table.h"

namespace metaids::flow::test {
namespace {

struct Recorded {
  FlowIdentity id;
  FeatureVector features;
  FlowEnd reason;
};

class RecordingSink : public FlowSink {
 public:
  void on_flow(const FlowState& flow, FlowEnd reason) override {
    flows.push_back({identify(flow), compute_features(flow), reason});
  }
  std::vector<Recorded> flows;
};

double at(const Recorded& r, Feature f) { return r.features[static_cast<size_t>(f)]; }

PacketInfo packet(int64_t t_us, uint8_t src_last, uint16_t sport, uint8_t dst_last, uint16_t dport,
                  uint8_t flags = tcp_flag::kAck, uint32_t payload = 0, uint8_t protocol = kProtoTcp) {
  PacketInfo p;
  p.timestamp_us = t_us;
  p.ip_version = 4;
  p.protocol = protocol;
  p.src_ip = {10, 0, 0, src_last};
  p.dst_ip = {10, 0, 0, dst_last};
  p.src_port = sport;
  p.dst_port = dport;
  p.tcp_flags = protocol == kProtoTcp ? flags : 0;
  p.header_bytes = protocol == kProtoTcp ? 20 : (protocol == kProtoUdp ? 8 : 0);
  p.payload_bytes = payload;
  p.tcp_window = 100;
  return p;
}

// Client 10.0.0.1:1000 -> server 10.0.0.2:80.
PacketInfo c2s(int64_t t, uint8_t flags = tcp_flag::kAck, uint32_t payload = 0) {
  return packet(t, 1, 1000, 2, 80, flags, payload);
}
PacketInfo s2c(int64_t t, uint8_t flags = tcp_flag::kAck, uint32_t payload = 0) {
  return packet(t, 2, 80, 1, 1000, flags, payload);
}

TEST(FlowTable, HandshakeDataTeardownIsOneFlow) {
  RecordingSink sink;
  FlowTable table({}, sink);
  table.add(c2s(0, tcp_flag::kSyn));
  table.add(s2c(100, tcp_flag::kSyn | tcp_flag::kAck));
  table.add(c2s(200));
  table.add(c2s(300, tcp_flag::kPsh | tcp_flag::kAck, 50));
  table.add(s2c(400, tcp_flag::kPsh | tcp_flag::kAck, 150));
  table.add(c2s(500, tcp_flag::kFin | tcp_flag::kAck));
  table.add(s2c(600, tcp_flag::kFin | tcp_flag::kAck));
  table.add(c2s(700));
  EXPECT_TRUE(sink.flows.empty());  // FIN only marks the flow; it ends on a new SYN or timeout
  table.flush();
  ASSERT_EQ(sink.flows.size(), 1u);
  const auto& f = sink.flows[0];
  EXPECT_EQ(f.id.src_ip, "10.0.0.1");
  EXPECT_EQ(f.id.flow_id, "10.0.0.1-10.0.0.2-1000-80-6");
  EXPECT_EQ(at(f, Feature::total_fwd_packets), 5);
  EXPECT_EQ(at(f, Feature::total_bwd_packets), 3);
  EXPECT_EQ(at(f, Feature::total_length_fwd), 50);
  EXPECT_EQ(at(f, Feature::total_length_bwd), 150);
  EXPECT_EQ(at(f, Feature::flow_duration), 700);
  EXPECT_EQ(at(f, Feature::fin_count), 2);
  EXPECT_EQ(at(f, Feature::syn_count), 2);
  EXPECT_EQ(at(f, Feature::psh_count), 2);
  EXPECT_EQ(at(f, Feature::fwd_psh_flags), 1);
  EXPECT_EQ(at(f, Feature::flow_iat_mean), 100);
  EXPECT_EQ(at(f, Feature::flow_iat_std), 0);
  EXPECT_DOUBLE_EQ(at(f, Feature::down_up_ratio), 3.0 / 5.0);
  EXPECT_EQ(at(f, Feature::fwd_header_length), 100);
  EXPECT_EQ(at(f, Feature::fwd_seg_size_min), 20);
  EXPECT_EQ(at(f, Feature::fwd_act_data_packets), 1);
  EXPECT_EQ(at(f, Feature::icmp_type), -1);
  EXPECT_EQ(at(f, Feature::total_tcp_flow_time), 700);
}

TEST(FlowTable, SynAfterTeardownOrResetStartsANewFlow) {
  RecordingSink sink;
  FlowTable table({}, sink);
  table.add(c2s(0, tcp_flag::kSyn));
  table.add(s2c(10, tcp_flag::kRst | tcp_flag::kAck));
  table.add(c2s(20));  // not a SYN: joins the reset flow
  EXPECT_TRUE(sink.flows.empty());
  table.add(c2s(30, tcp_flag::kSyn));  // a new connection on the same 5-tuple
  ASSERT_EQ(sink.flows.size(), 1u);
  EXPECT_EQ(sink.flows[0].reason, FlowEnd::tcp_termination);
  EXPECT_EQ(at(sink.flows[0], Feature::total_fwd_packets), 2);
  EXPECT_EQ(at(sink.flows[0], Feature::bwd_rst_flags), 1);
  table.flush();
  ASSERT_EQ(sink.flows.size(), 2u);
  EXPECT_EQ(at(sink.flows[1], Feature::total_fwd_packets), 1);
  EXPECT_EQ(sink.flows[1].id.timestamp, "1970-01-01 00:00:00.000030");
}

TEST(FlowTable, SynAckWithoutSynMakesTheClientTheSource) {
  RecordingSink sink;
  FlowTable table({}, sink);
  table.add(s2c(0, tcp_flag::kSyn | tcp_flag::kAck));
  table.flush();
  ASSERT_EQ(sink.flows.size(), 1u);
  EXPECT_EQ(sink.flows[0].id.src_ip, "10.0.0.1");
  EXPECT_EQ(at(sink.flows[0], Feature::total_fwd_packets), 0);
  EXPECT_EQ(at(sink.flows[0], Feature::total_bwd_packets), 1);
}

TEST(FlowTable, FlowTimeoutSplitsAndKeepsDirection) {
  RecordingSink sink;
  FlowTableConfig config;
  config.flow_timeout_us = 120'000'000;
  FlowTable table(config, sink);
  table.add(c2s(0));
  table.add(s2c(60'000'000));
  table.add(s2c(120'000'001));  // more than 120 s after the first packet
  ASSERT_EQ(sink.flows.size(), 1u);
  EXPECT_EQ(sink.flows[0].reason, FlowEnd::flow_timeout);
  EXPECT_EQ(at(sink.flows[0], Feature::flow_duration), 60'000'000);
  table.flush();
  ASSERT_EQ(sink.flows.size(), 2u);
  EXPECT_EQ(sink.flows[1].id.src_ip, "10.0.0.1");  // direction continues
  EXPECT_EQ(at(sink.flows[1], Feature::total_bwd_packets), 1);
  EXPECT_EQ(at(sink.flows[1], Feature::total_tcp_flow_time), 120'000'001);
}

TEST(FlowTable, ActivityTimeoutFeedsActiveAndIdle) {
  RecordingSink sink;
  FlowTable table({}, sink);
  table.add(c2s(0));
  table.add(s2c(1'000'000));
  table.add(c2s(8'000'000));   // 7 s gap > 5 s: active 1 s, idle 7 s
  table.add(s2c(9'000'000));
  table.add(c2s(20'000'000));  // 11 s gap: active 1 s, idle 11 s
  table.flush();
  ASSERT_EQ(sink.flows.size(), 1u);
  const auto& f = sink.flows[0];
  EXPECT_EQ(at(f, Feature::active_mean), 1'000'000);
  EXPECT_EQ(at(f, Feature::active_min), 1'000'000);
  EXPECT_EQ(at(f, Feature::idle_mean), 9'000'000);
  EXPECT_EQ(at(f, Feature::idle_max), 11'000'000);
  EXPECT_EQ(at(f, Feature::idle_min), 7'000'000);
  EXPECT_NEAR(at(f, Feature::idle_std), 2828427.1247461904, 1e-3);
  // Gaps above 1 s also count subflows: 2 here.
  EXPECT_EQ(at(f, Feature::subflow_fwd_packets), 1.5);
}

TEST(FlowTable, IdleFlowsAreEmittedBeforeTheirNextPacket) {
  RecordingSink sink;
  FlowTable table({}, sink);
  table.add(packet(0, 1, 53, 2, 53, 0, 40, kProtoUdp));
  table.add(packet(121'000'000, 3, 99, 4, 99, 0, 40, kProtoUdp));  // another flow, 121 s later
  ASSERT_EQ(sink.flows.size(), 1u);
  EXPECT_EQ(sink.flows[0].reason, FlowEnd::idle_timeout);
  EXPECT_EQ(table.open_flows(), 1u);
}

TEST(FlowTable, IcmpSplitsOnlyWhenTypeAndCodeBothChange) {
  RecordingSink sink;
  FlowTable table({}, sink);
  PacketInfo request = packet(0, 1, 0, 2, 0, 0, 0, kProtoIcmp);
  request.icmp_type = 8;
  PacketInfo reply = packet(10, 2, 0, 1, 0, 0, 0, kProtoIcmp);
  reply.icmp_type = 0;  // code 0 equals the request's: same flow
  table.add(request);
  table.add(reply);
  EXPECT_TRUE(sink.flows.empty());
  PacketInfo unreachable = packet(20, 2, 0, 1, 0, 0, 0, kProtoIcmp);
  unreachable.icmp_type = 3;
  unreachable.icmp_code = 3;
  table.add(unreachable);
  ASSERT_EQ(sink.flows.size(), 1u);
  EXPECT_EQ(sink.flows[0].reason, FlowEnd::icmp_change);
  EXPECT_EQ(at(sink.flows[0], Feature::icmp_type), 8);
  table.flush();
  EXPECT_EQ(at(sink.flows[1], Feature::icmp_type), 3);
  EXPECT_EQ(sink.flows[1].id.src_ip, "10.0.0.2");
}

TEST(FlowTable, EvictsTheLeastRecentlySeenFlowWhenFull) {
  RecordingSink sink;
  FlowTableConfig config;
  config.max_flows = 3;
  FlowTable table(config, sink);
  table.add(packet(0, 1, 1, 9, 80));
  table.add(packet(1, 2, 2, 9, 80));
  table.add(packet(2, 3, 3, 9, 80));
  table.add(packet(3, 1, 1, 9, 80));  // flow 1 is recent again; flow 2 is now the idlest
  table.add(packet(4, 4, 4, 9, 80));
  ASSERT_EQ(sink.flows.size(), 1u);
  EXPECT_EQ(sink.flows[0].reason, FlowEnd::evicted);
  EXPECT_EQ(sink.flows[0].id.src_ip, "10.0.0.2");
  EXPECT_EQ(table.evicted(), 1u);
  EXPECT_EQ(table.open_flows(), 3u);
}

TEST(FlowTable, SynFloodNeverGrowsPastTheBound) {
  RecordingSink sink;
  FlowTableConfig config;
  config.max_flows = 1000;
  FlowTable table(config, sink);
  size_t peak_memory = 0;
  for (uint32_t i = 0; i < 200'000; ++i) {
    PacketInfo p = packet(i, 0, static_cast<uint16_t>(i), 9, 80, tcp_flag::kSyn);
    p.src_ip = {static_cast<uint8_t>(i >> 24), static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                static_cast<uint8_t>(i)};
    table.add(p);
    ASSERT_LE(table.open_flows(), 1000u);
    if (i % 1000 == 0) peak_memory = std::max(peak_memory, table.memory_bytes());
    if (sink.flows.size() > 10000) sink.flows.clear();
  }
  EXPECT_EQ(table.evicted(), 199'000u);
  EXPECT_LT(peak_memory, size_t{8} << 20);
}

// A single SYN held as a single-packet slot, emitted by idle expiry (another flow's packet
// moves time on), is remembered as a TCP connection, and the reply later continues it: same
// Flow ID, the client still the source.
TEST(FlowTable, IdleSinglePacketTcpFlowIsRememberedAndContinued) {
  RecordingSink sink;
  FlowTable table({}, sink);
  table.add(c2s(0, tcp_flag::kSyn));
  table.add(packet(200'000'000, 7, 7, 9, 53, 0, 10, kProtoUdp));  // moves time on: the SYN's flow expires
  ASSERT_EQ(sink.flows.size(), 1u);
  const Recorded syn = sink.flows[0];
  EXPECT_EQ(syn.reason, FlowEnd::idle_timeout);
  EXPECT_EQ(at(syn, Feature::total_fwd_packets), 1);
  EXPECT_EQ(at(syn, Feature::syn_count), 1);
  EXPECT_EQ(at(syn, Feature::fwd_init_window), 100);
  table.add(s2c(201'000'000, tcp_flag::kSyn | tcp_flag::kAck));
  table.flush();
  ASSERT_EQ(sink.flows.size(), 3u);  // the SYN's flow, the UDP flow, the continued connection
  const Recorded& reply = sink.flows[2];
  EXPECT_EQ(reply.id.flow_id, syn.id.flow_id);
  EXPECT_EQ(reply.id.src_ip, "10.0.0.1");
  EXPECT_EQ(at(reply, Feature::total_bwd_packets), 1);
}

// A flow's second packet turns its single-packet slot into a full one: the features are those
// of both packets, and other single-packet flows around it are untouched.
TEST(FlowTable, SecondPacketPromotesWithoutLosingTheFirst) {
  RecordingSink sink;
  FlowTable table({}, sink);
  table.add(packet(0, 5, 5, 9, 80, tcp_flag::kSyn));
  table.add(c2s(10, tcp_flag::kSyn));
  table.add(packet(20, 6, 6, 9, 80, tcp_flag::kSyn));
  table.add(s2c(1010, tcp_flag::kSyn | tcp_flag::kAck));
  table.flush();
  ASSERT_EQ(sink.flows.size(), 3u);
  // flush emits the least recently seen first: 10.0.0.5, 10.0.0.6, then the two-packet flow.
  EXPECT_EQ(sink.flows[0].id.src_ip, "10.0.0.5");
  EXPECT_EQ(sink.flows[1].id.src_ip, "10.0.0.6");
  EXPECT_EQ(at(sink.flows[1], Feature::total_fwd_packets), 1);
  const auto& both = sink.flows[2];
  EXPECT_EQ(both.id.src_ip, "10.0.0.1");
  EXPECT_EQ(both.id.dst_ip, "10.0.0.2");
  EXPECT_EQ(at(both, Feature::total_fwd_packets), 1);
  EXPECT_EQ(at(both, Feature::total_bwd_packets), 1);
  EXPECT_EQ(at(both, Feature::flow_duration), 1000);
}

TEST(FlowTable, FloodFlowsCostUnder128Bytes) {
  RecordingSink sink;
  FlowTable table({}, sink);
  for (uint32_t i = 0; i < 100'000; ++i) {
    PacketInfo p = packet(i, 0, static_cast<uint16_t>(i), 9, 80, tcp_flag::kSyn);
    p.src_ip = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    table.add(p);
  }
  ASSERT_EQ(table.open_flows(), 100'000u);
  EXPECT_LT(static_cast<double>(table.memory_bytes()) / 100'000.0, 128.0);
}

// Eviction with both kinds of slot in the table: the least recently seen goes first, whether it
// has one packet or many, and every flow comes out exactly once with its packets.
TEST(FlowTable, EvictionMixesSingleAndFullSlots) {
  RecordingSink sink;
  FlowTableConfig config;
  config.max_flows = 3;
  FlowTable table(config, sink);
  table.add(packet(0, 1, 1, 9, 80));
  table.add(packet(1, 1, 1, 9, 80));  // flow 1: two packets (full slot)
  table.add(packet(2, 2, 2, 9, 80));  // flow 2: one packet
  table.add(packet(3, 3, 3, 9, 80));  // flow 3: one packet
  table.add(packet(4, 4, 4, 9, 80));  // evicts flow 1 (full)
  table.add(packet(5, 5, 5, 9, 80));  // evicts flow 2 (single)
  ASSERT_EQ(sink.flows.size(), 2u);
  EXPECT_EQ(sink.flows[0].id.src_ip, "10.0.0.1");
  EXPECT_EQ(at(sink.flows[0], Feature::total_fwd_packets), 2);
  EXPECT_EQ(sink.flows[1].id.src_ip, "10.0.0.2");
  EXPECT_EQ(at(sink.flows[1], Feature::total_fwd_packets), 1);
  EXPECT_EQ(table.open_flows(), 3u);
}

// After flush() the slots are reused: a second capture through the same table gives the same
// flows as the first.
TEST(FlowTable, ReusedAfterFlushGivesTheSameFlows) {
  RecordingSink sink;
  FlowTable table({}, sink);
  auto feed = [&] {
    table.add(c2s(0, tcp_flag::kSyn));
    table.add(s2c(100, tcp_flag::kSyn | tcp_flag::kAck));
    table.add(c2s(200));
    for (uint8_t i = 0; i < 50; ++i) table.add(packet(300 + i, i, i, 9, 80, tcp_flag::kSyn));
    table.add(c2s(400, tcp_flag::kFin | tcp_flag::kAck));
    table.flush();
  };
  feed();
  const std::vector<Recorded> first = sink.flows;
  sink.flows.clear();
  feed();
  ASSERT_EQ(sink.flows.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(sink.flows[i].id.flow_id, first[i].id.flow_id);
    EXPECT_EQ(sink.flows[i].features, first[i].features);
  }
  EXPECT_EQ(table.open_flows(), 0u);
}

// Timestamps that go backwards (captures merged from several taps, reordering NICs): a packet
// older than its flow's last packet is taken as arriving at that last time, so no duration or
// inter-arrival time is negative, and add() says so for each such packet.
TEST(FlowTable, PacketOlderThanItsFlowArrivesAtTheFlowsLastTime) {
  RecordingSink sink;
  FlowTable table({}, sink);
  EXPECT_FALSE(table.add(c2s(0)));
  EXPECT_FALSE(table.add(s2c(1'000'000)));
  EXPECT_TRUE(table.add(c2s(400'000)));  // 0.6 s older than the flow's last packet: taken as 1 s
  EXPECT_FALSE(table.add(s2c(2'000'000)));
  EXPECT_TRUE(table.add(c2s(1'500'000)));  // taken as 2 s
  table.flush();
  ASSERT_EQ(sink.flows.size(), 1u);
  const auto& f = sink.flows[0];
  EXPECT_EQ(at(f, Feature::flow_duration), 2'000'000);
  EXPECT_EQ(at(f, Feature::flow_iat_min), 0);
  EXPECT_EQ(at(f, Feature::flow_iat_max), 1'000'000);
  EXPECT_EQ(at(f, Feature::flow_iat_mean), 500'000);
  EXPECT_EQ(at(f, Feature::fwd_iat_min), 1'000'000);  // forward packets at 0, 1 s and 2 s
  EXPECT_EQ(at(f, Feature::fwd_iat_max), 1'000'000);
  EXPECT_EQ(at(f, Feature::bwd_iat_min), 1'000'000);
  EXPECT_EQ(at(f, Feature::fwd_iat_total), 2'000'000);
  EXPECT_EQ(at(f, Feature::total_tcp_flow_time), 2'000'000);
  for (size_t i = 0; i < kFeatureCount; ++i) {
    const auto feature = static_cast<Feature>(i);
    if (feature == Feature::icmp_code || feature == Feature::icmp_type) continue;  // -1: not ICMP
    EXPECT_GE(f.features[i], 0) << feature_name(feature);
  }
}

// The same for a flow's second packet (the single-packet slot is promoted first). A packet that
// starts a new flow (here a SYN after the FIN handshake, as in a capture concatenated with
// itself) starts it at its own time, as CICFlowMeter does, and is not counted; so does a
// packet that continues a remembered idle connection, whose start is never after it.
TEST(FlowTable, OlderPacketsThatStartAFlowKeepTheirTime) {
  RecordingSink sink;
  FlowTable table({}, sink);
  EXPECT_FALSE(table.add(c2s(5'000'000)));
  EXPECT_TRUE(table.add(s2c(4'000'000)));
  table.flush();
  ASSERT_EQ(sink.flows.size(), 1u);
  EXPECT_EQ(at(sink.flows[0], Feature::flow_duration), 0);
  EXPECT_EQ(at(sink.flows[0], Feature::flow_iat_min), 0);

  sink.flows.clear();
  EXPECT_FALSE(table.add(c2s(1'000'000, tcp_flag::kSyn)));
  EXPECT_FALSE(table.add(s2c(1'100'000, tcp_flag::kFin | tcp_flag::kAck)));
  EXPECT_FALSE(table.add(c2s(1'200'000, tcp_flag::kFin | tcp_flag::kAck)));
  EXPECT_FALSE(table.add(s2c(1'300'000)));                 // completes the FIN handshake
  EXPECT_FALSE(table.add(c2s(1'000'000, tcp_flag::kSyn)));  // the same connection again
  EXPECT_FALSE(table.add(s2c(1'050'000, tcp_flag::kSyn | tcp_flag::kAck)));
  table.flush();
  ASSERT_EQ(sink.flows.size(), 2u);
  EXPECT_EQ(sink.flows[1].id.timestamp, "1970-01-01 00:00:01.000000");
  EXPECT_EQ(at(sink.flows[1], Feature::flow_duration), 50'000);

  sink.flows.clear();
  EXPECT_FALSE(table.add(c2s(100'000'000)));
  EXPECT_FALSE(table.add(s2c(110'000'000)));
  EXPECT_FALSE(table.add(packet(300'000'000, 7, 7, 9, 80)));  // another flow: the first goes idle
  ASSERT_EQ(sink.flows.size(), 1u);
  EXPECT_FALSE(table.add(c2s(50'000'000)));  // the remembered connection, from before its start
  table.flush();
  ASSERT_EQ(sink.flows.size(), 3u);
  for (const auto& flow : sink.flows) {
    EXPECT_GE(at(flow, Feature::total_tcp_flow_time), 0) << flow.id.flow_id << " " << flow.id.timestamp;
  }
}

TEST(FlowTable, MaxFlowsIsBounded) {
  RecordingSink sink;
  FlowTableConfig config;
  config.max_flows = FlowTable::kMaxFlows + 1;
  EXPECT_THROW(FlowTable(config, sink), Error);
  config.max_flows = 0;
  EXPECT_THROW(FlowTable(config, sink), Error);
}

// The identity columns' text: addresses against inet_ntop, timestamps across second and
// date boundaries (the formatter keeps the last second's text).
TEST(FlowIdentityText, AddressesAndTimestamps) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::array<uint8_t, 16> a{};
    for (int j = 0; j < 4; ++j) a[static_cast<size_t>(j)] = static_cast<uint8_t>(i < 256 ? (j == 3 ? i : j * 100) : rng());
    char want[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, a.data(), want, sizeof(want));
    ASSERT_EQ(format_ip(a, 4), want);
  }
  std::array<uint8_t, 16> v6{};
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[15] = 1;
  EXPECT_EQ(format_ip(v6, 6), "2001::1");
  EXPECT_EQ(format_timestamp_us(0), "1970-01-01 00:00:00.000000");
  EXPECT_EQ(format_timestamp_us(1'499'990'399'999'999), "2017-07-13 23:59:59.999999");
  EXPECT_EQ(format_timestamp_us(1'499'990'400'000'001), "2017-07-14 00:00:00.000001");
  EXPECT_EQ(format_timestamp_us(1'499'990'400'000'002), "2017-07-14 00:00:00.000002");
  EXPECT_EQ(format_timestamp_us(-1), "1969-12-31 23:59:59.999999");
}

TEST(FlowTable, StateStaysSmall) {
  EXPECT_LE(sizeof(FlowState), 456u) << "bytes per open flow, before the hash index and list links";
}

}  // namespace
}  // namespace metaids::flow::test
