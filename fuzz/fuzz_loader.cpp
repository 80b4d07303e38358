// libFuzzer harness for the dataset loader (data/loaders.h) and the transform behind it: CSV
// text through load_csv_text with the cicflowmeter preset, the nslkdd preset (no header,
// categorical columns) or a JSON schema (categorical and timestamp columns, the label by
// number, each bad-row policy). A loaded table must be consistent (every row has a class,
// codes and a timestamp; no NaN or infinity) and its transform finite and clipped.
// Input: byte 0 picks the schema (bits 0-1) and the bad-row policies (bits 2-5); then the text.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "data/loaders.h"
#include "data/transform.h"

namespace {

using metaids::data::DatasetSchema;

DatasetSchema json_schema(uint8_t policy_bits, bool label_by_number) {
  nlohmann::json j{{"name", "fuzz"},
                   {"label_column", label_by_number ? "#4" : "verdict"},
                   {"benign_label", "ok"},
                   {"drop_columns", {"host", "id"}},
                   {"categorical_columns", {"proto", "service"}},
                   {"timestamp_column", "when"},
                   {"label_strip_suffix", "."},
                   {"column_aliases", {{"bytes_in", "bytes"}}},
                   {"bad_rows",
                    {{"bad_value", policy_bits & 1 ? "skip_row" : "zero"},
                     {"short_row", policy_bits & 2 ? "zero" : "skip_row"},
                     {"long_row", policy_bits & 4 ? "ignore_extra" : "skip_row"},
                     {"bad_timestamp", policy_bits & 8 ? "zero" : "skip_row"}}}};
  return metaids::data::parse_schema(j);
}

void check(const metaids::data::FeatureTable& t) {
  const size_t rows = t.rows();
  if (static_cast<size_t>(t.features.rows()) != rows || static_cast<size_t>(t.features.cols()) != t.feature_count())
    std::abort();
  if (!t.features.allFinite()) std::abort();
  for (const int32_t id : t.class_ids)
    if (id < 0 || static_cast<size_t>(id) >= t.class_names.size()) std::abort();
  for (const auto& c : t.categorical) {
    if (c.codes.size() != rows) std::abort();
    for (const int32_t code : c.codes)
      if (code < 0 || static_cast<size_t>(code) >= c.vocabulary.size()) std::abort();
  }
  if (t.has_timestamps() && t.timestamps.size() != rows) std::abort();
  if (t.report.rows_kept != rows || t.report.records < rows) std::abort();
  if (rows == 0) return;
  const auto transform = metaids::data::FeatureTransform::fit(t);
  const auto x = transform.apply(t);
  if (static_cast<size_t>(x.rows()) != rows) std::abort();
  for (Eigen::Index i = 0; i < x.size(); ++i)
    if (!std::isfinite(x.data()[i]) || std::fabs(x.data()[i]) > 10.0f) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const DatasetSchema cicflowmeter = metaids::data::cicflowmeter_schema();
  static const DatasetSchema nslkdd = metaids::data::nslkdd_schema();
  const uint8_t policies = static_cast<uint8_t>(data[0] >> 2);
  DatasetSchema schema;
  switch (data[0] & 3) {
    case 0: schema = cicflowmeter; break;
    case 1: schema = nslkdd; break;
    case 2: schema = json_schema(policies, false); break;
    default: schema = json_schema(policies, true); break;
  }
  if ((data[0] & 3) < 2) {  // the presets with the policies too
    schema.bad_value = policies & 1 ? metaids::data::BadValuePolicy::skip_row : metaids::data::BadValuePolicy::zero;
    schema.short_row = policies & 2 ? metaids::data::ShortRowPolicy::zero : metaids::data::ShortRowPolicy::skip_row;
    schema.long_row = policies & 4 ? metaids::data::LongRowPolicy::ignore_extra : metaids::data::LongRowPolicy::skip_row;
    schema.label_required = (policies & 8) == 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    check(metaids::data::load_csv_text(text, schema, "fuzz.csv"));
  } catch (const metaids::Error&) {
    // Refused: no label column, duplicate columns, an unterminated quote, over the limits.
  }
  return 0;
}
