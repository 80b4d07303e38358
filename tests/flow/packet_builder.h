// Hand-built frames for decoder tests: Ethernet/SLL/raw/loopback headers around IPv4 or
// IPv6 (with optional extension headers) and TCP/UDP/ICMP, byte by byte.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace metaids::flow::test {

using Bytes = std::vector<uint8_t>;

inline void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// TCP header (20 bytes + `options` bytes of NOPs) followed by `payload` bytes.
inline Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t payload = 0, uint8_t options = 0,
                 uint16_t window = 1000) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, 1);  // seq
  put32(b, 0);  // ack
  b.push_back(static_cast<uint8_t>(((20 + options) / 4) << 4));
  b.push_back(flags);
  put16(b, window);
  put16(b, 0);  // checksum (not checked)
  put16(b, 0);  // urgent pointer
  b.insert(b.end(), options, 1);
  b.insert(b.end(), payload, 0xab);
  return b;
}

inline Bytes udp(uint16_t sport, uint16_t dport, uint32_t payload = 0) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint16_t>(8 + payload));
  put16(b, 0);
  b.insert(b.end(), payload, 0xcd);
  return b;
}

inline Bytes icmp(uint8_t type, uint8_t code, uint32_t payload = 0) {
  Bytes b{type, code, 0, 0, 0, 1, 0, 1};
  b.insert(b.end(), payload, 0xee);
  return b;
}

// IPv4 header around `l4`; `total_length` 0xffff means "correct".
inline Bytes ipv4(uint8_t protocol, const Bytes& l4, uint32_t src = 0x0a000001, uint32_t dst = 0x0a000002,
                  uint16_t fragment = 0, uint32_t total_length = 0xffffffff) {
  Bytes b;
  b.push_back(0x45);
  b.push_back(0);
  put16(b, static_cast<uint16_t>(total_length == 0xffffffff ? 20 + l4.size() : total_length));
  put16(b, 0x1234);
  put16(b, fragment);
  b.push_back(64);
  b.push_back(protocol);
  put16(b, 0);
  put32(b, src);
  put32(b, dst);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

// IPv6 header; `chain` holds the extension headers (already encoded) and `first_next` is the
// Next Header value of the fixed header.
inline Bytes ipv6(uint8_t first_next, const Bytes& chain_and_l4, uint8_t src_last = 1, uint8_t dst_last = 2) {
  Bytes b;
  put32(b, 0x60000000);
  put16(b, static_cast<uint16_t>(chain_and_l4.size()));
  b.push_back(first_next);
  b.push_back(64);
  for (int i = 0; i < 15; ++i) b.push_back(i == 0 ? 0x20 : 0);
  b.push_back(src_last);
  for (int i = 0; i < 15; ++i) b.push_back(i == 0 ? 0x20 : 0);
  b.push_back(dst_last);
  b.insert(b.end(), chain_and_l4.begin(), chain_and_l4.end());
  return b;
}

// A generic 8-byte IPv6 extension header (hop-by-hop, destination options, routing).
inline Bytes ipv6_ext(uint8_t next) { return Bytes{next, 0, 0, 0, 0, 0, 0, 0}; }
inline Bytes ipv6_fragment(uint8_t next, uint16_t offset_units, bool more) {
  Bytes b{next, 0};
  put16(b, static_cast<uint16_t>((offset_units << 3) | (more ? 1 : 0)));
  put32(b, 0xabcdef);
  return b;
}

inline Bytes ethernet(uint16_t ethertype, const Bytes& payload, std::initializer_list<uint16_t> vlan_tpids = {}) {
  Bytes b(12, 0x11);
  for (const uint16_t tpid : vlan_tpids) {
    put16(b, tpid);
    put16(b, 100);  // TCI: VLAN 100
  }
  put16(b, ethertype);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline Bytes linux_sll(uint16_t protocol, const Bytes& payload) {
  Bytes b(14, 0);
  put16(b, protocol);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline Bytes linux_sll2(uint16_t protocol, const Bytes& payload) {
  Bytes b;
  put16(b, protocol);
  b.insert(b.end(), 18, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

}  // namespace metaids::flow::test
