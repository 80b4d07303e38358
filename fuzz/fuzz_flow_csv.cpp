// libFuzzer harness for the detector's flow CSV reader (detect/flow_csv.h): what `detect
// --flows`, `predict` and `adapt --flows` read. Any text is refused with metaids::Error (a
// missing column, a header over its bounds) or read row by row: every row has the layout's
// width, finite values, one-hot columns 0 or 1; records are counted exactly.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "detect/flow_csv.h"
#include "fuzz_layout.h"

namespace {

using metaids::fuzz::fuzz_layout;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const metaids::detect::InputLayout l = fuzz_layout();
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    metaids::detect::FlowCsvReader reader(std::string_view(text), "fuzz.csv", l);
    metaids::detect::FlowRecord record;
    std::vector<float> row(l.width());
    std::uint64_t rows = 0;
    while (reader.next(record, row)) {
      ++rows;
      for (size_t j = 0; j < row.size(); ++j) {
        if (!std::isfinite(row[j]) && j < l.numeric.size()) {
          // Infinite cells read as 0 by the default policy; a finite number too large for a float
          // is infinite only if the parser let it through: never.
          std::abort();
        }
        if (j >= l.numeric.size() && row[j] != 0.0f && row[j] != 1.0f) std::abort();
      }
    }
    if (reader.report().rows != rows || reader.report().rows + reader.report().skipped != reader.report().records)
      std::abort();
  } catch (const metaids::Error&) {
  }
  return 0;
}
