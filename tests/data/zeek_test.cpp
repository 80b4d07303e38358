// The `zeek` schema: Zeek's tab-separated logs (their own header lines, repeated headers of
// concatenated logs, \x09 escapes, unset and empty fields) and JSON logs.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "common/error_of.h"
#include "common/shared_data.h"
#include "core/error.h"
#include "data/experiment.h"
#include "data/loaders.h"
#include "data/temp_dir.h"

namespace metaids::data {
namespace {

std::filesystem::path fixture(const char* name) { return test::test_data_dir() / "zeek" / name; }

DatasetSchema unlabelled_zeek() {
  DatasetSchema s = zeek_schema();
  s.label_required = false;  // the plain conn.log fixtures carry no label column
  return s;
}

using test::error_of;

const std::vector<std::string> kConnNumeric{"duration",     "orig_bytes",    "resp_bytes", "missed_bytes",
                                            "orig_pkts",    "orig_ip_bytes", "resp_pkts",  "resp_ip_bytes"};

size_t column(const FeatureTable& t, const std::string& name) {
  const auto it = std::find(t.feature_names.begin(), t.feature_names.end(), name);
  EXPECT_NE(it, t.feature_names.end()) << name;
  return static_cast<size_t>(it - t.feature_names.begin());
}

const CategoricalColumn& categorical(const FeatureTable& t, const std::string& name) {
  for (const auto& c : t.categorical)
    if (c.name == name) return c;
  ADD_FAILURE() << "no categorical column " << name;
  static const CategoricalColumn none;
  return none;
}

TEST(Zeek, ConnLogRolesFromItsTypes) {
  const FeatureTable t = load_dataset(fixture("conn.log"), unlabelled_zeek());
  // count / interval → numeric, in the log's order; time, string, addr, port, bool, set dropped.
  EXPECT_EQ(t.feature_names, kConnNumeric);
  std::vector<std::string> categorical_names;
  for (const auto& c : t.categorical) categorical_names.push_back(c.name);
  EXPECT_EQ(categorical_names, (std::vector<std::string>{"proto", "service", "conn_state"}));  // enum, listed strings
  // Both concatenated logs: 4 + 2 rows, their header lines neither rows nor bad rows.
  ASSERT_EQ(t.rows(), 6u);
  EXPECT_EQ(t.report.records, 6u);
  EXPECT_EQ(t.report.rows_skipped(), 0u);
  EXPECT_EQ(t.report.unparseable_cells, 0u);
  EXPECT_EQ(t.report.empty_cells, 0u);
  EXPECT_EQ(t.report.short_rows + t.report.long_rows, 0u);
  // `-` (row 2: duration, orig_bytes, resp_bytes) and `(empty)` (row 6: resp_bytes) are missing: 0.
  EXPECT_EQ(t.report.missing_cells, 4u);
  EXPECT_EQ(t.features(1, static_cast<Eigen::Index>(column(t, "duration"))), 0.0f);
  EXPECT_EQ(t.features(5, static_cast<Eigen::Index>(column(t, "resp_bytes"))), 0.0f);
  EXPECT_FLOAT_EQ(t.features(2, static_cast<Eigen::Index>(column(t, "duration"))), 495.305609f);
  EXPECT_EQ(t.features(2, static_cast<Eigen::Index>(column(t, "resp_ip_bytes"))), 26714.0f);
  EXPECT_NE(t.report.summary().find("4 missing (Zeek unset or empty)"), std::string::npos) << t.report.summary();
  // Epoch seconds with fractions, exactly, to the microsecond.
  ASSERT_TRUE(t.has_timestamps());
  EXPECT_EQ(t.timestamps, (std::vector<int64_t>{1677024003714845, 1677024004254641, 1677024005500000, 1677024006000000,
                                                1677024010000001, 1677024011250000}));
  // \x2c in a value is a comma; an unset service is its own category.
  const auto& service = categorical(t, "service");
  EXPECT_EQ(service.vocabulary, (std::vector<std::string>{"-", "ssl", "dns", "http,spdy"}));
  EXPECT_EQ(categorical(t, "proto").vocabulary, (std::vector<std::string>{"tcp", "udp", "icmp"}));
  EXPECT_EQ(t.class_names, (std::vector<std::string>{kUnlabeled}));
}

TEST(Zeek, LabelColumnByName) {
  // The preset's label column is "label" (Stratosphere's labelled conn logs); detailedlabel is
  // free text and never a feature; an unset label is a missing label.
  const FeatureTable t = load_dataset(fixture("conn-labeled.log"), zeek_schema());
  EXPECT_EQ(t.feature_names, kConnNumeric);
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"Malicious", "Benign", "Unknown"}));
  EXPECT_EQ(t.rows(), 5u);
  EXPECT_EQ(t.report.missing_labels, 1u);
  EXPECT_EQ(t.benign_label, "Benign");
  // Another label column, named in a schema file.
  auto json = nlohmann::json::parse(R"({"format": "zeek", "label_column": "detailedlabel",
                                        "benign_label": "From_benign-To_benign-Application_discord",
                                        "drop_columns": ["label"], "categorical_columns": ["proto", "history"]})");
  const DatasetSchema s = parse_schema(json);
  EXPECT_EQ(s.format, DataFormat::zeek);
  EXPECT_EQ(s.timestamp_column, "ts");
  const FeatureTable d = load_dataset(fixture("conn-labeled.log"), s);
  // "(empty)" detailed labels are missing: rows 4, 5, 6 skipped.
  EXPECT_EQ(d.rows(), 3u);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"From_malicious-To_malicious-RemcosRAT",
                                                     "From_benign-To_benign-Application_discord"}));
  std::vector<std::string> categorical_names;
  for (const auto& c : d.categorical) categorical_names.push_back(c.name);
  EXPECT_EQ(categorical_names, (std::vector<std::string>{"proto", "history"}));  // a listed string column is kept
  // The schema round-trips (models store it) and refuses what Zeek logs declare themselves.
  EXPECT_EQ(parse_schema(s.to_json()).to_json(), s.to_json());
  EXPECT_EQ(parse_schema(zeek_schema().to_json()).format, DataFormat::zeek);
  json["delimiter"] = ",";
  EXPECT_NE(error_of([&] { parse_schema(json); }).find("does not apply to Zeek logs"), std::string::npos);
  json.erase("delimiter");
  json["format"] = "parquet";
  EXPECT_NE(error_of([&] { parse_schema(json); }).find("\"csv\" or \"zeek\""), std::string::npos);
  EXPECT_EQ(schema_by_name_or_file("zeek").format, DataFormat::zeek);
}

TEST(Zeek, JsonLogGivesTheSameTable) {
  // The same six flows as JSON lines: unset fields left out, key order shuffled, one ts in ISO
  // 8601, and one line that is not JSON (counted and skipped).
  const FeatureTable tsv = load_dataset(fixture("conn.log"), unlabelled_zeek());
  const FeatureTable json = load_dataset(fixture("conn.json"), unlabelled_zeek());
  EXPECT_EQ(json.feature_names, tsv.feature_names);
  ASSERT_EQ(json.rows(), tsv.rows());
  EXPECT_EQ(json.features, tsv.features);
  EXPECT_EQ(json.timestamps, tsv.timestamps);
  ASSERT_EQ(json.categorical.size(), tsv.categorical.size());
  for (size_t c = 0; c < tsv.categorical.size(); ++c) {
    EXPECT_EQ(json.categorical[c].name, tsv.categorical[c].name);
    EXPECT_EQ(json.categorical[c].vocabulary, tsv.categorical[c].vocabulary);
    EXPECT_EQ(json.categorical[c].codes, tsv.categorical[c].codes);
  }
  EXPECT_EQ(json.report.missing_cells, tsv.report.missing_cells);
  EXPECT_EQ(json.report.malformed_records, 1u);
  EXPECT_EQ(json.report.records, 7u);
  EXPECT_EQ(json.report.rows_skipped(), 1u);
  ASSERT_FALSE(json.report.examples.empty());
  EXPECT_NE(json.report.examples[0].find("conn.json:4: not a JSON object"), std::string::npos);
}

TEST(Zeek, OtherSeparatorsAndHeaderErrors) {
  // #separator \x2c: the lines are split at commas.
  const FeatureTable comma = load_dataset(fixture("comma-separator.log"), unlabelled_zeek());
  EXPECT_EQ(comma.feature_names, kConnNumeric);
  ASSERT_EQ(comma.rows(), 2u);
  EXPECT_EQ(comma.report.missing_cells, 3u);
  EXPECT_EQ(comma.timestamps[0], 1677024003714845);
  // A concatenated log whose header lists other fields is refused, naming the line.
  const std::string m = error_of([] { load_dataset(fixture("changed-fields.log"), unlabelled_zeek()); });
  EXPECT_NE(m.find("changed-fields.log:17: a repeated header lists other #fields"), std::string::npos) << m;
  // Not a Zeek log at all.
  const std::string csv = error_of([] { load_csv_text("a,b,label\n1,2,x\n", zeek_schema(), "flows.csv"); });
  EXPECT_NE(csv.find("flows.csv:1: not a Zeek log"), std::string::npos) << csv;
  // Data before #fields, and #fields without #types.
  EXPECT_NE(error_of([] { load_csv_text("#separator \\x09\n1\t2\n", zeek_schema(), "x.log"); })
                .find("x.log:2: a data line before the log's #fields header"),
            std::string::npos);
  EXPECT_NE(error_of([] { load_csv_text("#separator \\x09\n#fields\tts\tlabel\n1\tBenign\n", zeek_schema(), "y.log"); })
                .find("#types header line has 0 types for 2 #fields"),
            std::string::npos);
  // A text value in a count column is a bad value (the bad_value policy), unlike `-`.
  const FeatureTable bad = load_csv_text(
      "#separator \\x09\n#fields\tts\tduration\tlabel\n#types\ttime\tinterval\tstring\n1.5\tabc\tBenign\n2.5\t-\tBenign\n",
      zeek_schema(), "z.log");
  EXPECT_EQ(bad.rows(), 2u);
  EXPECT_EQ(bad.report.unparseable_cells, 1u);
  EXPECT_EQ(bad.report.missing_cells, 1u);
  // An unset timestamp is a bad timestamp (skipped by default).
  const FeatureTable no_time = load_csv_text(
      "#separator \\x09\n#fields\tts\tduration\tlabel\n#types\ttime\tinterval\tstring\n-\t1\tBenign\n2.5\t1\tBenign\n",
      zeek_schema(), "t.log");
  EXPECT_EQ(no_time.rows(), 1u);
  EXPECT_EQ(no_time.report.bad_timestamps, 1u);
  // An empty log is an empty table.
  EXPECT_EQ(load_csv_text("", unlabelled_zeek(), "empty.log").rows(), 0u);
}

TEST(Zeek, TimesAreReadExactly) {
  int64_t us = 0;
  ASSERT_TRUE(parse_zeek_time("1677024003.714845", us));
  EXPECT_EQ(us, 1677024003714845);
  ASSERT_TRUE(parse_zeek_time("1677024003.7148459", us));  // beyond microseconds: cut
  EXPECT_EQ(us, 1677024003714845);
  ASSERT_TRUE(parse_zeek_time("1677024003", us));
  EXPECT_EQ(us, 1677024003000000);
  ASSERT_TRUE(parse_zeek_time("2023-02-22T00:00:03.714845Z", us));
  EXPECT_EQ(us, 1677024003714845);
  for (const char* bad : {"-", "(empty)", "", "1.", "x1", "12.5s", "1234567890123.0"})
    EXPECT_FALSE(parse_zeek_time(bad, us)) << bad;
}

TEST(Zeek, DirectoryOfLogsAndAnExperiment) {
  // A directory loads every .log (and .json, .labeled) file in it; the FSND-1 split works on
  // Zeek data like on any other (benign by ts, the earliest 60% to meta-train).
  test::TempDir dir;
  std::string log =
      "#separator \\x09\n#fields\tts\tproto\tduration\torig_bytes\tlabel\n#types\ttime\tenum\tinterval\tcount\tstring\n";
  for (int i = 0; i < 40; ++i) log += fmt::format("{}.5\ttcp\t{}\t{}\tBenign\n", 1000 + (i * 7) % 40, i, 10 * i);
  for (int i = 0; i < 12; ++i) log += fmt::format("{}.0\tudp\t-\t{}\t{}\n", 2000 + i, 5 * i, "abc"[i % 3]);
  dir.write("conn.log", log);
  dir.write("notes.txt", "not a log\n");
  dir.write("z.schema", R"({"format": "zeek", "label_column": "label", "benign_label": "Benign"})");
  const FeatureTable t = load_dataset(dir.path(), zeek_schema());
  EXPECT_EQ(t.rows(), 52u);
  EXPECT_EQ(t.report.files.size(), 1u);
  auto config = parse_experiment_config(nlohmann::json::parse(R"({
    "name": "zeek", "dataset": {"schema": "z.schema", "path": "."},
    "split": {"kind": "families", "meta_train_families": ["a", "b"], "meta_test_families": ["c"]},
    "episodes": {"shots": [1], "query": 2, "episodes": 5}, "seeds": [0]})"));
  config.config_dir = dir.path();
  const ExperimentData d = prepare_experiment(config, dir.path());
  const auto train_benign = d.meta_train.rows_of_class("Benign");
  ASSERT_EQ(train_benign.size(), 24u);
  for (const size_t r : train_benign) EXPECT_LT(d.meta_train.timestamps[r], 1024000000);  // ts 1000..1023
  EXPECT_EQ(d.transform.numeric_names(), (std::vector<std::string>{"duration", "orig_bytes"}));
}

TEST(Zeek, SharedLabelledConnLog) {
  // The Stratosphere labelled conn log of the shared data (CTU-SME-11, 766 flows).
  const char* relative = "pcaps/slips-dataset/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled";
  METAIDS_REQUIRE_SHARED_DATA(relative);
  const FeatureTable t = load_dataset(test::shared_data_dir() / relative, zeek_schema());
  EXPECT_EQ(t.feature_names, kConnNumeric);
  EXPECT_EQ(t.report.unparseable_cells, 0u);
  EXPECT_EQ(t.report.short_rows + t.report.long_rows, 0u);
  EXPECT_EQ(t.report.bad_timestamps, 0u);
  EXPECT_EQ(t.rows() + t.report.rows_skipped(), t.report.records);
  EXPECT_GT(t.rows(), 700u);
  const std::set<std::string> classes(t.class_names.begin(), t.class_names.end());
  EXPECT_TRUE(classes.count("Benign") == 1 && classes.count("Malicious") == 1) << fmt::format("{}", fmt::join(classes, ", "));
  EXPECT_GT(t.rows_of_class("Malicious").size(), 0u);
  ASSERT_TRUE(t.has_timestamps());
  // 2023-02-22 (the capture's day) for every flow.
  for (const int64_t ts : t.timestamps) {
    EXPECT_GE(ts, 1677024000000000);
    EXPECT_LT(ts, 1677024000000000 + int64_t{86400} * 1000000);
  }
}

}  // namespace
}  // namespace metaids::data
