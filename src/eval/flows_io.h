// Reading flows for a saved model (`metaids predict`, `metaids adapt`): the model's schema,
// columns matched by name through its transform, and CSVs without a label column accepted.
#pragma once

#include <filesystem>
#include <string>

#include "data/feature_table.h"
#include "data/schema.h"

namespace metaids::eval {

// Loads `path` with `schema`. If the file has a header without the schema's label column,
// every row is given `fallback_label` (an empty fallback makes that an error naming the
// column). Malformed rows are handled as the schema says and counted in table.report.
data::FeatureTable load_flows(const std::filesystem::path& path, const data::DatasetSchema& schema,
                              const std::string& fallback_label);

}  // namespace metaids::eval
