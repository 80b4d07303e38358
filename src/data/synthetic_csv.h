// Seeded synthetic flow CSV text for benchmarks and tests: a CICFlowMeter-like header
// (identifiers, Timestamp, `feature_count` numeric columns, Label) and rows whose numbers look
// like real exports (small and large integers, 16-digit decimals, zeros, a rare Infinity/NaN).
#pragma once
#include <cstdint>
#include <string>

namespace metaids::data {

std::string synthetic_flow_csv(size_t rows, size_t feature_count = 78, uint64_t seed = 0);

}  // namespace metaids::data
