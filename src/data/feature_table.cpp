#include "data/feature_table.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>

#include "core/error.h"

namespace metaids::data {

uint64_t LoadReport::rows_skipped() const {
  return skipped_bad_value + skipped_short + skipped_long + skipped_missing_label + skipped_bad_timestamp +
         malformed_records;
}

void LoadReport::merge(const LoadReport& other) {
  files.insert(files.end(), other.files.begin(), other.files.end());
  bytes += other.bytes;
  records += other.records;
  rows_kept += other.rows_kept;
  blank_lines += other.blank_lines;
  empty_cells += other.empty_cells;
  infinite_cells += other.infinite_cells;
  nan_cells += other.nan_cells;
  unparseable_cells += other.unparseable_cells;
  short_rows += other.short_rows;
  long_rows += other.long_rows;
  missing_labels += other.missing_labels;
  bad_timestamps += other.bad_timestamps;
  missing_cells += other.missing_cells;
  malformed_records += other.malformed_records;
  skipped_bad_value += other.skipped_bad_value;
  skipped_short += other.skipped_short;
  skipped_long += other.skipped_long;
  skipped_missing_label += other.skipped_missing_label;
  skipped_bad_timestamp += other.skipped_bad_timestamp;
  for (const auto& e : other.examples)
    if (examples.size() < 10) examples.push_back(e);
}

nlohmann::json LoadReport::to_json() const {
  nlohmann::json j{
      {"files", files},
      {"bytes", bytes},
      {"records", records},
      {"rows_kept", rows_kept},
      {"rows_skipped", rows_skipped()},
      {"blank_lines", blank_lines},
      {"cells", {{"empty", empty_cells}, {"infinite", infinite_cells}, {"nan", nan_cells}, {"unparseable", unparseable_cells}}},
      {"rows",
       {{"short", short_rows}, {"long", long_rows}, {"missing_label", missing_labels}, {"bad_timestamp", bad_timestamps}}},
      {"skipped",
       {{"bad_value", skipped_bad_value},
        {"short_row", skipped_short},
        {"long_row", skipped_long},
        {"missing_label", skipped_missing_label},
        {"bad_timestamp", skipped_bad_timestamp}}},
      {"examples", examples}};
  // Zeek only; absent otherwise, so that the reports of other data read as before.
  if (missing_cells > 0) j["cells"]["missing"] = missing_cells;
  if (malformed_records > 0) j["skipped"]["malformed_record"] = malformed_records;
  return j;
}

std::string LoadReport::summary() const {
  std::string zeek;  // only when there was any: the other summaries read as before
  if (missing_cells > 0) zeek += fmt::format("; {} missing (Zeek unset or empty)", missing_cells);
  if (malformed_records > 0) zeek += fmt::format("; {} malformed records skipped", malformed_records);
  return fmt::format(
      "{} rows kept of {} records from {} file(s); skipped {} (bad value {}, short {}, long {}, no label {}, bad "
      "timestamp {}); cells: {} empty, {} infinite, {} NaN, {} unparseable; rows: {} short, {} long{}",
      rows_kept, records, files.size(), rows_skipped(), skipped_bad_value, skipped_short, skipped_long,
      skipped_missing_label, skipped_bad_timestamp, empty_cells, infinite_cells, nan_cells, unparseable_cells,
      short_rows, long_rows, zeek);
}

int32_t FeatureTable::class_id(std::string_view label) const {
  for (size_t i = 0; i < class_names.size(); ++i)
    if (class_names[i] == label) return static_cast<int32_t>(i);
  return -1;
}

std::vector<size_t> FeatureTable::class_counts() const {
  std::vector<size_t> counts(class_names.size(), 0);
  for (const int32_t id : class_ids) ++counts[static_cast<size_t>(id)];
  return counts;
}

std::vector<size_t> FeatureTable::rows_of_class(std::string_view label) const {
  std::vector<size_t> rows;
  const int32_t id = class_id(label);
  if (id < 0) return rows;
  for (size_t r = 0; r < class_ids.size(); ++r)
    if (class_ids[r] == id) rows.push_back(r);
  return rows;
}

FeatureTable FeatureTable::select_rows(std::span<const size_t> rows) const {
  FeatureTable out;
  out.feature_names = feature_names;
  out.class_names = class_names;
  out.benign_label = benign_label;
  out.report = report;
  const auto n = static_cast<Eigen::Index>(rows.size());
  out.features.resize(n, features.cols());
  out.class_ids.resize(rows.size());
  if (has_timestamps()) out.timestamps.resize(rows.size());
  out.categorical.resize(categorical.size());
  for (size_t c = 0; c < categorical.size(); ++c) {
    out.categorical[c].name = categorical[c].name;
    out.categorical[c].vocabulary = categorical[c].vocabulary;
    out.categorical[c].codes.resize(rows.size());
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t r = rows[i];
    require(r < this->rows(), "select_rows: row {} out of range ({} rows)", r, this->rows());
    out.features.row(static_cast<Eigen::Index>(i)) = features.row(static_cast<Eigen::Index>(r));
    out.class_ids[i] = class_ids[r];
    if (has_timestamps()) out.timestamps[i] = timestamps[r];
    for (size_t c = 0; c < categorical.size(); ++c) out.categorical[c].codes[i] = categorical[c].codes[r];
  }
  // Source ranges no longer apply row by row; keep the file list for provenance.
  for (const auto& s : sources) out.sources.push_back({s.path, 0, 0});
  return out;
}

void FeatureTable::append(const FeatureTable& other) {
  if (rows() == 0 && feature_names.empty() && class_names.empty()) {
    *this = other;
    return;
  }
  // Feature columns by name.
  std::vector<Eigen::Index> source_column(feature_names.size());
  std::vector<std::string> missing;
  for (size_t j = 0; j < feature_names.size(); ++j) {
    auto it = std::find(other.feature_names.begin(), other.feature_names.end(), feature_names[j]);
    if (it == other.feature_names.end()) {
      missing.push_back(feature_names[j]);
    } else {
      source_column[j] = static_cast<Eigen::Index>(it - other.feature_names.begin());
    }
  }
  require(missing.empty(), "cannot append tables: the second lacks columns {}", fmt::join(missing, ", "));
  require(other.feature_names.size() == feature_names.size(),
          "cannot append tables: {} feature columns against {}", other.feature_names.size(), feature_names.size());
  require(other.categorical.size() == categorical.size(), "cannot append tables: categorical columns differ");
  require(has_timestamps() == other.has_timestamps() || other.rows() == 0 || rows() == 0,
          "cannot append tables: one has timestamps, the other not");
  const size_t old_rows = rows();
  const size_t add = other.rows();
  FeatureMatrix merged(static_cast<Eigen::Index>(old_rows + add), features.cols());
  if (old_rows > 0) merged.topRows(static_cast<Eigen::Index>(old_rows)) = features;
  for (size_t r = 0; r < add; ++r)
    for (size_t j = 0; j < feature_names.size(); ++j)
      merged(static_cast<Eigen::Index>(old_rows + r), static_cast<Eigen::Index>(j)) =
          other.features(static_cast<Eigen::Index>(r), source_column[j]);
  features = std::move(merged);
  // Class ids.
  std::vector<int32_t> remap(other.class_names.size());
  for (size_t c = 0; c < other.class_names.size(); ++c) {
    int32_t id = class_id(other.class_names[c]);
    if (id < 0) {
      id = static_cast<int32_t>(class_names.size());
      class_names.push_back(other.class_names[c]);
    }
    remap[c] = id;
  }
  for (const int32_t id : other.class_ids) class_ids.push_back(remap[static_cast<size_t>(id)]);
  // Categorical columns by name; vocabularies merged.
  for (auto& column : categorical) {
    auto it = std::find_if(other.categorical.begin(), other.categorical.end(),
                           [&](const CategoricalColumn& c) { return c.name == column.name; });
    require(it != other.categorical.end(), "cannot append tables: the second lacks categorical column {}", column.name);
    std::vector<int32_t> code_map(it->vocabulary.size());
    for (size_t v = 0; v < it->vocabulary.size(); ++v) {
      auto found = std::find(column.vocabulary.begin(), column.vocabulary.end(), it->vocabulary[v]);
      if (found == column.vocabulary.end()) {
        code_map[v] = static_cast<int32_t>(column.vocabulary.size());
        column.vocabulary.push_back(it->vocabulary[v]);
      } else {
        code_map[v] = static_cast<int32_t>(found - column.vocabulary.begin());
      }
    }
    for (const int32_t code : it->codes) column.codes.push_back(code_map[static_cast<size_t>(code)]);
  }
  if (other.has_timestamps()) timestamps.insert(timestamps.end(), other.timestamps.begin(), other.timestamps.end());
  for (const auto& s : other.sources) sources.push_back({s.path, s.first_row + old_rows, s.rows});
  report.merge(other.report);
}

namespace {
struct Fnv1a64 {
  uint64_t state = 14695981039346656037ull;
  void bytes(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      state ^= p[i];
      state *= 1099511628211ull;
    }
  }
  void text(const std::string& s) {
    const uint64_t n = s.size();
    bytes(&n, sizeof n);
    bytes(s.data(), s.size());
  }
};
}  // namespace

std::string content_hash(const FeatureTable& table) {
  Fnv1a64 h;
  for (const auto& name : table.feature_names) h.text(name);
  const uint64_t rows = table.rows();
  h.bytes(&rows, sizeof rows);
  h.bytes(table.features.data(), static_cast<size_t>(table.features.size()) * sizeof(float));
  for (const auto& name : table.class_names) h.text(name);
  h.bytes(table.class_ids.data(), table.class_ids.size() * sizeof(int32_t));
  h.bytes(table.timestamps.data(), table.timestamps.size() * sizeof(int64_t));
  for (const auto& column : table.categorical) {
    h.text(column.name);
    for (const int32_t code : column.codes) h.text(column.vocabulary[static_cast<size_t>(code)]);
  }
  return fmt::format("{:016x}", h.state);
}

namespace {
// Reads 1..max_digits decimal digits at `p`.
bool read_number(std::string_view s, size_t& p, int max_digits, int& out) {
  int value = 0;
  int digits = 0;
  while (p < s.size() && digits < max_digits && s[p] >= '0' && s[p] <= '9') {
    value = value * 10 + (s[p] - '0');
    ++p;
    ++digits;
  }
  out = value;
  return digits > 0;
}
bool expect(std::string_view s, size_t& p, char c) {
  if (p < s.size() && s[p] == c) {
    ++p;
    return true;
  }
  return false;
}
}  // namespace

bool parse_timestamp(std::string_view text, int64_t& microseconds) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '"')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '"')) text.remove_suffix(1);
  size_t p = 0;
  int year = 0, month = 0, day = 0;
  int first = 0;
  if (!read_number(text, p, 4, first)) return false;
  if (p < text.size() && text[p] == '-') {  // ISO: YYYY-MM-DD
    year = first;
    ++p;
    if (!read_number(text, p, 2, month) || !expect(text, p, '-') || !read_number(text, p, 2, day)) return false;
  } else if (p < text.size() && text[p] == '/') {  // CIC: D/M/YYYY (day first)
    day = first;
    ++p;
    if (!read_number(text, p, 2, month) || !expect(text, p, '/') || !read_number(text, p, 4, year)) return false;
    if (year < 100) year += 2000;
  } else {
    return false;
  }
  int hour = 0, minute = 0, second = 0;
  int64_t fraction_us = 0;
  if (p < text.size()) {
    if (text[p] != ' ' && text[p] != 'T') return false;
    ++p;
    if (!read_number(text, p, 2, hour) || !expect(text, p, ':') || !read_number(text, p, 2, minute)) return false;
    if (expect(text, p, ':')) {
      if (!read_number(text, p, 2, second)) return false;
      if (expect(text, p, '.')) {
        int64_t scale = 100000;
        size_t digits = 0;
        while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
          if (digits < 6) fraction_us += (text[p] - '0') * scale;
          scale /= 10;
          ++digits;
          ++p;
        }
        if (digits == 0) return false;
      }
    }
    while (p < text.size() && text[p] == ' ') ++p;
    if (p + 2 <= text.size()) {
      const std::string_view suffix = text.substr(p, 2);
      const bool pm = suffix == "PM" || suffix == "pm";
      const bool am = suffix == "AM" || suffix == "am";
      if (pm || am) {
        if (hour < 1 || hour > 12) return false;
        if (pm && hour != 12) hour += 12;
        if (am && hour == 12) hour = 0;
        p += 2;
      }
    }
    if (p != text.size()) return false;
  }
  if (hour > 23 || minute > 59 || second > 60) return false;
  using namespace std::chrono;
  const year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                            std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return false;
  const int64_t days = sys_days{date}.time_since_epoch().count();
  microseconds = ((days * 24 + hour) * 60 + minute) * int64_t{60000000} + int64_t{second} * 1000000 + fraction_us;
  return true;
}

bool parse_zeek_time(std::string_view text, int64_t& microseconds) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '"')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '"')) text.remove_suffix(1);
  if (text.empty()) return false;
  // ISO 8601 as Zeek's JSON writer prints it: 2023-02-22T00:00:03.714845Z.
  if (text.size() > 10 && text[4] == '-') {
    if (text.back() == 'Z') text.remove_suffix(1);
    return parse_timestamp(text, microseconds);
  }
  // Epoch seconds with an optional fraction, read exactly (a double would round the microseconds).
  size_t p = 0;
  const bool negative = text[0] == '-';
  if (negative) ++p;
  int64_t seconds = 0;
  size_t digits = 0;
  while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
    if (++digits > 12) return false;  // beyond year 33658: not a time
    seconds = seconds * 10 + (text[p] - '0');
    ++p;
  }
  if (digits == 0) return false;
  int64_t fraction = 0;
  if (p < text.size() && text[p] == '.') {
    ++p;
    int64_t scale = 100000;
    size_t fraction_digits = 0;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
      if (fraction_digits < 6) fraction += (text[p] - '0') * scale;  // beyond microseconds: cut
      scale /= 10;
      ++fraction_digits;
      ++p;
    }
    if (fraction_digits == 0) return false;
  }
  if (p != text.size()) return false;
  const int64_t value = seconds * 1000000 + fraction;
  microseconds = negative ? -value : value;
  return true;
}

}  // namespace metaids::data
