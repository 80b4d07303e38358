#include "data/synthetic_csv.h"

#include <fmt/format.h>

#include <random>

namespace metaids::data {

std::string synthetic_flow_csv(size_t rows, size_t feature_count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> kind(0, 99);
  std::uniform_int_distribution<int> small(0, 1500);
  std::uniform_int_distribution<int64_t> large(100000, 200000000);
  std::uniform_real_distribution<double> real(0.0, 100000.0);
  const char* labels[] = {"BENIGN", "DDoS", "Portscan", "DoS Hulk", "Botnet"};
  std::string out = "id,Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp";
  for (size_t j = 0; j < feature_count; ++j) out += fmt::format(",Feature {}", j);
  out += ",Label\n";
  out.reserve(rows * (feature_count * 7 + 120));
  auto it = std::back_inserter(out);
  for (size_t r = 0; r < rows; ++r) {
    const int port = small(rng) + 1024;
    fmt::format_to(it, "{},192.168.10.{}-172.16.0.1-{}-80-6,192.168.10.{},{},172.16.0.1,80,6,2017-07-05 {:02}:{:02}:{:02}.{:06}",
                   r, r % 250, port, r % 250, port, (r / 3600) % 24, (r / 60) % 60, r % 60, r % 1000000);
    for (size_t j = 0; j < feature_count; ++j) {
      const int k = kind(rng);
      if (k < 30) {
        fmt::format_to(it, ",{}", small(rng));
      } else if (k < 45) {
        fmt::format_to(it, ",{}", large(rng));
      } else if (k < 80) {
        fmt::format_to(it, ",{}", real(rng));  // shortest round-trip: ~16 significant digits
      } else if (k < 99 || r % 1000 != 0) {
        out += ",0";
      } else {
        out += (j % 2 == 0) ? ",Infinity" : ",NaN";
      }
    }
    fmt::format_to(it, ",{}\n", labels[r % 5]);
  }
  return out;
}

}  // namespace metaids::data
