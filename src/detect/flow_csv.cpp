#include "detect/flow_csv.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/error.h"
#include "data/csv_reader.h"
#include "data/feature_table.h"

namespace metaids::detect {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '"')) s.remove_suffix(1);
  return s;
}

bool parse_unsigned(std::string_view text, std::uint64_t& value) {
  text = trim(text);
  if (text.empty()) return false;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec == std::errc() && r.ptr == text.data() + text.size()) return true;
  // "6.0" and similar
  double d = 0;
  const auto rd = std::from_chars(text.data(), text.data() + text.size(), d);
  if (rd.ec != std::errc() || rd.ptr != text.data() + text.size() || !(d >= 0) || d > 1.8e19 || std::floor(d) != d)
    return false;
  value = static_cast<std::uint64_t>(d);
  return true;
}

bool parse_address(std::string_view text, std::array<std::uint8_t, 16>& out, std::uint8_t& version) {
  const std::string s(trim(text));
  out.fill(0);
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) {
    version = 4;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) {
    version = 6;
    return true;
  }
  return false;
}

}  // namespace

size_t InputLayout::width() const {
  size_t n = numeric.size();
  for (const auto& c : categories) n += c.values.size();
  return n;
}

std::string CsvReadReport::summary() const {
  std::string s = fmt::format("{} flows read of {} records; {} skipped (wrong number of fields); {} feature cells "
                              "empty, NaN, infinite or not numbers (read as 0)",
                              rows, records, skipped, bad_cells);
  if (!examples.empty()) s += fmt::format("; first: {}", examples.front());
  return s;
}

FlowCsvReader::FlowCsvReader(const std::filesystem::path& path, const InputLayout& layout)
    : source_(path == "-" ? std::string("standard input") : path.string()) {
  reader_ = std::make_unique<data::CsvReader>(path == "-" ? std::filesystem::path("/dev/stdin") : path,
                                              layout.schema.delimiter);
  read_header(layout);
}

FlowCsvReader::FlowCsvReader(std::string_view text, std::string_view source, const InputLayout& layout)
    : source_(source) {
  reader_ = std::make_unique<data::CsvReader>(text, source, layout.schema.delimiter);
  read_header(layout);
}

void FlowCsvReader::read_header(const InputLayout& layout) {
  const data::DatasetSchema& schema = layout.schema;
  std::vector<std::string> header;
  if (schema.has_header) {
    // The header within the loaders' bounds (1 MiB, 100,000 columns), then any record's.
    reader_->set_limits({data::kMaxHeaderBytes, data::kMaxColumns, "the header"});
    require(reader_->next_record(fields_), "{} is empty (no header)", source_);
    reader_->set_limits(data::CsvLimits{});
    for (auto f : fields_) {
      std::string name(trim(f));
      const auto alias = schema.column_aliases.find(name);
      if (alias != schema.column_aliases.end()) name = alias->second;
      header.push_back(name);
    }
  } else {
    header = schema.column_names;
  }
  columns_ = header.size();
  std::unordered_map<std::string, int> index;  // the first column of each name
  for (size_t i = 0; i < header.size(); ++i) index.emplace(header[i], static_cast<int>(i));
  auto field_of = [&](const std::string& name) {
    const auto it = index.find(name);
    return it == index.end() ? -1 : it->second;
  };
  std::vector<std::string> missing;
  for (const auto& name : layout.numeric) {
    numeric_field_.push_back(field_of(name));
    if (numeric_field_.back() < 0) missing.push_back(name);
  }
  size_t offset = layout.numeric.size();
  for (const auto& c : layout.categories) {
    one_hot_.push_back({field_of(c.column), offset, c.values});
    if (one_hot_.back().field < 0) missing.push_back(c.column);
    offset += c.values.size();
  }
  if (!missing.empty())
    fail("{} lacks {} column(s) the model reads: {}", source_, missing.size(), fmt::join(missing, ", "));
  src_ip_ = field_of("Src IP");
  dst_ip_ = field_of("Dst IP");
  src_port_ = field_of("Src Port");
  dst_port_ = field_of("Dst Port");
  protocol_ = field_of("Protocol");
  timestamp_ = field_of(schema.timestamp_column.empty() ? "Timestamp" : schema.timestamp_column);
  label_ = -1;
  if (schema.label_column.starts_with("#")) {
    int column = -1;
    const auto digits = std::string_view(schema.label_column).substr(1);
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), column);
    if (r.ec == std::errc() && column >= 0 && column < static_cast<int>(columns_)) label_ = column;
  } else {
    label_ = field_of(schema.label_column);
  }
  duration_ = field_of("Flow Duration");
  fwd_packets_ = field_of("Total Fwd Packet");
  bwd_packets_ = field_of("Total Bwd packets");
  fwd_bytes_ = field_of("Total Length of Fwd Packet");
  bwd_bytes_ = field_of("Total Length of Bwd Packet");
  fwd_header_ = field_of("Fwd Header Length");
  bwd_header_ = field_of("Bwd Header Length");
}

FlowCsvReader::~FlowCsvReader() = default;

bool FlowCsvReader::next(FlowRecord& record, std::span<float> row) {
  while (reader_->next_record(fields_)) {
    ++report_.records;
    if (fields_.size() != columns_) {
      ++report_.skipped;
      if (report_.examples.size() < 5)
        report_.examples.push_back(fmt::format("{}:{}: {} fields, the header has {}", source_, reader_->line_number(),
                                               fields_.size(), columns_));
      continue;
    }
    std::fill(row.begin(), row.end(), 0.0f);
    for (size_t j = 0; j < numeric_field_.size(); ++j) {
      float value = 0;
      const data::CellKind kind = data::parse_float_cell(fields_[static_cast<size_t>(numeric_field_[j])], value);
      if (kind != data::CellKind::number) {
        ++report_.bad_cells;
        value = 0;
      }
      row[j] = value;
    }
    for (const auto& c : one_hot_) {
      const std::string_view v = trim(fields_[static_cast<size_t>(c.field)]);
      for (size_t i = 0; i < c.values.size(); ++i)
        if (c.values[i] == v) row[c.offset + i] = 1.0f;
    }
    record = FlowRecord{};
    record.line = reader_->line_number();
    if (src_ip_ >= 0 && dst_ip_ >= 0) {
      record.has_identity = parse_address(fields_[static_cast<size_t>(src_ip_)], record.src_address, record.ip_version) &&
                            parse_address(fields_[static_cast<size_t>(dst_ip_)], record.dst_address, record.ip_version);
      if (record.has_identity) {
        record.src_ip = std::string(trim(fields_[static_cast<size_t>(src_ip_)]));
        record.dst_ip = std::string(trim(fields_[static_cast<size_t>(dst_ip_)]));
      }
    }
    auto number = [&](int field, std::uint64_t fallback) {
      std::uint64_t v = 0;
      return field >= 0 && parse_unsigned(fields_[static_cast<size_t>(field)], v) ? v : fallback;
    };
    record.src_port = static_cast<std::uint16_t>(std::min<std::uint64_t>(number(src_port_, 0), 65535));
    record.dst_port = static_cast<std::uint16_t>(std::min<std::uint64_t>(number(dst_port_, 0), 65535));
    record.protocol = static_cast<std::uint8_t>(std::min<std::uint64_t>(number(protocol_, 0), 255));
    if (timestamp_ >= 0) {
      std::int64_t us = 0;
      if (data::parse_timestamp(trim(fields_[static_cast<size_t>(timestamp_)]), us)) record.start_us = us;
    }
    const std::uint64_t duration = number(duration_, 0);
    if (record.start_us != 0) record.end_us = record.start_us + static_cast<std::int64_t>(std::min<std::uint64_t>(duration, 1ULL << 50));
    record.pkts_toserver = number(fwd_packets_, 0);
    record.pkts_toclient = number(bwd_packets_, 0);
    record.bytes_toserver = number(fwd_bytes_, 0) + number(fwd_header_, 0);
    record.bytes_toclient = number(bwd_bytes_, 0) + number(bwd_header_, 0);
    if (label_ >= 0) record.label = std::string(trim(fields_[static_cast<size_t>(label_)]));
    ++report_.rows;
    return true;
  }
  return false;
}

}  // namespace metaids::detect
