#include "data/loaders.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <map>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "data/csv_reader.h"
#include "data/json_input.h"

namespace metaids::data {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}


constexpr size_t kMaxExamples = 10;
constexpr size_t kHugePage = size_t{2} << 20;
size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Loading writes hundreds of MB into fresh memory; on virtual machines the 4 KiB page faults
// cost as much as the parsing. Transparent huge pages (where the kernel allows them on
// request) cut the faults 512-fold. Advisory only: failure changes nothing.
void advise_huge_pages(void* data, size_t bytes) {
  const auto begin = round_up(reinterpret_cast<uintptr_t>(data), kHugePage);
  const auto end = (reinterpret_cast<uintptr_t>(data) + bytes) / kHugePage * kHugePage;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

// ---------------------------------------------------------------------------------------------
// Zeek logs. A tab-separated log starts with its header lines:
//
//   #separator \x09
//   #set_separator	,
//   #empty_field	(empty)
//   #unset_field	-
//   #path	conn
//   #open	2024-08-16-09-45-01
//   #fields	ts	uid	id.orig_h	...
//   #types	time	string	addr	...
//   1677024003.714845	C6SgKom3WB2KEL2ae	192.168.1.107	...
//   #close	2024-08-16-09-45-02
//
// and concatenated logs repeat them (the #fields must then be the same). A JSON log has one
// object per line. ZeekSource hands out data records as fields in names() order, like a
// CsvReader, and types() says what each column is.

// What a column of a given Zeek type becomes (the schema's lists override it).
enum class ZeekRole { numeric, categorical, optional_categorical, dropped };

ZeekRole zeek_role(std::string_view type) {
  if (type == "count" || type == "int" || type == "double" || type == "interval") return ZeekRole::numeric;
  if (type == "enum") return ZeekRole::categorical;
  if (type == "string" || type == "bool") return ZeekRole::optional_categorical;
  return ZeekRole::dropped;  // time (other than the timestamp), addr, subnet, port, set[...], vector[...], ...
}

// conn.log's fields and types (Zeek 3 to 6), in the order Zeek writes them: a JSON conn log
// omits unset fields, so its first line need not name them all.
const std::vector<std::pair<std::string, std::string>>& conn_log_fields() {
  static const std::vector<std::pair<std::string, std::string>> fields{
      {"ts", "time"},           {"uid", "string"},          {"id.orig_h", "addr"},      {"id.orig_p", "port"},
      {"id.resp_h", "addr"},    {"id.resp_p", "port"},      {"proto", "enum"},          {"service", "string"},
      {"duration", "interval"}, {"orig_bytes", "count"},    {"resp_bytes", "count"},    {"conn_state", "string"},
      {"local_orig", "bool"},   {"local_resp", "bool"},     {"missed_bytes", "count"},  {"history", "string"},
      {"orig_pkts", "count"},   {"orig_ip_bytes", "count"}, {"resp_pkts", "count"},     {"resp_ip_bytes", "count"},
      {"tunnel_parents", "set[string]"}};
  return fields;
}

// Further fields some Zeek versions and packages add to conn.log, typed when a JSON log has them.
std::string_view known_zeek_type(std::string_view name) {
  for (const auto& [field, type] : conn_log_fields())
    if (field == name) return type;
  static const std::pair<const char*, const char*> more[] = {
      {"ip_proto", "count"},          {"orig_l2_addr", "string"}, {"resp_l2_addr", "string"}, {"vlan", "int"},
      {"inner_vlan", "int"},          {"community_id", "string"}, {"orig_shunted_pkts", "count"},
      {"orig_shunted_bytes", "count"}, {"resp_shunted_pkts", "count"}, {"resp_shunted_bytes", "count"}};
  for (const auto& [field, type] : more)
    if (name == field) return type;
  return {};
}

// \xHH escapes (Zeek escapes the separator and unprintable bytes) decoded; `raw` itself when
// there are none.
std::string_view zeek_unescape(std::string_view raw, std::string& scratch) {
  if (raw.find("\\x") == std::string_view::npos) return raw;
  scratch.clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 3 < raw.size() && raw[i + 1] == 'x' && hex(raw[i + 2]) >= 0 && hex(raw[i + 3]) >= 0) {
      scratch.push_back(static_cast<char>(hex(raw[i + 2]) * 16 + hex(raw[i + 3])));
      i += 3;
    } else {
      scratch.push_back(raw[i]);
    }
  }
  return scratch;
}

class ZeekSource {
 public:
  // Opens the input again with another delimiter (a log whose #separator is not a tab).
  using Opener = std::function<std::unique_ptr<CsvReader>(char delimiter)>;

  ZeekSource(Opener open, LoadReport& report) : open_(std::move(open)), report_(report) {
    reader_ = open_('\n');  // whole lines first: is it a tab-separated log or JSON?
    reader_->set_quoting(false);
    reader_->set_limits({kMaxHeaderBytes, kMaxColumns, "the first line"});
    std::vector<std::string_view> line;
    if (!reader_->next_record(line)) return;  // empty file: no columns, no rows
    reader_->set_limits(CsvLimits{});
    const std::string_view first = line.empty() ? std::string_view{} : line[0];
    if (!first.empty() && first.front() == '{') {
      json_ = true;
      start_json(first);
      return;
    }
    require(first.substr(0, 10) == "#separator",
            "{}:{}: not a Zeek log: the first line is neither '#separator ...' nor a JSON object", source_name(),
            reader_->line_number());
    const char separator = parse_separator(first);
    reader_ = open_(separator);
    reader_->set_quoting(false);
    separator_ = separator;
    std::vector<std::string_view> fields;
    reader_->set_limits({kMaxHeaderBytes, kMaxColumns, "a header line"});
    reader_->next_record(fields);  // the #separator line again
    while (reader_->next_record(fields)) {
      if (is_directive(fields)) {
        directive(fields);
        continue;
      }
      require(!names_.empty(), "{}:{}: a data line before the log's #fields header", source_name(),
              reader_->line_number());
      pending_.assign(fields.begin(), fields.end());  // the first data record, kept for next_record
      has_pending_ = true;
      break;
    }
    reader_->set_limits(CsvLimits{});
    require(!names_.empty() || !has_pending_, "{}: a Zeek log without a #fields header line", source_name());
    require(types_.size() == names_.size(), "{}: the #types header line has {} types for {} #fields", source_name(),
            types_.size(), names_.size());
  }

  const std::string& source_name() const { return reader_->source_name(); }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<std::string>& types() const { return types_; }
  bool is_missing(std::string_view cell) const { return cell == unset_ || cell == empty_; }
  uint64_t line_number() const { return reader_->line_number(); }
  uint64_t bytes_consumed() const { return reader_->bytes_consumed(); }
  uint64_t blank_lines() const { return reader_->blank_lines(); }

  bool next_record(std::vector<std::string_view>& fields) {
    if (json_) return next_json(fields);
    if (has_pending_) {
      has_pending_ = false;
      fields.assign(pending_.begin(), pending_.end());
      return true;
    }
    while (reader_->next_record(fields)) {
      if (!is_directive(fields)) return true;
      directive(fields);
    }
    return false;
  }

 private:
  static bool is_directive(const std::vector<std::string_view>& fields) {
    return !fields.empty() && !fields[0].empty() && fields[0].front() == '#';
  }

  // "#separator \x09" (the one header line split by a space): the separator character.
  char parse_separator(std::string_view line) const {
    std::string_view value = line.substr(10);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.remove_suffix(1);
    std::string scratch;
    const std::string_view decoded = zeek_unescape(value, scratch);
    require(decoded.size() == 1 && decoded[0] != '\n' && decoded[0] != '"',
            "{}:{}: the #separator must be one character (\\x09 for a tab), got {}", source_name(),
            reader_->line_number(), short_text(value));
    return decoded[0];
  }

  void directive(const std::vector<std::string_view>& fields) {
    const std::string_view key = fields[0];
    auto value = [&]() -> std::string {
      require(fields.size() >= 2, "{}:{}: the header line {} has no value", source_name(), reader_->line_number(),
              short_text(key));
      return std::string(fields[1]);
    };
    auto rest = [&] {
      std::vector<std::string> out;
      for (size_t i = 1; i < fields.size(); ++i) out.emplace_back(fields[i]);
      return out;
    };
    if (key.substr(0, 10) == "#separator") {
      // A concatenated log starts again; its separator must be the one the lines are split by.
      require(parse_separator(key) == separator_,
              "{}:{}: a repeated header changes the #separator (not supported; split the log)", source_name(),
              reader_->line_number());
    } else if (key == "#unset_field") {
      unset_ = value();
    } else if (key == "#empty_field") {
      empty_ = value();
    } else if (key == "#fields" || key == "#types") {
      std::vector<std::string>& target = key == "#fields" ? names_ : types_;
      std::vector<std::string> given = rest();
      if (target.empty()) {
        target = std::move(given);
      } else {
        if (given != target) {
          size_t i = 0;
          while (i < given.size() && i < target.size() && given[i] == target[i]) ++i;
          const char* what = key == "#fields" ? "field" : "type";
          fail("{}:{}: a repeated header lists other {} than the first: {} {} is {} where the first header had {} ({} "
               "{}s against {}; split the log where its columns change)",
               source_name(), reader_->line_number(), key, what, i + 1,
               i < given.size() ? short_text(given[i]) : std::string("missing"),
               i < target.size() ? short_text(target[i]) : std::string("none"), given.size(), what, target.size());
        }
      }
    }
    // #set_separator (sets are dropped), #path, #open, #close and comments: nothing to do.
  }

  // JSON: the columns are conn.log's (when it is one) and the keys of the first object.
  void start_json(std::string_view first) {
    // Lines that are not an object are records counted and skipped here; the first object is
    // counted by the builder when next_record hands it out.
    nlohmann::json object = nlohmann::json::parse(first, nullptr, false);
    if (!object.is_object()) {
      bad_json_line();
      std::vector<std::string_view> line;
      while (reader_->next_record(line)) {
        object = nlohmann::json::parse(line.empty() ? std::string_view{} : line[0], nullptr, false);
        if (object.is_object()) break;
        bad_json_line();
      }
      if (!object.is_object()) return;
    }
    const auto path = object.find("_path");
    const bool conn = object.contains("conn_state") || (path != object.end() && path->is_string() && *path == "conn");
    if (conn)
      for (const auto& [field, type] : conn_log_fields()) add_column(field, type);
    for (const auto& [key, value] : object.items()) {
      if (index_.count(key) != 0 || key == "_path" || key == "_write_ts") continue;
      std::string_view type = known_zeek_type(key);
      if (key == "id.orig_h" || key == "id.resp_h") type = "addr";
      if (key == "id.orig_p" || key == "id.resp_p") type = "port";
      if (type.empty()) {
        type = value.is_number_float()           ? "double"
               : value.is_number_unsigned()      ? "count"
               : value.is_number_integer()       ? "int"
               : value.is_string()               ? "string"
               : value.is_boolean()              ? "bool"
               : value.is_array()                ? "vector"
                                                 : "unknown";
      }
      add_column(key, std::string(type));
    }
    pending_object_ = std::move(object);
    has_pending_ = true;
  }

  void add_column(const std::string& name, const std::string& type) {
    index_.emplace(name, names_.size());
    names_.push_back(name);
    types_.push_back(type);
  }

  void bad_json_line() {
    ++report_.records;
    ++report_.malformed_records;
    if (report_.examples.size() < kMaxExamples)
      report_.examples.push_back(fmt::format("{}:{}: not a JSON object", source_name(), reader_->line_number()));
  }

  // The next JSON object as fields: each key's value as text at its column; absent keys unset.
  bool next_json(std::vector<std::string_view>& fields) {
    nlohmann::json object;
    if (has_pending_) {
      has_pending_ = false;
      object = std::move(pending_object_);
    } else {
      std::vector<std::string_view> line;
      for (;;) {
        if (!reader_->next_record(line)) return false;
        object = nlohmann::json::parse(line.empty() ? std::string_view{} : line[0], nullptr, false);
        if (object.is_object()) break;
        bad_json_line();
      }
    }
    cells_.assign(names_.size(), unset_);
    for (const auto& [key, value] : object.items()) {
      const auto it = index_.find(key);
      if (it == index_.end()) continue;  // a key the first line did not have: not a column
      std::string& cell = cells_[it->second];
      if (value.is_string()) {
        cell = value.get<std::string>();
      } else if (value.is_number_unsigned()) {
        cell = std::to_string(value.get<std::uint64_t>());
      } else if (value.is_number_integer()) {
        cell = std::to_string(value.get<std::int64_t>());
      } else if (value.is_number_float()) {
        cell = fmt::format("{}", value.get<double>());  // shortest text that reads back the same double
      } else if (value.is_boolean()) {
        cell = value.get<bool>() ? "T" : "F";
      } else if (value.is_array() && value.empty()) {
        cell = empty_;
      }  // null, non-empty arrays, objects: unset
    }
    fields.assign(cells_.begin(), cells_.end());
    return true;
  }

  Opener open_;
  LoadReport& report_;
  std::unique_ptr<CsvReader> reader_;
  char separator_ = '\t';
  bool json_ = false;
  std::vector<std::string> names_, types_;
  std::unordered_map<std::string, size_t> index_;  // JSON: key → column
  std::string unset_ = "-", empty_ = "(empty)";
  std::vector<std::string> pending_;                // the first data record (tab-separated)
  nlohmann::json pending_object_;                   // the first object (JSON)
  bool has_pending_ = false;
  std::vector<std::string> cells_;
};

// Accumulates the rows of one or more files (same feature columns) into one table.
class TableBuilder {
 public:
  explicit TableBuilder(const DatasetSchema& schema)
      : schema_(schema),
        drop_(schema.drop_columns.begin(), schema.drop_columns.end()),
        categorical_names_(schema.categorical_columns.begin(), schema.categorical_columns.end()) {}

  // CSV: the header (or the schema's column names), then the records.
  void add(CsvReader& reader) {
    LoadReport& rep = report_;
    rep.files.push_back(reader.source_name());
    const uint64_t first_row = class_ids_.size();
    std::vector<std::string_view> fields;
    // Column names. The header has tighter limits than data records (docs/security.md).
    std::vector<std::string> names;
    if (schema_.has_header) {
      reader.set_limits({kMaxHeaderBytes, kMaxColumns, "the header"});
      const bool any = reader.next_record(fields);
      reader.set_limits(CsvLimits{});
      if (!any) {  // empty file: nothing to add
        sources_.push_back({reader.source_name(), first_row, 0});
        rep.bytes += reader.bytes_consumed();
        return;
      }
      names.reserve(fields.size());
      for (const auto f : fields) {
        std::string name(trim(f));
        if (auto it = schema_.column_aliases.find(name); it != schema_.column_aliases.end()) name = it->second;
        names.push_back(std::move(name));
      }
    } else {
      names = schema_.column_names;
    }
    add_records(reader, std::move(names), nullptr, first_row);
  }

  // A Zeek log: the columns and their types from its own header (or its first JSON object).
  void add(ZeekSource& source) {
    report_.files.push_back(source.source_name());
    const uint64_t first_row = class_ids_.size();
    if (source.names().empty()) {  // an empty log: nothing to add
      sources_.push_back({source.source_name(), first_row, 0});
      report_.bytes += source.bytes_consumed();
      return;
    }
    std::vector<std::string> names;
    for (const auto& field : source.names()) {
      std::string name = field;
      if (auto it = schema_.column_aliases.find(name); it != schema_.column_aliases.end()) name = it->second;
      names.push_back(std::move(name));
    }
    add_records(source, std::move(names), &source, first_row);
  }

  // The records of one file whose column names are known. `zeek` (a Zeek log) supplies the
  // column types and the missing-value markers; null for CSV.
  template <typename Source>
  void add_records(Source& reader, std::vector<std::string> names, const ZeekSource* zeek, uint64_t first_row) {
    LoadReport& rep = report_;
    std::vector<std::string_view> fields;
    const size_t column_count = names.size();
    // Every look-up below is a hash look-up: a header of n columns costs O(n), not O(n²).
    // The label column.
    size_t label_index = column_count;
    if (schema_.label_column.size() > 1 && schema_.label_column[0] == '#' && schema_.label_column.size() <= 7 &&
        schema_.label_column.find_first_not_of("0123456789", 1) == std::string::npos) {
      label_index = static_cast<size_t>(std::stoul(schema_.label_column.substr(1)));
    } else {
      label_index = static_cast<size_t>(std::find(names.begin(), names.end(), schema_.label_column) - names.begin());
    }
    const bool unlabeled = label_index >= column_count && !schema_.label_required;
    if (label_index >= column_count && !unlabeled) {
      std::vector<std::string> shown(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(names.size(), 12)));
      fail("{}: no label column '{}' (schema {}; columns: {}{})", reader.source_name(), schema_.label_column, schema_.name,
           fmt::join(shown, ", "), names.size() > shown.size() ? ", ..." : "");
    }
    size_t timestamp_index = column_count;
    if (!schema_.timestamp_column.empty())
      timestamp_index = static_cast<size_t>(std::find(names.begin(), names.end(), schema_.timestamp_column) - names.begin());
    const bool file_has_timestamps = timestamp_index < column_count;
    // What a column is: the schema's lists first, then (Zeek) the log's #types.
    auto dropped = [&](size_t i) {
      const std::string& name = names[i];
      if (name.empty() || drop_.count(name) != 0) return true;
      if (zeek == nullptr || categorical_names_.count(name) != 0) return false;
      const ZeekRole role = zeek_role(zeek->types()[i]);
      return role == ZeekRole::dropped || role == ZeekRole::optional_categorical;
    };
    auto categorical = [&](size_t i) {
      return categorical_names_.count(names[i]) != 0 ||
             (zeek != nullptr && zeek_role(zeek->types()[i]) == ZeekRole::categorical);
    };
    // Roles and the mapping onto the table's columns.
    std::vector<std::pair<size_t, size_t>> feature_columns;      // (csv index, table column)
    std::vector<std::pair<size_t, size_t>> categorical_columns;  // (csv index, categorical slot)
    std::vector<std::string_view> file_features;                 // views into `names`
    std::vector<std::string_view> file_categoricals;
    NameSet seen;
    for (size_t i = 0; i < column_count; ++i) {
      if (i == label_index || i == timestamp_index) continue;
      const std::string& name = names[i];
      if (dropped(i)) continue;
      require(seen.insert(name).second, "{}: column '{}' appears twice", reader.source_name(), name);
      (categorical(i) ? file_categoricals : file_features).push_back(name);
    }
    if (first_file_) {
      feature_names_.assign(file_features.begin(), file_features.end());
      for (size_t c = 0; c < feature_names_.size(); ++c) feature_index_.emplace(feature_names_[c], c);
      for (const auto name : file_categoricals) {
        categorical_index_.emplace(std::string(name), categorical_.size());
        categorical_.push_back({std::string(name), {}, {}});
      }
      lookups_.resize(categorical_.size());
      has_timestamps_ = file_has_timestamps;
      first_file_ = false;
    } else {
      std::vector<std::string> missing, extra;
      const NameSet file_feature_set(file_features.begin(), file_features.end());
      const NameSet file_categorical_set(file_categoricals.begin(), file_categoricals.end());
      for (const auto& n : feature_names_)
        if (file_feature_set.count(n) == 0) missing.emplace_back(n);
      for (const auto n : file_features)
        if (feature_index_.count(std::string(n)) == 0) extra.emplace_back(n);
      for (const auto& c : categorical_)
        if (file_categorical_set.count(c.name) == 0) missing.push_back(c.name);
      for (const auto n : file_categoricals)
        if (categorical_index_.count(std::string(n)) == 0) extra.emplace_back(n);
      require(missing.empty() && extra.empty(), "{}: columns differ from {} (missing: {}; extra: {})",
              reader.source_name(), report_.files.front(), list_some(missing), list_some(extra));
      require(file_has_timestamps == has_timestamps_, "{}: has {}timestamp column '{}' unlike {}", reader.source_name(),
              file_has_timestamps ? "a " : "no ", schema_.timestamp_column, report_.files.front());
    }
    for (size_t i = 0; i < column_count; ++i) {
      if (i == label_index || i == timestamp_index) continue;
      const std::string& name = names[i];
      if (dropped(i)) continue;
      if (const auto it = feature_index_.find(name); it != feature_index_.end())
        feature_columns.emplace_back(i, it->second);
      else if (const auto c = categorical_index_.find(name); c != categorical_index_.end())
        categorical_columns.emplace_back(i, c->second);
    }

    const size_t feature_count = feature_names_.size();
    std::vector<int32_t> codes(categorical_.size());
    std::string last_label;
    std::string label_scratch, value_scratch;  // Zeek values with \xHH escapes, decoded
    int32_t last_class = -1;
    const std::string_view strip = schema_.label_strip_suffix;
    auto example = [&](std::string_view what) {
      if (rep.examples.size() < kMaxExamples)
        rep.examples.push_back(fmt::format("{}:{}: {}", reader.source_name(), reader.line_number(), what));
    };

    while (reader.next_record(fields)) {
      ++rep.records;
      const size_t n = fields.size();
      if (n < column_count) {
        ++rep.short_rows;
        example(fmt::format("short row ({} fields, {} expected)", n, column_count));
        if (schema_.short_row == ShortRowPolicy::skip_row) {
          ++rep.skipped_short;
          continue;
        }
      } else if (n > column_count) {
        ++rep.long_rows;
        example(fmt::format("long row ({} fields, {} expected)", n, column_count));
        if (schema_.long_row == LongRowPolicy::skip_row) {
          ++rep.skipped_long;
          continue;
        }
      }
      std::string_view label = unlabeled ? std::string_view(kUnlabeled)
                               : label_index < n ? trim(fields[label_index])
                                                 : std::string_view{};
      if (!strip.empty() && label.size() >= strip.size() && label.substr(label.size() - strip.size()) == strip)
        label.remove_suffix(strip.size());
      if (zeek != nullptr) label = zeek->is_missing(label) ? std::string_view{} : zeek_unescape(label, label_scratch);
      if (label.empty()) {
        ++rep.missing_labels;
        ++rep.skipped_missing_label;
        example("empty label");
        continue;
      }
      float* row = next_row(feature_count);
      bool bad_value = false;
      for (const auto& [csv_index, column] : feature_columns) {
        if (csv_index >= n) continue;  // short row under the "zero" policy
        float value;
        const CellKind kind = parse_float_cell(fields[csv_index], value);
        if (kind == CellKind::number) [[likely]] {
          row[column] = value;
          continue;
        }
        row[column] = 0.0f;
        if (zeek != nullptr && zeek->is_missing(fields[csv_index])) {  // unset or empty: missing, not bad
          ++rep.missing_cells;
          continue;
        }
        bad_value = true;
        switch (kind) {
          case CellKind::empty: ++rep.empty_cells; break;
          case CellKind::infinite: ++rep.infinite_cells; break;
          case CellKind::nan: ++rep.nan_cells; break;
          default:
            ++rep.unparseable_cells;
            example(fmt::format("'{}' in column '{}' is not a number", fields[csv_index].substr(0, 40), names[csv_index]));
            break;
        }
      }
      if (bad_value && schema_.bad_value == BadValuePolicy::skip_row) {
        ++rep.skipped_bad_value;
        continue;
      }
      int64_t timestamp = 0;
      if (has_timestamps_) {
        const std::string_view text = timestamp_index < n ? fields[timestamp_index] : std::string_view{};
        if (!(zeek != nullptr ? parse_zeek_time(text, timestamp) : parse_timestamp(text, timestamp))) {
          ++rep.bad_timestamps;
          example(fmt::format("timestamp '{}' not understood", text.substr(0, 40)));
          if (schema_.bad_timestamp == BadTimestampPolicy::skip_row) {
            ++rep.skipped_bad_timestamp;
            continue;
          }
          timestamp = 0;
        }
        timestamps_.push_back(timestamp);
      }
      for (const auto& [csv_index, slot] : categorical_columns) {
        std::string_view value = csv_index < n ? trim(fields[csv_index]) : std::string_view{};
        if (zeek != nullptr) value = zeek_unescape(value, value_scratch);
        auto& lookup = lookups_[slot];
        auto it = lookup.find(value);
        if (it == lookup.end()) {
          it = lookup.emplace(std::string(value), static_cast<int32_t>(categorical_[slot].vocabulary.size())).first;
          categorical_[slot].vocabulary.emplace_back(value);
        }
        categorical_[slot].codes.push_back(it->second);
      }
      if (label != last_label || last_class < 0) {
        auto it = class_lookup_.find(label);
        if (it == class_lookup_.end()) {
          it = class_lookup_.emplace(std::string(label), static_cast<int32_t>(class_names_.size())).first;
          class_names_.emplace_back(label);
        }
        last_label.assign(label);
        last_class = it->second;
      }
      class_ids_.push_back(last_class);
      ++rows_in_last_block_;  // the row written by next_row() is kept
    }
    rep.bytes += reader.bytes_consumed();
    rep.blank_lines += reader.blank_lines();
    sources_.push_back({reader.source_name(), first_row, class_ids_.size() - first_row});
  }

  LoadReport& report() { return report_; }

  FeatureTable finish() {
    FeatureTable t;
    t.feature_names = std::move(feature_names_);
    const auto rows = static_cast<Eigen::Index>(class_ids_.size());
    const auto cols = static_cast<Eigen::Index>(t.feature_names.size());
    t.features.resize(rows, cols);
    float* out = t.features.data();
    advise_huge_pages(out, static_cast<size_t>(t.features.size()) * sizeof(float));
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const size_t block_rows = b + 1 == blocks_.size() ? rows_in_last_block_ : blocks_[b].rows;
      const size_t n = block_rows * static_cast<size_t>(cols);
      if (n > 0) std::memcpy(out, blocks_[b].data.get(), n * sizeof(float));
      out += n;
      blocks_[b].data.reset();
    }
    blocks_.clear();
    t.categorical = std::move(categorical_);
    t.class_ids = std::move(class_ids_);
    t.class_names = std::move(class_names_);
    t.benign_label = schema_.benign_label;
    t.timestamps = std::move(timestamps_);
    t.sources = std::move(sources_);
    report_.rows_kept = t.class_ids.size();
    t.report = std::move(report_);
    return t;
  }

 private:
  // Rows are written into blocks (no reallocation, no copy while loading) and copied once
  // into the table's matrix by finish(). The slot handed out by next_row() becomes a row only
  // when the caller counts it in rows_in_last_block_; otherwise it is reused. Blocks double
  // from 64 rows to 16384, so that a small file does not cost a 2 MiB-aligned block of
  // megabytes (a fuzzed input, a few flows to predict).
  static constexpr size_t kFirstBlockRows = 64;
  static constexpr size_t kMaxBlockRows = 16384;
  float* next_row(size_t feature_count) {
    if (blocks_.empty() || rows_in_last_block_ == blocks_.back().rows) {
      const size_t rows = blocks_.empty() ? kFirstBlockRows : std::min(blocks_.back().rows * 2, kMaxBlockRows);
      const size_t wanted = rows * std::max<size_t>(feature_count, 1) * sizeof(float);
      const size_t alignment = wanted >= kHugePage ? kHugePage : 64;
      const size_t bytes = round_up(wanted, alignment);
      void* memory = std::aligned_alloc(alignment, bytes);
      if (memory == nullptr) throw std::bad_alloc();
      if (alignment == kHugePage) advise_huge_pages(memory, bytes);
      blocks_.push_back({std::unique_ptr<float, FreeDeleter>(static_cast<float*>(memory)), rows});
      rows_in_last_block_ = 0;
    }
    float* row = blocks_.back().data.get() + rows_in_last_block_ * feature_count;
    std::fill(row, row + feature_count, 0.0f);
    return row;
  }

  // Names as views into strings that outlive the builder's use of them (the schema's, a file's).
  using NameSet = std::unordered_set<std::string_view>;

  // At most 20 names, then "... (n in all)": messages stay one readable line.
  static std::string list_some(const std::vector<std::string>& names) {
    if (names.empty()) return "none";
    constexpr size_t kShown = 20;
    if (names.size() <= kShown) return fmt::format("{}", fmt::join(names, ", "));
    return fmt::format("{}, ... ({} in all)", fmt::join(names.begin(), names.begin() + kShown, ", "), names.size());
  }

  const DatasetSchema& schema_;
  const NameSet drop_;               // views into schema_.drop_columns
  const NameSet categorical_names_;  // views into schema_.categorical_columns
  std::unordered_map<std::string, size_t> feature_index_;      // feature name → table column
  std::unordered_map<std::string, size_t> categorical_index_;  // categorical name → slot
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  struct Block {
    std::unique_ptr<float, FreeDeleter> data;
    size_t rows;  // capacity
  };
  std::vector<Block> blocks_;
  size_t rows_in_last_block_ = 0;
  bool first_file_ = true;
  bool has_timestamps_ = false;
  std::vector<std::string> feature_names_;
  std::vector<CategoricalColumn> categorical_;
  std::vector<std::map<std::string, int32_t, std::less<>>> lookups_;
  std::vector<int32_t> class_ids_;
  std::vector<std::string> class_names_;
  std::map<std::string, int32_t, std::less<>> class_lookup_;
  std::vector<int64_t> timestamps_;
  std::vector<SourceFile> sources_;
  LoadReport report_;
};

bool is_data_file(const std::filesystem::path& p, DataFormat format) {
  const std::string name = p.filename().string();
  static const std::vector<std::string_view> csv{".csv", ".csv.gz", ".txt", ".txt.gz"};
  static const std::vector<std::string_view> zeek{".log", ".log.gz", ".labeled", ".json", ".json.gz"};
  for (const std::string_view s : format == DataFormat::zeek ? zeek : csv) {
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

void add_file(TableBuilder& builder, const std::filesystem::path& path, const DatasetSchema& schema) {
  if (schema.format == DataFormat::zeek) {
    ZeekSource source([&](char delimiter) { return std::make_unique<CsvReader>(path, delimiter); }, builder.report());
    builder.add(source);
    return;
  }
  CsvReader reader(path, schema.delimiter);
  builder.add(reader);
}

}  // namespace

FeatureTable load_dataset(const std::filesystem::path& file_or_directory, const DatasetSchema& schema) {
  namespace fs = std::filesystem;
  std::error_code ec;
  require(fs::exists(file_or_directory, ec), "cannot open {}: no such file or directory", file_or_directory.string());
  TableBuilder builder(schema);
  if (fs::is_directory(file_or_directory, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(file_or_directory))
      if (entry.is_regular_file() && is_data_file(entry.path(), schema.format)) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    require(!files.empty(), "{}: no {} files in this directory", file_or_directory.string(),
            schema.format == DataFormat::zeek ? ".log, .log.gz, .labeled, .json or .json.gz"
                                              : ".csv, .csv.gz, .txt or .txt.gz");
    for (const auto& f : files) add_file(builder, f, schema);
  } else {
    add_file(builder, file_or_directory, schema);
  }
  return builder.finish();
}

FeatureTable load_csv_text(std::string_view text, const DatasetSchema& schema, std::string_view source_name) {
  TableBuilder builder(schema);
  if (schema.format == DataFormat::zeek) {
    ZeekSource source([&](char delimiter) { return std::make_unique<CsvReader>(text, source_name, delimiter); },
                      builder.report());
    builder.add(source);
  } else {
    CsvReader reader(text, source_name, schema.delimiter);
    builder.add(reader);
  }
  return builder.finish();
}

}  // namespace metaids::data
