// A small, fast CSV tokenizer (RFC 4180 plus the habits of real flow exports).
//
// Why hand-written: the flow datasets are tens of millions of mostly numeric cells and we
// want well over 100 MB/s on one core; a general CSV library from Debian would add a
// dependency and an allocation per field. This reader never copies a field: it hands out
// string_views into its buffer, handles quoted fields ("a,b", "say ""hi""", embedded line
// breaks), CRLF and LF line ends, a UTF-8 byte-order mark, and reads plain or gzip input in
// chunks (so memory stays bounded on multi-GB files). What it cannot read exactly it refuses
// with an error naming the file and line (an unterminated quote, a truncated gzip file, a
// record over the limits below); it never guesses where a record ends.
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace metaids::data {

// Bounds on what one record may cost, so that no input can make the reader's memory grow
// without limit (docs/security.md). The defaults are far beyond any real flow export
// (CICFlowMeter: 84 columns, ~500-byte rows; NSL-KDD: 43 columns).
inline constexpr size_t kMaxColumns = 100000;                  // fields of one record
inline constexpr size_t kMaxHeaderBytes = size_t{1} << 20;     // 1 MiB: a header record
inline constexpr size_t kMaxRecordBytes = size_t{16} << 20;    // 16 MiB: any other record

struct CsvLimits {
  size_t max_record_bytes = kMaxRecordBytes;  // bytes of one record, line breaks included
  size_t max_fields = kMaxColumns;
  std::string_view record_name = "the record";  // in messages: "the header" while reading one
};

class CsvReader {
 public:
  // Opens a file; names ending in ".gz" are decompressed with zlib (concatenated gzip members
  // are read as one stream). Throws on open failure.
  explicit CsvReader(const std::filesystem::path& path, char delimiter = ',');
  // Reads from memory; `text` must outlive the reader.
  CsvReader(std::string_view text, std::string_view source_name, char delimiter = ',');
  // Reads `text` through the chunked path of file input, `chunk_bytes` at a time (tests and
  // fuzzing of records split across reads); gives the same records as reading it at once.
  CsvReader(std::string_view text, std::string_view source_name, char delimiter, size_t chunk_bytes);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Next record into `fields` (views valid until the next call). Blank lines are skipped
  // (and counted). Returns false at the end of the input. Throws metaids::Error naming the
  // source and line when the input cannot be read exactly: a quoted field that is never
  // closed, a record over the limits, a gzip stream that ends early or is corrupt.
  bool next_record(std::vector<std::string_view>& fields);

  // Limits for the records read from now on (e.g. a tighter one for the header).
  void set_limits(const CsvLimits& limits) { limits_ = limits; }
  // Off: '"' is an ordinary character (Zeek logs, which escape instead of quoting; with '\n'
  // as the delimiter every line is one field). On by default.
  void set_quoting(bool quoting) { quoting_ = quoting; }
  const CsvLimits& limits() const { return limits_; }

  uint64_t line_number() const { return record_line_; }  // 1-based line of the last record
  uint64_t bytes_consumed() const { return bytes_consumed_; }
  uint64_t blank_lines() const { return blank_lines_; }
  const std::string& source_name() const { return source_name_; }

 private:
  struct Input;
  template <bool kQuoting>
  bool next_record_impl(std::vector<std::string_view>& fields);
  bool refill();  // moves the unconsumed tail to the front and reads more; false at EOF
  // The line of byte `offset` of the current data (the record being parsed starts at line_).
  uint64_t line_at(size_t record_start, size_t offset) const;
  [[noreturn]] void fail_unterminated_quote(size_t record_start, size_t quote, bool at_end) const;
  [[noreturn]] void fail_too_long(size_t record_start) const;
  [[noreturn]] void fail_too_many_fields() const;

  std::unique_ptr<Input> input_;
  std::string source_name_;
  char delimiter_;
  bool quoting_ = true;
  CsvLimits limits_;
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

// "1 MiB", "16 MiB" or "1000 bytes": a limit as messages show it.
std::string describe_bytes(size_t bytes);

}  // namespace metaids::data
