// Writing a generated trace: classic pcap plus the ground-truth CSV.
#include <algorithm>
#include <charconv>
#include <string_view>
#include <tuple>

#include "core/atomic_file.h"
#include "core/error.h"
#include "synth/synth.h"

namespace metaids::synth {

namespace {

constexpr std::string_view kHeader =
    "src_ip,src_port,dst_ip,dst_port,protocol,label,family,first_timestamp_us,last_timestamp_us,"
    "fwd_packets,bwd_packets,fwd_payload_bytes,bwd_payload_bytes,fwd_ip_bytes,bwd_ip_bytes,"
    "fwd_header_bytes,bwd_header_bytes,syn_packets,fin_packets,rst_packets,psh_packets,ack_packets,end";

void put_le32(unsigned char* at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<unsigned char>(value >> (8 * i));
}

// A pcap file written through OutputFile: replaced atomically when complete (commit), or
// streamed to "-", a FIFO or a device.
class PcapFile {
 public:
  explicit PcapFile(const std::filesystem::path& path) : output_(OutputFile::open(path)) {
    unsigned char header[24];
    put_le32(header, 0xA1B2C3D4);  // microsecond timestamps, written little-endian
    header[4] = 2;
    header[5] = 0;
    header[6] = 4;
    header[7] = 0;
    put_le32(header + 8, 0);       // thiszone
    put_le32(header + 12, 0);      // sigfigs
    put_le32(header + 16, 65535);  // snaplen
    put_le32(header + 20, 1);      // LINKTYPE_ETHERNET
    write(header, sizeof header);
  }

  void add(const Packet& packet) {
    unsigned char record[16];
    put_le32(record, static_cast<std::uint32_t>(packet.timestamp_us / 1'000'000));
    put_le32(record + 4, static_cast<std::uint32_t>(packet.timestamp_us % 1'000'000));
    put_le32(record + 8, packet.length);
    put_le32(record + 12, packet.length);
    write(record, sizeof record);
    write(packet.data.data(), packet.length);
  }

  void commit() { output_.commit(); }

 private:
  void write(const void* bytes, std::size_t length) {
    output_.write(std::string_view(static_cast<const char*>(bytes), length));
  }
  OutputFile output_;  // destroyed without commit(): the temporary is removed
};

std::uint32_t parse_ip(std::string_view text, std::size_t line) {
  unsigned parts[4];
  std::size_t at = 0;
  for (int i = 0; i < 4; ++i) {
    const auto result = std::from_chars(text.data() + at, text.data() + text.size(), parts[i]);
    require(result.ec == std::errc() && parts[i] < 256, "ground truth line {}: bad address '{}'", line, text);
    at = static_cast<std::size_t>(result.ptr - text.data());
    if (i < 3) {
      require(at < text.size() && text[at] == '.', "ground truth line {}: bad address '{}'", line, text);
      ++at;
    }
  }
  require(at == text.size(), "ground truth line {}: bad address '{}'", line, text);
  return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3];
}

template <typename T>
T parse_number(std::string_view text, std::size_t line, std::string_view column) {
  T value{};
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  require(result.ec == std::errc() && result.ptr == text.data() + text.size(), "ground truth line {}: bad {} '{}'", line,
          column, text);
  return value;
}

}  // namespace

std::string_view ground_truth_csv_header() { return kHeader; }

std::string format_ground_truth_row(const GroundTruthFlow& flow) {
  return fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", format_ipv4(flow.tuple.src_ip),
                     flow.tuple.src_port, format_ipv4(flow.tuple.dst_ip), flow.tuple.dst_port, flow.tuple.protocol,
                     flow.label, family_name(flow.family), flow.first_timestamp_us, flow.last_timestamp_us,
                     flow.fwd_packets, flow.bwd_packets, flow.fwd_payload_bytes, flow.bwd_payload_bytes, flow.fwd_ip_bytes,
                     flow.bwd_ip_bytes, flow.fwd_header_bytes, flow.bwd_header_bytes, flow.syn_packets, flow.fin_packets,
                     flow.rst_packets, flow.psh_packets, flow.ack_packets, flow_end_name(flow.end));
}

void sort_ground_truth(std::vector<GroundTruthFlow>& flows) {
  std::sort(flows.begin(), flows.end(), [](const GroundTruthFlow& a, const GroundTruthFlow& b) {
    return std::tie(a.first_timestamp_us, a.tuple.src_ip, a.tuple.src_port, a.tuple.dst_ip, a.tuple.dst_port,
                    a.tuple.protocol) < std::tie(b.first_timestamp_us, b.tuple.src_ip, b.tuple.src_port, b.tuple.dst_ip,
                                                 b.tuple.dst_port, b.tuple.protocol);
  });
}

std::vector<GroundTruthFlow> read_ground_truth_csv(const std::filesystem::path& path) {
  const std::string text = read_whole_file(path);
  std::vector<GroundTruthFlow> flows;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_number == 1) {
      require(line == kHeader, "'{}' is not a metaids ground-truth CSV (unexpected header)", path.string());
      continue;
    }
    if (line.empty()) continue;
    std::vector<std::string_view> cells;
    std::size_t cell_start = 0;
    while (true) {
      const std::size_t comma = line.find(',', cell_start);
      cells.push_back(line.substr(cell_start, comma == std::string_view::npos ? std::string_view::npos : comma - cell_start));
      if (comma == std::string_view::npos) break;
      cell_start = comma + 1;
    }
    require(cells.size() == 23, "ground truth line {}: expected 23 columns, got {}", line_number, cells.size());
    GroundTruthFlow flow;
    flow.tuple.src_ip = parse_ip(cells[0], line_number);
    flow.tuple.src_port = parse_number<std::uint16_t>(cells[1], line_number, "src_port");
    flow.tuple.dst_ip = parse_ip(cells[2], line_number);
    flow.tuple.dst_port = parse_number<std::uint16_t>(cells[3], line_number, "dst_port");
    flow.tuple.protocol = parse_number<std::uint8_t>(cells[4], line_number, "protocol");
    flow.label = std::string(cells[5]);
    const auto family = parse_family(cells[6]);
    require(family.has_value(), "ground truth line {}: unknown family '{}'", line_number, cells[6]);
    flow.family = *family;
    std::uint64_t* numbers[] = {&flow.first_timestamp_us, &flow.last_timestamp_us, &flow.fwd_packets, &flow.bwd_packets,
                                &flow.fwd_payload_bytes, &flow.bwd_payload_bytes, &flow.fwd_ip_bytes, &flow.bwd_ip_bytes,
                                &flow.fwd_header_bytes, &flow.bwd_header_bytes};
    for (std::size_t i = 0; i < std::size(numbers); ++i) *numbers[i] = parse_number<std::uint64_t>(cells[7 + i], line_number, "count");
    std::uint32_t* flags[] = {&flow.syn_packets, &flow.fin_packets, &flow.rst_packets, &flow.psh_packets, &flow.ack_packets};
    for (std::size_t i = 0; i < std::size(flags); ++i) *flags[i] = parse_number<std::uint32_t>(cells[17 + i], line_number, "flag count");
    if (cells[22] == "fin") {
      flow.end = FlowEnd::Fin;
    } else if (cells[22] == "rst") {
      flow.end = FlowEnd::Rst;
    } else {
      require(cells[22] == "timeout", "ground truth line {}: unknown end '{}'", line_number, cells[22]);
      flow.end = FlowEnd::Timeout;
    }
    flows.push_back(std::move(flow));
  }
  require(line_number >= 1, "'{}' is empty, expected a ground-truth CSV", path.string());
  return flows;
}

SynthSummary write_pcap(const SynthConfig& config, const std::filesystem::path& pcap_path,
                        const std::filesystem::path& truth_csv_path) {
  SynthConfig effective = config;
  effective.collect_ground_truth = config.collect_ground_truth || !truth_csv_path.empty();
  Generator generator(effective);
  SynthSummary summary;
  std::vector<GroundTruthFlow> flows;
  {
    PcapFile pcap(pcap_path);
    Packet packet;
    while (generator.next(packet)) {
      if (summary.packets == 0) summary.first_timestamp_us = packet.timestamp_us;
      summary.last_timestamp_us = packet.timestamp_us;
      ++summary.packets;
      summary.bytes += packet.length;
      ++summary.packets_per_family[static_cast<std::size_t>(packet.family)];
      pcap.add(packet);
      if ((summary.packets & 0xFFFF) == 0) {
        auto finished = generator.take_finished_flows();
        flows.insert(flows.end(), std::make_move_iterator(finished.begin()), std::make_move_iterator(finished.end()));
      }
    }
    auto finished = generator.take_finished_flows();
    flows.insert(flows.end(), std::make_move_iterator(finished.begin()), std::make_move_iterator(finished.end()));
    pcap.commit();
  }
  summary.flows = flows.size();
  for (const GroundTruthFlow& flow : flows) ++summary.flows_per_family[static_cast<std::size_t>(flow.family)];
  if (!truth_csv_path.empty()) {
    sort_ground_truth(flows);
    std::string csv(kHeader);
    csv += '\n';
    csv.reserve(flows.size() * 160 + csv.size());
    for (const GroundTruthFlow& flow : flows) {
      csv += format_ground_truth_row(flow);
      csv += '\n';
    }
    write_file_atomically(truth_csv_path, csv);
  }
  return summary;
}

}  // namespace metaids::synth
