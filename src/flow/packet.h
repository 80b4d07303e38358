// What the flow meter needs to know about one packet, after decoding. A PacketInfo is a
// plain value filled by decode_packet (flow/decoder.h); it points into nothing.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace metaids::flow {

// TCP flag bits as they appear in the TCP header's flags byte.
namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;
}  // namespace tcp_flag

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpV6 = 58;

// Why a packet did not reach the flow table. `none` means it did.
enum class SkipReason : uint8_t {
  none = 0,
  zero_length,         // a frame with no captured bytes
  truncated_link,      // shorter than its link-layer header
  unsupported_link,    // a link type the decoder does not read (802.11, ...)
  non_ip,              // ARP, LLDP, MPLS, ...: not IPv4/IPv6
  truncated_ip,        // cut inside the IP header (snaplen or a broken frame)
  bad_ip_header,       // wrong version, header length, total length shorter than the header
  ipv4_zero_length,    // IPv4 total length 0 ("TSO" segments): length unknown
  ip_fragment,         // a non-first IP fragment: no L4 header in it
  truncated_l4,        // cut inside the TCP/UDP/ICMP header
  bad_l4_header,       // TCP data offset below 20 or past the end of the packet
  truncated_record,    // the capture file ended in the middle of a record
  count
};

std::string_view skip_reason_name(SkipReason reason);

struct PacketInfo {
  int64_t timestamp_us = 0;
  std::array<uint8_t, 16> src_ip{};  // IPv4 in the first 4 bytes, the rest zero
  std::array<uint8_t, 16> dst_ip{};
  uint16_t src_port = 0;  // 0 for protocols without ports
  uint16_t dst_port = 0;
  uint8_t ip_version = 0;  // 4 or 6
  uint8_t protocol = 0;    // IP protocol number (after IPv6 extension headers)
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  bool first_fragment = false;  // offset 0 with more fragments following
  uint16_t tcp_window = 0;
  uint16_t header_bytes = 0;    // TCP header incl. options, 8 for UDP, 0 otherwise
  uint32_t payload_bytes = 0;   // TCP/UDP payload present in the frame (0 for other protocols)
  uint32_t wire_bytes = 0;      // original frame length (pcap len)

  bool has_flag(uint8_t flag) const { return (tcp_flags & flag) != 0; }
};

}  // namespace metaids::flow
