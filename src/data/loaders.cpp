#include "data/loaders.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <map>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "data/csv_reader.h"

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

// Accumulates the rows of one or more files (same feature columns) into one table.
class TableBuilder {
 public:
  explicit TableBuilder(const DatasetSchema& schema)
      : schema_(schema),
        drop_(schema.drop_columns.begin(), schema.drop_columns.end()),
        categorical_names_(schema.categorical_columns.begin(), schema.categorical_columns.end()) {}

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
    // Roles and the mapping onto the table's columns.
    std::vector<std::pair<size_t, size_t>> feature_columns;      // (csv index, table column)
    std::vector<std::pair<size_t, size_t>> categorical_columns;  // (csv index, categorical slot)
    std::vector<std::string_view> file_features;                 // views into `names`
    std::vector<std::string_view> file_categoricals;
    NameSet seen;
    for (size_t i = 0; i < column_count; ++i) {
      if (i == label_index || i == timestamp_index) continue;
      const std::string& name = names[i];
      if (name.empty() || drop_.count(name) != 0) continue;
      require(seen.insert(name).second, "{}: column '{}' appears twice", reader.source_name(), name);
      (categorical_names_.count(name) != 0 ? file_categoricals : file_features).push_back(name);
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
      if (name.empty() || drop_.count(name) != 0) continue;
      if (const auto it = feature_index_.find(name); it != feature_index_.end())
        feature_columns.emplace_back(i, it->second);
      else if (const auto c = categorical_index_.find(name); c != categorical_index_.end())
        categorical_columns.emplace_back(i, c->second);
    }

    const size_t feature_count = feature_names_.size();
    std::vector<int32_t> codes(categorical_.size());
    std::string last_label;
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
        bad_value = true;
        row[column] = 0.0f;
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
        if (!parse_timestamp(text, timestamp)) {
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
        const std::string_view value = csv_index < n ? trim(fields[csv_index]) : std::string_view{};
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

bool is_data_file(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  for (const char* suffix : {".csv", ".csv.gz", ".txt", ".txt.gz"}) {
    const std::string_view s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
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
      if (entry.is_regular_file() && is_data_file(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    require(!files.empty(), "{}: no .csv, .csv.gz, .txt or .txt.gz files in this directory", file_or_directory.string());
    for (const auto& f : files) {
      CsvReader reader(f, schema.delimiter);
      builder.add(reader);
    }
  } else {
    CsvReader reader(file_or_directory, schema.delimiter);
    builder.add(reader);
  }
  return builder.finish();
}

FeatureTable load_csv_text(std::string_view text, const DatasetSchema& schema, std::string_view source_name) {
  TableBuilder builder(schema);
  CsvReader reader(text, source_name, schema.delimiter);
  builder.add(reader);
  return builder.finish();
}

}  // namespace metaids::data
