// The flow meter against metaids::synth's ground truth: the generator knows every flow's
// true packet and byte counts, times and flags, so they must come out exactly.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "flow/capture.h"
#include "flow/features.h"
#include "synth/synth.h"

namespace metaids::flow::test {
namespace {

class CollectingSink : public FlowSink {
 public:
  void on_flow(const FlowState& flow, FlowEnd /*reason*/) override { flows.push_back(flow); }
  std::vector<FlowState> flows;
};

using Key = std::tuple<std::string, int, std::string, int, int, int64_t>;

TEST(FlowSynthTruth, CountsTimesAndFlagsMatchTheGenerator) {
  synth::SynthConfig config;
  config.seed = 5;
  config.sessions = 3000;
  config.duration_s = 300;  // long enough for some sessions to be split by the flow timeout
  synth::Generator generator(config);
  CollectingSink sink;
  FlowMeter meter(FlowTableConfig{}, sink);
  synth::Packet packet;
  while (generator.next(packet)) {
    meter.process(link_type::kEthernet, static_cast<int64_t>(packet.timestamp_us), packet.data.data(),
                  packet.length, packet.length);
  }
  meter.finish();
  const auto truth = generator.take_finished_flows();
  ASSERT_GT(truth.size(), 1000u);
  EXPECT_EQ(meter.stats().skipped_total(), 0u);

  std::map<Key, const FlowState*> ours;
  for (const auto& flow : sink.flows) {
    const FlowIdentity id = identify(flow);
    ours[{id.src_ip, id.src_port, id.dst_ip, id.dst_port, id.protocol, flow.start_us}] = &flow;
  }
  EXPECT_EQ(ours.size(), truth.size());
  size_t mismatches = 0;
  for (const auto& t : truth) {
    const Key key{synth::format_ipv4(t.tuple.src_ip), t.tuple.src_port, synth::format_ipv4(t.tuple.dst_ip),
                  t.tuple.dst_port, t.tuple.protocol, static_cast<int64_t>(t.first_timestamp_us)};
    const auto found = ours.find(key);
    if (found == ours.end()) {
      if (++mismatches <= 5) ADD_FAILURE() << "flow missing: " << synth::format_ground_truth_row(t);
      continue;
    }
    const FlowState& f = *found->second;
    const bool same = f.fwd_length.count == t.fwd_packets && f.bwd_length.count == t.bwd_packets &&
                      f.fwd_length.sum == t.fwd_payload_bytes && f.bwd_length.sum == t.bwd_payload_bytes &&
                      f.fwd_header_bytes == t.fwd_header_bytes && f.bwd_header_bytes == t.bwd_header_bytes &&
                      f.last_us == static_cast<int64_t>(t.last_timestamp_us) && f.syn_count == t.syn_packets &&
                      f.fin_count == t.fin_packets && f.fwd_rst + f.bwd_rst == t.rst_packets &&
                      f.fwd_psh + f.bwd_psh == t.psh_packets && f.ack_count == t.ack_packets;
    if (!same && ++mismatches <= 5) {
      ADD_FAILURE() << "flow differs: truth " << synth::format_ground_truth_row(t) << "\n  metaids fwd/bwd packets "
                    << f.fwd_length.count << "/" << f.bwd_length.count << " payload " << f.fwd_length.sum << "/"
                    << f.bwd_length.sum << " last " << f.last_us;
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
}  // namespace metaids::flow::test
