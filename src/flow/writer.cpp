#include "flow/writer.h"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <cmath>

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
  buffer_.reserve(kFlushBytes * 2);
  open_output();
}

// Without close(), the OutputFile's destructor removes the temporary: a run that failed
// leaves the previous file, never a partial one.
FlowWriter::~FlowWriter() = default;

void FlowWriter::open_output() {
  output_.emplace(OutputFile::open(options_.path.empty() ? std::string("-") : options_.path));
  write_header();
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
  if (buffer_.size() >= kFlushBytes) {
    require(output_.has_value(), "flows arrived after the output was closed");
    output_->write(buffer_);
    buffer_.clear();
  }
}

void FlowWriter::flush() {
  if (!output_) return;
  if (!buffer_.empty()) {
    output_->write(buffer_);
    buffer_.clear();
  }
  output_->flush();
}

void FlowWriter::close() {
  if (!output_) return;
  flush();
  output_->commit();
  output_.reset();
}

void FlowWriter::reopen() {
  if (!output_) return;
  if (output_->streamed()) {
    flush();
    return;
  }
  close();
  open_output();
}

}  // namespace metaids::flow
