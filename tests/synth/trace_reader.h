// Test-side reading of generated captures: libpcap opens the file and a deliberately plain
// decoder (no code shared with the generator) checks checksums and pulls out the fields the
// tests recount.
#pragma once
#include <pcap/pcap.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace metaids::synth::test {

struct DecodedPacket {
  std::uint64_t timestamp_us = 0;
  std::uint32_t frame_length = 0;
  std::uint16_t vlan_id = 0;  // 0: untagged
  std::uint32_t src_ip = 0, dst_ip = 0;
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint8_t protocol = 0;
  std::uint32_t ip_total_length = 0;
  std::uint32_t l4_header_length = 0;
  std::uint32_t payload_length = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  bool ip_checksum_ok = false;
  bool l4_checksum_ok = false;
  bool decoded = false;  // Ethernet/IPv4/TCP|UDP, lengths consistent
};

// Plain RFC 1071 sum over big-endian 16-bit words.
inline std::uint32_t plain_sum(const std::uint8_t* data, std::size_t length, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i < length; i += 2) {
    const std::uint32_t high = data[i];
    const std::uint32_t low = i + 1 < length ? data[i + 1] : 0;
    sum += (high << 8) | low;
  }
  return sum;
}
inline std::uint16_t fold(std::uint32_t sum) {
  while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}
inline std::uint32_t be16(const std::uint8_t* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
inline std::uint32_t be32(const std::uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }

inline DecodedPacket decode(const std::uint8_t* frame, std::uint32_t length, std::uint64_t timestamp_us) {
  DecodedPacket packet;
  packet.timestamp_us = timestamp_us;
  packet.frame_length = length;
  std::uint32_t link_header = 14;
  if (length >= 18 && be16(frame + 12) == 0x8100) {
    packet.vlan_id = static_cast<std::uint16_t>(be16(frame + 14) & 0x0FFF);
    link_header = 18;
  }
  if (length < link_header + 20 || be16(frame + link_header - 2) != 0x0800) return packet;
  const std::uint8_t* ip = frame + link_header;
  if ((ip[0] >> 4) != 4 || (ip[0] & 0x0F) != 5) return packet;
  packet.ip_total_length = be16(ip + 2);
  if (packet.ip_total_length + link_header != length) return packet;
  packet.ip_checksum_ok = fold(plain_sum(ip, 20)) == 0xFFFF;
  packet.protocol = ip[9];
  packet.src_ip = be32(ip + 12);
  packet.dst_ip = be32(ip + 16);
  const std::uint8_t* l4 = ip + 20;
  const std::uint32_t l4_length = packet.ip_total_length - 20;
  std::uint8_t pseudo[12] = {ip[12], ip[13], ip[14], ip[15], ip[16], ip[17], ip[18], ip[19], 0, ip[9],
                             static_cast<std::uint8_t>(l4_length >> 8), static_cast<std::uint8_t>(l4_length)};
  if (packet.protocol == 6) {
    if (l4_length < 20) return packet;
    packet.l4_header_length = static_cast<std::uint32_t>(l4[12] >> 4) * 4;
    if (packet.l4_header_length < 20 || packet.l4_header_length > l4_length) return packet;
    packet.seq = be32(l4 + 4);
    packet.ack = be32(l4 + 8);
    packet.flags = l4[13];
  } else if (packet.protocol == 17) {
    if (l4_length < 8 || be16(l4 + 4) != l4_length || be16(l4 + 6) == 0) return packet;
    packet.l4_header_length = 8;
  } else {
    return packet;
  }
  packet.src_port = static_cast<std::uint16_t>(be16(l4));
  packet.dst_port = static_cast<std::uint16_t>(be16(l4 + 2));
  packet.payload_length = l4_length - packet.l4_header_length;
  packet.l4_checksum_ok = fold(plain_sum(l4, l4_length, plain_sum(pseudo, 12))) == 0xFFFF;
  packet.decoded = true;
  return packet;
}

// Every packet of a pcap file, through libpcap.
inline std::vector<DecodedPacket> read_with_libpcap(const std::filesystem::path& path, int* link_type = nullptr) {
  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_open_offline(path.c_str(), error);
  if (handle == nullptr) throw std::runtime_error(std::string("pcap_open_offline: ") + error);
  if (link_type != nullptr) *link_type = pcap_datalink(handle);
  std::vector<DecodedPacket> packets;
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int status;
  while ((status = pcap_next_ex(handle, &header, &data)) == 1) {
    if (header->caplen != header->len) throw std::runtime_error("truncated record");
    const std::uint64_t timestamp = static_cast<std::uint64_t>(header->ts.tv_sec) * 1'000'000ULL +
                                    static_cast<std::uint64_t>(header->ts.tv_usec);
    packets.push_back(decode(data, header->caplen, timestamp));
  }
  pcap_close(handle);
  if (status != PCAP_ERROR_BREAK) throw std::runtime_error("pcap read error");
  return packets;
}

}  // namespace metaids::synth::test
