// metaids::synth: determinism, valid pcap with correct checksums (checked through libpcap and
// a plain decoder), consistent TCP sequence numbers, and ground truth equal to an independent
// recount of the written capture.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "synth/synth.h"
#include "synth/trace_reader.h"  // tests/synth/trace_reader.h
#include "core/error.h"

namespace metaids::synth {
namespace {

using test::DecodedPacket;

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

std::filesystem::path scratch_dir() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("metaids_synth_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

SynthConfig small_config(std::uint64_t seed = 7, std::uint64_t sessions = 600) {
  SynthConfig config;
  config.seed = seed;
  config.sessions = sessions;
  config.duration_s = 30;
  return config;
}

// FNV-1a over every packet's timestamp and bytes.
std::uint64_t trace_hash(const SynthConfig& config, std::uint64_t* packets = nullptr) {
  Generator generator(config);
  Packet packet;
  std::uint64_t hash = 1469598103934665603ULL;
  std::uint64_t count = 0;
  auto mix = [&hash](std::uint8_t byte) { hash = (hash ^ byte) * 1099511628211ULL; };
  while (generator.next(packet)) {
    for (int i = 0; i < 8; ++i) mix(static_cast<std::uint8_t>(packet.timestamp_us >> (8 * i)));
    for (std::uint8_t byte : packet.frame()) mix(byte);
    ++count;
  }
  if (packets != nullptr) *packets = count;
  return hash;
}

// ---- an independent flow recount over decoded packets ---------------------------------------

struct Recount {
  GroundTruthFlow flow;
  bool fin_forward = false, fin_backward = false, final_ack = false, rst = false;
};

using Key = std::tuple<std::uint32_t, std::uint16_t, std::uint32_t, std::uint16_t, std::uint8_t>;
Key undirected_key(const DecodedPacket& p) {
  const auto a = std::make_pair(p.src_ip, p.src_port);
  const auto b = std::make_pair(p.dst_ip, p.dst_port);
  const auto& lo = std::min(a, b);
  const auto& hi = std::max(a, b);
  return {lo.first, lo.second, hi.first, hi.second, p.protocol};
}

GroundTruthFlow finish(Recount& r) {
  r.flow.end = r.rst ? FlowEnd::Rst : (r.fin_forward && r.fin_backward && r.final_ack ? FlowEnd::Fin : FlowEnd::Timeout);
  return r.flow;
}

std::vector<GroundTruthFlow> recount(const std::vector<DecodedPacket>& packets, std::uint64_t timeout_us) {
  std::map<Key, Recount> open;
  std::vector<GroundTruthFlow> flows;
  for (const DecodedPacket& p : packets) {
    const Key key = undirected_key(p);
    auto it = open.find(key);
    if (it != open.end() && p.timestamp_us - it->second.flow.first_timestamp_us > timeout_us) {
      flows.push_back(finish(it->second));
      open.erase(it);
      it = open.end();
    }
    if (it == open.end()) {
      Recount r;
      r.flow.tuple = {p.src_ip, p.dst_ip, p.src_port, p.dst_port, p.protocol};
      r.flow.first_timestamp_us = p.timestamp_us;
      it = open.emplace(key, r).first;
    }
    Recount& r = it->second;
    GroundTruthFlow& f = r.flow;
    f.last_timestamp_us = p.timestamp_us;
    const bool forward = p.src_ip == f.tuple.src_ip && p.src_port == f.tuple.src_port;
    (forward ? f.fwd_packets : f.bwd_packets) += 1;
    (forward ? f.fwd_payload_bytes : f.bwd_payload_bytes) += p.payload_length;
    (forward ? f.fwd_ip_bytes : f.bwd_ip_bytes) += p.ip_total_length;
    (forward ? f.fwd_header_bytes : f.bwd_header_bytes) += p.l4_header_length;
    if (p.protocol != 6) continue;
    if (p.flags & kSyn) ++f.syn_packets;
    if (p.flags & kRst) {
      ++f.rst_packets;
      r.rst = true;
    }
    if (p.flags & kPsh) ++f.psh_packets;
    if (p.flags & kAck) {
      ++f.ack_packets;
      if (r.fin_forward && r.fin_backward && !(p.flags & kFin)) r.final_ack = true;
    }
    if (p.flags & kFin) {
      ++f.fin_packets;
      (forward ? r.fin_forward : r.fin_backward) = true;
    }
  }
  for (auto& [key, r] : open) flows.push_back(finish(r));
  sort_ground_truth(flows);
  return flows;
}

void expect_same_counts(const GroundTruthFlow& truth, const GroundTruthFlow& counted) {
  const std::string where = format_ground_truth_row(truth);
  EXPECT_EQ(truth.tuple, counted.tuple) << where;
  EXPECT_EQ(truth.first_timestamp_us, counted.first_timestamp_us) << where;
  EXPECT_EQ(truth.last_timestamp_us, counted.last_timestamp_us) << where;
  EXPECT_EQ(truth.fwd_packets, counted.fwd_packets) << where;
  EXPECT_EQ(truth.bwd_packets, counted.bwd_packets) << where;
  EXPECT_EQ(truth.fwd_payload_bytes, counted.fwd_payload_bytes) << where;
  EXPECT_EQ(truth.bwd_payload_bytes, counted.bwd_payload_bytes) << where;
  EXPECT_EQ(truth.fwd_ip_bytes, counted.fwd_ip_bytes) << where;
  EXPECT_EQ(truth.bwd_ip_bytes, counted.bwd_ip_bytes) << where;
  EXPECT_EQ(truth.fwd_header_bytes, counted.fwd_header_bytes) << where;
  EXPECT_EQ(truth.bwd_header_bytes, counted.bwd_header_bytes) << where;
  EXPECT_EQ(truth.syn_packets, counted.syn_packets) << where;
  EXPECT_EQ(truth.fin_packets, counted.fin_packets) << where;
  EXPECT_EQ(truth.rst_packets, counted.rst_packets) << where;
  EXPECT_EQ(truth.psh_packets, counted.psh_packets) << where;
  EXPECT_EQ(truth.ack_packets, counted.ack_packets) << where;
  EXPECT_EQ(truth.end, counted.end) << where;
}

// ---- tests -----------------------------------------------------------------------------------

TEST(Synth, SameSeedSameTraceOtherSeedOtherTrace) {
  std::uint64_t packets = 0;
  const std::uint64_t first = trace_hash(small_config(7), &packets);
  EXPECT_GT(packets, 1000u);
  EXPECT_EQ(first, trace_hash(small_config(7)));
  EXPECT_NE(first, trace_hash(small_config(8)));
  SynthConfig without_truth = small_config(7);
  without_truth.collect_ground_truth = false;
  EXPECT_EQ(first, trace_hash(without_truth)) << "keeping ground truth must not change the packets";
}

TEST(Synth, WritePcapIsByteIdenticalAcrossRuns) {
  const auto dir = scratch_dir();
  const SynthConfig config = small_config(11, 300);
  write_pcap(config, dir / "a.pcap", dir / "a.csv");
  write_pcap(config, dir / "b.pcap", dir / "b.csv");
  auto bytes = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(dir / "a.pcap"), bytes(dir / "b.pcap"));
  EXPECT_EQ(bytes(dir / "a.csv"), bytes(dir / "b.csv"));
  EXPECT_FALSE(std::filesystem::exists(dir / "a.pcap.tmp"));
  std::filesystem::remove_all(dir);
}

class WrittenTrace : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(scratch_dir() / "suite");
    std::filesystem::create_directories(*dir_);
    SynthConfig config = small_config(3, 1500);
    config.duration_s = 200;  // long enough for sessions cut by the 120 s flow timeout
    summary_ = write_pcap(config, *dir_ / "trace.pcap", *dir_ / "trace.csv");
    packets_ = new std::vector<DecodedPacket>(test::read_with_libpcap(*dir_ / "trace.pcap", &link_type_));
    truth_ = new std::vector<GroundTruthFlow>(read_ground_truth_csv(*dir_ / "trace.csv"));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(dir_->parent_path());
    delete dir_;
    delete packets_;
    delete truth_;
  }
  static std::filesystem::path* dir_;
  static std::vector<DecodedPacket>* packets_;
  static std::vector<GroundTruthFlow>* truth_;
  static SynthSummary summary_;
  static int link_type_;
};
std::filesystem::path* WrittenTrace::dir_ = nullptr;
std::vector<DecodedPacket>* WrittenTrace::packets_ = nullptr;
std::vector<GroundTruthFlow>* WrittenTrace::truth_ = nullptr;
SynthSummary WrittenTrace::summary_;
int WrittenTrace::link_type_ = -1;

TEST_F(WrittenTrace, LibpcapReadsEveryPacketWithValidChecksumsInTimeOrder) {
  EXPECT_EQ(link_type_, DLT_EN10MB);
  ASSERT_EQ(packets_->size(), summary_.packets);
  std::uint64_t previous = 0, bad_ip = 0, bad_l4 = 0, undecoded = 0;
  for (const DecodedPacket& p : *packets_) {
    EXPECT_GE(p.timestamp_us, previous);
    previous = p.timestamp_us;
    undecoded += !p.decoded;
    bad_ip += !p.ip_checksum_ok;
    bad_l4 += !p.l4_checksum_ok;
    EXPECT_LE(p.frame_length, 1514u);
  }
  EXPECT_EQ(undecoded, 0u);
  EXPECT_EQ(bad_ip, 0u);
  EXPECT_EQ(bad_l4, 0u);
}

TEST_F(WrittenTrace, GroundTruthEqualsIndependentRecount) {
  const std::vector<GroundTruthFlow> counted = recount(*packets_, 120'000'000);
  ASSERT_EQ(truth_->size(), counted.size());
  for (std::size_t i = 0; i < counted.size(); ++i) expect_same_counts((*truth_)[i], counted[i]);
  std::uint64_t total = 0;
  for (const auto& flow : *truth_) total += flow.fwd_packets + flow.bwd_packets;
  EXPECT_EQ(total, packets_->size());
}

TEST_F(WrittenTrace, LongSessionsAreSplitAtTheFlowTimeout) {
  // Every later flow of a split session starts with a packet from the session's initiator,
  // so its direction is the same whichever rule a meter uses.
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint16_t, std::uint16_t>, FiveTuple> first_flow;
  int split = 0;
  for (const auto& flow : *truth_) {
    EXPECT_LE(flow.last_timestamp_us - flow.first_timestamp_us, 120'000'000u);
    const auto a = std::make_pair(flow.tuple.src_ip, flow.tuple.src_port);
    const auto b = std::make_pair(flow.tuple.dst_ip, flow.tuple.dst_port);
    const auto lo = std::min(a, b);
    const auto hi = std::max(a, b);
    const auto [it, inserted] = first_flow.try_emplace({lo.first, hi.first, lo.second, hi.second}, flow.tuple);
    if (!inserted) {
      ++split;
      EXPECT_EQ(it->second, flow.tuple) << "a later flow keeps the session's direction";
    }
  }
  EXPECT_GT(split, 0) << "expected some slow-HTTP or SSH session longer than 120 s";
}

TEST_F(WrittenTrace, TcpSequenceNumbersAreConsistent) {
  struct Connection {
    bool have_isn[2] = {false, false};
    std::uint32_t isn[2] = {0, 0};
    std::uint32_t next[2] = {0, 0};
    std::uint32_t last_ack[2] = {0, 0};
    bool fin[2] = {false, false};
    std::uint32_t initiator_ip = 0;
    std::uint16_t initiator_port = 0;
  };
  auto after_or_equal = [](std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) >= 0; };
  std::map<Key, Connection> connections;
  std::uint64_t handshakes = 0, teardowns = 0;
  for (const DecodedPacket& p : *packets_) {
    if (p.protocol != 6) continue;
    auto [it, inserted] = connections.try_emplace(undirected_key(p));
    Connection& c = it->second;
    if (inserted) {
      ASSERT_TRUE((p.flags & kSyn) && !(p.flags & kAck)) << "a TCP connection must start with a SYN";
      c.initiator_ip = p.src_ip;
      c.initiator_port = p.src_port;
    }
    const int side = (p.src_ip == c.initiator_ip && p.src_port == c.initiator_port) ? 0 : 1;
    const int other = 1 - side;
    if (p.flags & kSyn) {
      if (!c.have_isn[side]) {
        c.have_isn[side] = true;
        c.isn[side] = p.seq;
        c.next[side] = p.seq + 1;
        if (side == 1) {
          EXPECT_EQ(p.ack, c.isn[0] + 1) << "SYN-ACK must acknowledge the SYN";
          ++handshakes;
        }
      } else {
        EXPECT_EQ(p.seq, c.isn[side]) << "a repeated SYN is a retransmission";
      }
      continue;
    }
    if ((p.flags & kRst) && p.seq == 0 && side == 1 && !c.have_isn[1]) {
      EXPECT_EQ(p.ack, c.next[0]) << "RST-ACK to a SYN acknowledges it";
      continue;
    }
    ASSERT_TRUE(c.have_isn[side]) << "data before SYN";
    EXPECT_EQ(p.seq, c.next[side]) << "segments follow each other without gaps or overlaps";
    c.next[side] += p.payload_length + ((p.flags & kFin) ? 1 : 0);
    if (p.flags & kAck) {
      EXPECT_TRUE(after_or_equal(c.next[other], p.ack)) << "never acknowledges unseen data";
      EXPECT_TRUE(after_or_equal(p.ack, c.last_ack[side]) || c.last_ack[side] == 0) << "ACKs never go back";
      c.last_ack[side] = p.ack;
      if (c.fin[0] && c.fin[1] && !(p.flags & kFin)) {
        EXPECT_EQ(p.ack, c.next[other]) << "the final ACK acknowledges the FIN";
        ++teardowns;
      }
    }
    if (p.flags & kFin) c.fin[side] = true;
  }
  EXPECT_GT(handshakes, 100u);
  EXPECT_GT(teardowns, 100u);
}

TEST_F(WrittenTrace, EveryFamilyIsPresentWithItsLabels) {
  std::set<std::string> labels;
  std::array<std::uint64_t, kFamilyCount> flows{};
  for (const auto& flow : *truth_) {
    ++flows[static_cast<std::size_t>(flow.family)];
    labels.insert(flow.label);
    if (!is_attack(flow.family)) {
      EXPECT_EQ(flow.label, "BENIGN");
    }
  }
  for (std::size_t f = 0; f < kFamilyCount; ++f) {
    EXPECT_GT(flows[f], 0u) << family_name(static_cast<Family>(f));
    EXPECT_GT(summary_.packets_per_family[f], 0u) << family_name(static_cast<Family>(f));
  }
  for (const char* label : {"BENIGN", "PortScan", "DoS SYN Flood", "DoS slowloris", "Bot", "Infiltration"}) {
    EXPECT_TRUE(labels.count(label)) << label;
  }
  EXPECT_TRUE(labels.count("FTP-Patator") || labels.count("SSH-Patator"));
}

TEST_F(WrittenTrace, TsharkConversationsMatchGroundTruth) {
  if (std::system("command -v tshark > /dev/null 2>&1") != 0) GTEST_SKIP() << "tshark not installed";
  const auto out = *dir_ / "conv.txt";
  const std::string command = "tshark -r '" + (*dir_ / "trace.pcap").string() +
                              "' -q -z conv,tcp -z conv,udp > '" + out.string() + "' 2> /dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::map<std::pair<std::string, std::string>, std::uint64_t> truth_frames;
  for (const auto& flow : *truth_) {
    auto a = format_ipv4(flow.tuple.src_ip) + ":" + std::to_string(flow.tuple.src_port);
    auto b = format_ipv4(flow.tuple.dst_ip) + ":" + std::to_string(flow.tuple.dst_port);
    if (b < a) std::swap(a, b);
    truth_frames[{a, b}] += flow.fwd_packets + flow.bwd_packets;
  }
  std::map<std::pair<std::string, std::string>, std::uint64_t> tshark_frames;
  std::ifstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("<->") == std::string::npos) continue;
    std::istringstream fields(line);
    std::vector<std::string> tokens;
    for (std::string token; fields >> token;) tokens.push_back(token);
    ASSERT_GE(tokens.size(), 10u) << line;
    std::string a = tokens[0], b = tokens[2];
    if (b < a) std::swap(a, b);
    tshark_frames[{a, b}] += std::stoull(tokens[9]);  // total frames
  }
  EXPECT_EQ(tshark_frames, truth_frames);
}

TEST(Synth, EachFamilyAloneProducesOnlyThatFamily) {
  for (std::size_t f = 0; f < kFamilyCount; ++f) {
    const auto family = static_cast<Family>(f);
    SynthConfig config = small_config(5, 40);
    const Family only[] = {family};
    config.select_families(only);
    Generator generator(config);
    Packet packet;
    std::uint64_t packets = 0;
    while (generator.next(packet)) {
      ASSERT_EQ(packet.family, family);
      ++packets;
    }
    const auto flows = generator.take_finished_flows();
    EXPECT_GT(packets, 0u) << family_name(family);
    EXPECT_GE(flows.size(), 40u) << family_name(family);  // 40 sessions, some split by the timeout
    std::uint64_t counted = 0;
    for (const auto& flow : flows) {
      EXPECT_EQ(flow.family, family);
      counted += flow.fwd_packets + flow.bwd_packets;
    }
    EXPECT_EQ(counted, packets) << family_name(family);
  }
}

TEST(Synth, PacketTargetIsExactAndGroundTruthCoversTheCutTrace) {
  SynthConfig config = small_config(9);
  config.target_packets = 12'345;
  Generator generator(config);
  Packet packet;
  std::uint64_t packets = 0;
  while (generator.next(packet)) ++packets;
  EXPECT_EQ(packets, 12'345u);
  EXPECT_FALSE(generator.next(packet));
  std::uint64_t counted = 0;
  for (const auto& flow : generator.take_finished_flows()) counted += flow.fwd_packets + flow.bwd_packets;
  EXPECT_EQ(counted, 12'345u);
}

TEST(Synth, SynFloodSourcesAreAllDistinct) {
  SynthConfig config = small_config(13, 20'000);
  const Family only[] = {Family::SynFlood};
  config.select_families(only);
  Generator generator(config);
  Packet packet;
  while (generator.next(packet)) {
  }
  const auto flows = generator.take_finished_flows();
  EXPECT_EQ(flows.size(), 20'000u);
  std::set<std::pair<std::uint32_t, std::uint16_t>> sources;
  for (const auto& flow : flows) {
    sources.insert({flow.tuple.src_ip, flow.tuple.src_port});
    const std::uint32_t first_octet = flow.tuple.src_ip >> 24;
    EXPECT_TRUE(first_octet != 0 && first_octet != 10 && first_octet != 127 && first_octet < 224);
  }
  EXPECT_EQ(sources.size(), flows.size());
}

TEST(Synth, SynFloodWithoutRepliesIsOneFlowPerPacket) {
  SynthConfig config = small_config(17, 5'000);
  const Family only[] = {Family::SynFlood};
  config.select_families(only);
  config.syn_flood_reply_fraction = 0;
  Generator generator(config);
  Packet packet;
  std::uint64_t packets = 0;
  while (generator.next(packet)) ++packets;
  const auto flows = generator.take_finished_flows();
  EXPECT_EQ(packets, 5'000u);
  EXPECT_EQ(flows.size(), 5'000u);
  for (const auto& flow : flows) {
    EXPECT_EQ(flow.fwd_packets, 1u);
    EXPECT_EQ(flow.bwd_packets, 0u);
    EXPECT_EQ(flow.syn_packets, 1u);
    EXPECT_EQ(flow.end, FlowEnd::Timeout);
  }
}

TEST(Synth, VlanTaggedTraceHasTheSameFlows) {
  const auto dir = scratch_dir();
  SynthConfig config = small_config(23, 200);
  const SynthSummary plain = write_pcap(config, dir / "plain.pcap", dir / "plain.csv");
  config.vlan_id = 42;
  const SynthSummary tagged = write_pcap(config, dir / "vlan.pcap", dir / "vlan.csv");
  EXPECT_EQ(tagged.packets, plain.packets);
  EXPECT_EQ(tagged.bytes, plain.bytes + 4 * plain.packets);
  const auto packets = test::read_with_libpcap(dir / "vlan.pcap");
  for (const DecodedPacket& p : packets) {
    ASSERT_TRUE(p.decoded && p.ip_checksum_ok && p.l4_checksum_ok);
    ASSERT_EQ(p.vlan_id, 42);
    ASSERT_LE(p.frame_length, Packet::kMaxFrameBytes);
  }
  const auto truth = read_ground_truth_csv(dir / "vlan.csv");
  const auto counted = recount(packets, config.flow_timeout_us);
  ASSERT_EQ(truth.size(), counted.size());
  for (std::size_t i = 0; i < truth.size(); ++i) expect_same_counts(truth[i], counted[i]);
  auto bytes = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(dir / "vlan.csv"), bytes(dir / "plain.csv"));
  std::filesystem::remove_all(dir);
}

TEST(Synth, GroundTruthCsvRoundTrips) {
  const auto dir = scratch_dir();
  write_pcap(small_config(21, 200), dir / "t.pcap", dir / "t.csv");
  const auto flows = read_ground_truth_csv(dir / "t.csv");
  ASSERT_FALSE(flows.empty());
  std::ifstream in(dir / "t.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, ground_truth_csv_header());
  for (const auto& flow : flows) {
    std::getline(in, line);
    EXPECT_EQ(line, format_ground_truth_row(flow));
  }
  std::filesystem::remove_all(dir);
}

TEST(Synth, BadConfigurationIsRejectedWithAReason) {
  SynthConfig config;
  config.duration_s = 0;
  EXPECT_THROW(validate(config), Error);
  config = SynthConfig{};
  config.family_weights.fill(0);
  EXPECT_THROW(validate(config), Error);
  config = SynthConfig{};
  config.external = config.clients;
  EXPECT_THROW(validate(config), Error);
  config = SynthConfig{};
  config.vlan_id = 4095;
  EXPECT_THROW(validate(config), Error);
  EXPECT_THROW(parse_ipv4_range("10.0.0.1/8"), Error);
  EXPECT_THROW(parse_ipv4_range("300.0.0.0/8"), Error);
  EXPECT_EQ(parse_ipv4_range("10.1.0.0/16").size(), 65536u);
  EXPECT_EQ(parse_family("exfil"), Family::Exfiltration);
  EXPECT_FALSE(parse_family("nope").has_value());
}

}  // namespace
}  // namespace metaids::synth
