// Reading back what `metaids detect` wrote: the raw inputs of chosen flows from an EVE JSON
// file (`adapt --eve alerts.json --flow-id …`). No model needed, so it is fuzzed on its own
// (fuzz/fuzz_eve.cpp): lines are bounded, malformed lines counted and skipped, and a chosen
// flow must carry features of the right columns and width.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "detect/flow_csv.h"

namespace metaids::detect {

// Raw inputs as base64 of little-endian float32 (non-finite values as 0), and back (throws
// metaids::Error on malformed text).
void append_features_base64(std::string& out, std::span<const float> raw);
// Writes the same text at `out` (base64_length(4 · raw.size()) characters); returns its end.
char* put_features_base64(char* out, std::span<const float> raw);
std::vector<float> decode_features_base64(std::string_view text);

inline constexpr size_t kMaxEveLineBytes = size_t{1} << 20;  // an EVE record is about a kilobyte

struct EveFlows {
  std::vector<std::vector<float>> rows;  // in the order of the ids asked for (repeats once)
  std::vector<FlowRecord> records;
};

// The flows of `flow_ids` in an EVE stream (`source` names it in messages), whose features were
// written for the columns `columns` (detect/eve.h columns_hash) and have `width` values. Every
// id must be found; throws metaids::Error naming the source and line otherwise.
EveFlows read_eve_flows(std::istream& in, const std::string& source, const std::vector<std::uint64_t>& flow_ids,
                        const std::string& columns, size_t width);

}  // namespace metaids::detect
