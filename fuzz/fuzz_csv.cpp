// libFuzzer harness for the CSV tokenizer (data/csv_reader.h), differential: the input is
// read at once from memory and again through the chunked path file input takes, in chunks of
// 1 to 64 bytes. Both must give the same records, line numbers and byte counts, or both
// refuse the input (an unterminated quote, a record over the limits). Any difference aborts.
// Input: byte 0 picks the delimiter (bits 0-1) and the chunk size (bits 2-7); then the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "data/csv_reader.h"

namespace {

struct Walk {
  std::vector<std::vector<std::string>> records;
  std::vector<uint64_t> lines;
  uint64_t bytes = 0;
  uint64_t blank_lines = 0;
  bool refused = false;
};

Walk walk(metaids::data::CsvReader& reader) {
  // Small limits, so that the fuzzer reaches them with small inputs.
  metaids::data::CsvLimits limits;
  limits.max_record_bytes = 300;
  limits.max_fields = 40;
  reader.set_limits(limits);
  Walk w;
  std::vector<std::string_view> fields;
  try {
    while (reader.next_record(fields)) {
      if (fields.empty() || fields.size() > limits.max_fields) std::abort();
      w.records.emplace_back(fields.begin(), fields.end());
      w.lines.push_back(reader.line_number());
    }
  } catch (const metaids::Error&) {
    w.refused = true;
    return w;
  }
  w.bytes = reader.bytes_consumed();
  w.blank_lines = reader.blank_lines();
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static constexpr char kDelimiters[] = {',', ';', '\t', '|'};
  const char delimiter = kDelimiters[data[0] & 3];
  const size_t chunk = 1 + (data[0] >> 2);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  metaids::data::CsvReader at_once(text, "fuzz", delimiter);
  metaids::data::CsvReader chunked(text, "fuzz", delimiter, chunk);
  const Walk a = walk(at_once), b = walk(chunked);
  if (a.records != b.records || a.lines != b.lines || a.refused != b.refused || a.bytes != b.bytes ||
      a.blank_lines != b.blank_lines) {
    std::fprintf(stderr, "fuzz_csv: chunk %zu: %zu/%zu records, refused %d/%d, bytes %llu/%llu\n", chunk,
                 a.records.size(), b.records.size(), a.refused, b.refused, static_cast<unsigned long long>(a.bytes),
                 static_cast<unsigned long long>(b.bytes));
    std::abort();
  }
  // A whole input that is accepted is consumed to the last byte.
  if (!a.refused && a.bytes != text.size()) std::abort();
  return 0;
}
