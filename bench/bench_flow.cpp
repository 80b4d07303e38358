// Google Benchmark for the flow meter: decoding one frame, and the flow table on mixed
// traffic (a few thousand long flows) and on a SYN flood (every packet a new flow, bounded
// table). Smoke test: bench_flow --benchmark_min_time=0.01. Full figures: `metaids bench flows`.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "flow/decoder.h"
#include "flow/features.h"
#include "flow/flow_table.h"

namespace {

using metaids::flow::FlowEnd;
using metaids::flow::FlowSink;
using metaids::flow::FlowState;
using metaids::flow::FlowTable;
using metaids::flow::FlowTableConfig;
using metaids::flow::PacketInfo;

class FeatureSink : public FlowSink {
 public:
  void on_flow(const FlowState& flow, FlowEnd) override {
    benchmark::DoNotOptimize(metaids::flow::compute_features(flow));
  }
};

std::vector<uint8_t> ethernet_tcp_frame() {
  std::vector<uint8_t> frame(14 + 20 + 20 + 100, 0);
  frame[12] = 0x08;             // IPv4
  frame[14] = 0x45;             // version 4, 20-byte header
  frame[16] = 0;                // total length 140
  frame[17] = 140;
  frame[23] = 6;                // TCP
  frame[26] = 10, frame[29] = 1;
  frame[30] = 10, frame[33] = 2;
  frame[34] = 0x9c, frame[35] = 0x40;  // source port 40000
  frame[37] = 80;
  frame[46] = 5 << 4;           // data offset
  frame[47] = 0x18;             // PSH ACK
  return frame;
}

void BM_DecodeEthernetTcp(benchmark::State& state) {
  const auto frame = ethernet_tcp_frame();
  for (auto _ : state) {
    PacketInfo packet;
    benchmark::DoNotOptimize(metaids::flow::decode_packet(metaids::flow::link_type::kEthernet, frame.data(),
                                                          static_cast<uint32_t>(frame.size()), packet));
    benchmark::DoNotOptimize(packet);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeEthernetTcp);

PacketInfo tcp_packet(uint32_t client, uint16_t port, bool to_server, int64_t t, uint32_t payload, uint8_t flags) {
  PacketInfo p;
  p.timestamp_us = t;
  p.ip_version = 4;
  p.protocol = metaids::flow::kProtoTcp;
  const uint8_t c[4] = {10, static_cast<uint8_t>(client >> 16), static_cast<uint8_t>(client >> 8),
                        static_cast<uint8_t>(client)};
  const uint8_t s[4] = {192, 0, 2, 1};
  std::memcpy(p.src_ip.data(), to_server ? c : s, 4);
  std::memcpy(p.dst_ip.data(), to_server ? s : c, 4);
  p.src_port = to_server ? port : 443;
  p.dst_port = to_server ? 443 : port;
  p.tcp_flags = flags;
  p.header_bytes = 20;
  p.payload_bytes = payload;
  p.tcp_window = 512;
  return p;
}

// Packets of `flows` concurrent connections, interleaved at random, 1 µs apart.
std::vector<PacketInfo> mixed_packets(size_t count, uint32_t flows) {
  std::mt19937_64 rng(7);
  std::vector<PacketInfo> packets;
  packets.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const auto flow = static_cast<uint32_t>(rng() % flows);
    const bool to_server = (rng() & 1) != 0;
    packets.push_back(tcp_packet(flow, static_cast<uint16_t>(1024 + flow % 60000), to_server,
                                 static_cast<int64_t>(i), static_cast<uint32_t>(rng() % 1400), 0x18));
  }
  return packets;
}

void BM_FlowTableMixed(benchmark::State& state) {
  const auto packets = mixed_packets(1 << 20, static_cast<uint32_t>(state.range(0)));
  FeatureSink sink;
  for (auto _ : state) {
    FlowTable table(FlowTableConfig{}, sink);
    for (const auto& p : packets) table.add(p);
    table.flush();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(packets.size()));
}
BENCHMARK(BM_FlowTableMixed)->Arg(1000)->Arg(50000)->Unit(benchmark::kMillisecond);

void BM_FlowTableSynFlood(benchmark::State& state) {
  std::vector<PacketInfo> packets;
  std::mt19937_64 rng(9);
  for (int i = 0; i < (1 << 20); ++i) {
    packets.push_back(tcp_packet(static_cast<uint32_t>(rng()), static_cast<uint16_t>(rng()), true, i, 0, 0x02));
  }
  FeatureSink sink;
  FlowTableConfig config;
  config.max_flows = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    FlowTable table(config, sink);
    for (const auto& p : packets) table.add(p);
    state.counters["bytes_per_open_flow"] =
        static_cast<double>(table.memory_bytes()) / static_cast<double>(table.open_flows());
    table.flush();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(packets.size()));
}
BENCHMARK(BM_FlowTableSynFlood)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
