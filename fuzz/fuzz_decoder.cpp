// libFuzzer harness for the packet decoder and the flow table behind it. Input: one byte
// choosing the link type, then the frame. Every decoded packet goes into a small flow table,
// so the bounds checks, the flow splitting and the feature arithmetic are all exercised.
// Build: cmake -S . -B build-fuzz -DMETAIDS_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ (see .ci/fuzz.sh).
#include <cstddef>
#include <cstdint>

#include "flow/decoder.h"
#include "flow/features.h"
#include "flow/flow_table.h"

namespace {

constexpr int kLinkTypes[] = {
    metaids::flow::link_type::kEthernet, metaids::flow::link_type::kLinuxSll,
    metaids::flow::link_type::kLinuxSll2, metaids::flow::link_type::kRaw,
    metaids::flow::link_type::kRawIpv4,  metaids::flow::link_type::kRawIpv6,
    metaids::flow::link_type::kNull,     metaids::flow::link_type::kLoop,
};

class FeatureSink : public metaids::flow::FlowSink {
 public:
  void on_flow(const metaids::flow::FlowState& flow, metaids::flow::FlowEnd) override {
    const auto features = metaids::flow::compute_features(flow);
    checksum += features[0];
  }
  double checksum = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int link = kLinkTypes[data[0] % (sizeof(kLinkTypes) / sizeof(kLinkTypes[0]))];
  static FeatureSink sink;
  static metaids::flow::FlowTable table(
      [] {
        metaids::flow::FlowTableConfig config;
        config.max_flows = 64;
        config.max_remembered_expired = 8;
        return config;
      }(),
      sink);
  static int64_t clock_us = 0;
  metaids::flow::PacketInfo packet;
  const auto reason = metaids::flow::decode_packet(link, data + 1, static_cast<uint32_t>(size - 1), packet);
  if (reason == metaids::flow::SkipReason::none) {
    clock_us += 1 + (data[0] >> 3) * 7'000'000LL;  // the high bits advance time (timeouts)
    packet.timestamp_us = clock_us;
    packet.wire_bytes = static_cast<uint32_t>(size - 1);
    table.add(packet);
  }
  return 0;
}
