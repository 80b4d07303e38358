// Internal to metaids_synth: a session is one planned conversation on one 5-tuple. Its packets
// are planned when it starts (as Segments: timing, flags, sequence numbers, which bytes of the
// sender's stream they carry) and rendered into frames one at a time as the generator merges
// all open sessions in timestamp order.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "synth/random.h"
#include "synth/synth.h"
#include "synth/wire.h"

namespace metaids::synth::detail {

enum class TcpOptions : std::uint8_t { None, Syn, SynAck, MssOnly };

struct Segment {
  std::uint64_t time_us = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint32_t stream_offset = 0;  // offset of the payload in the sender's byte stream
  std::uint16_t payload_length = 0;
  std::uint16_t window = 0;
  std::uint8_t flags = 0;           // TCP flags (0 for UDP)
  std::uint8_t from_responder = 0;  // 0: sent by the initiator (side 0), 1: by the responder
  TcpOptions options = TcpOptions::None;
};

// Bytes placed at a given offset of one side's stream (protocol text, headers); payload bytes
// not covered by a literal come from a filler pattern.
struct Literal {
  std::uint8_t side = 0;
  std::uint32_t stream_offset = 0;
  std::uint32_t arena_offset = 0;
  std::uint32_t length = 0;
};

enum class Filler : std::uint8_t { Text, Random };

struct Endpoint {
  std::uint32_t ip = 0;
  std::uint16_t port = 0;
  std::array<std::uint8_t, 6> mac{};  // the MAC this side's frames carry as source
  std::uint8_t ttl = 64;
  std::uint16_t ip_id = 0;            // next IPv4 identification
  bool dont_fragment = true;
};

struct Session {
  Family family = Family::Web;
  std::uint8_t label_index = 0;
  std::uint8_t protocol = wire::kProtocolTcp;
  Filler filler = Filler::Random;
  std::uint32_t filler_salt[2] = {0, 0};
  std::array<Endpoint, 2> side;  // 0: initiator, 1: responder
  std::vector<Segment> segments;
  std::size_t next_segment = 0;
  std::array<std::vector<Literal>, 2> literals;  // per sender, in stream order
  std::array<std::size_t, 2> literal_cursor{};   // first literal that may still be needed
  std::string arena;
  std::uint64_t serial = 0;

  // Ground truth of the flow currently being emitted.
  bool flow_open = false;
  bool forward_is_initiator = true;
  bool fin_forward = false, fin_backward = false, rst_seen = false, final_ack_seen = false;
  GroundTruthFlow flow;

  void reset() {
    segments.clear();
    next_segment = 0;
    literals[0].clear();
    literals[1].clear();
    literal_cursor = {0, 0};
    arena.clear();
    flow_open = false;
    fin_forward = fin_backward = rst_seen = final_ack_seen = false;
  }
  void add_literal(int sender, std::uint32_t stream_offset, std::string_view bytes) {
    literals[static_cast<std::size_t>(sender)].push_back({static_cast<std::uint8_t>(sender), stream_offset,
                        static_cast<std::uint32_t>(arena.size()),
                        static_cast<std::uint32_t>(bytes.size())});
    arena.append(bytes);
  }
};

// Builds the TCP segments of a session with consistent sequence and acknowledgement numbers.
// Times are as seen at the capture point: react_us[side] is the delay between seeing a packet
// from the other side and seeing `side`'s reaction to it (the round-trip time splits between
// the two according to where the capture point is).
class TcpPlan {
 public:
  TcpPlan(Session& session, Rng& rng, std::uint64_t react_initiator_us, std::uint64_t react_responder_us);

  static constexpr std::uint32_t kMss = 1460;
  std::uint64_t react(int side) const { return react_us_[side]; }
  std::uint64_t last_time() const { return last_time_; }
  std::uint32_t stream_offset(int side) const { return stream_[side]; }

  // Appends one segment; ack defaults to everything the other side has sent.
  void add(int side, std::uint64_t time_us, std::uint8_t flags, std::uint32_t payload = 0,
           TcpOptions options = TcpOptions::None);
  void add_with_ack(int side, std::uint64_t time_us, std::uint8_t flags, std::uint32_t payload,
                    std::uint32_t ack);
  // SYN at t, SYN-ACK, ACK. Returns the time of the ACK.
  std::uint64_t handshake(std::uint64_t t);
  // Sends `bytes` of `side`'s stream starting at t in MSS segments with slow start (initial
  // window 10, doubling per round trip up to max_window segments), segments `gap_us` apart;
  // the receiver acknowledges every second segment and, if ack_tail, an odd last segment
  // after the 40 ms delayed-ACK timer. Returns the time of the last data segment.
  std::uint64_t send(int side, std::uint64_t t, std::uint64_t bytes, std::uint64_t gap_us = 100,
                     std::uint32_t max_window = 64, bool ack_tail = true);
  // Sends text as one message (literal bytes) via send().
  std::uint64_t send_text(int side, std::uint64_t t, std::string_view text, bool ack_tail = true);
  // FIN from `side` at t, the other side's FIN, the final ACK. Returns the final ACK's time.
  std::uint64_t close(int side, std::uint64_t t);
  // An RST (with ACK) from side at t.
  void reset(int side, std::uint64_t t);
  void set_window(int side, std::uint16_t window) { window_[side] = window; }
  // True when `side` sent data the other side has not acknowledged yet.
  bool has_unacked_data_from(int side) const { return unacked_side_ == side; }

 private:
  Session& session_;
  std::uint32_t next_seq_[2];
  std::uint32_t stream_[2] = {0, 0};
  std::uint16_t window_[2];
  std::uint64_t react_us_[2];
  std::uint64_t last_time_ = 0;
  int unacked_side_ = -1;
};

}  // namespace metaids::synth::detail
