// The bidirectional flow table: an open-addressing hash index (linear probing, backward-shift
// deletion) over flow slots stored in fixed-size chunks, a least-recently-seen list for
// timeouts and eviction, and a hard bound on the number of flows. Nothing is allocated per
// packet; a chunk of slots is allocated when the table grows.
//
// Two kinds of slot: a flow that has seen one packet is held as its key and that packet
// (SinglePacketFlow, 64 bytes); its second packet turns it into a FlowState (448 bytes) by
// replaying the first, and if it ends with one packet it is emitted through a FlowState built
// the same way, so its features are exactly those of the one-kind table. Under a SYN flood of
// spoofed sources nearly every flow has one packet, so a million open flows take about 90 MB
// instead of 470 MB. (A remembered idle TCP key, at most max_remembered_expired of them, is
// kept in a FlowState slot.)
//
// Flow ends, as in the corrected CICFlowMeter: a packet more than `flow_timeout` after the
// flow's first packet starts a new flow; a SYN after the FIN handshake or an RST starts a new
// flow; an ICMP packet whose type and code both differ starts a new flow. In addition, a
// flow whose last packet is older than `flow_timeout` is emitted early (no later packet could
// join it), and when the table is full the least recently seen flow is evicted.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "flow/flow_state.h"
#include "flow/packet.h"

namespace metaids::flow {

struct FlowTableConfig {
  int64_t flow_timeout_us = 120'000'000;
  int64_t activity_timeout_us = 5'000'000;
  size_t max_flows = 1'000'000;
  // Idle TCP connections (not closed by FIN/RST) whose key is remembered after they were
  // emitted, so that a later packet on the same 5-tuple continues the connection (direction,
  // Flow ID, "Total TCP Flow Time"), as CICFlowMeter does. 0 forgets them at once.
  size_t max_remembered_expired = 65'536;
};

enum class FlowEnd : uint8_t {
  flow_timeout,     // a packet arrived more than flow_timeout after the flow's start
  tcp_termination,  // a SYN after FIN handshake / RST
  icmp_change,      // ICMP type and code both changed
  idle_timeout,     // no packet for flow_timeout: emitted before the next packet
  evicted,          // the table was full
  end_of_input,     // flushed at end of file / capture
};

class FlowSink {
 public:
  virtual ~FlowSink() = default;
  virtual void on_flow(const FlowState& flow, FlowEnd reason) = 0;
};

class FlowTable {
 public:
  FlowTable(const FlowTableConfig& config, FlowSink& sink);  // validates; throws metaids::Error
  // The largest max_flows (slot numbers must stay clear of the kind bit and the end marker).
  static constexpr size_t kMaxFlows = size_t{1} << 30;

  // Adds one decoded packet: finds or creates its flow, splits it where a flow ends. Time
  // never runs backwards within a flow: a packet that joins a flow whose last packet is newer
  // is taken as arriving at that last time (so durations and inter-arrival times are never
  // negative), and add() returns true for it. A packet that starts a new flow (after a
  // teardown, an ICMP change, an idle connection) starts it at its own time, as in CICFlowMeter.
  bool add(const PacketInfo& packet);
  // Emits flows whose last packet is more than flow_timeout before `now_us`.
  void expire_idle(int64_t now_us);
  // Emits every open flow (end of input) and forgets every key.
  void flush();

  size_t open_flows() const { return active_count_; }
  uint64_t evicted() const { return evicted_; }
  uint64_t flows_emitted() const { return emitted_; }
  // Bytes held by the table: slots, list links and the hash index.
  size_t memory_bytes() const;
  const FlowTableConfig& config() const { return config_; }

 private:
  static constexpr uint32_t kNil = 0xffffffffu;
  struct Link {
    uint32_t prev = kNil;
    uint32_t next = kNil;
  };
  // The hash index sits on huge pages once it reaches 2 MiB, and so do the slots. On the
  // virtual machines this project runs on, a 4 KiB page fault costs about 10 µs (measured: 474
  // MB touched page by page took 1.36 s, on huge pages 0.03–0.6 s), so a flood that creates
  // flows fast is dominated by faults unless memory comes in huge pages.
  static constexpr size_t kChunkBytes = size_t{2} << 20;
  static constexpr size_t kFirstChunkBytes = size_t{256} << 10;
  struct FreeDeleter {
    void operator()(void* memory) const;
  };
  using Memory = std::unique_ptr<void, FreeDeleter>;
  // Zeroed memory, on transparent huge pages when it is at least 2 MiB.
  static Memory allocate_zeroed(size_t bytes);

  // Slots of one kind with their list links: chunks of 256 KiB, 512 KiB and 1 MiB (a small
  // capture stays small), then of one 2 MiB huge page each; the links sit at each chunk's end.
  template <typename T>
  class SlotPool {
   public:
    static constexpr size_t kGrowing = 3;  // chunks before the 2 MiB ones
    static constexpr size_t chunk_bytes(size_t chunk) {
      return chunk < kGrowing ? kFirstChunkBytes << chunk : kChunkBytes;
    }
    static constexpr uint32_t capacity(size_t chunk) {
      return static_cast<uint32_t>(chunk_bytes(chunk) / (sizeof(T) + sizeof(Link)));
    }
    T& at(uint32_t i) {
      const auto [chunk, offset] = locate(i);
      return static_cast<T*>(chunks_[chunk].get())[offset];
    }
    const T& at(uint32_t i) const {
      const auto [chunk, offset] = locate(i);
      return static_cast<const T*>(chunks_[chunk].get())[offset];
    }
    Link& link(uint32_t i) {
      const auto [chunk, offset] = locate(i);
      return reinterpret_cast<Link*>(static_cast<T*>(chunks_[chunk].get()) + capacity(chunk))[offset];
    }
    uint32_t allocate();  // a freed slot, else the next never-used one (a new chunk when needed)
    void release(uint32_t i) { free_.push_back(i); }
    void reset() {  // every slot free again; the chunks stay
      free_.clear();
      used_ = 0;
    }
    size_t memory_bytes() const;

   private:
    static std::pair<size_t, uint32_t> locate(uint32_t i) {
      constexpr uint32_t kInGrowing = capacity(0) + capacity(1) + capacity(2);
      static_assert(kGrowing == 3 && chunk_bytes(kGrowing - 1) * 2 == kChunkBytes);
      if (i >= kInGrowing) {
        i -= kInGrowing;
        return {kGrowing + i / capacity(kGrowing), i % capacity(kGrowing)};
      }
      size_t chunk = 0;
      for (; i >= capacity(chunk); ++chunk) i -= capacity(chunk);
      return {chunk, i};
    }
    std::vector<Memory> chunks_;
    std::vector<uint32_t> free_;
    uint32_t used_ = 0;  // slots ever handed out
    uint64_t held_ = 0;  // slots the chunks hold
  };

  // A flow with one packet: what FlowTable::start_flow needs to replay that packet.
  struct SinglePacketFlow {
    FlowKey key;
    bool packet_is_a = true;
    uint8_t tcp_flags = 0;
    uint8_t icmp_type = 0;
    uint8_t icmp_code = 0;
    bool first_fragment = false;
    uint16_t tcp_window = 0;
    uint16_t header_bytes = 0;
    uint32_t payload_bytes = 0;
    uint32_t wire_bytes = 0;
    int64_t timestamp_us = 0;
  };
  // Slot numbers with this bit set name single-packet slots (in the index and the lists).
  static constexpr uint32_t kSingle = 0x80000000u;
  struct List {
    uint32_t head = kNil;  // least recently seen
    uint32_t tail = kNil;
  };

  static bool is_single(uint32_t index) { return (index & kSingle) != 0; }
  FlowState& slot(uint32_t index) { return full_.at(index); }
  SinglePacketFlow& single(uint32_t index) { return singles_.at(index & ~kSingle); }
  Link& link(uint32_t index) { return is_single(index) ? singles_.link(index & ~kSingle) : full_.link(index); }
  const FlowKey& key_of(uint32_t index) const {
    return is_single(index) ? singles_.at(index & ~kSingle).key : full_.at(index).key;
  }
  int64_t last_seen(uint32_t index) { return is_single(index) ? single(index).timestamp_us : slot(index).last_us; }
  // The FlowState a single-packet flow stands for (its packet replayed).
  void materialize(const SinglePacketFlow& flow, FlowState& out);
  // Turns a single-packet slot into a FlowState slot in place (index entry, list position).
  uint32_t promote(uint32_t index, uint64_t hash);
  uint32_t find(const FlowKey& key, uint64_t hash) const;
  void insert_index(uint64_t hash, uint32_t index);
  void erase_index(const FlowKey& key, uint64_t hash);
  void grow_index();
  void unlink(List& list, uint32_t index);
  void push_back(List& list, uint32_t index);
  void release(uint32_t index);  // removes a slot from the index and its list, frees it
  void make_room();
  void emit(FlowState& flow, FlowEnd reason);
  // How a flow that replaces an earlier one on the same key starts.
  enum class Continuation {
    fresh,             // a new connection: direction from the packet (SYN/ACK swapped)
    same_direction,    // after a timeout: the old direction, Flow ID and connection start
    packet_direction,  // after an ICMP type/code change: the packet's direction, the old ID
  };
  void start_flow(FlowState& flow, const PacketInfo& packet, bool packet_is_a, Continuation how);
  // Adds a packet to the flow in full slot `index`, or ends that flow and starts a new one
  // with the packet; returns true when the packet joined the flow at the flow's last time
  // because it was older.
  bool add_to_flow(uint32_t index, const PacketInfo& packet, bool packet_is_a);

  FlowTableConfig config_;
  FlowSink& sink_;
  SlotPool<FlowState> full_;
  SlotPool<SinglePacketFlow> singles_;
  Memory index_memory_;
  uint64_t* index_ = nullptr;  // (hash high 32 bits << 32) | (slot + 1); 0 = empty
  uint64_t index_mask_ = 0;
  List active_;
  List expired_;
  size_t active_count_ = 0;
  size_t expired_count_ = 0;
  size_t index_count_ = 0;
  uint64_t evicted_ = 0;
  uint64_t emitted_ = 0;
};

}  // namespace metaids::flow
