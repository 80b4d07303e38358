// Loading datasets into a FeatureTable.
//
//   auto table = metaids::data::load_dataset("../shared/data/nsl-kdd/KDDTrain+.txt",
//                                             metaids::data::nslkdd_schema());
//   fmt::print("{}\n", table.report.summary());
//
// A path may be a file (plain or .gz, read through zlib) or a directory: every *.csv,
// *.csv.gz, *.txt and *.txt.gz in it (not recursive), sorted by name, loads as one table
// (the files must agree on their feature columns, by name). Malformed records are counted in
// table.report and handled as the schema says; only unusable input throws metaids::Error.
#pragma once
#include <filesystem>
#include <string_view>

#include "data/feature_table.h"
#include "data/schema.h"

namespace metaids::data {

FeatureTable load_dataset(const std::filesystem::path& file_or_directory, const DatasetSchema& schema);

// Same from CSV text already in memory (benchmarks, tests); `source_name` appears in messages.
FeatureTable load_csv_text(std::string_view text, const DatasetSchema& schema, std::string_view source_name);

}  // namespace metaids::data
