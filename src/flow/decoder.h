// Bounds-checked packet decoder: link layer -> IPv4/IPv6 -> TCP/UDP/ICMP. Every read is
// checked against the captured length first; a malformed packet yields a SkipReason, never
// an exception or an out-of-bounds read (fuzzed by fuzz/fuzz_decoder.cpp).
//
// Link types (libpcap DLT values): Ethernet (with any number of 802.1Q/802.1ad/QinQ tags and
// PPPoE sessions), Linux cooked SLL and SLL2, raw IP (DLT_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6),
// BSD loopback (DLT_NULL, either byte order, and DLT_LOOP).
#pragma once
#include <cstdint>

#include "flow/packet.h"

namespace metaids::flow {

// libpcap link-type numbers the decoder reads (values as pcap_datalink() returns them).
namespace link_type {
inline constexpr int kNull = 0;
inline constexpr int kEthernet = 1;
inline constexpr int kRaw = 12;     // DLT_RAW on Linux
inline constexpr int kRawAlt = 14;  // DLT_RAW on some BSDs
inline constexpr int kLoop = 108;
inline constexpr int kLinuxSll = 113;
inline constexpr int kRawIpv4 = 228;
inline constexpr int kRawIpv6 = 229;
inline constexpr int kLinuxSll2 = 276;
inline constexpr int kLinkTypeRaw = 101;  // LINKTYPE_RAW as stored in files
}  // namespace link_type

bool is_supported_link_type(int link_type);

// Decodes one captured frame. `caplen` bytes are readable at `data`. On success returns
// SkipReason::none and fills `out` (except timestamp_us and wire_bytes, which the caller sets).
SkipReason decode_packet(int link_type, const uint8_t* data, uint32_t caplen, PacketInfo& out);

}  // namespace metaids::flow
