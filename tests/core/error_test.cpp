// Error lines never carry raw untrusted bytes to the terminal, and JSON with a key twice in
// one object is refused instead of silently keeping the later value.
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/output_test_support.h"

namespace metaids::test {
namespace {

TEST(EscapeForTerminal, ControlCharactersBecomeEscapes) {
  EXPECT_EQ(escape_for_terminal("plain text, ünïcödé and \\ kept"), "plain text, ünïcödé and \\ kept");
  EXPECT_EQ(escape_for_terminal("a\x1b[31mred\x1b[0m"), "a\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(escape_for_terminal("line\nnext\r\tend\x7f"), "line\\nnext\\r\\tend\\x7f");
  EXPECT_EQ(escape_for_terminal(std::string_view("nul\0byte", 8)), "nul\\x00byte");
}

TEST(EscapeForTerminal, InvalidUtf8BecomesByteEscapes) {
  EXPECT_EQ(escape_for_terminal("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_for_terminal("\xc3"), "\\xc3");                      // truncated sequence
  EXPECT_EQ(escape_for_terminal("\xc0\xaf"), "\\xc0\\xaf");             // overlong '/'
  EXPECT_EQ(escape_for_terminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");    // a surrogate
  EXPECT_EQ(escape_for_terminal("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(escape_for_terminal("ok \xe2\x82\xac"), "ok \xe2\x82\xac");  // the euro sign is fine
}

TEST(EscapeForTerminal, C1ControlsAndBidiOverridesBecomeCodePoints) {
  EXPECT_EQ(escape_for_terminal("\xc2\x9b" "31m"), "\\u{009b}31m");  // CSI
  EXPECT_EQ(escape_for_terminal("file\xe2\x80\xaetxt.exe"), "file\\u{202e}txt.exe");
  EXPECT_EQ(escape_for_terminal("\xe2\x81\xa6x\xe2\x81\xa9"), "\\u{2066}x\\u{2069}");
}

TEST(UsageError, IsAnErrorWithItsOwnType) {
  try {
    require_usage(false, "--ways must be at least {}", 2);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--ways must be at least 2");
  }
  EXPECT_THROW(fail_usage("x"), Error);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitFailure, 1);
}

std::string parse_error(std::string_view text) {
  try {
    parse_json_strict(text, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ParseJsonStrict, AcceptsWhatJsonAllowsAndKeepsValues) {
  const auto json = parse_json_strict(R"({"a":1,"b":{"a":2,"c":[{"a":3},{"a":4}]}})", "x");
  EXPECT_EQ(json["a"], 1);
  EXPECT_EQ(json["b"]["a"], 2);  // the same key in different objects is fine
  EXPECT_EQ(json["b"]["c"][1]["a"], 4);
  EXPECT_EQ(parse_json_strict("[1, 2]", "x").size(), 2u);
}

TEST(ParseJsonStrict, DuplicateKeyIsOneLineNamingSourceAndKey) {
  EXPECT_EQ(parse_error(R"({"ways":5,"ways":50})"), "config.json: duplicate key \"ways\" in a JSON object");
  EXPECT_EQ(parse_error(R"({"a":{"k":1,"x":[{"k":1,"k":2}]}})"), "config.json: duplicate key \"k\" in a JSON object");
}

TEST(ParseJsonStrict, SyntaxErrorNamesTheSource) {
  EXPECT_EQ(parse_error("{\"a\":").rfind("config.json: not valid JSON: ", 0), 0u);
}

TEST(ReadJsonFile, RejectsDuplicateKeys) {
  OutputTempDir dir;
  put_contents(dir / "schema.json", R"({"label":"x","label":"y"})");
  try {
    read_json_file(dir / "schema.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "schema.json").string() + ": duplicate key \"label\" in a JSON object");
  }
}

}  // namespace
}  // namespace metaids::test
