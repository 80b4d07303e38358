// Frame layout helpers for the generator: Ethernet II + IPv4 + TCP/UDP, and the Internet
// checksum (RFC 1071). Everything writes into a caller-provided buffer; nothing allocates.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace metaids::synth::wire {

inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;

inline constexpr std::size_t kEthernetHeader = 14;
inline constexpr std::size_t kIpv4Header = 20;
inline constexpr std::size_t kTcpHeader = 20;  // without options
inline constexpr std::size_t kUdpHeader = 8;
inline constexpr std::uint8_t kProtocolTcp = 6;
inline constexpr std::uint8_t kProtocolUdp = 17;

// Adds bytes to a ones'-complement running sum. The words are loaded in host order; RFC 1071
// shows the sum is byte-order independent, so storing the folded complement back in host order
// (store_checksum) gives the right bytes. Every call but the last must cover an even length.
inline std::uint64_t checksum_add(std::uint64_t sum, const std::uint8_t* bytes, std::size_t length) {
  while (length >= 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes, 8);
    sum += (word & 0xFFFFFFFFULL) + (word >> 32);
    bytes += 8;
    length -= 8;
  }
  if (length >= 4) {
    std::uint32_t word;
    std::memcpy(&word, bytes, 4);
    sum += word;
    bytes += 4;
    length -= 4;
  }
  if (length >= 2) {
    std::uint16_t word;
    std::memcpy(&word, bytes, 2);
    sum += word;
    bytes += 2;
    length -= 2;
  }
  if (length == 1) {
    // A trailing odd byte is the high-order byte of a zero-padded big-endian word.
    const std::uint8_t pad[2] = {bytes[0], 0};
    std::uint16_t word;
    std::memcpy(&word, pad, 2);
    sum += word;
  }
  return sum;
}

// Folds the sum and writes its complement at `field` (2 bytes).
inline void store_checksum(std::uint8_t* field, std::uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  const auto value = static_cast<std::uint16_t>(~sum & 0xFFFF);
  std::memcpy(field, &value, 2);
}

inline void put16(std::uint8_t* at, std::uint32_t value) {
  at[0] = static_cast<std::uint8_t>(value >> 8);
  at[1] = static_cast<std::uint8_t>(value);
}
inline void put32(std::uint8_t* at, std::uint32_t value) {
  at[0] = static_cast<std::uint8_t>(value >> 24);
  at[1] = static_cast<std::uint8_t>(value >> 16);
  at[2] = static_cast<std::uint8_t>(value >> 8);
  at[3] = static_cast<std::uint8_t>(value);
}

}  // namespace metaids::synth::wire
