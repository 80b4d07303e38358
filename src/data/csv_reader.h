// A small, fast CSV tokenizer (RFC 4180 plus the habits of real flow exports).
//
// Why hand-written: the flow datasets are tens of millions of mostly numeric cells and we
// want well over 100 MB/s on one core; a general CSV library from Debian would add a
// dependency and an allocation per field. This reader never copies a field: it hands out
// string_views into its buffer, handles quoted fields ("a,b", "say ""hi""", embedded line
// breaks), CRLF and LF line ends, a UTF-8 byte-order mark, and reads plain or gzip input in
// chunks (so memory stays bounded on multi-GB files).
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace metaids::data {

class CsvReader {
 public:
  // Opens a file; names ending in ".gz" are decompressed with zlib. Throws on open failure.
  explicit CsvReader(const std::filesystem::path& path, char delimiter = ',');
  // Reads from memory; `text` must outlive the reader.
  CsvReader(std::string_view text, std::string_view source_name, char delimiter = ',');
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Next record into `fields` (views valid until the next call). Blank lines are skipped
  // (and counted). Returns false at the end of the input. A quoted field left open at the
  // end of input ends there.
  bool next_record(std::vector<std::string_view>& fields);

  uint64_t line_number() const { return record_line_; }  // 1-based line of the last record
  uint64_t bytes_consumed() const { return bytes_consumed_; }
  uint64_t blank_lines() const { return blank_lines_; }
  const std::string& source_name() const { return source_name_; }

 private:
  struct Input;
  bool refill();  // moves the unconsumed tail to the front and reads more; false at EOF

  std::unique_ptr<Input> input_;
  std::string source_name_;
  char delimiter_;
  std::string buffer_;           // owned chunk (file input)
  const char* data_ = nullptr;   // current data (buffer_ or external text)
  size_t size_ = 0;
  size_t position_ = 0;
  bool eof_ = false;
  bool first_record_ = true;
  uint64_t line_ = 1;
  uint64_t record_line_ = 0;
  uint64_t bytes_consumed_ = 0;
  uint64_t blank_lines_ = 0;
  struct FieldSpan {
    size_t begin, length;
    bool unescape;
  };
  std::vector<FieldSpan> spans_;
  std::string scratch_;          // unescaped quoted fields of the current record
};

// Parses a numeric cell. Accepts leading/trailing spaces, a leading '+', decimals, exponents,
// and "inf"/"Infinity"/"nan" in any case. Values beyond float range become ±inf.
enum class CellKind { number, empty, infinite, nan, unparseable };
CellKind parse_float_cell(std::string_view cell, float& value);

}  // namespace metaids::data
