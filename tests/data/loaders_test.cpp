// Loading small CSVs written by the test: every malformed case is counted, handled as the
// schema says, and never crashes.
#include "data/loaders.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "common/error_of.h"
#include "core/error.h"
#include "data/csv_reader.h"
#include "data/temp_dir.h"

namespace metaids::data {
namespace {

DatasetSchema simple_schema() {
  DatasetSchema s;
  s.name = "test";
  s.label_column = "label";
  s.benign_label = "ok";
  s.drop_columns = {"id"};
  return s;
}

TEST(Loader, CleanFile) {
  const auto t = load_csv_text("id,a,b,label\n1,1.5,2,ok\n2,3,4,bad\n3,5,6,ok\n", simple_schema(), "t");
  ASSERT_EQ(t.rows(), 3u);
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"ok", "bad"}));
  EXPECT_EQ(t.class_ids, (std::vector<int32_t>{0, 1, 0}));
  EXPECT_EQ(t.features(1, 0), 3.0f);
  EXPECT_EQ(t.features(2, 1), 6.0f);
  EXPECT_EQ(t.report.rows_kept, 3u);
  EXPECT_EQ(t.report.rows_skipped(), 0u);
  EXPECT_FALSE(t.has_timestamps());
}

TEST(Loader, ManyRowsAcrossBlocks) {
  // Rows go into blocks of 64, 128, ... 16384 rows (then 16384 each): every boundary kept.
  std::string text = "id,a,b,label\n";
  constexpr int kRows = 40000;
  for (int i = 0; i < kRows; ++i) {
    text.append(std::to_string(i)).append(",").append(std::to_string(i)).append(",");
    text.append(std::to_string(-i)).append(i % 3 == 0 ? ",bad\n" : ",ok\n");
  }
  const auto t = load_csv_text(text, simple_schema(), "t");
  ASSERT_EQ(t.rows(), static_cast<size_t>(kRows));
  for (int i = 0; i < kRows; ++i) {
    ASSERT_EQ(t.features(i, 0), static_cast<float>(i)) << i;
    ASSERT_EQ(t.features(i, 1), static_cast<float>(-i)) << i;
    ASSERT_EQ(t.class_names[static_cast<size_t>(t.class_ids[static_cast<size_t>(i)])], i % 3 == 0 ? "bad" : "ok");
  }
}

TEST(Loader, BadValuesZeroedAndCounted) {
  const std::string text =
      "id,a,b,label\r\n"
      "1,Infinity,1,ok\r\n"
      "2,NaN,2,ok\r\n"
      "3,,3,ok\r\n"
      "4,-inf,4,ok\r\n"
      "5,abc,5,ok\r\n"
      "6,7,8,ok\r\n";
  const auto t = load_csv_text(text, simple_schema(), "t");
  ASSERT_EQ(t.rows(), 6u);
  EXPECT_EQ(t.report.infinite_cells, 2u);
  EXPECT_EQ(t.report.nan_cells, 1u);
  EXPECT_EQ(t.report.empty_cells, 1u);
  EXPECT_EQ(t.report.unparseable_cells, 1u);
  for (int r = 0; r < 5; ++r) EXPECT_EQ(t.features(r, 0), 0.0f) << r;
  EXPECT_EQ(t.features(5, 0), 7.0f);
  EXPECT_TRUE(t.features.allFinite());
  EXPECT_FALSE(t.report.examples.empty());
}

TEST(Loader, BadValuesSkipRowPolicy) {
  DatasetSchema s = simple_schema();
  s.bad_value = BadValuePolicy::skip_row;
  const auto t = load_csv_text("id,a,b,label\n1,Infinity,1,ok\n2,NaN,2,ok\n3,,3,ok\n4,1,1,ok\n", s, "t");
  ASSERT_EQ(t.rows(), 1u);
  EXPECT_EQ(t.report.skipped_bad_value, 3u);
  EXPECT_EQ(t.report.records, 4u);
}

TEST(Loader, QuotedCellsWithCommas) {
  DatasetSchema s = simple_schema();
  s.categorical_columns = {"proto"};
  const auto t = load_csv_text("id,proto,a,label\n1,\"tcp,udp\",\"1.5\",\"web, attack\"\n", s, "t");
  ASSERT_EQ(t.rows(), 1u);
  EXPECT_EQ(t.class_names[0], "web, attack");
  EXPECT_EQ(t.features(0, 0), 1.5f);
  ASSERT_EQ(t.categorical.size(), 1u);
  EXPECT_EQ(t.categorical[0].vocabulary[0], "tcp,udp");
}

TEST(Loader, ShortAndLongRowsSkippedByDefault) {
  const auto t = load_csv_text("id,a,b,label\n1,1,1,ok\n2,2,ok\n3,3,3,ok,extra\n4,4,4,ok\n", simple_schema(), "t");
  EXPECT_EQ(t.rows(), 2u);
  EXPECT_EQ(t.report.short_rows, 1u);
  EXPECT_EQ(t.report.long_rows, 1u);
  EXPECT_EQ(t.report.skipped_short, 1u);
  EXPECT_EQ(t.report.skipped_long, 1u);
}

TEST(Loader, ShortRowsZeroAndLongRowsIgnoreExtra) {
  DatasetSchema s = simple_schema();
  s.label_column = "#1";  // label second, so a short row still has it
  s.short_row = ShortRowPolicy::zero;
  s.long_row = LongRowPolicy::ignore_extra;
  const auto t = load_csv_text("id,label,a,b\n1,ok,5\n2,ok,6,7,8\n", s, "t");
  ASSERT_EQ(t.rows(), 2u);
  EXPECT_EQ(t.features(0, 0), 5.0f);
  EXPECT_EQ(t.features(0, 1), 0.0f);
  EXPECT_EQ(t.features(1, 1), 7.0f);
  EXPECT_EQ(t.report.short_rows, 1u);
  EXPECT_EQ(t.report.long_rows, 1u);
  EXPECT_EQ(t.report.rows_skipped(), 0u);
}

TEST(Loader, EmptyLabelSkipped) {
  const auto t = load_csv_text("id,a,b,label\n1,1,1,\n2,2,2,ok\n", simple_schema(), "t");
  EXPECT_EQ(t.rows(), 1u);
  EXPECT_EQ(t.report.missing_labels, 1u);
}

TEST(Loader, OnlyHeaderOrEmptyFile) {
  EXPECT_EQ(load_csv_text("id,a,b,label\n", simple_schema(), "t").rows(), 0u);
  EXPECT_EQ(load_csv_text("", simple_schema(), "t").rows(), 0u);
}

TEST(Loader, MissingLabelColumnIsAnError) {
  try {
    load_csv_text("id,a,b,klass\n1,1,1,ok\n", simple_schema(), "flows.csv");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no label column 'label'"), std::string::npos) << e.what();
  }
}

TEST(Loader, UnlabelledFileWhenLabelsAreOptional) {
  DatasetSchema s = simple_schema();
  s.label_required = false;
  const auto t = load_csv_text("id,a,b\n1,1,2\n2,3,4\n", s, "t");
  ASSERT_EQ(t.rows(), 2u);
  EXPECT_EQ(t.class_names, (std::vector<std::string>{kUnlabeled}));
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"a", "b"}));
  // With a label column the labels are read as usual.
  EXPECT_EQ(load_csv_text("id,a,b,label\n1,1,2,ok\n", s, "t").class_names[0], "ok");
}

TEST(Loader, MissingFileIsAnError) {
  EXPECT_THROW(load_dataset("/nonexistent/dir/flows.csv", simple_schema()), Error);
}

TEST(Loader, GarbageNeverCrashes) {
  // Binary junk, NULs, quotes in the middle of cells: counted, not thrown.
  std::string junk = "id,a,b,label\n";
  for (int i = 0; i < 2000; ++i) {
    const char c = static_cast<char>((i * 7919) % 256);
    junk.push_back(c == '"' ? 'q' : c);
  }
  junk += "\n,,,\nx\"y,1,2,ok\n";
  EXPECT_NO_THROW(load_csv_text(junk, simple_schema(), "junk"));
  // A quote that opens a cell and is never closed would swallow the rest of the file: refused.
  EXPECT_THROW(load_csv_text(junk + "\"\n,,,\n", simple_schema(), "junk"), Error);
}

using test::error_of;

TEST(Loader, UnterminatedQuoteNamesFileAndLine) {
  const std::string m = error_of([] {
    load_csv_text("id,a,b,label\n1,1,1,ok\n2,\"2,2,ok\n3,3,3,ok\n4,4,4,ok\n", simple_schema(), "flows.csv");
  });
  EXPECT_NE(m.find("flows.csv:3:"), std::string::npos) << m;
  EXPECT_NE(m.find("quote"), std::string::npos) << m;
}

TEST(Loader, TruncatedGzipIsAnError) {
  test::TempDir dir;
  std::string text = "id,a,b,label\n";
  for (int i = 0; i < 100000; ++i) text += std::to_string(i) + "," + std::to_string(i % 97) + ",3,ok\n";
  const auto whole = dir.path() / "flows.csv.gz";
  gzFile gz = gzopen(whole.c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  EXPECT_EQ(load_dataset(whole, simple_schema()).rows(), 100000u);
  const auto size = std::filesystem::file_size(whole);
  std::filesystem::resize_file(whole, size / 2);
  const std::string m = error_of([&] { load_dataset(whole, simple_schema()); });
  EXPECT_NE(m.find(whole.string()), std::string::npos) << m;
  EXPECT_NE(m.find("ends early"), std::string::npos) << m;
}

// "c0,c1,...,c{n-1},label" and one data row.
std::string wide_csv(size_t columns) {
  std::string text;
  for (size_t i = 0; i < columns; ++i) text.append("c").append(std::to_string(i)).append(",");
  text += "label\n";
  for (size_t i = 0; i < columns; ++i) text += "1,";
  text += "ok\n";
  return text;
}

TEST(Loader, WideHeaderIsLinear) {
  // 100 000 columns (the limit) took minutes when each column was looked up in lists.
  const std::string text = wide_csv(kMaxColumns - 1);
  const auto start = std::chrono::steady_clock::now();
  const auto t = load_csv_text(text, simple_schema(), "wide.csv");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(t.feature_count(), kMaxColumns - 1);
  EXPECT_EQ(t.rows(), 1u);
  EXPECT_LT(seconds, 10.0);  // linear: well under a second, even under the sanitizers
  // Directories compare the columns of each file with the first: linear too.
  test::TempDir dir;
  dir.write("a.csv", text);
  dir.write("b.csv", text);
  EXPECT_EQ(load_dataset(dir.path(), simple_schema()).rows(), 2u);
}

TEST(Loader, HeaderSizeIsBounded) {
  const std::string too_many = error_of([] { load_csv_text(wide_csv(kMaxColumns), simple_schema(), "wide.csv"); });
  EXPECT_NE(too_many.find("wide.csv:1:"), std::string::npos) << too_many;
  EXPECT_NE(too_many.find("100000"), std::string::npos) << too_many;
  // Fewer columns but long names: more than 1 MiB of header text.
  std::string text;
  for (int i = 0; i < 2000; ++i) text += std::string(600, 'n') + std::to_string(i) + ",";
  text += "label\n1,ok\n";
  const std::string too_long = error_of([&] { load_csv_text(text, simple_schema(), "long.csv"); });
  EXPECT_NE(too_long.find("long.csv:1: the header is longer than 1 MiB"), std::string::npos) << too_long;
  // Data records are bounded too (16 MiB), so a file without line breaks cannot fill memory.
  std::string rows = "a,label\n";
  rows.append(kMaxRecordBytes + 10, '7').append("\n");
  const std::string long_row = error_of([&] { load_csv_text(rows, simple_schema(), "r.csv"); });
  EXPECT_NE(long_row.find("r.csv:2:"), std::string::npos) << long_row;
  // A schema without a header is bounded in the same way.
  nlohmann::json names = nlohmann::json::array();
  for (size_t i = 0; i <= kMaxColumns; ++i) names.push_back(std::string("c").append(std::to_string(i)));
  EXPECT_NE(error_of([&] {
              parse_schema({{"label_column", "c0"}, {"benign_label", "x"}, {"has_header", false}, {"column_names", names}});
            }).find("100000"),
            std::string::npos);
}

TEST(Loader, DuplicateColumnsAreStillAnError) {
  EXPECT_NE(error_of([] { load_csv_text("id,a,b,a,label\n1,1,1,1,ok\n", simple_schema(), "t"); })
                .find("column 'a' appears twice"),
            std::string::npos);
}

TEST(Loader, SeededMutationsNeverCrash) {
  // A poor man's fuzzer (run under the sanitizer build): random byte edits of a valid file.
  const std::string base =
      "id,a,b,label\r\n1,1.5,\"2,5\",ok\r\n2,Infinity,3,\"say \"\"x\"\"\"\r\n3,,4,bad\n4,5,6,ok\n";
  const char alphabet[] = {',', '"', '\r', '\n', '0', '9', 'e', '-', '.', 'x', ' ', '\0'};
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0: text[at] = alphabet[rng() % sizeof alphabet]; break;
        case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), alphabet[rng() % sizeof alphabet]); break;
        default: text.erase(at, 1); break;
      }
    }
    try {
      const auto t = load_csv_text(text, simple_schema(), "mutated");
      ASSERT_TRUE(t.features.allFinite());
      ASSERT_EQ(static_cast<size_t>(t.features.rows()), t.rows());
    } catch (const Error&) {
      // A mutated header may lose the label column: that is an error, not a crash.
    }
  }
}

TEST(Loader, DirectoryLoadsAsOneTableByColumnName) {
  test::TempDir dir;
  dir.write("a.csv", "id,x,y,label\n1,1,2,ok\n");
  dir.write("b.csv", "y,label,x,id\n20,bad,10,2\n");  // other column order
  dir.write("notes.md", "not data");
  const auto t = load_dataset(dir.path(), simple_schema());
  ASSERT_EQ(t.rows(), 2u);
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(t.features(1, 0), 10.0f);
  EXPECT_EQ(t.features(1, 1), 20.0f);
  EXPECT_EQ(t.sources.size(), 2u);
  EXPECT_EQ(t.report.files.size(), 2u);
}

TEST(Loader, DirectoryWithDifferentColumnsIsAnError) {
  test::TempDir dir;
  dir.write("a.csv", "id,x,y,label\n1,1,2,ok\n");
  dir.write("b.csv", "id,x,z,label\n1,1,2,ok\n");
  try {
    load_dataset(dir.path(), simple_schema());
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("missing: y"), std::string::npos) << m;
    EXPECT_NE(m.find("extra: z"), std::string::npos) << m;
  }
}

TEST(Loader, CicFlowMeterVariantsMapOntoCanonicalNames) {
  // Original CIC-IDS2017 (leading spaces, duplicated Fwd Header Length.1) and CSE-CIC-IDS2018.
  const auto original = load_csv_text(
      " Destination Port, Flow Duration, Total Fwd Packets, Fwd Header Length, Fwd Header Length.1,Flow Bytes/s, Label\n"
      "80,100,3,40,40,Infinity,BENIGN\n"
      "443,200,4,60,60,NaN,DDoS\n",
      cicflowmeter_schema(), "orig.csv");
  EXPECT_EQ(original.feature_names,
            (std::vector<std::string>{"Flow Duration", "Total Fwd Packet", "Fwd Header Length", "Flow Bytes/s"}));
  EXPECT_EQ(original.report.infinite_cells, 1u);
  EXPECT_EQ(original.report.nan_cells, 1u);
  EXPECT_FALSE(original.has_timestamps());
  const auto cse = load_csv_text(
      "Dst Port,Protocol,Timestamp,Flow Duration,Tot Fwd Pkts,Flow Byts/s,Fwd Header Len,Label\n"
      "80,6,14/02/2018 08:31:01,100,3,5.5,40,Benign\n",
      cicflowmeter_schema(), "cse.csv");
  EXPECT_EQ(cse.feature_names,
            (std::vector<std::string>{"Protocol", "Flow Duration", "Total Fwd Packet", "Flow Bytes/s", "Fwd Header Length"}));
  ASSERT_TRUE(cse.has_timestamps());
  int64_t expected = 0;
  ASSERT_TRUE(parse_timestamp("2018-02-14 08:31:01", expected));
  EXPECT_EQ(cse.timestamps[0], expected);
}

TEST(Loader, KddLabelsLoseTheirDotAndGzipIsRead) {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 3; ++i)
    text += "0,tcp,http,SF,181,5450,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,8,8,0.00,0.00,0.00,0.00,1.00,0.00,0.00,9,9,1.00,"
            "0.00,0.11,0.00,0.00,0.00,0.00,0.00,normal.\n";
  text += "0,icmp,ecr_i,SF,1032,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,511,511,0.00,0.00,0.00,0.00,1.00,0.00,0.00,255,255,"
          "1.00,0.00,1.00,0.00,0.00,0.00,0.00,0.00,smurf.\n";
  const auto path = dir.path() / "kdd.gz";
  gzFile gz = gzopen(path.c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  const auto t = load_dataset(path, kddcup99_schema());
  ASSERT_EQ(t.rows(), 4u);
  EXPECT_EQ(t.class_names, (std::vector<std::string>{"normal", "smurf"}));
  EXPECT_EQ(t.feature_count(), 38u);
  ASSERT_EQ(t.categorical.size(), 3u);
  EXPECT_EQ(t.categorical[0].name, "protocol_type");
  EXPECT_EQ(t.categorical[0].vocabulary, (std::vector<std::string>{"tcp", "icmp"}));
}

TEST(Timestamp, Formats) {
  int64_t a = 0, b = 0, c = 0, d = 0;
  ASSERT_TRUE(parse_timestamp("2017-07-05 18:12:15.650811", a));
  ASSERT_TRUE(parse_timestamp("05/07/2017 18:12:15", b));
  ASSERT_TRUE(parse_timestamp("5/7/2017 6:12:15 PM", c));
  ASSERT_TRUE(parse_timestamp("1970-01-01 00:00:01", d));
  EXPECT_EQ(d, 1000000);
  EXPECT_EQ(a - b, 650811);
  EXPECT_EQ(b, c);
  EXPECT_FALSE(parse_timestamp("yesterday", a));
  EXPECT_FALSE(parse_timestamp("2017-02-30 00:00:00", a));
  EXPECT_FALSE(parse_timestamp("", a));
}

TEST(Schema, ParseAndRejectUnknownKeys) {
  const auto s = parse_schema(nlohmann::json::parse(R"({
    "label_column": "y", "benign_label": "normal", "drop_columns": ["ip"],
    "categorical_columns": ["proto"], "timestamp_column": "ts",
    "bad_rows": {"bad_value": "skip_row", "short_row": "zero", "long_row": "ignore_extra"}})"));
  EXPECT_EQ(s.label_column, "y");
  EXPECT_EQ(s.bad_value, BadValuePolicy::skip_row);
  EXPECT_EQ(s.short_row, ShortRowPolicy::zero);
  EXPECT_EQ(s.long_row, LongRowPolicy::ignore_extra);
  EXPECT_THROW(parse_schema(nlohmann::json::parse(R"({"label_column": "y", "benign_label": "n", "lable": 1})")), Error);
  EXPECT_THROW(parse_schema(nlohmann::json::parse(R"({"label_column": "y", "benign_label": "n", "bad_rows": {"x": "zero"}})")), Error);
  EXPECT_THROW(parse_schema(nlohmann::json::parse(R"({"label_column": "y", "benign_label": "n", "bad_rows": {"bad_value": "drop"}})")), Error);
  EXPECT_THROW(parse_schema(nlohmann::json::parse(R"({"benign_label": "n"})")), Error);
  EXPECT_THROW(parse_schema(nlohmann::json::parse(R"({"label_column": "#x", "benign_label": "n"})")), Error);
  // The JSON round-trips.
  EXPECT_EQ(parse_schema(s.to_json()).to_json(), s.to_json());
}

TEST(Schema, DeepNestingAndLongValuesGiveShortErrors) {
  const std::string deep = std::string(100000, '[') + "1" + std::string(100000, ']');
  for (const char* key : {"label_column", "drop_columns", "column_aliases", "bad_rows"}) {
    nlohmann::json j{{"label_column", "y"}, {"benign_label", "n"}};
    j[key] = nlohmann::json::parse(deep);
    const std::string m = error_of([&] { parse_schema(j); });
    EXPECT_NE(m.find("nested deeper than"), std::string::npos) << key << ": " << m;
  }
  nlohmann::json j{{"label_column", "y"}, {"benign_label", "n"}, {"bad_rows", {{"bad_value", std::string(50000, 'z')}}}};
  const std::string m = error_of([&] { parse_schema(j); });
  EXPECT_NE(m.find("bad_rows.bad_value"), std::string::npos) << m;
  EXPECT_LT(m.size(), 400u);
  j = {{"label_column", "y"}, {"benign_label", "n"}, {"column_aliases", {{"a", 1}}}};
  EXPECT_NE(error_of([&] { parse_schema(j); }).find("the alias of \"a\" in 'column_aliases' must be a string (got 1)"), std::string::npos);
  EXPECT_NE(error_of([] { load_schema_file("/dev/zero"); }).find("not a regular file"), std::string::npos);
}

TEST(Schema, SchemaFileDrivesLoading) {
  test::TempDir dir;
  const auto schema_path = dir.write("flows.schema.json", R"({
    "label_column": "verdict", "benign_label": "clean", "drop_columns": ["host"],
    "categorical_columns": ["proto"], "timestamp_column": "when", "delimiter": ";"})");
  const auto data = dir.write("flows.csv", "host;when;proto;bytes;verdict\nh1;2020-01-01 00:00:00;tcp;10;clean\n"
                                           "h2;2020-01-01 00:00:05;udp;20;scan\n");
  const auto t = load_dataset(data, schema_by_name_or_file(schema_path.string()));
  ASSERT_EQ(t.rows(), 2u);
  EXPECT_EQ(t.feature_names, (std::vector<std::string>{"bytes"}));
  EXPECT_EQ(t.timestamps[1] - t.timestamps[0], 5000000);
  EXPECT_EQ(t.benign_label, "clean");
  EXPECT_THROW(schema_by_name_or_file((dir.path() / "missing.json").string()), Error);
}

TEST(FeatureTable, SelectRowsAndHash) {
  const auto t = load_csv_text("id,a,b,label\n1,1,2,ok\n2,3,4,bad\n3,5,6,ok\n", simple_schema(), "t");
  const std::vector<size_t> rows{2, 0};
  const auto s = t.select_rows(rows);
  ASSERT_EQ(s.rows(), 2u);
  EXPECT_EQ(s.features(0, 0), 5.0f);
  EXPECT_EQ(s.class_names, t.class_names);
  EXPECT_EQ(content_hash(t), content_hash(t.select_rows(std::vector<size_t>{0, 1, 2})));
  EXPECT_NE(content_hash(t), content_hash(s));
  EXPECT_EQ(content_hash(t).size(), 16u);
}

}  // namespace
}  // namespace metaids::data
