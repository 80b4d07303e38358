// EVE JSON records: Suricata's field names and formats, and strings that never break a line.
#include "detect/eve.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "detect/base64.h"
#include "data/temp_dir.h"
#include "common/test_model.h"

namespace metaids::detect {
namespace {

FlowRecord tcp_record() {
  FlowRecord r;
  r.has_identity = true;
  r.src_ip = "203.0.113.7";
  r.dst_ip = "10.0.0.1";
  r.src_address = {203, 0, 113, 7};
  r.dst_address = {10, 0, 0, 1};
  r.src_port = 51234;
  r.dst_port = 22;
  r.protocol = 6;
  r.start_us = 1'700'000'000'000'000;
  r.end_us = 1'700'000'001'250'000;
  r.pkts_toserver = 9;
  r.pkts_toclient = 8;
  r.bytes_toserver = 1234;
  r.bytes_toclient = 2345;
  return r;
}

TEST(Eve, AlertRecordHasSuricatasFields) {
  model::Model m = test::make_cic_model();
  const EveFormatter formatter(m, true);
  model::Verdict v;
  v.alert = true;
  v.reported = 1;
  v.predicted = 1;
  v.margin = 4.5f;
  v.probability = 0.9f;
  v.novelty = 0.25f;
  std::vector<float> raw(static_cast<size_t>(m.features()), 1.5f);
  std::string line;
  formatter.append(line, tcp_record(), v, raw, false);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["timestamp"], "2023-11-14T22:13:21.250000+0000");
  EXPECT_TRUE(j["flow_id"].is_number_unsigned());
  EXPECT_LT(j["flow_id"].get<std::uint64_t>(), std::uint64_t{1} << 53);
  EXPECT_EQ(j["event_type"], "alert");
  EXPECT_EQ(j["src_ip"], "203.0.113.7");
  EXPECT_EQ(j["src_port"], 51234);
  EXPECT_EQ(j["dest_ip"], "10.0.0.1");
  EXPECT_EQ(j["dest_port"], 22);
  EXPECT_EQ(j["proto"], "TCP");
  EXPECT_EQ(j["community_id"].get<std::string>().substr(0, 2), "1:");
  EXPECT_EQ(j["alert"]["action"], "allowed");
  EXPECT_EQ(j["alert"]["signature"], "Portscan");
  EXPECT_EQ(j["alert"]["signature_id"], 9100002);
  EXPECT_EQ(j["alert"]["category"], "Detection of a Network Scan");
  EXPECT_EQ(j["alert"]["severity"], 3);
  EXPECT_EQ(j["alert"]["metadata"]["score"][0], "4.5");
  EXPECT_EQ(j["alert"]["metadata"]["model_version"][0], m.version());
  EXPECT_EQ(j["flow"]["pkts_toserver"], 9);
  EXPECT_EQ(j["flow"]["pkts_toclient"], 8);
  EXPECT_EQ(j["flow"]["bytes_toserver"], 1234);
  EXPECT_EQ(j["flow"]["bytes_toclient"], 2345);
  EXPECT_EQ(j["flow"]["start"], "2023-11-14T22:13:20.000000+0000");
  EXPECT_EQ(j["flow"]["end"], "2023-11-14T22:13:21.250000+0000");
  EXPECT_EQ(decode_features_base64(j["metaids"]["features_b64"].get<std::string>()), raw);
  EXPECT_EQ(j["metaids"]["columns"], columns_hash(m.input_columns()));
  // A flow that is not an alert: nothing, unless every flow is asked for.
  v.alert = false;
  v.reported = 0;
  std::string quiet;
  formatter.append(quiet, tcp_record(), v, raw, false);
  EXPECT_TRUE(quiet.empty());
  formatter.append(quiet, tcp_record(), v, raw, true);
  const auto f = nlohmann::json::parse(quiet);
  EXPECT_EQ(f["event_type"], "flow");
  EXPECT_FALSE(f.contains("alert"));
}

TEST(Eve, UnknownFlowsAreTheirOwnSignature) {
  model::Model m = test::make_cic_model();
  const EveFormatter formatter(m, false);
  model::Verdict v;
  v.alert = v.unknown = true;
  v.reported = model::Verdict::kUnknown;
  std::string line;
  formatter.append(line, tcp_record(), v, {}, false);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["alert"]["signature_id"], model::kUnknownSignatureId);
  EXPECT_EQ(j["alert"]["category"], "Unknown Traffic");
  EXPECT_EQ(j["metaids"]["class"], "unknown");
  EXPECT_FALSE(j["metaids"].contains("features_b64"));
}

TEST(Eve, ClassNamesWithControlCharactersAndBadUtf8StayOneLine) {
  model::Model m = test::make_cic_model();
  m.classes[1].name = "evil\tclass\nwith \"quotes\" \\ \x01\x1f\x7f and \xff\xfe bytes \xc3\xa9";
  m.adapt();
  const EveFormatter formatter(m, false);
  model::Verdict v;
  v.alert = true;
  v.reported = 1;
  std::string line;
  formatter.append(line, tcp_record(), v, {}, false);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(line.find('\t'), std::string::npos);
  const auto j = nlohmann::json::parse(line);  // strict: valid UTF-8 and escapes
  EXPECT_EQ(j["alert"]["signature"],
            "evil\tclass\nwith \"quotes\" \\ \x01\x1f\x7f and \xef\xbf\xbd\xef\xbf\xbd bytes \xc3\xa9");
  // Text from a CSV (addresses, labels) is escaped the same way, and a long one fits.
  FlowRecord r = tcp_record();
  r.src_ip = "10.0.0.1\n\"x\"";
  r.label = std::string(5000, '\x01') + "\xff";
  line.clear();
  formatter.append(line, r, v, {}, false);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto k = nlohmann::json::parse(line);
  EXPECT_EQ(k["src_ip"], "10.0.0.1\n\"x\"");
  EXPECT_EQ(k["metaids"]["label"], std::string(5000, '\x01') + "\xef\xbf\xbd");
}

// The longest line a record can make: every number at its widest, times far from today.
TEST(Eve, ExtremeRecordsMakeOneValidLine) {
  model::Model m = test::make_cic_model();
  const EveFormatter formatter(m, true);
  for (const std::int64_t t : {std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min(),
                               std::int64_t{-1}, std::int64_t{1}}) {
    FlowRecord r = tcp_record();
    r.protocol = 253;
    r.start_us = t;
    r.end_us = t;
    r.pkts_toserver = r.pkts_toclient = r.bytes_toserver = r.bytes_toclient = std::numeric_limits<std::uint64_t>::max();
    r.line = std::numeric_limits<std::uint64_t>::max();
    model::Verdict v;
    v.alert = true;
    v.reported = model::Verdict::kUnknown;
    v.unknown = true;
    v.margin = -std::numeric_limits<float>::max();
    v.probability = std::numeric_limits<float>::denorm_min();
    v.novelty = std::numeric_limits<float>::max();
    const std::vector<float> raw(static_cast<size_t>(m.features()), -std::numeric_limits<float>::max());
    std::string line;
    formatter.append(line, r, v, raw, true);
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["flow"]["bytes_toclient"], std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(j["metaids"]["line"], std::numeric_limits<std::uint64_t>::max());
  }
}

// The fast encoder against RFC 4648's vectors and a bit-by-bit reference over every byte value.
TEST(Eve, Base64MatchesTheStandard) {
  const auto encode = [](std::string_view in) {
    std::string out(base64_length(in.size()), '?');
    EXPECT_EQ(put_base64(out.data(), in.data(), in.size()), out.data() + out.size());
    return out;
  };
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foob"), "Zm9vYg==");
  EXPECT_EQ(encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
  const auto reference = [](std::string_view in) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bits, out;
    for (unsigned char c : in)
      for (int b = 7; b >= 0; --b) bits += (c >> b) & 1 ? '1' : '0';
    while (bits.size() % 6 != 0) bits += '0';
    for (size_t i = 0; i < bits.size(); i += 6) out += kAlphabet[std::stoi(bits.substr(i, 6), nullptr, 2)];
    while (out.size() % 4 != 0) out += '=';
    return out;
  };
  std::string every;
  for (int round = 0; round < 3; ++round)
    for (int c = 0; c < 256; ++c) every += static_cast<char>((c * (round + 1) * 37 + round) & 0xff);
  for (size_t n = 0; n < 40; ++n) EXPECT_EQ(encode(every.substr(n * 7, n)), reference(every.substr(n * 7, n))) << n;
  EXPECT_EQ(encode(every), reference(every));
}

TEST(Eve, FeaturesRoundTripExactlyThroughBase64) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{82}}) {
    std::vector<float> raw(n);
    for (size_t i = 0; i < n; ++i) raw[i] = static_cast<float>(i) * 1.1f - 3.7e-20f + (i % 2 ? 1e30f : 0.0f);
    std::string text;
    append_features_base64(text, raw);
    EXPECT_EQ(text.size() % 4, 0u);
    EXPECT_EQ(decode_features_base64(text), raw) << n;
  }
  std::string nan;
  append_features_base64(nan, std::vector<float>{std::nanf(""), 1.0f});
  EXPECT_EQ(decode_features_base64(nan), (std::vector<float>{0.0f, 1.0f}));
  EXPECT_TRUE(decode_features_base64("").empty());  // the fuzzer's first find: memcpy to null
  EXPECT_THROW(decode_features_base64("abc"), Error);
  EXPECT_THROW(decode_features_base64("!!!!"), Error);
  EXPECT_EQ(decode_features_base64("AAAAAA==").size(), 1u);  // 4 bytes: one float
  EXPECT_THROW(decode_features_base64("AAAAAAA="), Error);  // 5 bytes
}

TEST(Eve, ProtocolNamesAndTimestamps) {
  EXPECT_EQ(eve_protocol(6), "TCP");
  EXPECT_EQ(eve_protocol(17), "UDP");
  EXPECT_EQ(eve_protocol(1), "ICMP");
  EXPECT_EQ(eve_protocol(58), "IPv6-ICMP");
  EXPECT_EQ(eve_protocol(99), "99");
  EXPECT_EQ(eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
  EXPECT_EQ(eve_timestamp(-1), "1969-12-31T23:59:59.999999+0000");
  EXPECT_EQ(eve_timestamp(-1'000'000), "1969-12-31T23:59:59.000000+0000");
  EXPECT_EQ(eve_timestamp(1'499'278'335'650'811), "2017-07-05T18:12:15.650811+0000");
}

TEST(EveOutput, AppendsReopensAndReportsWriteErrors) {
  test::TempDir dir;
  const auto path = dir.path() / "eve.json";
  {
    EveOutput out(path.string());
    out.write("{\"a\":1}\n");
    // Log rotation: the file is moved away, then reopen() starts a new one at the path.
    std::filesystem::rename(path, dir.path() / "eve.json.1");
    out.write("{\"a\":2}\n");  // still the rotated file
    out.reopen();
    out.write("{\"a\":3}\n");
  }
  std::ifstream rotated(dir.path() / "eve.json.1"), current(path);
  std::string a, b;
  std::getline(rotated, a);
  std::getline(rotated, b);
  EXPECT_EQ(a, "{\"a\":1}");
  EXPECT_EQ(b, "{\"a\":2}");
  std::getline(current, a);
  EXPECT_EQ(a, "{\"a\":3}");
  {
    EveOutput again(path.string());  // appends, never truncates
    again.write("{\"a\":4}\n");
  }
  std::ifstream all(path);
  int n = 0;
  for (std::string line; std::getline(all, line);) ++n;
  EXPECT_EQ(n, 2);
  // A full disk is one clear error.
  if (std::filesystem::exists("/dev/full")) {
    EveOutput full("/dev/full");
    try {
      full.write("{}\n");
      FAIL() << "a write to /dev/full succeeded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("/dev/full"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace metaids::detect
