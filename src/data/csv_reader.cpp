#include "data/csv_reader.h"

#include <zlib.h>

#include <cerrno>
#include <charconv>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace metaids::data {

namespace {
constexpr size_t kChunkBytes = size_t{4} << 20;  // 4 MiB per read; grows for giant records

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

// A file, plain (stdio) or gzip (zlib), or text in memory read a chunk at a time.
struct CsvReader::Input {
  std::FILE* file = nullptr;
  gzFile gz = nullptr;
  std::string path;
  std::string_view memory;     // chunked memory input
  size_t memory_position = 0;
  bool truncated = false;      // the gzip stream ended before its end marker
  ~Input() {
    if (file != nullptr) std::fclose(file);
    if (gz != nullptr) gzclose(gz);
  }
  // Reads up to `n` bytes; 0 at end of input (`truncated` set if it came too early).
  size_t read(char* out, size_t n) {
    if (gz != nullptr) {
      const int got = gzread(gz, out, static_cast<unsigned>(std::min<size_t>(n, 1u << 30)));
      int code = Z_OK;
      const char* message = gzerror(gz, &code);
      if (got < 0 || (code != Z_OK && code != Z_BUF_ERROR))
        fail("cannot decompress {}: {}", path, message != nullptr && *message != '\0' ? message : "zlib error");
      // gzread does not call a stream that stops short an error: it returns what it could
      // decompress, then 0, and leaves Z_BUF_ERROR ("unexpected end of file") in gzerror.
      // Concatenated members are read through; only the last one's end marker ends the input.
      if (got == 0 && code == Z_BUF_ERROR) truncated = true;
      return static_cast<size_t>(got);
    }
    if (file == nullptr) {
      const size_t got = std::min(n, memory.size() - memory_position);
      std::memcpy(out, memory.data() + memory_position, got);
      memory_position += got;
      return got;
    }
    const size_t got = std::fread(out, 1, n, file);
    if (got < n && std::ferror(file) != 0) fail("cannot read {}: {}", path, std::strerror(errno));
    return got;
  }
};

CsvReader::CsvReader(const std::filesystem::path& path, char delimiter)
    : input_(std::make_unique<Input>()), source_name_(path.string()), delimiter_(delimiter) {
  input_->path = path.string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("cannot open {}: no such file", path.string());
  if (std::filesystem::is_directory(path, ec)) fail("cannot open {}: is a directory", path.string());
  if (ends_with(input_->path, ".gz")) {
    input_->gz = gzopen(input_->path.c_str(), "rb");
    if (input_->gz == nullptr) fail("cannot open {}: {}", path.string(), std::strerror(errno));
    gzbuffer(input_->gz, 1u << 18);
  } else {
    input_->file = std::fopen(input_->path.c_str(), "rb");
    if (input_->file == nullptr) fail("cannot open {}: {}", path.string(), std::strerror(errno));
  }
  buffer_.resize(kChunkBytes);
  data_ = buffer_.data();
  size_ = 0;
  refill();
}

CsvReader::CsvReader(std::string_view text, std::string_view source_name, char delimiter)
    : source_name_(source_name), delimiter_(delimiter) {
  data_ = text.data();
  size_ = text.size();
  eof_ = true;
}

CsvReader::CsvReader(std::string_view text, std::string_view source_name, char delimiter, size_t chunk_bytes)
    : input_(std::make_unique<Input>()), source_name_(source_name), delimiter_(delimiter) {
  input_->path = source_name_;
  input_->memory = text;
  buffer_.resize(std::max<size_t>(chunk_bytes, 1));
  data_ = buffer_.data();
  refill();
}

CsvReader::~CsvReader() = default;

bool CsvReader::refill() {
  if (eof_ || !input_) return false;
  // Keep the unconsumed tail (a partial record) at the front.
  const size_t tail = size_ - position_;
  if (position_ > 0 && tail > 0) std::memmove(buffer_.data(), buffer_.data() + position_, tail);
  position_ = 0;
  size_ = tail;
  if (size_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // one record fills the chunk
  data_ = buffer_.data();
  while (size_ < buffer_.size()) {
    const size_t got = input_->read(buffer_.data() + size_, buffer_.size() - size_);
    if (got == 0) {
      eof_ = true;
      break;
    }
    size_ += got;
  }
  if (input_->truncated)
    fail("{}: the gzip data ends early, in line {} (the file is truncated or damaged)", source_name_,
         line_ + static_cast<uint64_t>(std::count(buffer_.data(), buffer_.data() + size_, '\n')));
  return true;
}

uint64_t CsvReader::line_at(size_t record_start, size_t offset) const {
  return line_ + static_cast<uint64_t>(std::count(data_ + record_start, data_ + offset, '\n'));
}

void CsvReader::fail_unterminated_quote(size_t record_start, size_t quote, bool at_end) const {
  if (at_end)
    fail("{}:{}: a quoted field opens here and is never closed (unterminated quote)", source_name_,
         line_at(record_start, quote));
  fail("{}:{}: a quoted field opens here and is not closed within {} (unterminated quote?)", source_name_,
       line_at(record_start, quote), describe_bytes(limits_.max_record_bytes));
}

void CsvReader::fail_too_long(size_t) const {
  fail("{}:{}: {} is longer than {} (the limit)", source_name_, line_, limits_.record_name,
       describe_bytes(limits_.max_record_bytes));
}

void CsvReader::fail_too_many_fields() const {
  fail("{}:{}: more than {} fields in {} (the limit)", source_name_, line_, limits_.max_fields, limits_.record_name);
}

bool CsvReader::next_record(std::vector<std::string_view>& fields) {
  // Two instantiations, so that the quote test costs nothing when it is off and the CSV path
  // is the one it was before the switch existed.
  return quoting_ ? next_record_impl<true>(fields) : next_record_impl<false>(fields);
}

template <bool kQuoting>
bool CsvReader::next_record_impl(std::vector<std::string_view>& fields) {
  for (;;) {
    if (first_record_) {
      // Skip a UTF-8 byte-order mark once we can see three bytes.
      if (size_ - position_ < 3 && !eof_) {
        refill();
        continue;
      }
      first_record_ = false;
      if (size_ - position_ >= 3 && std::memcmp(data_ + position_, "\xEF\xBB\xBF", 3) == 0) {
        position_ += 3;
        bytes_consumed_ += 3;
      }
    }
    if (position_ >= size_) {
      if (eof_) return false;
      refill();
      continue;
    }
    const char* const data = data_;
    const size_t size = size_;
    const char delimiter = delimiter_;
    const size_t start = position_;
    size_t p = start;
    size_t record_end = 0;  // one past the line break (or size at end of input)
    bool any_quoted = false;
    bool need_more = false;
    size_t open_quote = std::string_view::npos;  // where a quoted field still open began
    const size_t max_fields = limits_.max_fields;
    size_t field_count = 0;  // spans_.size(), kept in a register (the check is per field)
    spans_.clear();
    for (;;) {
      if (kQuoting && p < size && data[p] == '"') {
        // Quoted field: runs to the closing quote; "" is an escaped quote.
        any_quoted = true;
        bool unescape = false;
        size_t q = p + 1;
        size_t close = std::string_view::npos;
        for (;;) {
          const void* hit = q < size ? std::memchr(data + q, '"', size - q) : nullptr;
          if (hit == nullptr) break;
          const size_t at = static_cast<size_t>(static_cast<const char*>(hit) - data);
          if (at + 1 < size && data[at + 1] == '"') {
            unescape = true;
            q = at + 2;
            continue;
          }
          if (at + 1 >= size && !eof_) break;  // cannot tell "" from " yet
          close = at;
          break;
        }
        if (close == std::string_view::npos) {
          // Never guess where a field left open ends: read on, or refuse at the end.
          if (eof_) fail_unterminated_quote(start, p, true);
          open_quote = p;
          need_more = true;
          break;
        }
        size_t after = close + 1;
        size_t end = after;
        while (end < size && data[end] != delimiter && data[end] != '\n') ++end;
        if (end >= size && !eof_) {
          need_more = true;
          break;
        }
        if (++field_count > max_fields) fail_too_many_fields();
        if (end == after || (end == after + 1 && data[after] == '\r')) {
          spans_.push_back({p + 1, close - (p + 1), unescape});
        } else {
          // Text after the closing quote ("ab"cd): keep the raw cell; it will not parse.
          size_t raw_end = end;
          if (raw_end > p && data[raw_end - 1] == '\r' && (raw_end >= size || data[raw_end] == '\n')) --raw_end;
          spans_.push_back({p, raw_end - p, false});
        }
        if (end >= size) {
          record_end = size;
          break;
        }
        if (data[end] == '\n') {
          record_end = end + 1;
          break;
        }
        p = end + 1;
        if (p >= size && eof_) {  // trailing delimiter at end of input: one more empty field
          if (++field_count > max_fields) fail_too_many_fields();
          spans_.push_back({p, 0, false});
          record_end = size;
          break;
        }
        continue;
      }
      size_t end = p;
      while (end < size) {
        const char c = data[end];
        if (c == delimiter || c == '\n') break;
        ++end;
      }
      if (end >= size && !eof_) {
        need_more = true;
        break;
      }
      size_t field_end = end;
      const bool at_line_end = end >= size || data[end] == '\n';
      if (at_line_end && field_end > p && data[field_end - 1] == '\r') --field_end;
      if (++field_count > max_fields) fail_too_many_fields();
      spans_.push_back({p, field_end - p, false});
      if (at_line_end) {
        record_end = end >= size ? size : end + 1;
        break;
      }
      p = end + 1;
      if (p >= size && eof_) {
        if (++field_count > max_fields) fail_too_many_fields();
        spans_.push_back({p, 0, false});
        record_end = size;
        break;
      }
    }
    if (need_more) {
      // The record straddles the chunk end: keep it and read more, then parse it again (a
      // record over the limit is refused first, so the buffer stays bounded).
      if (size - start > limits_.max_record_bytes) {
        if (open_quote != std::string_view::npos) fail_unterminated_quote(start, open_quote, false);
        fail_too_long(start);
      }
      position_ = start;
      refill();
      continue;
    }
    // A complete record in [start, record_end).
    if (record_end - start > limits_.max_record_bytes) fail_too_long(start);
    const uint64_t newlines =
        any_quoted ? static_cast<uint64_t>(std::count(data + start, data + record_end, '\n'))
                   : (record_end > start && data[record_end - 1] == '\n' ? 1 : 0);
    record_line_ = line_;
    line_ += newlines;
    bytes_consumed_ += record_end - start;
    position_ = record_end;
    if (spans_.size() == 1 && spans_[0].length == 0 && !any_quoted) {
      ++blank_lines_;
      continue;
    }
    fields.resize(spans_.size());
    size_t unescape_bytes = 0;
    for (const auto& s : spans_)
      if (s.unescape) unescape_bytes += s.length;
    if (unescape_bytes > 0) {
      scratch_.clear();
      scratch_.reserve(unescape_bytes);
    }
    for (size_t i = 0; i < spans_.size(); ++i) {
      const FieldSpan& s = spans_[i];
      if (!s.unescape) {
        fields[i] = std::string_view(data + s.begin, s.length);
        continue;
      }
      const size_t offset = scratch_.size();
      for (size_t k = 0; k < s.length; ++k) {
        const char c = data[s.begin + k];
        scratch_.push_back(c);
        if (c == '"' && k + 1 < s.length && data[s.begin + k + 1] == '"') ++k;
      }
      fields[i] = std::string_view(scratch_.data() + offset, scratch_.size() - offset);
    }
    return true;
  }
}

CellKind parse_float_cell(std::string_view cell, float& value) {
  size_t begin = 0;
  size_t end = cell.size();
  while (begin < end && (cell[begin] == ' ' || cell[begin] == '\t')) ++begin;
  while (end > begin && (cell[end - 1] == ' ' || cell[end - 1] == '\t' || cell[end - 1] == '\r')) --end;
  if (begin == end) {
    value = 0.0f;
    return CellKind::empty;
  }
  if (cell[begin] == '+') ++begin;
  if (begin == end) {
    value = 0.0f;
    return CellKind::unparseable;
  }
  const char* first = cell.data() + begin;
  const char* last = cell.data() + end;
  float parsed = 0.0f;
  const auto result = std::from_chars(first, last, parsed);
  if (result.ec == std::errc() && result.ptr == last) {
    value = parsed;
    if (std::isnan(parsed)) return CellKind::nan;
    if (std::isinf(parsed)) return CellKind::infinite;
    return CellKind::number;
  }
  if (result.ec == std::errc::result_out_of_range && result.ptr == last) {
    // Beyond float range (or below its smallest subnormal): decide with a double parse.
    double wide = 0.0;
    if (std::from_chars(first, last, wide).ec != std::errc()) {
      // Beyond double range too: the sign of the exponent tells overflow from underflow.
      const std::string_view text(first, static_cast<size_t>(last - first));
      const size_t e = text.find_first_of("eE");
      const bool underflow = e != std::string_view::npos && e + 1 < text.size() && text[e + 1] == '-';
      wide = underflow ? 0.0 : (*first == '-' ? -HUGE_VAL : HUGE_VAL);
    }
    if (std::fabs(wide) > static_cast<double>(FLT_MAX)) {
      value = wide > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
      return CellKind::infinite;
    }
    value = static_cast<float>(wide);
    return CellKind::number;
  }
  value = 0.0f;
  return CellKind::unparseable;
}

std::string describe_bytes(size_t bytes) {
  constexpr size_t kMiB = size_t{1} << 20;
  if (bytes >= kMiB && bytes % kMiB == 0) return fmt::format("{} MiB", bytes / kMiB);
  return fmt::format("{} bytes", bytes);
}

}  // namespace metaids::data
