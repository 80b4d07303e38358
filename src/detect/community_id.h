// Community ID v1 (the flow hash Suricata, Zeek and Arkime share, so their records of one
// flow can be joined): "1:" + base64(SHA-1(seed · a · b · proto · 0 · port_a · port_b)), the
// endpoints ordered so the smaller (address, port) comes first, everything in network byte
// order. ICMP and ICMPv6 put (type, counterpart type) in the ports for request/reply types
// and (type, code) for the others, which are one-way (never reordered); protocols without
// ports hash the addresses alone. Checked against the specification's published vectors.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace metaids::detect {

struct FlowTuple {
  std::array<std::uint8_t, 16> src{};  // IPv4 in the first 4 bytes
  std::array<std::uint8_t, 16> dst{};
  std::uint8_t ip_version = 4;
  std::uint8_t protocol = 0;
  std::uint16_t src_port = 0;  // for ICMP: the port equivalents already mapped (see below)
  std::uint16_t dst_port = 0;
  bool one_way = false;        // ICMP types without a counterpart
};

// (type, code) of an ICMP (protocol 1) or ICMPv6 (58) message → the tuple's port fields.
void map_icmp_to_ports(std::uint8_t protocol, std::uint8_t type, std::uint8_t code, FlowTuple& tuple);

std::string community_id_v1(const FlowTuple& tuple, std::uint16_t seed = 0);
void append_community_id_v1(std::string& out, const FlowTuple& tuple, std::uint16_t seed = 0);
// Writes the same kCommunityIdLength characters at `out`; returns the end.
inline constexpr size_t kCommunityIdLength = 30;  // "1:" and 28 characters of base64
char* put_community_id_v1(char* out, const FlowTuple& tuple, std::uint16_t seed = 0);

}  // namespace metaids::detect
