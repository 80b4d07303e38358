// How a CSV file becomes a FeatureTable: which column is the label, which are dropped,
// which are categorical, and what to do with malformed rows. The built-in datasets are
// presets of the same structure; any other CSV is described by a small JSON schema file:
//
//   {
//     "label_column": "Label",                 // required (name, or "#N" for column N from 0)
//     "benign_label": "BENIGN",                // required
//     "drop_columns": ["Flow ID", "Src IP"],   // optional; these never become features
//     "categorical_columns": ["proto"],        // optional; one-hot encoded by the transform
//     "timestamp_column": "Timestamp",         // optional; parsed into table.timestamps
//     "has_header": true,                      // optional (default true)
//     "column_names": ["a", "b", ...],         // required when has_header is false
//     "format": "csv",                         // optional: "csv" or "zeek" (Zeek logs; see zeek_schema())
//     "delimiter": ",",                        // optional, one character
//     "label_strip_suffix": ".",               // optional, removed from the end of labels
//     "column_aliases": "cicflowmeter",        // optional: "none", "cicflowmeter", or {"old": "new"}
//     "bad_rows": {                            // optional, the defaults shown
//       "bad_value": "zero",                   // Infinity/NaN/empty/non-numeric cell: zero | skip_row
//       "short_row": "skip_row",               // fewer fields than columns: skip_row | zero
//       "long_row": "skip_row",                // more fields than columns: skip_row | ignore_extra
//       "bad_timestamp": "skip_row"            // unparseable timestamp: skip_row | zero
//     }
//   }
//
// Unknown keys are rejected (a misspelt key is an error, not silently ignored).
#pragma once
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace metaids::data {

// Class name given to every row of a file without a label column (label_required = false).
inline constexpr const char* kUnlabeled = "(unlabeled)";

// How the files are laid out: CSV (the default), or Zeek logs, tab-separated with their own
// header lines (#separator, #fields, #types, ...) or JSON (one object per line), told apart
// per file by the first line.
enum class DataFormat { csv, zeek };

enum class BadValuePolicy { zero, skip_row };
enum class ShortRowPolicy { skip_row, zero };
enum class LongRowPolicy { skip_row, ignore_extra };
enum class BadTimestampPolicy { skip_row, zero };

struct DatasetSchema {
  std::string name = "csv";                    // shown in messages and `metaids info`
  DataFormat format = DataFormat::csv;         // "format": "csv" or "zeek" (see zeek_schema())
  std::string label_column;                    // canonical name, or "#N"
  std::string benign_label;
  std::vector<std::string> drop_columns;       // canonical names; missing ones are fine
  std::vector<std::string> categorical_columns;
  std::string timestamp_column;                // empty: none
  bool has_header = true;
  std::vector<std::string> column_names;       // when !has_header
  char delimiter = ',';
  std::string label_strip_suffix;
  // Header name (after trimming spaces) → canonical name. Applied before everything else.
  std::map<std::string, std::string> column_aliases;
  BadValuePolicy bad_value = BadValuePolicy::zero;
  ShortRowPolicy short_row = ShortRowPolicy::skip_row;
  LongRowPolicy long_row = LongRowPolicy::skip_row;
  BadTimestampPolicy bad_timestamp = BadTimestampPolicy::skip_row;
  // API only (not in schema files): when false, a file without the label column loads with
  // every row in class kUnlabeled (for `metaids predict` on unlabelled flows).
  bool label_required = true;

  nlohmann::json to_json() const;
};

// Parses a schema object (see above); throws metaids::Error naming the bad key or value.
DatasetSchema parse_schema(const nlohmann::json& json);
DatasetSchema load_schema_file(const std::filesystem::path& path);

// CICFlowMeter output: the improved CIC-IDS2017 release, the original CIC-IDS2017
// MachineLearningCVE/TrafficLabelling files (leading spaces, `Fwd Header Length.1`, long
// names) and CSE-CIC-IDS2018 (short names such as `Tot Fwd Pkts`), all mapped onto the
// CICFlowMeter header names of data_header_reference.csv. Drops the FSND-1 identifiers.
DatasetSchema cicflowmeter_schema();
// NSL-KDD: no header; 41 features, label, difficulty (dropped); protocol_type, service and
// flag categorical; benign label "normal".
DatasetSchema nslkdd_schema();
// KDD Cup 99: like NSL-KDD without the difficulty column; labels end with '.' (removed).
DatasetSchema kddcup99_schema();
// Zeek logs (conn.log above all; tab-separated with header lines, or JSON lines), roles from
// the log's own #types: `time` → the timestamp when it is the `ts` column (epoch seconds with
// fractions, or ISO 8601 in JSON), otherwise dropped; count, int, double, interval → numeric;
// enum → categorical (conn.log: proto); string and bool → categorical when listed in
// categorical_columns (the preset lists service and conn_state; history is left out: hundreds
// of distinct flag strings), else dropped; addr, subnet, port, set, vector and anything else →
// dropped. `-` (#unset_field) and `(empty)` (#empty_field) are missing values: a numeric cell
// becomes 0 and is counted in missing_cells (never a bad value), a label or timestamp missing
// is a missing label or a bad timestamp. Label column "label", benign label "Benign" (the
// Stratosphere labelled conn logs); a schema file with "format": "zeek" names others. JSON
// logs carry no #types: conn.log's fields are typed as Zeek declares them, other keys by their
// JSON value in the first line (number → double, string → string, ...).
DatasetSchema zeek_schema();
// The 41 KDD feature names, in file order.
const std::vector<std::string>& kdd_feature_names();
// CICFlowMeter alias table (trimmed alias → canonical name).
const std::map<std::string, std::string>& cicflowmeter_aliases();

// "cicflowmeter", "nslkdd", "kddcup99", "zeek" → the preset; anything else is a path to a schema file.
bool is_schema_preset(const std::string& name);
DatasetSchema schema_by_name_or_file(const std::string& name_or_path);

}  // namespace metaids::data
