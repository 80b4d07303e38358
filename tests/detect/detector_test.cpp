// The detector as the flow meter's sink: rows in memory, batches scored, alerts written as
// soon as their batch is (or flush() is called), counts that add up.
#include "detect/detector.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "data/temp_dir.h"
#include "flow/capture.h"
#include "synth/synth.h"
#include "common/test_model.h"

namespace metaids::detect {
namespace {

std::vector<nlohmann::json> read_lines(const std::filesystem::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Feeds a generated capture's packets straight into a meter (no file).
void feed(flow::FlowMeter& meter, std::uint64_t sessions, std::uint64_t seed) {
  synth::SynthConfig config;
  config.seed = seed;
  config.sessions = sessions;
  config.collect_ground_truth = false;
  synth::Generator generator(config);
  synth::Packet packet;
  while (generator.next(packet))
    meter.process(1, static_cast<int64_t>(packet.timestamp_us), packet.data.data(), packet.length, packet.length);
}

// Options under which every flow alerts (an unreachable-from-below threshold).
DetectorOptions alert_on_every_flow(bool pipeline = false) {
  DetectorOptions options;
  options.threshold = -1e30;
  options.pipeline = pipeline;
  return options;
}

TEST(Detector, EveryAlertIsWrittenAndCounted) {
  const model::Model m = test::make_cic_model();
  test::TempDir dir;
  const auto path = dir.path() / "eve.json";
  DetectorStats stats;
  std::uint64_t verdicts = 0;
  {
    EveOutput out(path.string());
    DetectorOptions options;
    options.threshold = 0.0;
    Detector detector(m, options, out);
    detector.on_verdict = [&](const FlowRecord&, const model::Verdict&) { ++verdicts; };
    flow::FlowMeter meter(flow::FlowTableConfig{}, detector);
    feed(meter, 2000, 3);
    meter.finish();
    detector.flush();
    stats = detector.stats();
    EXPECT_EQ(stats.flows, meter.table().flows_emitted());
  }
  EXPECT_EQ(verdicts, stats.flows);
  const auto lines = read_lines(path);
  EXPECT_EQ(lines.size(), stats.alerts);
  std::uint64_t by_class = 0;
  for (const auto& [name, count] : stats.alerts_by_class) by_class += count;
  EXPECT_EQ(by_class, stats.alerts);
  for (const auto& j : lines) EXPECT_EQ(j["event_type"], "alert");
}

TEST(Detector, AllFlowsAndThresholdsDecideWhatIsWritten) {
  const model::Model m = test::make_cic_model();
  test::TempDir dir;
  auto run = [&](double threshold, bool all_flows, const std::string& name) {
    EveOutput out((dir.path() / name).string());
    DetectorOptions options;
    options.threshold = threshold;
    options.all_flows = all_flows;
    Detector detector(m, options, out);
    flow::FlowMeter meter(flow::FlowTableConfig{}, detector);
    feed(meter, 300, 4);
    meter.finish();
    detector.flush();
    return detector.stats();
  };
  const auto everything = run(-1e30, false, "low.json");
  EXPECT_EQ(everything.alerts, everything.flows);
  const auto all = run(1e30, true, "all.json");
  EXPECT_EQ(read_lines(dir.path() / "all.json").size(), all.flows);
  EXPECT_EQ(all.alerts, all.unknown);  // at an unreachable threshold only the open set alerts
}

TEST(Detector, FlushWritesPendingFlowsAtOnce) {
  const model::Model m = test::make_cic_model();
  test::TempDir dir;
  const auto path = dir.path() / "eve.json";
  EveOutput out(path.string());
  Detector detector(m, alert_on_every_flow(), out);
  flow::FlowMeter meter(flow::FlowTableConfig{}, detector);
  feed(meter, 20, 6);
  meter.finish();  // fewer flows than a batch: nothing written yet
  const auto flows = detector.stats().flows;
  EXPECT_EQ(flows, 0u);
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  detector.flush();
  EXPECT_GT(detector.stats().flows, 0u);
  EXPECT_EQ(read_lines(path).size(), detector.stats().flows);
}

TEST(Detector, CsvFlowsWithoutAddressesStillAlert) {
  const model::Model m = test::make_cic_model();
  test::TempDir dir;
  const auto path = dir.path() / "eve.json";
  {
    EveOutput out(path.string());
    DetectorOptions options;
    options.threshold = -1e30;
    Detector detector(m, options, out);
    FlowRecord record;
    record.line = 7;
    std::vector<float> raw(static_cast<size_t>(m.features()), 3.0f);
    detector.add(record, raw);
    detector.flush();
  }
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_FALSE(lines[0].contains("src_ip"));
  EXPECT_EQ(lines[0]["metaids"]["line"], 7);
}

}  // namespace
}  // namespace metaids::detect

namespace metaids::detect {
namespace {

class DetectorThreads : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(OneAndTwo, DetectorThreads, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "pipelined" : "one_thread"; });

TEST_P(DetectorThreads, ReplacingTheModelScoresLaterFlowsWithTheNewOne) {
  const model::Model first = test::make_cic_model(1);
  model::Model second = test::make_cic_model(2);
  second.classes[1].name = "Renamed";
  second.adapt();
  test::TempDir dir;
  const auto path = dir.path() / "eve.json";
  EveOutput out(path.string());
  DetectorOptions options;
  options.threshold = -1e30;  // every flow alerts: the signature shows which model scored it
  options.pipeline = GetParam();
  Detector detector(first, options, out);
  FlowRecord record;
  std::vector<float> raw(static_cast<size_t>(first.features()), 1.0f);
  detector.add(record, raw);
  detector.replace_model(std::make_shared<const model::Model>(second));  // the pending flow: the first model
  detector.add(record, raw);
  detector.flush();
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["alert"]["signature"], "Portscan");
  EXPECT_EQ(lines[1]["alert"]["signature"], "Renamed");
  EXPECT_EQ(lines[1]["alert"]["metadata"]["model_version"][0], second.version());
  // A model for other columns is refused, and the detector keeps the one it has.
  model::Model other = test::make_cic_model(3);
  nlohmann::json t = other.transform.to_json();
  t["numeric"][1] = "Another Column";
  other.transform = data::FeatureTransform::from_json(t);
  EXPECT_THROW(detector.replace_model(std::make_shared<const model::Model>(other)), Error);
  EXPECT_EQ(detector.model().version(), second.version());
}

// Scoring and writing on a second thread changes nothing in what is written, nor in its order:
// several batches of a generated capture, alerts and flow records, every verdict seen in order.
TEST(Detector, PipelinedWritesByteForByteWhatOneThreadWrites) {
  const model::Model m = test::make_cic_model();
  test::TempDir dir;
  auto run = [&](bool pipeline, const std::string& name, std::vector<std::string>& order) {
    EveOutput out((dir.path() / name).string());
    DetectorOptions options;
    options.all_flows = true;
    options.pipeline = pipeline;
    Detector detector(m, options, out);
    detector.on_verdict = [&](const FlowRecord& r, const model::Verdict&) { order.push_back(fmt::format("{}:{}>{}:{}@{}", r.src_ip, r.src_port, r.dst_ip, r.dst_port, r.start_us)); };
    flow::FlowMeter meter(flow::FlowTableConfig{}, detector);
    feed(meter, 3000, 11);
    meter.finish();
    detector.flush();
    return detector.stats();
  };
  std::vector<std::string> one_order, two_order;
  const DetectorStats one = run(false, "one.json", one_order);
  const DetectorStats two = run(true, "two.json", two_order);
  ASSERT_GT(one.flows, static_cast<std::uint64_t>(4 * Detector::kBatch));
  EXPECT_EQ(two.flows, one.flows);
  EXPECT_EQ(two.alerts, one.alerts);
  EXPECT_EQ(two.unknown, one.unknown);
  EXPECT_EQ(two.alerts_by_class, one.alerts_by_class);
  EXPECT_EQ(two_order, one_order);
  auto bytes = [&](const std::string& name) {
    std::ifstream in(dir.path() / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string a = bytes("one.json");
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), static_cast<std::ptrdiff_t>(one.flows));
  EXPECT_TRUE(a == bytes("two.json")) << "the pipelined detector wrote other bytes";
}

// When every batch is in flight, the caller's thread scores batches itself instead of waiting:
// here committing is slow (on_verdict sleeps), so the caller's thread must take some; the
// output keeps the order in which the flows came.
TEST(Detector, PipelinedCallerScoresWhenEveryBatchIsInFlight) {
  const model::Model m = test::make_cic_model();
  test::TempDir dir;
  const auto path = dir.path() / "eve.json";
  EveOutput out(path.string());
  Detector detector(m, alert_on_every_flow(true), out);
  std::vector<std::uint64_t> order;
  detector.on_verdict = [&](const FlowRecord& r, const model::Verdict&) {
    order.push_back(r.line);
    std::this_thread::sleep_for(std::chrono::microseconds(100));  // 26 ms a batch
  };
  const auto batches = 4 * Detector::kPool;
  std::vector<float> raw(static_cast<size_t>(m.features()));
  FlowRecord record;
  for (std::uint64_t i = 1; i <= batches * Detector::kBatch; ++i) {
    record.line = i;
    std::fill(raw.begin(), raw.end(), static_cast<float>(i % 97));
    detector.add(record, raw);
  }
  detector.flush();
  const DetectorStats& stats = detector.stats();
  EXPECT_EQ(stats.batches, batches);
  EXPECT_GT(stats.batches_scored_by_caller, 0u);
  ASSERT_EQ(order.size(), batches * Detector::kBatch);
  for (size_t i = 0; i < order.size(); ++i) ASSERT_EQ(order[i], i + 1) << "verdicts out of order";
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), order.size());
  for (size_t i = 0; i < lines.size(); ++i) ASSERT_EQ(lines[i]["metaids"]["line"], i + 1) << "lines out of order";
}

// A write that fails on the scoring thread (a full disk) is thrown on the caller's thread, with
// the path, at the next hand-over or flush; and the detector can still be destroyed.
TEST_P(DetectorThreads, AFailedWriteIsThrownToTheCaller) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  const model::Model m = test::make_cic_model();
  EveOutput out("/dev/full");
  Detector detector(m, alert_on_every_flow(GetParam()), out);
  FlowRecord record;
  std::vector<float> raw(static_cast<size_t>(m.features()), 1.0f);
  try {
    for (int i = 0; i < 4 * Detector::kBatch; ++i) detector.add(record, raw);
    detector.flush();
    FAIL() << "writing alerts to /dev/full succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write alerts to /dev/full"), std::string::npos) << e.what();
  }
  // Still failing, never hanging: the output is gone for good.
  EXPECT_THROW(
      {
        for (int i = 0; i < 2 * Detector::kBatch; ++i) detector.add(record, raw);
        detector.flush();
      },
      Error);
}

}  // namespace
}  // namespace metaids::detect
