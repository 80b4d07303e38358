// The detector's in-memory path (flow → feature row) and the CSV path (flows written by the
// flow meter, read back) give identical rows, bit for bit, on every shared capture and on a
// generated one.
#include "detect/flow_record.h"

#include <gtest/gtest.h>

#include <cstring>

#include "common/shared_data.h"
#include "core/error.h"
#include "data/csv_reader.h"
#include "data/temp_dir.h"
#include "detect/collect.h"
#include "flow/writer.h"
#include "synth/synth.h"
#include "common/test_model.h"

namespace metaids::detect {
namespace {

struct Rows {
  data::FeatureMatrix raw;
  std::vector<FlowRecord> records;
};

Rows through_csv(const std::string& capture, const model::Model& m, const std::filesystem::path& csv) {
  {
    flow::WriterOptions options;
    options.path = csv.string();
    flow::FlowWriter writer(options);
    flow::FlowMeter meter(flow::FlowTableConfig{}, writer);
    flow::CaptureSummary summary;
    flow::read_capture_file(capture, meter, summary);
    meter.finish();
    writer.close();
  }
  const CollectedFlows c = collect_from_csv(csv.string(), m);
  return {c.raw, c.records};
}

void expect_identical(const std::string& capture, const model::Model& m, const std::filesystem::path& csv) {
  const CollectedFlows memory = collect_from_captures({capture}, "", m, flow::FlowTableConfig{});
  const Rows file = through_csv(capture, m, csv);
  ASSERT_EQ(memory.raw.rows(), file.raw.rows()) << capture;
  ASSERT_EQ(memory.raw.cols(), file.raw.cols()) << capture;
  for (Eigen::Index r = 0; r < memory.raw.rows(); ++r) {
    for (Eigen::Index c = 0; c < memory.raw.cols(); ++c) {
      const float a = memory.raw(r, c), b = file.raw(r, c);
      ASSERT_EQ(std::memcmp(&a, &b, sizeof a), 0)
          << capture << " flow " << r << " column " << m.input_columns()[static_cast<size_t>(c)] << ": memory " << a
          << ", CSV " << b;
    }
    const auto& x = memory.records[static_cast<size_t>(r)];
    const auto& y = file.records[static_cast<size_t>(r)];
    EXPECT_EQ(x.src_ip, y.src_ip) << capture << " flow " << r;
    EXPECT_EQ(x.dst_ip, y.dst_ip) << capture << " flow " << r;
    EXPECT_EQ(x.src_port, y.src_port);
    EXPECT_EQ(x.dst_port, y.dst_port);
    EXPECT_EQ(x.protocol, y.protocol);
    EXPECT_EQ(x.start_us, y.start_us) << capture << " flow " << r;
    EXPECT_EQ(x.pkts_toserver, y.pkts_toserver);
    EXPECT_EQ(x.bytes_toclient, y.bytes_toclient);
  }
}

TEST(FlowRows, InMemoryEqualsCsvOnEverySharedCapture) {
  METAIDS_REQUIRE_SHARED_DATA("pcaps");
  const model::Model m = test::make_cic_model();
  test::TempDir dir;
  int captures = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(test::shared_data_dir() / "pcaps")) {
    const std::string name = entry.path().filename().string();
    const bool capture = name.find(".pcap") != std::string::npos || name.ends_with(".cap");
    if (!entry.is_regular_file() || !capture) continue;
    SCOPED_TRACE(entry.path().string());
    expect_identical(entry.path().string(), m, dir.path() / "flows.csv");
    ++captures;
  }
  EXPECT_GE(captures, 40);
}

TEST(FlowRows, InMemoryEqualsCsvOnAGeneratedCapture) {
  const model::Model m = test::make_cic_model();
  test::TempDir dir;
  synth::SynthConfig config;
  config.seed = 5;
  config.sessions = 3000;
  synth::write_pcap(config, dir.path() / "trace.pcap");
  expect_identical((dir.path() / "trace.pcap").string(), m, dir.path() / "flows.csv");
}

TEST(FlowRows, CsvEquivalentFloatFollowsTheParser) {
  // Plain values convert directly; non-finite ones read as 0 like the CSV's bad cells.
  EXPECT_EQ(csv_equivalent_float(1.5), 1.5f);
  EXPECT_EQ(csv_equivalent_float(std::numeric_limits<double>::infinity()), 0.0f);
  EXPECT_EQ(csv_equivalent_float(std::nan("")), 0.0f);
  EXPECT_EQ(csv_equivalent_float(1e300), 0.0f);
  // Values at a float rounding midpoint take the shortest-decimal route.
  const float f = 16777216.0f;
  const double mid = (static_cast<double>(f) + static_cast<double>(std::nextafter(f, 1e30f))) / 2;
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", mid);
  float parsed = 0;
  data::parse_float_cell(text, parsed);
  EXPECT_EQ(csv_equivalent_float(mid), parsed);
}

TEST(FeatureMapper, NamesTheColumnsTheFlowMeterLacks) {
  model::Model m = test::make_cic_model();
  nlohmann::json t = m.transform.to_json();
  t["numeric"][3] = "Not A Flow Feature";
  m.transform = data::FeatureTransform::from_json(t);
  try {
    FeatureMapper mapper(m);
    FAIL() << "a model with a foreign column was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Not A Flow Feature"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace metaids::detect
