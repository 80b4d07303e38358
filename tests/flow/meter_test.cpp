// FlowMeter over hand-built frames: what it counts, and the summary line that reports it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "flow/capture.h"
#include "packet_builder.h"

namespace metaids::flow::test {
namespace {

class CountingSink : public FlowSink {
 public:
  void on_flow(const FlowState& flow, FlowEnd) override { durations.push_back(flow.last_us - flow.start_us); }
  std::vector<int64_t> durations;
};

void feed(FlowMeter& meter, int64_t t_us, const Bytes& frame) {
  meter.process(link_type::kEthernet, t_us, frame.data(), static_cast<uint32_t>(frame.size()),
                static_cast<uint32_t>(frame.size()));
}

// A capture whose timestamps go backwards: packets older than their flow's last packet are
// counted (out_of_order) and their flows keep non-negative durations. A packet older than the
// capture's previous frame that starts a flow of its own changes no feature and is not counted.
TEST(FlowMeter, CountsPacketsOlderThanTheirFlow) {
  CountingSink sink;
  FlowMeter meter(FlowTableConfig{}, sink);
  const Bytes forward = ethernet(0x0800, ipv4(6, tcp(1000, 80, tcp_flag::kAck)));
  const Bytes backward = ethernet(0x0800, ipv4(6, tcp(80, 1000, tcp_flag::kAck), 0x0a000002, 0x0a000001));
  const Bytes other = ethernet(0x0800, ipv4(17, udp(53, 53, 10), 0x0a000003, 0x0a000004));
  feed(meter, 1'000'000, forward);
  feed(meter, 3'000'000, backward);
  feed(meter, 2'000'000, forward);  // older than the flow's last packet
  feed(meter, 500'000, other);      // older than the previous frame, but a flow of its own
  feed(meter, 2'500'000, backward);  // older again
  meter.finish();
  EXPECT_EQ(meter.stats().packets, 5u);
  EXPECT_EQ(meter.stats().out_of_order, 2u);
  ASSERT_EQ(sink.durations.size(), 2u);
  for (const int64_t duration : sink.durations) EXPECT_GE(duration, 0);

  CaptureSummary summary;
  const std::string line = format_summary(meter.stats(), meter.table(), summary);
  EXPECT_NE(line.find(" out_of_order=2 "), std::string::npos) << line;
}

TEST(FlowMeter, SummaryReportsZeroOutOfOrderForAnOrderedCapture) {
  CountingSink sink;
  FlowMeter meter(FlowTableConfig{}, sink);
  const Bytes forward = ethernet(0x0800, ipv4(6, tcp(1000, 80, tcp_flag::kAck)));
  feed(meter, 1, forward);
  feed(meter, 1, forward);  // equal timestamps are in order
  feed(meter, 2, forward);
  meter.finish();
  EXPECT_EQ(meter.stats().out_of_order, 0u);
  CaptureSummary summary;
  EXPECT_NE(format_summary(meter.stats(), meter.table(), summary).find(" out_of_order=0 "), std::string::npos);
}

}  // namespace
}  // namespace metaids::flow::test
