#include "detect/base64.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace metaids::detect {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The two characters of every 12-bit value.
constexpr auto kPairs = [] {
  std::array<char, 2 * 4096> pairs{};
  for (std::size_t v = 0; v < 4096; ++v) {
    pairs[2 * v] = kAlphabet[v >> 6];
    pairs[2 * v + 1] = kAlphabet[v & 63];
  }
  return pairs;
}();

}  // namespace

char* put_base64(char* out, const void* data, std::size_t size) {
  const auto* in = static_cast<const unsigned char*>(data);
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8 | in[i + 2];
    std::memcpy(out, &kPairs[2 * (v >> 12)], 2);
    std::memcpy(out + 2, &kPairs[2 * (v & 0xfff)], 2);
    out += 4;
  }
  if (const std::size_t left = size - i; left > 0) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | (left == 2 ? std::uint32_t{in[i + 1]} << 8 : 0);
    out[0] = kAlphabet[v >> 18];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = left == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out[3] = '=';
    out += 4;
  }
  return out;
}

}  // namespace metaids::detect
