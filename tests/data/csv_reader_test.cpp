#include "data/csv_reader.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/temp_dir.h"

namespace metaids::data {
namespace {

std::vector<std::vector<std::string>> read_all(CsvReader& reader) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string_view> fields;
  while (reader.next_record(fields)) records.emplace_back(fields.begin(), fields.end());
  return records;
}

std::vector<std::vector<std::string>> parse(std::string_view text) {
  CsvReader reader(text, "test");
  return read_all(reader);
}

using Records = std::vector<std::vector<std::string>>;

TEST(CsvReader, PlainLfAndCrlf) {
  EXPECT_EQ(parse("a,b\n1,2\n"), (Records{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(parse("a,b\r\n1,2\r\n"), (Records{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(parse("a,b\r\n1,2"), (Records{{"a", "b"}, {"1", "2"}}));  // no final line break
}

TEST(CsvReader, QuotedFields) {
  EXPECT_EQ(parse("\"a,b\",c\n"), (Records{{"a,b", "c"}}));
  EXPECT_EQ(parse("\"say \"\"hi\"\"\",x\r\n"), (Records{{"say \"hi\"", "x"}}));
  EXPECT_EQ(parse("\"two\nlines\",y\nz,w\n"), (Records{{"two\nlines", "y"}, {"z", "w"}}));
  EXPECT_EQ(parse("\"\",1\n"), (Records{{"", "1"}}));
  EXPECT_EQ(parse("\"unterminated,1\n"), (Records{{"unterminated,1\n"}}));
}

TEST(CsvReader, EmptyFieldsBlankLinesAndBom) {
  EXPECT_EQ(parse("\xEF\xBB\xBFh1,h2\n"), (Records{{"h1", "h2"}}));
  EXPECT_EQ(parse("a,,c,\n\n\r\n1,2,3,4\n"), (Records{{"a", "", "c", ""}, {"1", "2", "3", "4"}}));
  CsvReader reader(std::string_view("x\n\n\ny\n"), "t");
  EXPECT_EQ(read_all(reader).size(), 2u);
  EXPECT_EQ(reader.blank_lines(), 2u);
}

TEST(CsvReader, LineNumbersCountEmbeddedBreaks) {
  CsvReader reader(std::string_view("a\n\"b\nc\"\nd\n"), "t");
  std::vector<std::string_view> fields;
  ASSERT_TRUE(reader.next_record(fields));
  EXPECT_EQ(reader.line_number(), 1u);
  ASSERT_TRUE(reader.next_record(fields));
  EXPECT_EQ(reader.line_number(), 2u);
  ASSERT_TRUE(reader.next_record(fields));
  EXPECT_EQ(reader.line_number(), 4u);
}

TEST(CsvReader, FileChunkBoundariesAndGzip) {
  // Enough rows to cross the 4 MiB chunk several times, with quoted fields near boundaries.
  std::string text = "id,name,value\n";
  for (int i = 0; i < 200000; ++i)
    text += std::to_string(i) + (i % 7 == 0 ? ",\"q,\"\"x\"\"\"," : ",plain,") + std::to_string(i * 0.5) + "\r\n";
  test::TempDir dir;
  const auto plain = dir.write("big.csv", text);
  gzFile gz = gzopen((dir.path() / "big.csv.gz").c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  for (const auto& path : {plain, dir.path() / "big.csv.gz"}) {
    CsvReader reader(path);
    const auto records = read_all(reader);
    ASSERT_EQ(records.size(), 200001u) << path;
    EXPECT_EQ(records[8][1], "q,\"x\"");  // record 0 is the header
    EXPECT_EQ(records[9][1], "plain");
    EXPECT_EQ(records[200000][0], "199999");
    EXPECT_EQ(reader.bytes_consumed(), text.size());
  }
}

TEST(CsvReader, MissingFileThrows) {
  EXPECT_THROW(CsvReader("/nonexistent/flows.csv"), Error);
}

TEST(ParseFloatCell, Kinds) {
  float v = -1;
  EXPECT_EQ(parse_float_cell("1.5", v), CellKind::number);
  EXPECT_EQ(v, 1.5f);
  EXPECT_EQ(parse_float_cell(" -2e3 ", v), CellKind::number);
  EXPECT_EQ(v, -2000.0f);
  EXPECT_EQ(parse_float_cell("+7", v), CellKind::number);
  EXPECT_EQ(v, 7.0f);
  EXPECT_EQ(parse_float_cell("", v), CellKind::empty);
  EXPECT_EQ(parse_float_cell("  ", v), CellKind::empty);
  EXPECT_EQ(parse_float_cell("Infinity", v), CellKind::infinite);
  EXPECT_EQ(parse_float_cell("-inf", v), CellKind::infinite);
  EXPECT_TRUE(std::isinf(v) && v < 0);
  EXPECT_EQ(parse_float_cell("1e39", v), CellKind::infinite);
  EXPECT_EQ(parse_float_cell("-1e999", v), CellKind::infinite);
  EXPECT_EQ(parse_float_cell("1e-999", v), CellKind::number);
  EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(parse_float_cell("NaN", v), CellKind::nan);
  EXPECT_EQ(parse_float_cell("nan", v), CellKind::nan);
  EXPECT_EQ(parse_float_cell("abc", v), CellKind::unparseable);
  EXPECT_EQ(parse_float_cell("1.5x", v), CellKind::unparseable);
  EXPECT_EQ(parse_float_cell("+", v), CellKind::unparseable);
}

}  // namespace
}  // namespace metaids::data
