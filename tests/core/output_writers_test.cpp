// The writers built on OutputFile keep its promises: FlowWriter (flows), write_pcap (synthetic
// traces and their truth) and write_file_atomically (models, predictions, results) never
// destroy what is at the path, never follow a planted link, and never mix two runs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/output_test_support.h"
#include "flow/flow_table.h"
#include "flow/writer.h"
#include "synth/synth.h"

namespace metaids::test {
namespace {

using flow::FlowTable;
using flow::FlowTableConfig;
using flow::FlowWriter;
using flow::OutputFormat;
using flow::PacketInfo;
using flow::WriterOptions;

PacketInfo tcp_packet(int64_t t_us, uint8_t client, uint16_t client_port, bool from_client) {
  PacketInfo p;
  p.timestamp_us = t_us;
  p.ip_version = 4;
  p.protocol = flow::kProtoTcp;
  const std::array<uint8_t, 4> a = {10, 0, 0, client};
  const std::array<uint8_t, 4> b = {10, 0, 1, 1};
  std::copy(a.begin(), a.end(), (from_client ? p.src_ip : p.dst_ip).begin());
  std::copy(b.begin(), b.end(), (from_client ? p.dst_ip : p.src_ip).begin());
  p.src_port = from_client ? client_port : 80;
  p.dst_port = from_client ? 80 : client_port;
  p.tcp_flags = flow::tcp_flag::kAck;
  p.header_bytes = 20;
  p.payload_bytes = 100;
  p.tcp_window = 100;
  return p;
}

// Writes `flows` two-packet flows whose client address is `client` through a FlowWriter.
void write_flows(FlowWriter& writer, uint8_t client, int flows) {
  FlowTableConfig config;
  FlowTable table(config, writer);
  for (int i = 0; i < flows; ++i) {
    const auto port = static_cast<uint16_t>(1024 + i);
    table.add(tcp_packet(1000 * i, client, port, true));
    table.add(tcp_packet(1000 * i + 10, client, port, false));
  }
  table.flush();
}

std::string flows_file(const std::filesystem::path& path, uint8_t client, int flows) {
  WriterOptions options;
  options.path = path.string();
  FlowWriter writer(options);
  write_flows(writer, client, flows);
  writer.close();
  return contents_of(path);
}

// Before: FlowWriter wrote through "<out>.partial" opened with fopen("wb"), following a link
// planted there: whoever could write to the output's directory could make it overwrite any
// file the user (root) can write.
TEST(FlowWriterOutput, DoesNotFollowALinkPlantedAtAGuessableTemporaryName) {
  OutputTempDir dir;
  const auto victim = dir / "victim";
  put_contents(victim, "precious\n");
  const auto out = dir / "flows.csv";
  for (const char* suffix : {".partial", ".tmp"}) {
    std::filesystem::create_symlink(victim, out.string() + suffix);
  }
  const std::string text = flows_file(out, 1, 3);
  EXPECT_EQ(contents_of(victim), "precious\n");
  EXPECT_TRUE(std::filesystem::is_symlink(out.string() + ".partial"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4) << text;
  EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::symlink_status(out)));
}

// Before: two runs to the same --out shared "<out>.partial" and the survivor was a mix.
TEST(FlowWriterOutput, TwoWritersToOnePathGiveOneWholeOutput) {
  OutputTempDir dir;
  const auto out = dir / "flows.csv";
  constexpr int kFlows = 20000;  // several megabytes, many flushes each
  std::string alone[2];
  {
    OutputTempDir other;
    alone[0] = flows_file(other / "a.csv", 1, kFlows);
    alone[1] = flows_file(other / "b.csv", 2, kFlows);
  }
  for (int round = 0; round < 3; ++round) {
    std::string errors[2];
    auto run = [&](int which) {
      try {
        flows_file(out, static_cast<uint8_t>(which + 1), kFlows);
      } catch (const Error& e) {
        errors[which] = e.what();
      }
    };
    std::thread first(run, 0);
    std::thread second(run, 1);
    first.join();
    second.join();
    EXPECT_EQ(errors[0] + errors[1], "");
    const std::string text = contents_of(out);
    EXPECT_TRUE(text == alone[0] || text == alone[1]) << "a mix of " << text.size() << " bytes";
    EXPECT_EQ(names_besides(dir.path(), {"flows.csv"}), std::vector<std::string>{});
  }
}

TEST(FlowWriterOutput, FifoAtTheOutputIsStreamedToItsReader) {
  OutputTempDir dir;
  const auto fifo = dir / "flows.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  // The reader opens first (non-blocking, so the writer's open does not wait for it).
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  std::string received;
  {
    WriterOptions options;
    options.path = fifo.string();
    FlowWriter writer(options);
    // A writer is connected now: blocking reads see data or, after close, the end.
    ::fcntl(reader, F_SETFL, 0);
    std::thread drain([&] {
      char buffer[4096];
      ssize_t n;
      while ((n = ::read(reader, buffer, sizeof buffer)) > 0) received.append(buffer, static_cast<size_t>(n));
    });
    write_flows(writer, 3, 5000);
    writer.close();
    drain.join();
  }
  ::close(reader);
  EXPECT_TRUE(is_fifo_at(fifo));
  EXPECT_EQ(std::count(received.begin(), received.end(), '\n'), 5001);
  EXPECT_EQ(names_besides(dir.path(), {"flows.fifo"}), std::vector<std::string>{});
}

TEST(FlowWriterOutput, NullDeviceStaysADevice) {
  OutputTempDir dir;
  const auto device = null_device_for_test(dir.path());
  if (device.empty()) GTEST_SKIP() << "no character device that is safe to write to";
  WriterOptions options;
  options.path = device.string();
  FlowWriter writer(options);
  write_flows(writer, 4, 100);
  writer.close();
  EXPECT_TRUE(is_character_device_at(device));
  EXPECT_EQ(names_besides(dir.path(), {"null"}), std::vector<std::string>{});
}

TEST(FlowWriterOutput, SymlinkAtTheOutputUpdatesItsTarget) {
  OutputTempDir dir;
  std::filesystem::create_directories(dir / "real");
  const auto target = dir / "real" / "flows.csv";
  put_contents(target, "old\n");
  const auto link = dir / "flows.csv";
  std::filesystem::create_symlink("real/flows.csv", link);
  const std::string text = flows_file(link, 5, 2);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(contents_of(target), text);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
}

TEST(FlowWriterOutput, AWriterDestroyedWithoutCloseLeavesThePreviousFile) {
  OutputTempDir dir;
  const auto out = dir / "flows.csv";
  put_contents(out, "previous\n");
  try {
    WriterOptions options;
    options.path = out.string();
    FlowWriter writer(options);
    write_flows(writer, 6, 3000);
    throw Error("interrupted");
  } catch (const Error&) {
  }
  EXPECT_EQ(contents_of(out), "previous\n");
  EXPECT_EQ(names_besides(dir.path(), {"flows.csv"}), std::vector<std::string>{});
}

// Log rotation: rotate the file away, then reopen(); each period's rows land whole.
TEST(FlowWriterOutput, ReopenCommitsWhatWasWrittenAndStartsANewFile) {
  OutputTempDir dir;
  const auto out = dir / "flows.csv";
  WriterOptions options;
  options.path = out.string();
  FlowWriter writer(options);
  EXPECT_FALSE(writer.streamed());
  write_flows(writer, 8, 3);
  writer.reopen();
  const std::string first = contents_of(out);
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), 4) << first;
  std::filesystem::rename(out, dir / "flows.csv.1");
  write_flows(writer, 9, 2);
  writer.close();
  const std::string second = contents_of(out);
  EXPECT_EQ(std::count(second.begin(), second.end(), '\n'), 3) << second;
  EXPECT_EQ(second.substr(0, second.find('\n')), flow::csv_header(false));
  EXPECT_EQ(contents_of(dir / "flows.csv.1"), first);
  EXPECT_EQ(writer.flows_written(), 5u);
  EXPECT_EQ(names_besides(dir.path(), {"flows.csv", "flows.csv.1"}), std::vector<std::string>{});
}

TEST(FlowWriterOutput, JsonLinesToo) {
  OutputTempDir dir;
  WriterOptions options;
  options.path = (dir / "flows.jsonl").string();
  options.format = OutputFormat::jsonl;
  {
    FlowWriter writer(options);
    write_flows(writer, 7, 2);
    writer.close();
    EXPECT_EQ(writer.flows_written(), 2u);
  }
  const std::string text = contents_of(dir / "flows.jsonl");
  EXPECT_EQ(text.front(), '{');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

synth::SynthConfig small_trace() {
  synth::SynthConfig config;
  config.sessions = 20;
  return config;
}

TEST(SynthOutput, PcapAndTruthDoNotFollowPlantedLinks) {
  OutputTempDir dir;
  const auto victim = dir / "victim";
  put_contents(victim, "precious\n");
  const auto pcap = dir / "trace.pcap";
  const auto truth = dir / "trace.truth.csv";
  std::filesystem::create_symlink(victim, pcap.string() + ".tmp");
  synth::write_pcap(small_trace(), pcap, truth);
  EXPECT_EQ(contents_of(victim), "precious\n");
  EXPECT_GT(std::filesystem::file_size(pcap), 24u);
  EXPECT_FALSE(synth::read_ground_truth_csv(truth).empty());
  EXPECT_EQ(names_besides(dir.path(), {"victim", "trace.pcap", "trace.truth.csv", "trace.pcap.tmp"}),
            std::vector<std::string>{});
}

TEST(SynthOutput, PcapToAFifoIsStreamed) {
  OutputTempDir dir;
  const auto fifo = dir / "trace.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  std::string received;
  // The writer's open returns once it is connected; blocking reads start after the first byte
  // (a blocking read on a FIFO nobody has opened for writing returns end-of-file at once).
  std::string error;
  std::thread writer([&] {
    try {
      synth::write_pcap(small_trace(), fifo, {});
    } catch (const Error& e) {
      error = e.what();
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  char byte;
  while (::read(reader, &byte, 1) != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (std::chrono::steady_clock::now() < deadline) {
    received.push_back(byte);
    ::fcntl(reader, F_SETFL, 0);
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(reader, buffer, sizeof buffer)) > 0) received.append(buffer, static_cast<size_t>(n));
  }
  writer.join();
  ::close(reader);
  EXPECT_EQ(error, "");
  EXPECT_TRUE(is_fifo_at(fifo));
  ASSERT_GE(received.size(), 24u);
  EXPECT_EQ(static_cast<unsigned char>(received[0]), 0xD4);  // pcap magic, little-endian
}

TEST(WriteFileAtomically, NullDeviceStaysADevice) {
  OutputTempDir dir;
  const auto device = null_device_for_test(dir.path());
  if (device.empty()) GTEST_SKIP() << "no character device that is safe to write to";
  write_file_atomically(device, "model bytes");
  EXPECT_TRUE(is_character_device_at(device));
}

TEST(WriteFileAtomically, SymlinkChainIsResolvedAndStays) {
  OutputTempDir dir;
  put_contents(dir / "model.mids", "old");
  std::filesystem::create_symlink("model.mids", dir / "current");
  std::filesystem::create_symlink(dir / "current", dir / "latest");
  write_file_atomically(dir / "latest", "new");
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "latest"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "current"));
  EXPECT_EQ(contents_of(dir / "model.mids"), "new");
}

TEST(WriteFileAtomically, KeepsThePermissionsOfTheFileItReplaces) {
  OutputTempDir dir;
  const auto path = dir / "secret.json";
  put_contents(path, "{}");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  write_file_atomically(path, "{\"a\":1}");
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  EXPECT_EQ(contents_of(path), "{\"a\":1}");
}

}  // namespace
}  // namespace metaids::test
