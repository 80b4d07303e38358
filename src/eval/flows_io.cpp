#include "eval/flows_io.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/loaders.h"

namespace metaids::eval {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '"')) s.remove_suffix(1);
  return s;
}

bool header_has_label(std::string_view header, const data::DatasetSchema& schema) {
  size_t start = 0;
  while (start <= header.size()) {
    size_t end = header.find(schema.delimiter, start);
    if (end == std::string_view::npos) end = header.size();
    std::string name(trim(header.substr(start, end - start)));
    const auto alias = schema.column_aliases.find(name);
    if (alias != schema.column_aliases.end()) name = alias->second;
    if (name == schema.label_column) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

data::FeatureTable load_flows(const std::filesystem::path& path, const data::DatasetSchema& schema,
                              const std::string& fallback_label) {
  require(std::filesystem::exists(path), "input file {} does not exist", path.string());
  const bool compressed = path.extension() == ".gz";
  if (!schema.has_header || compressed || std::filesystem::is_directory(path) || schema.label_column.starts_with("#"))
    return data::load_dataset(path, schema);
  const std::string text = read_whole_file(path);
  const size_t newline = text.find('\n');
  const std::string_view header(text.data(), newline == std::string::npos ? text.size() : newline);
  if (header_has_label(header, schema)) return data::load_dataset(path, schema);
  require(!fallback_label.empty(), "{} has no label column '{}' (give the class with --label)", path.string(),
          schema.label_column);
  // Append the label column in memory: header gets its name, every data line the fallback.
  std::string patched;
  patched.reserve(text.size() + text.size() / 8);
  size_t start = 0;
  bool first = true;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    const bool cr = !line.empty() && line.back() == '\r';
    if (cr) line.remove_suffix(1);
    if (!trim(line).empty()) {
      patched.append(line);
      patched += schema.delimiter;
      patched += first ? schema.label_column : fallback_label;
      first = false;
    }
    patched += '\n';
    start = end + 1;
  }
  return data::load_csv_text(patched, schema, path.string());
}

}  // namespace metaids::eval
