// The feature table: what every dataset loader produces and what the episode sampler,
// the transform and the detector consume.
//
//   FeatureTable t = load_dataset("flows/", cicflowmeter_schema());
//   t.features        // rows × numeric features, row-major float, never NaN or ±inf
//   t.categorical     // string-valued columns (NSL-KDD protocol_type, service, flag) as codes
//   t.class_ids[r]    // index into t.class_names
//   t.timestamps      // microseconds since 1970-01-01 (naive, as written), or empty
//
// The numeric features are raw (as in the CSV); FeatureTransform (data/transform.h) turns a
// table into the network's input matrix.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace metaids::data {

// Row-major float matrix: row r is one flow, contiguous in memory.
using FeatureMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A string-valued column kept as codes into its own vocabulary (order of first appearance).
struct CategoricalColumn {
  std::string name;
  std::vector<std::string> vocabulary;
  std::vector<int32_t> codes;  // one per row, index into vocabulary
};

// What happened while loading: every malformed record or cell is counted here, by reason.
// Nothing malformed ever throws; only unusable input (missing file, no label column, a
// header that does not match the schema) does.
struct LoadReport {
  std::vector<std::string> files;   // files read, in order
  uint64_t bytes = 0;               // bytes of CSV text parsed (after decompression)
  uint64_t records = 0;             // data records seen (header and blank lines excluded)
  uint64_t rows_kept = 0;           // rows in the table
  uint64_t blank_lines = 0;         // ignored
  // Cells, counted whatever the policy did with them.
  uint64_t empty_cells = 0;
  uint64_t infinite_cells = 0;      // Infinity, inf, -inf, or out of float range
  uint64_t nan_cells = 0;           // NaN, nan
  uint64_t unparseable_cells = 0;   // anything else that is not a number
  // Records.
  uint64_t short_rows = 0;          // fewer fields than the header
  uint64_t long_rows = 0;           // more fields than the header
  uint64_t missing_labels = 0;      // empty label cell: always skipped
  uint64_t bad_timestamps = 0;      // timestamp column present but not parseable
  // Zeek logs: numeric cells that are unset ("-") or empty ("(empty)"): value 0, never a bad
  // value; and JSON lines that are not a JSON object (always skipped).
  uint64_t missing_cells = 0;
  uint64_t malformed_records = 0;
  // Records dropped, by the reason that dropped them (a record counts once, first reason).
  uint64_t skipped_bad_value = 0;
  uint64_t skipped_short = 0;
  uint64_t skipped_long = 0;
  uint64_t skipped_missing_label = 0;
  uint64_t skipped_bad_timestamp = 0;
  // The first few problems as "file:line: what", for the user to look at.
  std::vector<std::string> examples;

  uint64_t rows_skipped() const;
  void merge(const LoadReport& other);
  nlohmann::json to_json() const;
  std::string summary() const;  // one line, e.g. "43419 rows kept of 43419; 0 skipped; ..."
};

// Where the rows came from.
struct SourceFile {
  std::string path;
  uint64_t first_row = 0;  // rows [first_row, first_row + rows) of the table
  uint64_t rows = 0;
};

struct FeatureTable {
  std::vector<std::string> feature_names;       // numeric columns, canonical names
  FeatureMatrix features;                       // rows × feature_names.size()
  std::vector<CategoricalColumn> categorical;   // may be empty
  std::vector<int32_t> class_ids;               // one per row
  std::vector<std::string> class_names;         // class id → label as written (KDD's '.' removed)
  std::string benign_label;                     // from the schema; may be absent from class_names
  std::vector<int64_t> timestamps;              // one per row, or empty when the data has none
  std::vector<SourceFile> sources;
  LoadReport report;

  size_t rows() const { return class_ids.size(); }
  size_t feature_count() const { return feature_names.size(); }
  bool has_timestamps() const { return !timestamps.empty(); }

  // Class id of `label`, or -1 when no row ever carried it.
  int32_t class_id(std::string_view label) const;
  // Rows per class id (size class_names.size()).
  std::vector<size_t> class_counts() const;
  // Row indices whose class is `label` (empty when unknown).
  std::vector<size_t> rows_of_class(std::string_view label) const;

  // A table with only `rows` (in that order). Class ids and names are kept unchanged, so ids
  // agree between tables cut from the same load; categorical vocabularies are kept too.
  FeatureTable select_rows(std::span<const size_t> rows) const;

  // Rows of `other` appended; feature names and categorical column names must match (by
  // name, in any order); class names are merged (ids of `other` remapped).
  void append(const FeatureTable& other);
};

// FNV-1a 64 of the table's content (feature names, values, class names, class ids,
// timestamps), as 16 hex digits: identifies the training data in a model file.
std::string content_hash(const FeatureTable& table);

// "2017-07-05 18:12:15.650811", "2017-07-05T18:12:15", "05/07/2017 18:12:15", "5/7/2017 8:55",
// optional " AM"/" PM" → microseconds since 1970-01-01 (no time zone). False if unparseable.
bool parse_timestamp(std::string_view text, int64_t& microseconds);

// A Zeek time: epoch seconds with an optional fraction ("1677024003.714845", read exactly, cut
// at the microsecond), or ISO 8601 with an optional trailing Z ("2023-02-22T00:00:03.714845Z",
// UTC). False if neither, or for Zeek's unset "-".
bool parse_zeek_time(std::string_view text, int64_t& microseconds);

}  // namespace metaids::data
