// libFuzzer harness for the EVE reader (detect/eve_reader.h): what `metaids adapt --eve` reads
// back. Any bytes are refused with metaids::Error or give rows of exactly the width asked for,
// finite, one per distinct id, in the order asked.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "core/error.h"
#include "detect/eve_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  const std::vector<std::uint64_t> ids{1, 2, 1};
  try {
    const auto flows = metaids::detect::read_eve_flows(in, "fuzz.json", ids, "columns0001", 3);
    if (flows.rows.size() != 2 || flows.records.size() != 2) std::abort();
    for (const auto& row : flows.rows) {
      if (row.size() != 3) std::abort();
      for (float v : row)
        if (!std::isfinite(v)) std::abort();
    }
  } catch (const metaids::Error&) {
  }
  // The decoder alone, on the raw bytes.
  try {
    const auto values =
        metaids::detect::decode_features_base64(std::string_view(reinterpret_cast<const char*>(data), size));
    std::string again;
    metaids::detect::append_features_base64(again, values);
    for (float v : values)
      if (std::isfinite(v) && metaids::detect::decode_features_base64(again).size() != values.size()) std::abort();
  } catch (const metaids::Error&) {
  }
  return 0;
}
