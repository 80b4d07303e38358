// The analyst's loop through the `metaids` binary with the built-in model: a generated
// capture → detect → calibrate on the site's traffic → adapt from 5 flows of a new family
// (a BPF selection of a capture) → detect again → adapt from a confirmed alert (EVE).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/temp_dir.h"
#include "synth/synth.h"

namespace metaids::detect {
namespace {

int run(const std::string& args, const std::filesystem::path& log) {
  const std::string command = std::string("'") + METAIDS_BINARY + "' " + args + " >>'" + log.string() + "' 2>&1";
  return std::system(command.c_str());
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Rates {
  double beacon = 0, benign = 0, beacon_named = 0;
  std::uint64_t alerts = 0;
  std::uint64_t first_alert_id = 0;
};

// Alert rates per family of the ground truth (every flow is in the EVE file: --all-flows).
Rates rates(const std::filesystem::path& eve, const std::filesystem::path& truth_csv, const std::string& new_class) {
  std::map<std::tuple<std::string, int, std::string, int>, synth::Family> truth;
  for (const auto& f : synth::read_ground_truth_csv(truth_csv))
    truth[{synth::format_ipv4(f.tuple.src_ip), f.tuple.src_port, synth::format_ipv4(f.tuple.dst_ip), f.tuple.dst_port}] =
        f.family;
  std::map<std::string, std::uint64_t> flows, alerts;
  Rates r;
  std::uint64_t named = 0;
  std::ifstream in(eve);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    const auto it = truth.find({j["src_ip"], j["src_port"], j["dest_ip"], j["dest_port"]});
    if (it == truth.end()) continue;
    const std::string kind = it->second == synth::Family::Beacon ? "beacon" : synth::is_attack(it->second) ? "attack" : "benign";
    ++flows[kind];
    if (j["event_type"] == "alert") {
      ++alerts[kind];
      ++r.alerts;
      if (r.first_alert_id == 0) r.first_alert_id = j["flow_id"].get<std::uint64_t>();
      if (kind == "beacon" && j["alert"]["signature"] == new_class) ++named;
    }
  }
  r.beacon = static_cast<double>(alerts["beacon"]) / static_cast<double>(flows["beacon"]);
  r.beacon_named = static_cast<double>(named) / static_cast<double>(flows["beacon"]);
  r.benign = static_cast<double>(alerts["benign"]) / static_cast<double>(flows["benign"]);
  return r;
}

TEST(EndToEnd, DetectCalibrateAdaptDetect) {
  if (!std::filesystem::exists(METAIDS_BINARY)) GTEST_SKIP() << "metaids binary not built: " << METAIDS_BINARY;
  test::TempDir dir;
  const auto p = [&](const char* name) { return "'" + (dir.path() / name).string() + "'"; };
  const auto log = dir.path() / "log.txt";
  ASSERT_EQ(run("synth --out " + p("site.pcap") + " --families web,dns,ssh --sessions 1500 --seed 21 --quiet", log), 0)
      << slurp(log);
  ASSERT_EQ(run("synth --out " + p("test.pcap") + " --truth " + p("test.csv") + " --sessions 3000 --seed 20 --quiet", log), 0);
  ASSERT_EQ(run("synth --out " + p("new.pcap") + " --families beacon --sessions 100 --seed 22 --quiet", log), 0);

  ASSERT_EQ(run("detect --pcap " + p("test.pcap") + " --all-flows --out " + p("before.json"), log), 0) << slurp(log);
  ASSERT_EQ(run("calibrate --pcap " + p("site.pcap") + " --fpr 0.01 --out " + p("site.mids"), log), 0) << slurp(log);
  ASSERT_EQ(run("detect --model " + p("site.mids") + " --pcap " + p("test.pcap") + " --all-flows --out " +
                    p("calibrated.json"),
                log),
            0)
      << slurp(log);
  ASSERT_EQ(run("adapt --model " + p("site.mids") + " --pcap " + p("new.pcap") +
                    " --select 'tcp port 443' --shots 5 --label 'C2 beacon' --out " + p("adapted.mids"),
                log),
            0)
      << slurp(log);
  ASSERT_EQ(run("detect --model " + p("adapted.mids") + " --pcap " + p("test.pcap") + " --all-flows --out " +
                    p("adapted.json"),
                log),
            0)
      << slurp(log);
  const Rates before = rates(dir.path() / "before.json", dir.path() / "test.csv", "C2 beacon");
  const Rates calibrated = rates(dir.path() / "calibrated.json", dir.path() / "test.csv", "C2 beacon");
  const Rates adapted = rates(dir.path() / "adapted.json", dir.path() / "test.csv", "C2 beacon");
  std::printf("benign alerted: %.3f shipped, %.3f calibrated, %.3f adapted; beacon alerted: %.3f, %.3f, %.3f "
              "(named C2 beacon: %.3f)\n",
              before.benign, calibrated.benign, adapted.benign, before.beacon, calibrated.beacon, adapted.beacon,
              adapted.beacon_named);
  // Calibration teaches the site's normal; five flows teach the new family.
  EXPECT_GT(before.benign, 0.10) << "the shipped model should not already fit generated traffic";
  EXPECT_LT(calibrated.benign, 0.05);
  EXPECT_LT(adapted.benign, 0.05);
  EXPECT_LT(calibrated.beacon, 0.5);
  EXPECT_GT(adapted.beacon, calibrated.beacon + 0.2);
  EXPECT_GT(adapted.beacon_named, 0.2);
  EXPECT_EQ(before.beacon_named, 0.0);
  // An analyst confirms one alert from the EVE file: one more adaptation, from its features.
  ASSERT_NE(adapted.first_alert_id, 0u);
  ASSERT_EQ(run("adapt --model " + p("adapted.mids") + " --eve " + p("adapted.json") + " --flow-id " +
                    std::to_string(adapted.first_alert_id) + " --label Confirmed --out " + p("confirmed.mids"),
                log),
            0)
      << slurp(log);
  const auto info = dir.path() / "info.txt";
  ASSERT_EQ(run("info " + p("confirmed.mids"), info), 0);
  const std::string text = slurp(info);
  EXPECT_NE(text.find(" calibrate "), std::string::npos) << text;
  EXPECT_NE(text.find("label=C2 beacon"), std::string::npos) << text;
  EXPECT_NE(text.find("label=Confirmed"), std::string::npos) << text;
  EXPECT_NE(text.find("select=tcp port 443"), std::string::npos) << text;
  EXPECT_NE(text.find("sha256"), std::string::npos) << text;
}

}  // namespace
}  // namespace metaids::detect
