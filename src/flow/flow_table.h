// The bidirectional flow table: an open-addressing hash index (linear probing, backward-shift
// deletion) over flow slots stored in fixed-size chunks, a least-recently-seen list for
// timeouts and eviction, and a hard bound on the number of flows. Nothing is allocated per
// packet; a chunk of slots is allocated when the table grows.
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

  // Adds one decoded packet: finds or creates its flow, splits it where a flow ends.
  void add(const PacketInfo& packet);
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
  // Slots come in chunks of one 2 MiB huge page each, the slots' list links at the chunk's
  // end, and the hash index sits on huge pages too once it reaches 2 MiB. On the virtual
  // machines this project runs on, a 4 KiB page fault costs about 10 µs (measured: 474 MB
  // touched page by page took 1.36 s, on huge pages 0.03–0.6 s), so a flood that creates flows
  // fast is dominated by faults unless memory comes in huge pages.
  static constexpr size_t kChunkBytes = size_t{2} << 20;
  static constexpr uint32_t kChunkSize = static_cast<uint32_t>(kChunkBytes / (sizeof(FlowState) + sizeof(Link)));
  struct List {
    uint32_t head = kNil;  // least recently seen
    uint32_t tail = kNil;
  };

  FlowState& slot(uint32_t index) {
    return static_cast<FlowState*>(chunks_[index / kChunkSize].get())[index % kChunkSize];
  }
  Link& link(uint32_t index) {
    return reinterpret_cast<Link*>(static_cast<FlowState*>(chunks_[index / kChunkSize].get()) +
                                   kChunkSize)[index % kChunkSize];
  }
  uint32_t find(const FlowKey& key, uint64_t hash) const;
  uint32_t allocate_slot();
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

  FlowTableConfig config_;
  FlowSink& sink_;
  struct FreeDeleter {
    void operator()(void* memory) const;
  };
  using Memory = std::unique_ptr<void, FreeDeleter>;
  // Zeroed memory, on transparent huge pages when it is at least 2 MiB.
  static Memory allocate_zeroed(size_t bytes);
  std::vector<Memory> chunks_;
  Memory index_memory_;
  uint64_t* index_ = nullptr;  // (hash high 32 bits << 32) | (slot + 1); 0 = empty
  uint64_t index_mask_ = 0;
  std::vector<uint32_t> free_slots_;
  uint32_t slots_used_ = 0;  // slots ever handed out
  List active_;
  List expired_;
  size_t active_count_ = 0;
  size_t expired_count_ = 0;
  size_t index_count_ = 0;
  uint64_t evicted_ = 0;
  uint64_t emitted_ = 0;
};

}  // namespace metaids::flow
