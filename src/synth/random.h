// Deterministic random numbers for the generator. The standard distributions are
// implementation-defined, so the same seed could give different traces with another standard
// library; these are written out here and give the same numbers everywhere.
#pragma once
#include <cmath>
#include <cstdint>

namespace metaids::synth {

__extension__ typedef unsigned __int128 Uint128;  // GCC/Clang extension, for Lemire's method

// SplitMix64 step: used to seed and to derive independent streams from (seed, id) pairs.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b) {
  std::uint64_t state = a ^ (b * 0xD1B54A32D192ED03ULL);
  splitmix64(state);
  return splitmix64(state);
}

// xoshiro256** (Blackman & Vigna), seeded through SplitMix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }
  void reseed(std::uint64_t seed) {
    for (auto& word : state_) word = splitmix64(seed);
  }
  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  std::uint32_t next_u32() { return static_cast<std::uint32_t>(next_u64() >> 32); }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [0, bound) (bound > 0); Lemire's multiply-shift, bias < 2^-32.
  std::uint64_t below(std::uint64_t bound) {
    return static_cast<std::uint64_t>((static_cast<Uint128>(next_u64()) * bound) >> 64);
  }
  std::int64_t between(std::int64_t low, std::int64_t high) {  // inclusive
    return low + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(high - low + 1)));
  }
  bool chance(double probability) { return uniform() < probability; }
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }
  double normal() {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Log-normal with the given median and log-space sigma, clamped to [low, high].
  double lognormal(double median, double sigma, double low, double high) {
    const double value = median * std::exp(sigma * normal());
    return value < low ? low : (value > high ? high : value);
  }
  // Number of failures before the first success, capped.
  std::uint32_t geometric(double success, std::uint32_t cap) {
    std::uint32_t count = 0;
    while (count < cap && !chance(success)) ++count;
    return count;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4]{};
};

}  // namespace metaids::synth
