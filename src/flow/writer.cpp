#include "flow/writer.h"

#include <fmt/compile.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace metaids::flow {
namespace {

constexpr size_t kFlushBytes = 1 << 16;

size_t column_count(bool extra_columns) { return extra_columns ? kFeatureCount : kStandardFeatureCount; }

// Compiled formats into a stack buffer: the same text as fmt::format("{}", v), without
// parsing the format string per value or growing the string a character at a time (after a
// flood, formatting a million rows was three quarters of `metaids flows`' time).
void append_number(std::string& out, Feature feature, double value) {
  if (value == 0 && !std::signbit(value)) {  // most columns of a short flow
    out += '0';
  } else if (feature_is_integer(feature) && std::fabs(value) < 9.0e15) {
    const fmt::format_int text(static_cast<int64_t>(value));
    out.append(text.data(), text.size());
  } else if (std::isfinite(value)) {
    char buffer[64];
    const char* end = fmt::format_to(buffer, FMT_COMPILE("{}"), value);
    out.append(buffer, static_cast<size_t>(end - buffer));
  } else {
    out += "0";
  }
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string csv_header(bool extra_columns) {
  std::string header;
  for (const auto name : identifier_columns()) {
    header += name;
    header += ',';
  }
  for (size_t i = 0; i < column_count(extra_columns); ++i) {
    header += feature_name(static_cast<Feature>(i));
    if (i + 1 < column_count(extra_columns)) header += ',';
  }
  return header;
}

std::string format_flow(const FlowState& flow, OutputFormat format, bool extra_columns) {
  const FlowIdentity id = identify(flow);
  const FeatureVector features = compute_features(flow);
  std::string row;
  row.reserve(1024);
  if (format == OutputFormat::csv) {
    fmt::format_to(std::back_inserter(row), FMT_COMPILE("{},{},{},{},{},{},{}"), id.flow_id, id.src_ip, id.src_port,
                   id.dst_ip, id.dst_port, id.protocol, id.timestamp);
    for (size_t i = 0; i < column_count(extra_columns); ++i) {
      row += ',';
      append_number(row, static_cast<Feature>(i), features[i]);
    }
    return row;
  }
  const auto& names = identifier_columns();
  row += '{';
  append_json_string(row, names[0]);
  row += ':';
  append_json_string(row, id.flow_id);
  fmt::format_to(std::back_inserter(row), ",\"{}\":\"{}\",\"{}\":{},\"{}\":\"{}\",\"{}\":{},\"{}\":{},\"{}\":\"{}\"",
                 names[1], id.src_ip, names[2], id.src_port, names[3], id.dst_ip, names[4], id.dst_port, names[5],
                 id.protocol, names[6], id.timestamp);
  for (size_t i = 0; i < column_count(extra_columns); ++i) {
    row += ',';
    append_json_string(row, feature_name(static_cast<Feature>(i)));
    row += ':';
    append_number(row, static_cast<Feature>(i), features[i]);
  }
  row += '}';
  return row;
}

FlowWriter::FlowWriter(const WriterOptions& options) : options_(options) {
  if (options_.path.empty() || options_.path == "-") {
    file_ = stdout;
  } else {
    partial_path_ = options_.path + ".partial";
    file_ = std::fopen(partial_path_.c_str(), "wb");
    require(file_ != nullptr, "cannot write {}: {}", partial_path_, std::strerror(errno));
    owns_file_ = true;
  }
  buffer_.reserve(kFlushBytes * 2);
  write_header();
}

FlowWriter::~FlowWriter() {
  try {
    close();
  } catch (...) {
    // Destructors must not throw; close() already reported nothing better to do.
  }
}

void FlowWriter::write_header() {
  if (options_.format == OutputFormat::csv) {
    buffer_ += csv_header(options_.extra_columns);
    buffer_ += '\n';
  }
}

void FlowWriter::on_flow(const FlowState& flow, FlowEnd /*reason*/) {
  buffer_ += format_flow(flow, options_.format, options_.extra_columns);
  buffer_ += '\n';
  ++flows_written_;
  if (buffer_.size() >= kFlushBytes) flush();
}

void FlowWriter::flush() {
  if (file_ == nullptr) return;
  if (!buffer_.empty()) {
    const size_t size = buffer_.size();
    const size_t written = std::fwrite(buffer_.data(), 1, size, file_);
    buffer_.clear();
    require(written == size, "cannot write flows: {}", std::strerror(errno));
  }
  require(std::fflush(file_) == 0, "cannot write flows: {}", std::strerror(errno));
}

void FlowWriter::close() {
  if (file_ == nullptr) return;
  flush();
  if (owns_file_) {
    const bool ok = ::fsync(fileno(file_)) == 0 || errno == EINVAL;
    std::fclose(file_);
    file_ = nullptr;
    require(ok, "cannot sync {}: {}", partial_path_, std::strerror(errno));
    std::error_code error;
    std::filesystem::rename(partial_path_, options_.path, error);
    require(!error, "cannot rename {} to {}: {}", partial_path_, options_.path, error.message());
  }
  file_ = nullptr;
}

}  // namespace metaids::flow
