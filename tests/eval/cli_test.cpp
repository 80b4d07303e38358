// The train → predict → adapt → predict path through the `metaids` binary, on synthetic flows.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "synthetic_flows.h"

namespace metaids::eval {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int run(const std::string& args, const std::filesystem::path& stderr_file) {
  const std::string command = std::string("OMP_WAIT_POLICY=PASSIVE '") + METAIDS_BINARY + "' " + args + " >/dev/null 2>'" +
                              stderr_file.string() + "'";
  return std::system(command.c_str());
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) out.push_back(line);
  return out;
}

TEST(Cli, TrainPredictAdaptPredict) {
  if (!std::filesystem::exists(METAIDS_BINARY)) GTEST_SKIP() << "metaids binary not built: " << METAIDS_BINARY;
  test::TempDir dir;
  test::write_synthetic_flows(dir);
  const auto p = [&](const char* name) {  // quoted path (built with += : GCC 12 warns falsely on "'" + string)
    std::string quoted = "'";
    quoted += (dir.path() / name).string();
    quoted += '\'';
    return quoted;
  };
  const auto err = dir.path() / "stderr.txt";
  ASSERT_EQ(run("train --config " + p("config.json") + " --data " + p("") + " --algorithm protonet --task detection --out " +
                    p("m.mids") + " --iterations 40 --quiet",
                err),
            0)
      << slurp(err);
  // Predict twice: identical output; every row gets a class.
  ASSERT_EQ(run("predict --model " + p("m.mids") + " --input " + p("flows.csv") + " --out " + p("p1.csv"), err), 0) << slurp(err);
  ASSERT_EQ(run("predict --model " + p("m.mids") + " --input " + p("flows.csv") + " --out " + p("p2.csv") + " --quiet", err), 0);
  const std::string p1 = slurp(dir.path() / "p1.csv");
  EXPECT_EQ(p1, slurp(dir.path() / "p2.csv"));
  const auto rows = lines(p1);
  ASSERT_GT(rows.size(), 400u);
  EXPECT_EQ(rows[0], "record,line,class,predicted,probability,attack_margin,novelty,alert,label");
  // Every record is scored and numbered by its input line, also after a malformed one.
  {
    const auto input = lines(slurp(dir.path() / "flows.csv"));
    std::string broken = input[0] + "\n" + input[1] + "\n" + "1,2,3\n";
    for (size_t i = 2; i < 6; ++i) broken += input[i] + "\n";
    dir.write("broken.csv", broken);
    ASSERT_EQ(run("predict --model " + p("m.mids") + " --input " + p("broken.csv") + " --out " + p("pb.csv"), err), 0)
        << slurp(err);
    const auto out = lines(slurp(dir.path() / "pb.csv"));
    ASSERT_EQ(out.size(), 6u);  // header + 5 flows (the 3-field record skipped)
    EXPECT_EQ(out[1].substr(0, 4), "1,2,");
    EXPECT_EQ(out[2].substr(0, 4), "2,4,");  // line 3 was the malformed record
    EXPECT_NE(slurp(err).find("1 skipped"), std::string::npos) << slurp(err);
  }
  // Five flows of T1 (a family the model has never seen) → a model that knows T1.
  const auto all = lines(slurp(dir.path() / "flows.csv"));
  std::string support = all[0] + "\n", rest = all[0] + "\n";
  int t1 = 0;
  for (const auto& line : all)
    if (line.ends_with(",T1")) (t1++ < 5 ? support : rest) += line + "\n";
  dir.write("t1_support.csv", support);
  dir.write("t1_rest.csv", rest);
  ASSERT_EQ(run("adapt --model " + p("m.mids") + " --support " + p("t1_support.csv") + " --out " + p("a.mids"), err), 0)
      << slurp(err);
  ASSERT_EQ(run("predict --model " + p("a.mids") + " --input " + p("t1_rest.csv") + " --format jsonl --out " + p("p3.jsonl"),
                err),
            0)
      << slurp(err);
  int as_t1 = 0, total = 0;
  for (const auto& line : lines(slurp(dir.path() / "p3.jsonl"))) {
    ++total;
    as_t1 += line.find("\"class\":\"T1\"") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(total, t1 - 5);
  EXPECT_GT(as_t1, total * 8 / 10);
  // A CSV without the label column still predicts; one without a feature column names it.
  std::string unlabelled;
  for (const auto& line : lines(rest)) unlabelled += line.substr(0, line.rfind(',')) + "\n";
  dir.write("unlabelled.csv", unlabelled);
  ASSERT_EQ(run("predict --model " + p("a.mids") + " --input " + p("unlabelled.csv") + " --out " + p("p4.csv"), err), 0)
      << slurp(err);
  EXPECT_EQ(lines(slurp(dir.path() / "p4.csv"))[0], "record,line,class,predicted,probability,attack_margin,novelty,alert");
  std::string no_f3;
  for (const auto& line : lines(rest)) {
    std::vector<std::string> cells;
    std::stringstream s(line);
    for (std::string c; std::getline(s, c, ',');) cells.push_back(c);
    cells.erase(cells.begin() + 4);  // Timestamp, f0, f1, f2, [f3] ...
    std::string joined;
    for (size_t i = 0; i < cells.size(); ++i) joined += (i ? "," : "") + cells[i];
    no_f3 += joined + "\n";
  }
  dir.write("no_f3.csv", no_f3);
  EXPECT_NE(run("predict --model " + p("a.mids") + " --input " + p("no_f3.csv"), err), 0);
  const std::string message = slurp(err);
  EXPECT_EQ(message.rfind("metaids: error:", 0), 0u) << message;
  EXPECT_NE(message.find("f3"), std::string::npos) << message;
}

}  // namespace
}  // namespace metaids::eval
