#include "flow/decoder.h"

#include <algorithm>
#include <cstring>

namespace metaids::flow {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
constexpr uint16_t kEtherQinQOld = 0x9100;
constexpr uint16_t kEtherPppoeSession = 0x8864;
constexpr int kMaxVlanTags = 8;
constexpr int kMaxIpv6ExtensionHeaders = 16;

// A readable byte range; every accessor checks bounds against `size`.
struct Bytes {
  const uint8_t* data;
  uint32_t size;

  bool has(uint32_t offset, uint32_t count) const {
    return offset <= size && count <= size - offset;
  }
  uint8_t u8(uint32_t offset) const { return data[offset]; }
  uint16_t be16(uint32_t offset) const {
    return static_cast<uint16_t>((data[offset] << 8) | data[offset + 1]);
  }
  uint32_t be32(uint32_t offset) const {
    return (static_cast<uint32_t>(data[offset]) << 24) | (static_cast<uint32_t>(data[offset + 1]) << 16) |
           (static_cast<uint32_t>(data[offset + 2]) << 8) | data[offset + 3];
  }
};

// L4 header inside [offset, end) of `bytes`; `end` is where the IP packet's data ends.
SkipReason decode_l4(Bytes bytes, uint32_t offset, uint32_t end, PacketInfo& out) {
  const Bytes l4{bytes.data + offset, end - offset};
  switch (out.protocol) {
    case kProtoTcp: {
      if (!l4.has(0, 20)) return SkipReason::truncated_l4;
      const uint32_t header = static_cast<uint32_t>(l4.u8(12) >> 4) * 4u;
      if (header < 20) return SkipReason::bad_l4_header;
      if (header > l4.size) return SkipReason::truncated_l4;
      out.src_port = l4.be16(0);
      out.dst_port = l4.be16(2);
      out.tcp_flags = l4.u8(13);
      out.tcp_window = l4.be16(14);
      out.header_bytes = static_cast<uint16_t>(header);
      out.payload_bytes = l4.size - header;
      return SkipReason::none;
    }
    case kProtoUdp: {
      if (!l4.has(0, 8)) return SkipReason::truncated_l4;
      out.src_port = l4.be16(0);
      out.dst_port = l4.be16(2);
      out.header_bytes = 8;
      out.payload_bytes = l4.size - 8;
      return SkipReason::none;
    }
    case kProtoIcmp:
    case kProtoIcmpV6: {
      if (!l4.has(0, 2)) return SkipReason::truncated_l4;
      out.icmp_type = l4.u8(0);
      out.icmp_code = l4.u8(1);
      return SkipReason::none;
    }
    default:
      return SkipReason::none;  // a flow without ports
  }
}

SkipReason decode_ipv4(Bytes bytes, uint32_t offset, PacketInfo& out) {
  if (!bytes.has(offset, 20)) return SkipReason::truncated_ip;
  const uint8_t version_ihl = bytes.u8(offset);
  if ((version_ihl >> 4) != 4) return SkipReason::bad_ip_header;
  const uint32_t header = static_cast<uint32_t>(version_ihl & 0x0f) * 4u;
  if (header < 20) return SkipReason::bad_ip_header;
  if (!bytes.has(offset, header)) return SkipReason::truncated_ip;
  const uint32_t total_length = bytes.be16(offset + 2);
  if (total_length == 0) return SkipReason::ipv4_zero_length;
  if (total_length < header) return SkipReason::bad_ip_header;
  out.ip_version = 4;
  out.protocol = bytes.u8(offset + 9);
  std::memcpy(out.src_ip.data(), bytes.data + offset + 12, 4);
  std::memcpy(out.dst_ip.data(), bytes.data + offset + 16, 4);
  const uint16_t fragment = bytes.be16(offset + 6);
  const uint16_t fragment_offset = fragment & 0x1fff;
  const bool more_fragments = (fragment & 0x2000) != 0;
  if (fragment_offset != 0) return SkipReason::ip_fragment;
  out.first_fragment = more_fragments;
  // A claimed length beyond the frame (snaplen, lying header) is cut to what was captured;
  // a frame longer than the claim (Ethernet padding) is cut to the claim.
  const uint32_t end = std::min(bytes.size, offset + total_length);
  return decode_l4(bytes, offset + header, end, out);
}

bool is_ipv6_extension(uint8_t next_header) {
  switch (next_header) {
    case 0:    // hop-by-hop options
    case 43:   // routing
    case 44:   // fragment
    case 51:   // authentication header
    case 60:   // destination options
    case 135:  // mobility
    case 139:  // host identity protocol
    case 140:  // shim6
      return true;
    default:
      return false;
  }
}

SkipReason decode_ipv6(Bytes bytes, uint32_t offset, PacketInfo& out) {
  if (!bytes.has(offset, 40)) return SkipReason::truncated_ip;
  if ((bytes.u8(offset) >> 4) != 6) return SkipReason::bad_ip_header;
  const uint32_t payload_length = bytes.be16(offset + 4);
  uint8_t next = bytes.u8(offset + 6);
  std::memcpy(out.src_ip.data(), bytes.data + offset + 8, 16);
  std::memcpy(out.dst_ip.data(), bytes.data + offset + 24, 16);
  out.ip_version = 6;
  // Payload length 0 is a jumbogram (or TSO): use what was captured.
  const uint32_t end =
      payload_length == 0 ? bytes.size : std::min(bytes.size, offset + 40 + payload_length);
  uint32_t cursor = offset + 40;
  for (int i = 0; i < kMaxIpv6ExtensionHeaders && is_ipv6_extension(next); ++i) {
    if (cursor > end || end - cursor < 8) return SkipReason::truncated_ip;
    const Bytes ext{bytes.data, end};
    uint32_t length = 0;
    if (next == 44) {
      length = 8;
      const uint16_t fragment = ext.be16(cursor + 2);
      if ((fragment & 0xfff8) != 0) {
        out.protocol = ext.u8(cursor);
        return SkipReason::ip_fragment;
      }
      out.first_fragment = (fragment & 1) != 0;
    } else if (next == 51) {
      length = (static_cast<uint32_t>(ext.u8(cursor + 1)) + 2) * 4;
    } else {
      length = (static_cast<uint32_t>(ext.u8(cursor + 1)) + 1) * 8;
    }
    next = ext.u8(cursor);
    if (end - cursor < length) return SkipReason::truncated_ip;
    cursor += length;
  }
  if (is_ipv6_extension(next)) return SkipReason::bad_ip_header;  // too many in a chain
  out.protocol = next;
  return decode_l4(bytes, cursor, end, out);
}

SkipReason decode_by_ethertype(Bytes bytes, uint32_t offset, uint16_t ethertype, PacketInfo& out) {
  if (ethertype == kEtherIpv4) return decode_ipv4(bytes, offset, out);
  if (ethertype == kEtherIpv6) return decode_ipv6(bytes, offset, out);
  return SkipReason::non_ip;
}

SkipReason decode_by_version(Bytes bytes, uint32_t offset, PacketInfo& out) {
  if (!bytes.has(offset, 1)) return SkipReason::truncated_ip;
  const uint8_t version = bytes.u8(offset) >> 4;
  if (version == 4) return decode_ipv4(bytes, offset, out);
  if (version == 6) return decode_ipv6(bytes, offset, out);
  return SkipReason::non_ip;
}

SkipReason decode_ethernet(Bytes bytes, PacketInfo& out) {
  if (!bytes.has(0, 14)) return SkipReason::truncated_link;
  uint32_t offset = 12;
  uint16_t ethertype = bytes.be16(offset);
  offset += 2;
  for (int tags = 0; ethertype == kEtherVlan || ethertype == kEtherQinQ || ethertype == kEtherQinQOld;
       ++tags) {
    if (tags == kMaxVlanTags) return SkipReason::non_ip;
    if (!bytes.has(offset, 4)) return SkipReason::truncated_link;
    ethertype = bytes.be16(offset + 2);
    offset += 4;
  }
  if (ethertype == kEtherPppoeSession) {
    if (!bytes.has(offset, 8)) return SkipReason::truncated_link;
    const uint16_t ppp_protocol = bytes.be16(offset + 6);
    offset += 8;
    if (ppp_protocol == 0x0021) return decode_ipv4(bytes, offset, out);
    if (ppp_protocol == 0x0057) return decode_ipv6(bytes, offset, out);
    return SkipReason::non_ip;
  }
  return decode_by_ethertype(bytes, offset, ethertype, out);
}

SkipReason decode_null(Bytes bytes, bool network_order, PacketInfo& out) {
  if (!bytes.has(0, 4)) return SkipReason::truncated_link;
  uint32_t family = bytes.be32(0);
  if (!network_order && (family & 0xffff) == 0) family = __builtin_bswap32(family);  // host order
  switch (family) {
    case 2:  // AF_INET
      return decode_ipv4(bytes, 4, out);
    case 10:  // Linux AF_INET6
    case 24:  // NetBSD/OpenBSD AF_INET6
    case 28:  // FreeBSD AF_INET6
    case 30:  // macOS AF_INET6
      return decode_ipv6(bytes, 4, out);
    default:
      return SkipReason::non_ip;
  }
}

}  // namespace

std::string_view skip_reason_name(SkipReason reason) {
  switch (reason) {
    case SkipReason::none: return "none";
    case SkipReason::zero_length: return "zero_length";
    case SkipReason::truncated_link: return "truncated_link";
    case SkipReason::unsupported_link: return "unsupported_link";
    case SkipReason::non_ip: return "non_ip";
    case SkipReason::truncated_ip: return "truncated_ip";
    case SkipReason::bad_ip_header: return "bad_ip_header";
    case SkipReason::ipv4_zero_length: return "ipv4_zero_length";
    case SkipReason::ip_fragment: return "ip_fragment";
    case SkipReason::truncated_l4: return "truncated_l4";
    case SkipReason::bad_l4_header: return "bad_l4_header";
    case SkipReason::truncated_record: return "truncated_record";
    case SkipReason::count: break;
  }
  return "unknown";
}

bool is_supported_link_type(int link_type) {
  switch (link_type) {
    case link_type::kNull:
    case link_type::kEthernet:
    case link_type::kRaw:
    case link_type::kRawAlt:
    case link_type::kLoop:
    case link_type::kLinuxSll:
    case link_type::kRawIpv4:
    case link_type::kRawIpv6:
    case link_type::kLinuxSll2:
    case link_type::kLinkTypeRaw:
      return true;
    default:
      return false;
  }
}

SkipReason decode_packet(int link_type, const uint8_t* data, uint32_t caplen, PacketInfo& out) {
  if (caplen == 0 || data == nullptr) return SkipReason::zero_length;
  const Bytes bytes{data, caplen};
  switch (link_type) {
    case link_type::kEthernet:
      return decode_ethernet(bytes, out);
    case link_type::kLinuxSll:
      if (!bytes.has(0, 16)) return SkipReason::truncated_link;
      return decode_by_ethertype(bytes, 16, bytes.be16(14), out);
    case link_type::kLinuxSll2:
      if (!bytes.has(0, 20)) return SkipReason::truncated_link;
      return decode_by_ethertype(bytes, 20, bytes.be16(0), out);
    case link_type::kRaw:
    case link_type::kRawAlt:
    case link_type::kLinkTypeRaw:
      return decode_by_version(bytes, 0, out);
    case link_type::kRawIpv4:
      return decode_ipv4(bytes, 0, out);
    case link_type::kRawIpv6:
      return decode_ipv6(bytes, 0, out);
    case link_type::kNull:
      return decode_null(bytes, false, out);
    case link_type::kLoop:
      return decode_null(bytes, true, out);
    default:
      return SkipReason::unsupported_link;
  }
}

}  // namespace metaids::flow
