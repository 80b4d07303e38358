// Row counts per class of every shared dataset, against ../shared/data/README.md.
#include <gtest/gtest.h>

#include <map>

#include "common/shared_data.h"
#include "data/loaders.h"

namespace metaids::data {
namespace {

using Counts = std::map<std::string, size_t>;

Counts counts_of(const FeatureTable& t) {
  Counts out;
  const auto c = t.class_counts();
  for (size_t i = 0; i < c.size(); ++i) out[t.class_names[i]] = c[i];
  return out;
}

void expect_clean(const FeatureTable& t) {
  EXPECT_EQ(t.report.rows_skipped(), 0u) << t.report.summary();
  EXPECT_EQ(t.report.short_rows + t.report.long_rows, 0u) << t.report.summary();
  EXPECT_EQ(t.report.rows_kept, t.rows());
  EXPECT_TRUE(t.features.allFinite());
}

TEST(SharedData, CicIds2017ImprovedSample) {
  METAIDS_REQUIRE_SHARED_DATA("cicids2017-improved-sample/sampled_CICIDS2017_improved_rnd_5000");
  const auto t = load_dataset(test::shared_data_dir() / "cicids2017-improved-sample/sampled_CICIDS2017_improved_rnd_5000",
                              cicflowmeter_schema());
  const Counts expected{{"BENIGN", 5000},
                        {"DDoS", 5000},
                        {"DoS Hulk", 5000},
                        {"DoS GoldenEye", 5000},
                        {"Portscan", 5000},
                        {"Infiltration - Portscan", 5000},
                        {"FTP-Patator", 3972},
                        {"DoS Slowloris", 3859},
                        {"SSH-Patator", 2961},
                        {"DoS Slowhttptest", 1740},
                        {"Botnet", 736},
                        {"Web Attack - Brute Force", 73},
                        {"Infiltration", 36},
                        {"Web Attack - XSS", 18},
                        {"Web Attack - SQL Injection", 13},
                        {"Heartbleed", 11}};
  EXPECT_EQ(counts_of(t), expected);
  EXPECT_EQ(t.rows(), 43419u);
  expect_clean(t);
  EXPECT_EQ(t.report.files.size(), 16u);
  ASSERT_TRUE(t.has_timestamps());
  EXPECT_EQ(t.report.bad_timestamps, 0u);
  // 91 columns less the 9 FSND-1 drops (Timestamp and Label included).
  EXPECT_EQ(t.feature_count(), 82u);
  for (const char* dropped : {"id", "Flow ID", "Src IP", "Src Port", "Dst IP", "Dst Port", "Timestamp", "Attempted Category"})
    EXPECT_EQ(std::count(t.feature_names.begin(), t.feature_names.end(), dropped), 0) << dropped;
  // The header reference lists the same names.
  int64_t first = 0;
  ASSERT_TRUE(parse_timestamp("2017-07-03 00:00:00", first));
  for (const int64_t ts : t.timestamps) EXPECT_GE(ts, first);
}

struct NslCase {
  const char* file;
  size_t rows;
};

TEST(SharedData, NslKddTrainPlus) {
  METAIDS_REQUIRE_SHARED_DATA("nsl-kdd/KDDTrain+.txt");
  const auto t = load_dataset(test::shared_data_dir() / "nsl-kdd/KDDTrain+.txt", nslkdd_schema());
  const Counts expected{{"normal", 67343},     {"neptune", 41214},   {"satan", 3633},       {"ipsweep", 3599},
                        {"portsweep", 2931},   {"smurf", 2646},      {"nmap", 1493},        {"back", 956},
                        {"teardrop", 892},     {"warezclient", 890}, {"pod", 201},          {"guess_passwd", 53},
                        {"buffer_overflow", 30}, {"warezmaster", 20}, {"land", 18},         {"imap", 11},
                        {"rootkit", 10},       {"loadmodule", 9},    {"ftp_write", 8},      {"multihop", 7},
                        {"phf", 4},            {"perl", 3},          {"spy", 2}};
  EXPECT_EQ(counts_of(t), expected);
  EXPECT_EQ(t.rows(), 125973u);
  expect_clean(t);
  EXPECT_EQ(t.feature_count(), 38u);
  ASSERT_EQ(t.categorical.size(), 3u);
  EXPECT_EQ(t.categorical[0].vocabulary.size(), 3u);  // tcp, udp, icmp
}

TEST(SharedData, NslKddTestPlus) {
  METAIDS_REQUIRE_SHARED_DATA("nsl-kdd/KDDTest+.txt");
  const auto t = load_dataset(test::shared_data_dir() / "nsl-kdd/KDDTest+.txt", nslkdd_schema());
  EXPECT_EQ(t.rows(), 22544u);
  EXPECT_EQ(t.class_names.size(), 38u);
  expect_clean(t);
  const auto counts = counts_of(t);
  const Counts test_only{{"mscan", 996},     {"apache2", 737},  {"processtable", 685},  {"snmpguess", 331},
                         {"saint", 319},     {"mailbomb", 293}, {"snmpgetattack", 178}, {"httptunnel", 133}};
  for (const auto& [family, n] : test_only) EXPECT_EQ(counts.at(family), n) << family;
}

TEST(SharedData, NslKddOtherFiles) {
  METAIDS_REQUIRE_SHARED_DATA("nsl-kdd/KDDTrain+_20Percent.txt");
  for (const NslCase c : {NslCase{"nsl-kdd/KDDTrain+_20Percent.txt", 25192}, NslCase{"nsl-kdd/KDDTest-21.txt", 11850}}) {
    const auto t = load_dataset(test::shared_data_dir() / c.file, nslkdd_schema());
    EXPECT_EQ(t.rows(), c.rows) << c.file;
    expect_clean(t);
  }
}

TEST(SharedData, KddCup99TenPercentGzip) {
  METAIDS_REQUIRE_SHARED_DATA("kddcup99/kddcup.data_10_percent.gz");
  const auto t = load_dataset(test::shared_data_dir() / "kddcup99/kddcup.data_10_percent.gz", kddcup99_schema());
  const Counts expected{{"smurf", 280790},   {"neptune", 107201}, {"normal", 97278},   {"back", 2203},
                        {"satan", 1589},     {"ipsweep", 1247},   {"portsweep", 1040}, {"warezclient", 1020},
                        {"teardrop", 979},   {"pod", 264},        {"nmap", 231},       {"guess_passwd", 53},
                        {"buffer_overflow", 30}, {"land", 21},    {"warezmaster", 20}, {"imap", 12},
                        {"rootkit", 10},     {"loadmodule", 9},   {"ftp_write", 8},    {"multihop", 7},
                        {"phf", 4},          {"perl", 3},         {"spy", 2}};
  EXPECT_EQ(counts_of(t), expected);
  EXPECT_EQ(t.rows(), 494021u);
  expect_clean(t);
}

}  // namespace
}  // namespace metaids::data
