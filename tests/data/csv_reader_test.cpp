#include "data/csv_reader.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error_of.h"
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
}

using test::error_of;

TEST(CsvReader, UnterminatedQuoteIsAnErrorNamingTheLineItOpenedOn) {
  // It used to swallow the rest of the input into one field (seen as "1 short row").
  const std::string m = error_of([] { parse("a,b\n1,2\n3,\"open\n4,5\n6,7\n"); });
  EXPECT_NE(m.find("test:3:"), std::string::npos) << m;
  EXPECT_NE(m.find("quote"), std::string::npos) << m;
  // A quote opened on a later line of a record that began with a multi-line quoted field.
  const std::string later = error_of([] { parse("h\n\"two\nlines\",\"x\ny\n"); });
  EXPECT_NE(later.find("test:3:"), std::string::npos) << later;
  EXPECT_NE(error_of([] { parse("\""); }).find("test:1:"), std::string::npos);
  // Read from a file in chunks: the same error, naming the file.
  test::TempDir dir;
  std::string text = "id,name\n";
  for (int i = 0; i < 100000; ++i) text += std::to_string(i) + ",x\n";
  text += "100000,\"never closed\n";
  for (int i = 0; i < 100000; ++i) text += std::to_string(i) + ",y\n";
  const auto path = dir.write("open-quote.csv", text);
  const std::string file_message = error_of([&] {
    CsvReader reader(path);
    read_all(reader);
  });
  EXPECT_NE(file_message.find(path.string() + ":100002:"), std::string::npos) << file_message;
}

TEST(CsvReader, ChunkedReadingMatchesReadingAtOnce) {
  // Every chunk size splits records, quotes, "" escapes and CRLFs somewhere.
  const std::string text = "\xEF\xBB\xBF" "a,\"b\"\"c\",d\r\n\"x\ny\",,\"\"\r\n\n1,2,3\n\"q\"\"\"\n4,\"5\"x,6";
  const Records expected = parse(text);
  for (size_t chunk = 1; chunk <= text.size() + 1; ++chunk) {
    CsvReader reader(text, "t", ',', chunk);
    EXPECT_EQ(read_all(reader), expected) << "chunk " << chunk;
    EXPECT_EQ(reader.bytes_consumed(), text.size()) << "chunk " << chunk;
  }
}

TEST(CsvReader, RecordsAreBounded) {
  // A record longer than the limit (a quote left open in a huge file, or no line breaks at
  // all) is an error, not a buffer that grows until memory runs out.
  const std::string big(3000, 'x');
  CsvLimits limits;
  limits.max_record_bytes = 1000;
  for (size_t chunk : {size_t{0}, size_t{64}}) {
    const std::string text = "a,b\n" + big + "\n";
    const std::string m = error_of([&] {
      CsvReader reader = chunk == 0 ? CsvReader(text, "t") : CsvReader(text, "t", ',', chunk);
      reader.set_limits(limits);
      read_all(reader);
    });
    EXPECT_NE(m.find("t:2:"), std::string::npos) << m;
    EXPECT_NE(m.find("1000 bytes"), std::string::npos) << m;
    const std::string quoted = "a,b\n\"" + big + "\n";
    const std::string q = error_of([&] {
      CsvReader reader = chunk == 0 ? CsvReader(quoted, "t") : CsvReader(quoted, "t", ',', chunk);
      reader.set_limits(limits);
      read_all(reader);
    });
    EXPECT_NE(q.find("t:2:"), std::string::npos) << q;
    EXPECT_NE(q.find("quote"), std::string::npos) << q;
  }
  limits = CsvLimits{};
  limits.max_fields = 3;
  CsvReader reader(std::string_view("a,b,c\n1,2,3,4\n"), "t");
  reader.set_limits(limits);
  std::vector<std::string_view> fields;
  ASSERT_TRUE(reader.next_record(fields));
  const std::string m = error_of([&] { reader.next_record(fields); });
  EXPECT_NE(m.find("t:2: more than 3 fields"), std::string::npos) << m;
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

std::string gzip(std::string_view text) {
  std::string out(compressBound(static_cast<uLong>(text.size())) + 64, '\0');
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);  // gzip wrapper
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string numbered_rows(int first, int count) {
  std::string text;
  for (int i = first; i < first + count; ++i) text += std::to_string(i) + ",row " + std::to_string(i) + "\n";
  return text;
}

TEST(CsvReader, TruncatedGzipIsAnError) {
  // It used to load the rows before the cut and end with exit 0.
  const std::string text = "id,name\n" + numbered_rows(0, 300000);
  const std::string compressed = gzip(text);
  test::TempDir dir;
  for (size_t keep : {compressed.size() / 2, compressed.size() - 4, compressed.size() - 8, size_t{12}}) {
    const auto path = dir.write("cut-" + std::to_string(keep) + ".csv.gz", compressed.substr(0, keep));
    const std::string m = error_of([&] {
      CsvReader reader(path);
      read_all(reader);
    });
    EXPECT_NE(m.find(path.string()), std::string::npos) << keep << ": " << m;
    EXPECT_NE(m.find("ends early"), std::string::npos) << keep << ": " << m;
    EXPECT_NE(m.find("line"), std::string::npos) << keep << ": " << m;
  }
  // Whole, the same bytes read fine.
  CsvReader whole(dir.write("whole.csv.gz", compressed));
  EXPECT_EQ(read_all(whole).size(), 300001u);
}

TEST(CsvReader, ConcatenatedGzipMembersReadAsOneFile) {
  // `cat a.gz b.gz > c.gz` is a valid gzip file (RFC 1952): both members are read.
  const std::string a = "id,name\n" + numbered_rows(0, 1000), b = numbered_rows(1000, 2000);
  test::TempDir dir;
  CsvReader reader(dir.write("two.csv.gz", gzip(a) + gzip(b)));
  const auto records = read_all(reader);
  ASSERT_EQ(records.size(), 3001u);
  EXPECT_EQ(records.back()[0], "2999");
  EXPECT_EQ(reader.bytes_consumed(), a.size() + b.size());
  // A truncated second member is still an error.
  const std::string second = gzip(b);
  const auto cut = dir.write("two-cut.csv.gz", gzip(a) + second.substr(0, second.size() / 2));
  EXPECT_NE(error_of([&] {
              CsvReader r(cut);
              read_all(r);
            }).find("ends early"),
            std::string::npos);
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
