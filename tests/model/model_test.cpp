// The loadable model: every value validated on load (never fail open), calibration and
// adaptation keep their promises, the file round trip keeps everything.
#include "model/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "common/test_model.h"
#include "core/error.h"
#include "model/calibration.h"
#include "model/scoring.h"

namespace metaids::model {
namespace {

void expect_rejected(const ModelFile& file, const std::string& fragment) {
  try {
    (void)from_file(file, "bad.mids");
    FAIL() << "accepted a model that should fail with '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("bad.mids", 0), 0u) << e.what();
  }
}

ModelFile file_of(const Model& m) { return to_file(m); }

// n flows (rows × features) of independent N(shift, 1) features.
data::FeatureMatrix random_rows(Eigen::Index n, int features, float shift, std::mt19937_64& rng) {
  std::normal_distribution<float> normal;
  data::FeatureMatrix rows(n, features);
  for (Eigen::Index r = 0; r < n; ++r)
    for (Eigen::Index c = 0; c < features; ++c) rows(r, c) = shift + normal(rng);
  return rows;
}

NamedTensor& tensor(ModelFile& f, const std::string& name) {
  for (auto& t : f.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

TEST(Model, RoundTripKeepsEverything) {
  Model m = test::make_cic_model();
  calibrate_from_reference(m, 0.2, 0.1);
  m.history.push_back(history_event("test", {{"x", 1}}));
  m.support_group = {0, 0, 2, 1, 1, 1};
  m.adapt();
  const Model back = from_file(decode_model(encode_model(to_file(m)), "m"), "m");
  EXPECT_EQ(back.classes, m.classes);
  EXPECT_EQ(back.support_group, m.support_group);
  EXPECT_EQ(back.reference_y, m.reference_y);
  EXPECT_EQ(back.history, m.history);
  EXPECT_EQ(back.calibration.class_thresholds, m.calibration.class_thresholds);
  EXPECT_EQ(back.calibration.novelty_threshold, m.calibration.novelty_threshold);
  EXPECT_EQ(back.version(), m.version());
}

// The history is written from each event's kept text: the same bytes as dumping it whole, for
// events with nested values, non-ASCII text and invalid UTF-8 (replaced the same way), and
// copies share the events.
TEST(Model, HistoryIsWrittenAsItsEventsText) {
  Model m = test::make_cic_model();
  m.history.push_back(history_event("train", {{"classes", {"BENIGN", "DoS"}}, {"fpr", 0.001}, {"nested", {{"a", {1, 2.5}}}}}));
  m.history.push_back(history_event("adapt", {{"label", "Größe \t \"x\" \xff\xfe"}, {"k", 5}}));
  m.history.push_back(history_event("calibrate", {}));
  ModelFile whole = to_file(m);
  ASSERT_EQ(whole.raw_arrays.size(), 1u);
  whole.raw_arrays.clear();
  whole.header["history"] = m.history.to_json();
  const std::string expected = encode_model(whole);
  EXPECT_EQ(encode_model(to_file(m)), expected);
  const Model back = from_file(decode_model(expected, "m"), "m");
  EXPECT_EQ(encode_model(to_file(back)), expected);
  EXPECT_EQ(back.history.size(), 3u);
  EXPECT_EQ(back.history[1]["label"], "Größe \t \"x\" \xef\xbf\xbd\xef\xbf\xbd");
  const Model copy = m;
  EXPECT_EQ(&copy.history.back(), &m.history.back());  // shared, not copied
  // An empty history is an empty array, as before.
  Model fresh = test::make_cic_model();
  ModelFile empty = to_file(fresh);
  empty.raw_arrays.clear();
  empty.header["history"] = nlohmann::json::array();
  EXPECT_EQ(encode_model(to_file(fresh)), encode_model(empty));
}

// The shipped model decodes and encodes again to the very same bytes.
TEST(Model, ShippedModelReencodesToTheSameBytes) {
  const std::filesystem::path path = std::filesystem::path(METAIDS_SOURCE_DIR) / "models/metaids-cicids2017.mids";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no shipped model at " << path;
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Model m = from_file(decode_model(bytes, path.string()), path.string());
  EXPECT_FALSE(m.history.empty());
  EXPECT_EQ(encode_model(to_file(m)), bytes);
}

TEST(Model, NonFiniteValuesAreRejected) {
  const Model m = test::make_cic_model();
  ModelFile f = file_of(m);
  tensor(f, "parameters").values[3] = std::nanf("");
  expect_rejected(f, "non-finite");
  f = file_of(m);
  tensor(f, "parameters").values[0] = INFINITY;
  expect_rejected(f, "non-finite");
  f = file_of(m);
  tensor(f, "support_x").values[5] = std::nanf("");
  expect_rejected(f, "support_x holds non-finite");
  f = file_of(m);
  tensor(f, "reference_x").values[1] = -INFINITY;
  expect_rejected(f, "reference_x holds non-finite");
  f = file_of(m);
  f.header["transform"]["mean"][2] = 1e39;  // beyond float: infinity once read
  expect_rejected(f, "");
  f = file_of(m);
  f.header["calibration"]["threshold"] = nullptr;
  expect_rejected(f, "calibration");
}

TEST(Model, NamesAndStructureAreChecked) {
  const Model m = test::make_cic_model();
  ModelFile f = file_of(m);
  f.header["task"] = "regression";
  expect_rejected(f, "unknown task 'regression'");
  f = file_of(m);
  f.header["architecture"]["algorithm"] = "mamba";
  expect_rejected(f, "unknown algorithm 'mamba'");
  f = file_of(m);
  f.header["algorithm"] = "maml";
  expect_rejected(f, "the header says algorithm 'maml'");
  f = file_of(m);
  f.header["class_names"] = {"BENIGN", "BENIGN"};
  f.header.erase("classes");
  expect_rejected(f, "appears twice");
  f = file_of(m);
  f.header["class_names"] = {"BENIGN", ""};
  f.header.erase("classes");
  expect_rejected(f, "empty name");
  f = file_of(m);
  f.header["class_names"] = {"BENIGN", "unknown"};
  f.header.erase("classes");
  expect_rejected(f, "reserved");
  f = file_of(m);
  f.header["feature_names"][0] = "Something Else";
  expect_rejected(f, "feature_names do not match");
  f = file_of(m);
  tensor(f, "support_y").values[0] = 7;
  expect_rejected(f, "support_y holds 7");
  f = file_of(m);
  tensor(f, "support_y").values[0] = 0.5f;
  expect_rejected(f, "support_y holds 0.5");
  f = file_of(m);
  tensor(f, "support_group").values.pop_back();
  expect_rejected(f, "prototype groups");
  f = file_of(m);
  f.header["calibration"]["surprise"] = 1;
  expect_rejected(f, "unknown calibration field 'surprise'");
  f = file_of(m);
  f.header["classes"][1]["signature_id"] = f.header["classes"][0]["signature_id"];
  expect_rejected(f, "signature id");
  f = file_of(m);
  f.header["classes"][1]["severity"] = 9;
  expect_rejected(f, "severity 9");
  // A prototype group holding flows of two classes.
  f = file_of(m);
  tensor(f, "support_group").values = {0, 0, 0, 0, 1, 1};
  expect_rejected(f, "two classes");
}

TEST(Model, ThresholdForRateFlagsAtMostTheRate) {
  std::vector<float> values;
  for (int i = 0; i < 1000; ++i) values.push_back(static_cast<float>(i));
  double achieved = 0;
  const double t = threshold_for_rate(values, 0.01, true, &achieved);
  int flagged = 0;
  for (float v : values) flagged += v >= t ? 1 : 0;
  EXPECT_EQ(flagged, 10);
  EXPECT_DOUBLE_EQ(achieved, 0.01);
  // Ties: never more than the rate, even if fewer.
  std::vector<float> ties(100, 1.0f);
  const double tt = threshold_for_rate(ties, 0.05, true, &achieved);
  EXPECT_GT(tt, 1.0);
  EXPECT_EQ(achieved, 0.0);
  // NaN counts as flagged, never as allowed.
  std::vector<float> with_nan{1, 2, std::nanf("")};
  EXPECT_TRUE(std::isinf(threshold_for_rate(with_nan, 0.0, true, &achieved)));
  EXPECT_NEAR(achieved, 1.0 / 3, 1e-12);
  // Novelty: strictly above the threshold is flagged.
  const double tau = threshold_for_rate(values, 0.1, false, &achieved);
  int above = 0;
  for (float v : values) above += v > tau ? 1 : 0;
  EXPECT_EQ(above, 100);
}

TEST(Model, KmeansIsDeterministicAndCoversEveryPoint) {
  Matrix<float> points(2, 60);
  for (int j = 0; j < 60; ++j) {
    const float cx = static_cast<float>(j % 3) * 10.0f;
    points(0, j) = cx + static_cast<float>(j % 7) * 0.1f;
    points(1, j) = -cx + static_cast<float>(j % 5) * 0.1f;
  }
  const auto a = kmeans(points, 3, 7), b = kmeans(points, 3, 7);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), 60u);
  EXPECT_EQ(std::set<int>(a.begin(), a.end()), (std::set<int>{0, 1, 2}));
  for (int j = 3; j < 60; ++j) EXPECT_EQ(a[static_cast<size_t>(j)], a[static_cast<size_t>(j % 3)]);
}

TEST(Model, CalibrationKeepsTheRateOnTheReference) {
  Model m = test::make_cic_model();
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal;
  Matrix<float> more(m.features(), 400);
  for (Eigen::Index j = 0; j < more.cols(); ++j)
    for (Eigen::Index i = 0; i < more.rows(); ++i) more(i, j) = normal(rng);
  m.reference_x = more;
  m.reference_y.assign(400, 0);
  calibrate_from_reference(m, 0.05, 0.05);
  EXPECT_EQ(m.calibration.method, "reference");
  EXPECT_LE(m.calibration.reference_fpr, 0.05);
  Scorer scorer(m);
  std::vector<Verdict> v;
  scorer.score(m.reference_x, v);
  int alerts = 0, unknown = 0;
  for (const auto& x : v) {
    alerts += !x.unknown && x.alert ? 1 : 0;
    unknown += x.unknown ? 1 : 0;
  }
  EXPECT_LE(alerts, 20);
  EXPECT_LE(unknown, 20);
  // Adding a class keeps the thresholds of the others and gives it one of its own.
  const auto before = m.calibration.class_thresholds;
  data::FeatureMatrix rows(5, m.features());
  for (Eigen::Index r = 0; r < 5; ++r)
    for (Eigen::Index c = 0; c < rows.cols(); ++c) rows(r, c) = 4.0f + normal(rng) * 0.1f;
  EXPECT_TRUE(add_support(m, rows, "New", {{"source", "test"}}));
  ASSERT_EQ(m.calibration.class_thresholds.size(), 3u);
  EXPECT_EQ(m.calibration.class_thresholds[1], before[1]);
  EXPECT_GE(m.calibration.class_thresholds[2], m.calibration.threshold);
  EXPECT_EQ(m.history.back()["event"], "adapt");
  EXPECT_EQ(m.history.back()["label"], "New");
  EXPECT_THROW(add_support(m, rows, "unknown", {}), Error);
  EXPECT_THROW(add_support(m, rows, "", {}), Error);
}

TEST(Model, AnAdaptationReusesTheEmbeddingsItMayAndGivesTheSameStateAsALoad) {
  // ProtoNet re-embeds only the support blocks that changed; the state must be bit for bit
  // what a sensor gets by loading the file (every embedding computed anew).
  Model m = test::make_cic_model();
  std::mt19937_64 rng(11);
  ASSERT_FALSE(add_support(m, random_rows(150, m.features(), 0.5f, rng), "BENIGN", {}));
  for (int step = 0; step < 30; ++step) {
    add_support(m, random_rows(step % 7 + 1, m.features(), 2.0f + static_cast<float>(step % 3), rng),
                step % 2 ? "A" : "B", {});
    const Model loaded = from_file(to_file(m));
    const auto& a = m.state();
    const auto& b = loaded.state();
    ASSERT_EQ(a.centroids().rows(), b.centroids().rows());
    ASSERT_EQ(a.centroids().cols(), b.centroids().cols());
    EXPECT_EQ(std::memcmp(a.centroids().data(), b.centroids().data(), sizeof(float) * a.centroids().size()), 0)
        << "step " << step;
    EXPECT_EQ(std::memcmp(a.group_scale().data(), b.group_scale().data(), sizeof(float) * a.group_scale().size()), 0)
        << "step " << step;
  }
  EXPECT_GT(m.support_x.cols(), 2 * 64);  // several blocks, some reused
  // A changed column in the first block: nothing may be reused.
  m.support_x(3, 1) += 1.0f;
  m.adapt();
  const Model loaded = from_file(to_file(m));
  EXPECT_EQ(std::memcmp(m.state().centroids().data(), loaded.state().centroids().data(),
                        sizeof(float) * m.state().centroids().size()),
            0);
}

TEST(Model, FlowsLabelledAgainAreNotAddedTwice) {
  Model m = test::make_cic_model();
  std::mt19937_64 rng(9);
  const data::FeatureMatrix rows = random_rows(5, m.features(), 3.0f, rng);
  ASSERT_TRUE(add_support(m, rows, "New", {}));
  const size_t support = m.support_y.size();
  const std::string version = m.version();
  // The same five again: nothing new, refused, and the model is as it was.
  EXPECT_THROW(add_support(m, rows, "New", {}), Error);
  EXPECT_EQ(m.support_y.size(), support);
  EXPECT_EQ(m.version(), version);
  // Two of them and three new ones: the three are added, the two counted.
  data::FeatureMatrix mixed = random_rows(5, m.features(), 3.0f, rng);
  mixed.topRows(2) = rows.topRows(2);
  EXPECT_FALSE(add_support(m, mixed, "New", {}));
  EXPECT_EQ(m.support_y.size(), support + 3);
  EXPECT_EQ(m.history.back()["flows"], 3);
  EXPECT_EQ(m.history.back()["duplicates"], 2);
  // A row that differs in one feature's last bit is a new flow.
  data::FeatureMatrix nudged = rows.topRows(1);
  nudged(0, 7) = std::nextafter(nudged(0, 7), 1e9f);
  EXPECT_FALSE(add_support(m, nudged, "New", {}));
  EXPECT_EQ(m.support_y.size(), support + 4);
  // The same flows under another class are that class's support.
  EXPECT_TRUE(add_support(m, rows, "Other", {}));
  EXPECT_EQ(m.history.back()["flows"], 5);
}

// A class keeps its most recent max_class_flows flows: the oldest leave its support (the
// other classes' flows stay where they are), the event says how many, and the state is bit for
// bit that of a model loaded from the file (the embeddings before the change are reused).
TEST(Model, AClassKeepsItsMostRecentFlowsWithinItsLimit) {
  Model m = test::make_cic_model();
  std::mt19937_64 rng(21);
  add_support(m, random_rows(150, m.features(), 0.5f, rng), "BENIGN", {});  // blocks of 64 to reuse
  const size_t before = m.support_y.size();
  const Eigen::Index others = m.support_x.cols();
  const Matrix<float> other_columns = m.support_x;
  std::vector<data::FeatureMatrix> batches;
  for (int i = 0; i < 12; ++i) batches.push_back(random_rows(7, m.features(), 3.0f + 0.1f * static_cast<float>(i), rng));
  constexpr size_t kLimit = 40;
  for (size_t i = 0; i < batches.size(); ++i) {
    add_support(m, batches[i], "Beacon", {}, nullptr, kLimit);
    const size_t added = std::min<size_t>(7 * (i + 1), kLimit);
    ASSERT_EQ(m.support_y.size(), before + added) << "after batch " << i;
    if (7 * (i + 1) > kLimit) {
      EXPECT_EQ(m.history.back()["dropped"], std::min<size_t>(7, 7 * (i + 1) - kLimit));
    }
    const Model loaded = from_file(to_file(m));
    EXPECT_EQ(std::memcmp(m.state().centroids().data(), loaded.state().centroids().data(),
                          sizeof(float) * m.state().centroids().size()),
              0)
        << "after batch " << i;
  }
  // The classes it had keep their flows, in place.
  EXPECT_TRUE(m.support_x.leftCols(others) == other_columns);
  // A model given only those 40 flows (of the 84) holds the same support.
  Model fresh = test::make_cic_model();
  std::mt19937_64 same(21);
  add_support(fresh, random_rows(150, m.features(), 0.5f, same), "BENIGN", {});
  data::FeatureMatrix last(static_cast<Eigen::Index>(kLimit), m.features());
  for (Eigen::Index k = 0; k < last.rows(); ++k) {
    const Eigen::Index flow = 12 * 7 - last.rows() + k;
    last.row(k) = batches[static_cast<size_t>(flow / 7)].row(flow % 7);
  }
  add_support(fresh, last, "Beacon", {});
  EXPECT_TRUE(fresh.support_x == m.support_x);
  // More new flows than the limit at once: the last ones given are kept.
  add_support(m, random_rows(50, m.features(), 9.0f, rng), "Flood", {}, nullptr, 8);
  EXPECT_EQ(m.history.back()["flows"], 8);
  EXPECT_EQ(m.history.back()["dropped"], 42);
  // No limit (0): everything stays.
  add_support(m, random_rows(50, m.features(), 5.0f, rng), "Beacon", {}, nullptr, 0);
  EXPECT_EQ(std::count(m.support_y.begin(), m.support_y.end(), m.class_index("Beacon")), 90);
}

TEST(Model, SiteCalibrationLearnsTheLocalNormal) {
  Model m = test::make_cic_model();
  std::mt19937_64 rng(4);
  std::normal_distribution<float> normal;
  data::FeatureMatrix site(300, m.features());
  for (Eigen::Index r = 0; r < site.rows(); ++r)
    for (Eigen::Index c = 0; c < site.cols(); ++c) site(r, c) = 6.0f + normal(rng);  // unlike the reference
  const auto support_before = m.support_y.size();
  const SiteCalibration result = calibrate_to_site(m, site, 0.02, 0.02, {{"source", "test"}}, 1);
  EXPECT_EQ(result.flows, 300u);
  EXPECT_EQ(result.support, 150u);
  EXPECT_EQ(result.reference, 150u);
  EXPECT_GE(result.groups, 1);
  EXPECT_EQ(m.support_y.size(), support_before + 150);
  EXPECT_EQ(std::count(m.reference_y.begin(), m.reference_y.end(), 0), 150);  // the site replaced the benign reference
  EXPECT_EQ(m.calibration.method, "site");
  EXPECT_LE(m.calibration.reference_fpr, 0.02);
  EXPECT_EQ(m.history.back()["event"], "calibrate");
  // The site's traffic is now mostly benign.
  Scorer scorer(m);
  std::vector<Verdict> v;
  scorer.score(site.transpose(), v);
  int alerts = 0;
  for (const auto& x : v) alerts += x.alert ? 1 : 0;
  EXPECT_LT(alerts, 30);
  // Reproducible from the seed.
  Model again = test::make_cic_model();
  calibrate_to_site(again, site, 0.02, 0.02, {{"source", "test"}}, 1);
  EXPECT_EQ(again.support_group, m.support_group);
  EXPECT_EQ(again.calibration.class_thresholds, m.calibration.class_thresholds);
}

}  // namespace
}  // namespace metaids::model
