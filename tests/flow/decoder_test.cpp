// The packet decoder on hand-built frames: every link type, VLAN tags, IPv6 extension
// headers, fragments, and broken frames (truncated, lying lengths, zero length).
#include <gtest/gtest.h>

#include "flow/decoder.h"
#include "packet_builder.h"

namespace metaids::flow::test {
namespace {

SkipReason decode(int link, const Bytes& frame, PacketInfo& out) {
  out = PacketInfo{};
  return decode_packet(link, frame.data(), static_cast<uint32_t>(frame.size()), out);
}

TEST(Decoder, EthernetIpv4Tcp) {
  PacketInfo p;
  const Bytes frame = ethernet(0x0800, ipv4(6, tcp(1234, 80, tcp_flag::kSyn | tcp_flag::kAck, 100, 12, 8192)));
  ASSERT_EQ(decode(link_type::kEthernet, frame, p), SkipReason::none);
  EXPECT_EQ(p.ip_version, 4);
  EXPECT_EQ(p.protocol, kProtoTcp);
  EXPECT_EQ(p.src_port, 1234);
  EXPECT_EQ(p.dst_port, 80);
  EXPECT_EQ(p.header_bytes, 32);
  EXPECT_EQ(p.payload_bytes, 100u);
  EXPECT_EQ(p.tcp_window, 8192);
  EXPECT_TRUE(p.has_flag(tcp_flag::kSyn));
  EXPECT_TRUE(p.has_flag(tcp_flag::kAck));
  EXPECT_EQ(p.src_ip[0], 10);
  EXPECT_EQ(p.dst_ip[3], 2);
}

TEST(Decoder, EthernetPaddingIsNotPayload) {
  PacketInfo p;
  Bytes frame = ethernet(0x0800, ipv4(6, tcp(1, 2, tcp_flag::kAck)));
  frame.resize(60, 0);  // minimum Ethernet frame: 6 bytes of padding
  ASSERT_EQ(decode(link_type::kEthernet, frame, p), SkipReason::none);
  EXPECT_EQ(p.payload_bytes, 0u);
}

TEST(Decoder, VlanAndQinQ) {
  PacketInfo p;
  const Bytes l3 = ipv4(17, udp(53, 5353, 10));
  ASSERT_EQ(decode(link_type::kEthernet, ethernet(0x0800, l3, {0x8100}), p), SkipReason::none);
  EXPECT_EQ(p.payload_bytes, 10u);
  ASSERT_EQ(decode(link_type::kEthernet, ethernet(0x0800, l3, {0x88a8, 0x8100}), p), SkipReason::none);
  EXPECT_EQ(p.protocol, kProtoUdp);
  EXPECT_EQ(p.dst_port, 5353);
  ASSERT_EQ(decode(link_type::kEthernet, ethernet(0x0800, l3, {0x9100, 0x8100, 0x8100}), p), SkipReason::none);
  // Tags announced but cut off.
  Bytes cut = ethernet(0x0800, {}, {0x8100});
  cut.resize(15);
  EXPECT_EQ(decode(link_type::kEthernet, cut, p), SkipReason::truncated_link);
}

TEST(Decoder, LinuxCookedV1AndV2) {
  PacketInfo p;
  const Bytes l3 = ipv4(6, tcp(10, 20, tcp_flag::kPsh | tcp_flag::kAck, 5));
  ASSERT_EQ(decode(link_type::kLinuxSll, linux_sll(0x0800, l3), p), SkipReason::none);
  EXPECT_EQ(p.payload_bytes, 5u);
  ASSERT_EQ(decode(link_type::kLinuxSll2, linux_sll2(0x0800, l3), p), SkipReason::none);
  EXPECT_EQ(p.src_port, 10);
  EXPECT_EQ(decode(link_type::kLinuxSll, Bytes(10, 0), p), SkipReason::truncated_link);
  EXPECT_EQ(decode(link_type::kLinuxSll2, Bytes(19, 0), p), SkipReason::truncated_link);
  EXPECT_EQ(decode(link_type::kLinuxSll, linux_sll(0x0806, Bytes(28, 0)), p), SkipReason::non_ip);
}

TEST(Decoder, RawIpLinkTypes) {
  PacketInfo p;
  const Bytes v4 = ipv4(17, udp(1, 2, 3));
  const Bytes v6 = ipv6(17, udp(1, 2, 3));
  for (const int link : {link_type::kRaw, link_type::kRawAlt, link_type::kLinkTypeRaw}) {
    ASSERT_EQ(decode(link, v4, p), SkipReason::none) << link;
    EXPECT_EQ(p.ip_version, 4);
    ASSERT_EQ(decode(link, v6, p), SkipReason::none) << link;
    EXPECT_EQ(p.ip_version, 6);
  }
  ASSERT_EQ(decode(link_type::kRawIpv4, v4, p), SkipReason::none);
  ASSERT_EQ(decode(link_type::kRawIpv6, v6, p), SkipReason::none);
  EXPECT_EQ(p.payload_bytes, 3u);
  EXPECT_EQ(decode(link_type::kRawIpv4, v6, p), SkipReason::bad_ip_header);
}

TEST(Decoder, BsdLoopbackBothByteOrders) {
  PacketInfo p;
  const Bytes v4 = ipv4(6, tcp(1, 2, tcp_flag::kSyn));
  Bytes host_order = concat({Bytes{2, 0, 0, 0}, v4});  // little-endian AF_INET
  Bytes network_order = concat({Bytes{0, 0, 0, 2}, v4});
  EXPECT_EQ(decode(link_type::kNull, host_order, p), SkipReason::none);
  EXPECT_EQ(decode(link_type::kNull, network_order, p), SkipReason::none);
  EXPECT_EQ(decode(link_type::kLoop, network_order, p), SkipReason::none);
  const Bytes v6 = concat({Bytes{30, 0, 0, 0}, ipv6(6, tcp(1, 2, tcp_flag::kSyn))});  // macOS AF_INET6
  ASSERT_EQ(decode(link_type::kNull, v6, p), SkipReason::none);
  EXPECT_EQ(p.ip_version, 6);
  EXPECT_EQ(decode(link_type::kNull, Bytes{2, 0}, p), SkipReason::truncated_link);
  EXPECT_EQ(decode(link_type::kNull, concat({Bytes{7, 0, 0, 0}, v4}), p), SkipReason::non_ip);
}

TEST(Decoder, Ipv6ExtensionHeadersAreWalked) {
  PacketInfo p;
  // hop-by-hop -> destination options -> routing -> TCP
  const Bytes chain = concat({ipv6_ext(60), ipv6_ext(43), ipv6_ext(6), tcp(443, 50000, tcp_flag::kAck, 7)});
  ASSERT_EQ(decode(link_type::kEthernet, ethernet(0x86dd, ipv6(0, chain)), p), SkipReason::none);
  EXPECT_EQ(p.protocol, kProtoTcp);
  EXPECT_EQ(p.src_port, 443);
  EXPECT_EQ(p.payload_bytes, 7u);
  // An extension header cut short.
  Bytes cut = ethernet(0x86dd, ipv6(0, Bytes{6, 0, 0, 0}));
  EXPECT_EQ(decode(link_type::kEthernet, cut, p), SkipReason::truncated_ip);
  // ICMPv6 and "no next header".
  ASSERT_EQ(decode(link_type::kRawIpv6, ipv6(58, icmp(135, 0)), p), SkipReason::none);
  EXPECT_EQ(p.protocol, kProtoIcmpV6);
  EXPECT_EQ(p.icmp_type, 135);
  ASSERT_EQ(decode(link_type::kRawIpv6, ipv6(59, {}), p), SkipReason::none);
  EXPECT_EQ(p.protocol, 59);
  EXPECT_EQ(p.src_port, 0);
}

TEST(Decoder, Ipv6Fragments) {
  PacketInfo p;
  const Bytes first = ipv6(44, concat({ipv6_fragment(17, 0, true), udp(1, 2, 100)}));
  ASSERT_EQ(decode(link_type::kRawIpv6, first, p), SkipReason::none);
  EXPECT_TRUE(p.first_fragment);
  EXPECT_EQ(p.protocol, kProtoUdp);
  const Bytes later = ipv6(44, concat({ipv6_fragment(17, 14, false), Bytes(40, 0)}));
  EXPECT_EQ(decode(link_type::kRawIpv6, later, p), SkipReason::ip_fragment);
}

TEST(Decoder, Ipv4FragmentsAreNotReadAsL4) {
  PacketInfo p;
  const Bytes first = ipv4(1, icmp(8, 0, 100), 1, 2, /*fragment=*/0x2000);
  ASSERT_EQ(decode(link_type::kRawIpv4, first, p), SkipReason::none);
  EXPECT_TRUE(p.first_fragment);
  EXPECT_EQ(p.icmp_type, 8);
  // A later fragment whose bytes happen to look like a TCP header is still skipped.
  const Bytes later = ipv4(6, tcp(1, 2, tcp_flag::kSyn), 1, 2, /*fragment=*/185);
  EXPECT_EQ(decode(link_type::kRawIpv4, later, p), SkipReason::ip_fragment);
}

TEST(Decoder, TruncatedAndLyingLengths) {
  PacketInfo p;
  EXPECT_EQ(decode(link_type::kEthernet, Bytes{}, p), SkipReason::zero_length);
  EXPECT_EQ(decode(link_type::kEthernet, Bytes(13, 0), p), SkipReason::truncated_link);
  // IPv4 header cut by the snaplen.
  Bytes frame = ethernet(0x0800, ipv4(6, tcp(1, 2, 0)));
  frame.resize(14 + 12);
  EXPECT_EQ(decode(link_type::kEthernet, frame, p), SkipReason::truncated_ip);
  // TCP header cut by the snaplen.
  frame = ethernet(0x0800, ipv4(6, tcp(1, 2, 0)));
  frame.resize(14 + 20 + 10);
  EXPECT_EQ(decode(link_type::kEthernet, frame, p), SkipReason::truncated_l4);
  // Total length claims more than captured: the captured payload counts.
  frame = ethernet(0x0800, ipv4(6, tcp(1, 2, tcp_flag::kAck, 10), 1, 2, 0, /*total_length=*/1500));
  ASSERT_EQ(decode(link_type::kEthernet, frame, p), SkipReason::none);
  EXPECT_EQ(p.payload_bytes, 10u);
  // Total length shorter than the IP header; zero (TSO).
  EXPECT_EQ(decode(link_type::kRawIpv4, ipv4(6, tcp(1, 2, 0), 1, 2, 0, 12), p), SkipReason::bad_ip_header);
  EXPECT_EQ(decode(link_type::kRawIpv4, ipv4(6, tcp(1, 2, 0), 1, 2, 0, 0), p), SkipReason::ipv4_zero_length);
  // Header length field below 5 words.
  Bytes bad = ipv4(6, tcp(1, 2, 0));
  bad[0] = 0x44;
  EXPECT_EQ(decode(link_type::kRawIpv4, bad, p), SkipReason::bad_ip_header);
  // TCP data offset below 5 words, or beyond the packet.
  Bytes tcp_bad = ipv4(6, tcp(1, 2, 0));
  tcp_bad[20 + 12] = 0x40;
  EXPECT_EQ(decode(link_type::kRawIpv4, tcp_bad, p), SkipReason::bad_l4_header);
  tcp_bad[20 + 12] = 0xf0;
  EXPECT_EQ(decode(link_type::kRawIpv4, tcp_bad, p), SkipReason::truncated_l4);
  // UDP and ICMP too short.
  EXPECT_EQ(decode(link_type::kRawIpv4, ipv4(17, Bytes(4, 0)), p), SkipReason::truncated_l4);
  EXPECT_EQ(decode(link_type::kRawIpv4, ipv4(1, Bytes(1, 0)), p), SkipReason::truncated_l4);
  // IPv6 payload length beyond the frame: cut to what was captured.
  Bytes v6 = ipv6(17, udp(1, 2, 50));
  v6.resize(v6.size() - 20);
  ASSERT_EQ(decode(link_type::kRawIpv6, v6, p), SkipReason::none);
  EXPECT_EQ(p.payload_bytes, 30u);
}

TEST(Decoder, NonIpAndUnsupportedLinks) {
  PacketInfo p;
  EXPECT_EQ(decode(link_type::kEthernet, ethernet(0x0806, Bytes(28, 0)), p), SkipReason::non_ip);
  EXPECT_EQ(decode(105 /* 802.11 */, Bytes(40, 0), p), SkipReason::unsupported_link);
  EXPECT_FALSE(is_supported_link_type(105));
  EXPECT_TRUE(is_supported_link_type(link_type::kLinuxSll2));
  // Other IP protocols become port-less flows.
  ASSERT_EQ(decode(link_type::kRawIpv4, ipv4(47 /* GRE */, Bytes(8, 0)), p), SkipReason::none);
  EXPECT_EQ(p.protocol, 47);
  EXPECT_EQ(p.src_port, 0);
  EXPECT_EQ(p.payload_bytes, 0u);
}

// Every prefix of valid frames must decode without reading past the end (run under ASan).
TEST(Decoder, EveryPrefixIsSafe) {
  const std::vector<std::pair<int, Bytes>> frames = {
      {link_type::kEthernet, ethernet(0x0800, ipv4(6, tcp(1, 2, 0x18, 30, 12)), {0x8100})},
      {link_type::kEthernet, ethernet(0x86dd, ipv6(0, concat({ipv6_ext(44), ipv6_fragment(6, 0, true),
                                                               tcp(1, 2, 0x10, 20)})))},
      {link_type::kLinuxSll2, linux_sll2(0x0800, ipv4(17, udp(1, 2, 9)))},
      {link_type::kNull, concat({Bytes{2, 0, 0, 0}, ipv4(1, icmp(3, 3, 28))})},
  };
  for (const auto& [link, frame] : frames) {
    for (size_t n = 0; n <= frame.size(); ++n) {
      PacketInfo p;
      const Bytes prefix(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
      (void)decode_packet(link, prefix.data(), static_cast<uint32_t>(n), p);
    }
  }
}

}  // namespace
}  // namespace metaids::flow::test
