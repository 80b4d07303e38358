#include "serve/recent_flows.h"

#include <algorithm>

#include "core/error.h"

namespace metaids::serve {

RecentFlows::RecentFlows(size_t flow_capacity, size_t alert_capacity, size_t width) : width_(width) {
  require(flow_capacity >= 1 && alert_capacity >= 1, "the recent flows and alerts need room for at least one each");
  flows_.entries.resize(flow_capacity);
  flows_.raw.resize(flow_capacity * width);
  alerts_.entries.resize(alert_capacity);
  alerts_.raw.resize(alert_capacity * width);
  flows_.slot_of.reserve(flow_capacity);
  alerts_.slot_of.reserve(alert_capacity);
}

void RecentFlows::Ring::put(ScoredFlow&& flow, const float* row, size_t width) {
  const size_t capacity = entries.size();
  const size_t slot = next;
  next = (next + 1) % capacity;
  if (size == capacity) {
    // The oldest entry leaves; its id may have been stored again since (a later slot).
    const auto it = slot_of.find(entries[slot].id);
    if (it != slot_of.end() && it->second == slot) slot_of.erase(it);
  } else {
    ++size;
  }
  slot_of[flow.id] = slot;
  entries[slot] = std::move(flow);
  std::copy(row, row + width, raw.begin() + static_cast<std::ptrdiff_t>(slot * width));
}

const ScoredFlow* RecentFlows::Ring::get(std::uint64_t id, const float** row, size_t width) const {
  const auto it = slot_of.find(id);
  if (it == slot_of.end()) return nullptr;
  *row = raw.data() + it->second * width;
  return &entries[it->second];
}

void RecentFlows::add(std::vector<ScoredFlow>&& flows, std::span<const float> raw) {
  require(raw.size() == flows.size() * width_, "internal error: {} rows of features for {} flows", raw.size() / std::max<size_t>(width_, 1),
          flows.size());
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < flows.size(); ++i) {
    const float* row = raw.data() + i * width_;
    if (flows[i].alert) {
      ScoredFlow copy = flows[i];
      alerts_.put(std::move(copy), row, width_);
    }
    flows_.put(std::move(flows[i]), row, width_);
  }
}

void RecentFlows::find(const std::vector<std::uint64_t>& ids, std::vector<float>& rows, std::vector<ScoredFlow>& found,
                       std::vector<std::uint64_t>& missing) const {
  rows.clear();
  found.clear();
  missing.clear();
  std::lock_guard lock(mutex_);
  for (const std::uint64_t id : ids) {
    const float* row = nullptr;
    const ScoredFlow* flow = alerts_.get(id, &row, width_);
    if (flow == nullptr) flow = flows_.get(id, &row, width_);
    if (flow == nullptr) {
      missing.push_back(id);
      continue;
    }
    found.push_back(*flow);
    rows.insert(rows.end(), row, row + width_);
  }
}

namespace {
bool has_host(const ScoredFlow& f, const std::string& host) {
  return host.empty() || f.record.src_ip == host || f.record.dst_ip == host;
}
}  // namespace

std::vector<ScoredFlow> RecentFlows::alerts(const AlertFilter& filter, size_t limit) const {
  std::vector<ScoredFlow> out;
  std::lock_guard lock(mutex_);
  const size_t capacity = alerts_.entries.size();
  for (size_t k = 0; k < alerts_.size && out.size() < limit; ++k) {
    const ScoredFlow& f = alerts_.entries[(alerts_.next + capacity - 1 - k) % capacity];
    if (f.scored_us < filter.since_us) break;
    if (!filter.signature.empty() && f.reported != filter.signature) continue;
    if (!has_host(f, filter.host)) continue;
    out.push_back(f);
  }
  return out;
}

std::vector<ScoredFlow> RecentFlows::flows(const std::string& host, size_t limit) const {
  std::vector<ScoredFlow> out;
  std::lock_guard lock(mutex_);
  const size_t capacity = flows_.entries.size();
  for (size_t k = 0; k < flows_.size && out.size() < limit; ++k) {
    const ScoredFlow& f = flows_.entries[(flows_.next + capacity - 1 - k) % capacity];
    if (has_host(f, host)) out.push_back(f);
  }
  return out;
}

}  // namespace metaids::serve
