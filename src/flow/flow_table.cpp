#include "flow/flow_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include "core/error.h"

namespace metaids::flow {
namespace {
constexpr size_t kInitialIndexSize = 1024;
uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }
}  // namespace

FlowTable::FlowTable(const FlowTableConfig& config, FlowSink& sink) : config_(config), sink_(sink) {
  require(config_.max_flows >= 1 && config_.max_flows <= kMaxFlows, "max flows must be between 1 and 2^30, got {}",
          config_.max_flows);
  require(config_.flow_timeout_us > 0 && config_.flow_timeout_us <= kMaxFlowTimeoutUs,
          "the flow timeout must be between 1 µs and {} s, got {} µs", kMaxFlowTimeoutUs / 1'000'000,
          config_.flow_timeout_us);
  require(config_.activity_timeout_us > 0, "the activity timeout must be positive");
  index_memory_ = allocate_zeroed(kInitialIndexSize * sizeof(uint64_t));
  index_ = static_cast<uint64_t*>(index_memory_.get());
  index_mask_ = kInitialIndexSize - 1;
}

void FlowTable::FreeDeleter::operator()(void* memory) const { std::free(memory); }

FlowTable::Memory FlowTable::allocate_zeroed(size_t bytes) {
  const bool huge = bytes >= kChunkBytes;
  const size_t rounded = huge ? (bytes + kChunkBytes - 1) / kChunkBytes * kChunkBytes : bytes;
  void* memory = std::aligned_alloc(huge ? kChunkBytes : 64, (rounded + 63) / 64 * 64);
  if (memory == nullptr) throw std::bad_alloc();
  if (huge) {
    ::madvise(memory, rounded, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
    ::madvise(memory, rounded, MADV_POPULATE_WRITE);  // one call instead of a fault per page
#endif
  }
  std::memset(memory, 0, bytes);
  return Memory(memory);
}

template <typename T>
uint32_t FlowTable::SlotPool<T>::allocate() {
  if (!free_.empty()) {
    const uint32_t index = free_.back();
    free_.pop_back();
    return index;
  }
  if (used_ >= held_) {
    // Slots are constructed when a flow starts in them.
    static_assert(std::is_trivially_destructible_v<T>);
    static_assert(sizeof(T) % alignof(Link) == 0);
    const size_t c = chunks_.size();
    Memory chunk = allocate_zeroed(chunk_bytes(c));
    std::uninitialized_fill_n(reinterpret_cast<Link*>(static_cast<T*>(chunk.get()) + capacity(c)), capacity(c), Link{});
    chunks_.push_back(std::move(chunk));
    held_ += capacity(c);
  }
  return used_++;
}

template <typename T>
size_t FlowTable::SlotPool<T>::memory_bytes() const {
  size_t bytes = free_.capacity() * sizeof(uint32_t);
  for (size_t c = 0; c < chunks_.size(); ++c) bytes += chunk_bytes(c);
  return bytes;
}

size_t FlowTable::memory_bytes() const {
  return full_.memory_bytes() + singles_.memory_bytes() + (index_mask_ + 1) * sizeof(uint64_t);
}


uint32_t FlowTable::find(const FlowKey& key, uint64_t hash) const {
  const uint32_t tag = tag_of(hash);
  for (uint64_t pos = tag & index_mask_;; pos = (pos + 1) & index_mask_) {
    const uint64_t entry = index_[pos];
    if (entry == 0) return kNil;
    if (static_cast<uint32_t>(entry >> 32) == tag) {
      const auto index = static_cast<uint32_t>(entry) - 1;
      if (key_of(index) == key) return index;
    }
  }
}

void FlowTable::insert_index(uint64_t hash, uint32_t index) {
  if ((index_count_ + 1) * 2 > index_mask_ + 1) grow_index();
  const uint32_t tag = tag_of(hash);
  uint64_t pos = tag & index_mask_;
  while (index_[pos] != 0) pos = (pos + 1) & index_mask_;
  index_[pos] = (uint64_t{tag} << 32) | (uint64_t{index} + 1);
  ++index_count_;
}

void FlowTable::grow_index() {
  const uint64_t old_size = index_mask_ + 1;
  Memory grown = allocate_zeroed(old_size * 2 * sizeof(uint64_t));  // may throw: nothing changed yet
  Memory old = std::exchange(index_memory_, std::move(grown));
  const auto* old_index = static_cast<const uint64_t*>(old.get());
  index_ = static_cast<uint64_t*>(index_memory_.get());
  index_mask_ = old_size * 2 - 1;
  for (uint64_t i = 0; i < old_size; ++i) {
    const uint64_t entry = old_index[i];
    if (entry == 0) continue;
    uint64_t pos = (entry >> 32) & index_mask_;
    while (index_[pos] != 0) pos = (pos + 1) & index_mask_;
    index_[pos] = entry;
  }
}

void FlowTable::erase_index(const FlowKey& key, uint64_t hash) {
  const uint32_t tag = tag_of(hash);
  uint64_t pos = tag & index_mask_;
  for (;; pos = (pos + 1) & index_mask_) {
    const uint64_t entry = index_[pos];
    if (entry == 0) return;  // not present (cannot happen for a live slot)
    if (static_cast<uint32_t>(entry >> 32) == tag) {
      const auto index = static_cast<uint32_t>(entry) - 1;
      if (key_of(index) == key) break;
    }
  }
  // Backward-shift deletion keeps every probe sequence unbroken without tombstones.
  uint64_t hole = pos;
  for (uint64_t next = (hole + 1) & index_mask_; index_[next] != 0; next = (next + 1) & index_mask_) {
    const uint64_t home = (index_[next] >> 32) & index_mask_;
    // Move the entry back if its home is not in (hole, next] cyclically.
    const bool home_in_range = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
    if (!home_in_range) {
      index_[hole] = index_[next];
      hole = next;
    }
  }
  index_[hole] = 0;
  --index_count_;
}

void FlowTable::materialize(const SinglePacketFlow& flow, FlowState& out) {
  static_assert(sizeof(SinglePacketFlow) == 64, "a single-packet flow is meant to fit 64 bytes");
  PacketInfo packet;
  packet.timestamp_us = flow.timestamp_us;
  packet.src_ip = flow.packet_is_a ? flow.key.a_ip : flow.key.b_ip;
  packet.dst_ip = flow.packet_is_a ? flow.key.b_ip : flow.key.a_ip;
  packet.src_port = flow.packet_is_a ? flow.key.a_port : flow.key.b_port;
  packet.dst_port = flow.packet_is_a ? flow.key.b_port : flow.key.a_port;
  packet.ip_version = flow.key.ip_version;
  packet.protocol = flow.key.protocol;
  packet.tcp_flags = flow.tcp_flags;
  packet.icmp_type = flow.icmp_type;
  packet.icmp_code = flow.icmp_code;
  packet.first_fragment = flow.first_fragment;
  packet.tcp_window = flow.tcp_window;
  packet.header_bytes = flow.header_bytes;
  packet.payload_bytes = flow.payload_bytes;
  packet.wire_bytes = flow.wire_bytes;
  std::construct_at(&out);
  out.key = flow.key;
  start_flow(out, packet, flow.packet_is_a, Continuation::fresh);
}

uint32_t FlowTable::promote(uint32_t index, uint64_t hash) {
  const uint32_t full = full_.allocate();
  materialize(single(index), slot(full));
  // The index entry now names the full slot.
  for (uint64_t pos = tag_of(hash) & index_mask_;; pos = (pos + 1) & index_mask_) {
    if (static_cast<uint32_t>(index_[pos]) == index + 1) {
      index_[pos] = (index_[pos] & ~uint64_t{0xffffffffu}) | (uint64_t{full} + 1);
      break;
    }
  }
  // Same list position (single-packet flows are only ever in the active list).
  Link& from = link(index);
  Link& to = link(full);
  to = from;
  if (from.prev != kNil) link(from.prev).next = full; else active_.head = full;
  if (from.next != kNil) link(from.next).prev = full; else active_.tail = full;
  from = Link{};
  singles_.release(index & ~kSingle);
  return full;
}

void FlowTable::unlink(List& list, uint32_t index) {
  Link& entry = link(index);
  if (entry.prev != kNil) link(entry.prev).next = entry.next; else list.head = entry.next;
  if (entry.next != kNil) link(entry.next).prev = entry.prev; else list.tail = entry.prev;
  entry.prev = entry.next = kNil;
}

void FlowTable::push_back(List& list, uint32_t index) {
  Link& entry = link(index);
  entry.prev = list.tail;
  entry.next = kNil;
  if (list.tail != kNil) link(list.tail).next = index; else list.head = index;
  list.tail = index;
}

void FlowTable::release(uint32_t index) {
  erase_index(key_of(index), hash_flow_key(key_of(index)));
  if (is_single(index)) {
    unlink(active_, index);
    --active_count_;
    singles_.release(index & ~kSingle);
    return;
  }
  FlowState& flow = slot(index);
  if (flow.expired) {
    unlink(expired_, index);
    --expired_count_;
  } else {
    unlink(active_, index);
    --active_count_;
  }
  full_.release(index);
}

void FlowTable::make_room() {
  // Forget remembered expired flows first, then evict the least recently seen open flow.
  if (expired_.head != kNil) {
    release(expired_.head);
    return;
  }
  const uint32_t victim = active_.head;
  if (is_single(victim)) {
    FlowState flow;
    materialize(single(victim), flow);
    emit(flow, FlowEnd::evicted);
  } else {
    emit(slot(victim), FlowEnd::evicted);
  }
  ++evicted_;
  release(victim);
}

void FlowTable::emit(FlowState& flow, FlowEnd reason) {
  ++emitted_;
  sink_.on_flow(flow, reason);
}

void FlowTable::start_flow(FlowState& flow, const PacketInfo& packet, bool packet_is_a, Continuation how) {
  const FlowKey key = flow.key;
  const bool old_src_is_a = flow.src_is_a;
  const bool old_id_src_is_a = flow.id_src_is_a;
  const int64_t connection_start = flow.connection_start_us;
  std::construct_at(&flow);
  flow.key = key;
  bool src_is_a = packet_is_a;
  if (how == Continuation::fresh) {
    // A SYN/ACK without its SYN: the client is the SYN/ACK's destination.
    if (packet.protocol == kProtoTcp && packet.has_flag(tcp_flag::kSyn) && packet.has_flag(tcp_flag::kAck)) {
      src_is_a = !packet_is_a;
    }
    flow.id_src_is_a = src_is_a;
    flow.connection_start_us = packet.timestamp_us;
  } else {
    if (how == Continuation::same_direction) src_is_a = old_src_is_a;
    flow.id_src_is_a = old_id_src_is_a;
    // (never after the packet: a capture whose time runs backwards must not make the
    // connection's time negative)
    flow.connection_start_us = std::min(connection_start, packet.timestamp_us);
  }
  flow.src_is_a = src_is_a;
  flow.start(packet, packet_is_a == src_is_a);
}

bool FlowTable::add(const PacketInfo& packet) {
  bool packet_is_a = true;
  const FlowKey key = make_flow_key(packet, packet_is_a);
  const uint64_t hash = hash_flow_key(key);
  uint32_t index = find(key, hash);
  if (index == kNil) {
    if (active_count_ + expired_count_ >= config_.max_flows) make_room();
    // Grow the index first: if memory runs out, no slot has been taken.
    if ((index_count_ + 1) * 2 > index_mask_ + 1) grow_index();
    index = kSingle | singles_.allocate();
    SinglePacketFlow& flow = single(index);
    flow.key = key;
    flow.packet_is_a = packet_is_a;
    flow.tcp_flags = packet.tcp_flags;
    flow.icmp_type = packet.icmp_type;
    flow.icmp_code = packet.icmp_code;
    flow.first_fragment = packet.first_fragment;
    flow.tcp_window = packet.tcp_window;
    flow.header_bytes = packet.header_bytes;
    flow.payload_bytes = packet.payload_bytes;
    flow.wire_bytes = packet.wire_bytes;
    flow.timestamp_us = packet.timestamp_us;
    insert_index(hash, index);
    push_back(active_, index);
    ++active_count_;
    expire_idle(packet.timestamp_us);
    return false;
  }
  if (is_single(index)) index = promote(index, hash);
  const bool out_of_order = add_to_flow(index, packet, packet_is_a);
  expire_idle(packet.timestamp_us);
  return out_of_order;
}

bool FlowTable::add_to_flow(uint32_t index, const PacketInfo& packet, bool packet_is_a) {
  FlowState& flow = slot(index);
  if (flow.expired) {
    // A remembered TCP connection: the new flow continues it (direction, ID, start).
    unlink(expired_, index);
    --expired_count_;
    start_flow(flow, packet, packet_is_a, Continuation::same_direction);
    push_back(active_, index);
    ++active_count_;
    return false;
  }
  bool out_of_order = false;
  const bool icmp = flow.key.protocol == kProtoIcmp || flow.key.protocol == kProtoIcmpV6;
  if (flow.tcp_state == FlowState::Tcp::ready_for_termination && packet.has_flag(tcp_flag::kSyn)) {
    emit(flow, FlowEnd::tcp_termination);
    start_flow(flow, packet, packet_is_a, Continuation::fresh);
  } else if (packet.timestamp_us - flow.start_us > config_.flow_timeout_us) {
    emit(flow, FlowEnd::flow_timeout);
    start_flow(flow, packet, packet_is_a, Continuation::same_direction);
  } else if (icmp && packet.icmp_type != flow.icmp_type && packet.icmp_code != flow.icmp_code) {
    emit(flow, FlowEnd::icmp_change);
    start_flow(flow, packet, packet_is_a, Continuation::packet_direction);
  } else if (packet.timestamp_us >= flow.last_us) {
    flow.add_packet(packet, packet_is_a == flow.src_is_a, config_.activity_timeout_us);
  } else {
    // Older than the flow's last packet (a merged or reordered capture): taken as arriving at
    // that last time. Rare, so the copy costs nothing on ordered traffic.
    PacketInfo in_order = packet;
    in_order.timestamp_us = flow.last_us;
    flow.add_packet(in_order, packet_is_a == flow.src_is_a, config_.activity_timeout_us);
    out_of_order = true;
  }
  if (active_.tail != index) {
    unlink(active_, index);
    push_back(active_, index);
  }
  return out_of_order;
}

void FlowTable::expire_idle(int64_t now_us) {
  while (active_.head != kNil) {
    uint32_t index = active_.head;
    if (now_us - last_seen(index) <= config_.flow_timeout_us) break;
    if (is_single(index)) {
      FlowState one;
      materialize(single(index), one);
      const bool remember = one.key.protocol == kProtoTcp && config_.max_remembered_expired > 0 &&
                            one.tcp_state == FlowState::Tcp::open;
      emit(one, FlowEnd::idle_timeout);
      if (!remember) {
        release(index);
        continue;
      }
      index = promote(index, hash_flow_key(one.key));  // remembered keys live in FlowState slots
    } else {
      emit(slot(index), FlowEnd::idle_timeout);
    }
    FlowState& flow = slot(index);
    // CICFlowMeter forgets idle UDP/ICMP flows but keeps a TCP connection until its next
    // packet; a remembered TCP key lets that packet continue the connection.
    const bool remember = flow.key.protocol == kProtoTcp && config_.max_remembered_expired > 0 &&
                          flow.tcp_state == FlowState::Tcp::open;
    if (!remember) {
      release(index);
      continue;
    }
    unlink(active_, index);
    --active_count_;
    flow.expired = true;
    push_back(expired_, index);
    ++expired_count_;
    if (expired_count_ > config_.max_remembered_expired) release(expired_.head);
  }
}

void FlowTable::flush() {
  for (uint32_t index = active_.head; index != kNil; index = link(index).next) {
    if (is_single(index)) {
      FlowState flow;
      materialize(single(index), flow);
      emit(flow, FlowEnd::end_of_input);
    } else {
      emit(slot(index), FlowEnd::end_of_input);
    }
  }
  // Forget everything at once (one release per flow would re-hash and shift the index for
  // each); the chunks stay for reuse, slots are handed out again from the first.
  std::memset(index_, 0, (index_mask_ + 1) * sizeof(uint64_t));
  index_count_ = 0;
  active_ = List{};
  expired_ = List{};
  active_count_ = 0;
  expired_count_ = 0;
  full_.reset();
  singles_.reset();
}

}  // namespace metaids::flow
