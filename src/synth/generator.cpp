// The streaming generator: traffic sources decide when sessions start and between which hosts;
// each session is planned on start; a min-heap merges sources and open sessions by time.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "synth/plan.h"

namespace metaids::synth {

using namespace detail;
using namespace wire;

// ---- configuration ----------------------------------------------------------------------

std::array<double, kFamilyCount> SynthConfig::default_family_weights() {
  // Shares of sessions: web, dns, ssh, portscan, synflood, bruteforce, slowhttp, beacon, exfil.
  return {0.40, 0.30, 0.02, 0.10, 0.08, 0.05, 0.02, 0.028, 0.002};
}

void SynthConfig::select_families(std::span<const Family> families) {
  const auto defaults = default_family_weights();
  family_weights.fill(0.0);
  for (Family family : families) {
    const auto i = static_cast<std::size_t>(family);
    family_weights[i] = defaults[i];
  }
}

Ipv4Range parse_ipv4_range(std::string_view text) {
  Ipv4Range range;
  unsigned parts[4];
  int length = 0;
  char tail = 0;
  const std::string copy(text);
  const int matched = std::sscanf(copy.c_str(), "%u.%u.%u.%u/%d%c", &parts[0], &parts[1], &parts[2], &parts[3], &length, &tail);
  require(matched == 5 && parts[0] < 256 && parts[1] < 256 && parts[2] < 256 && parts[3] < 256 && length >= 0 &&
              length <= 32,
          "bad IPv4 range '{}': expected a.b.c.d/len", text);
  range.base = (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3];
  range.prefix_length = length;
  const std::uint32_t host_mask = length == 0 ? 0xFFFFFFFFU : ((1U << (32 - length)) - 1U);
  require((range.base & host_mask) == 0, "bad IPv4 range '{}': host bits set below the /{} prefix", text, length);
  return range;
}

std::string format_ipv4(std::uint32_t address) {
  return fmt::format("{}.{}.{}.{}", address >> 24, (address >> 16) & 0xFF, (address >> 8) & 0xFF, address & 0xFF);
}

namespace {
bool contains(const Ipv4Range& range, std::uint32_t ip) {
  return range.prefix_length == 0 || ((ip ^ range.base) >> (32 - range.prefix_length)) == 0;
}
bool overlaps(const Ipv4Range& a, const Ipv4Range& b) { return contains(a, b.base) || contains(b, a.base); }
}  // namespace

void validate(const SynthConfig& config) {
  require(config.sessions > 0 || config.target_packets > 0, "sessions or target_packets must be positive");
  require(std::isfinite(config.duration_s) && config.duration_s > 0 && config.duration_s <= 1e7,
          "duration must be in (0, 1e7] seconds, got {}", config.duration_s);
  double total = 0;
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    const double weight = config.family_weights[i];
    require(std::isfinite(weight) && weight >= 0, "family weight of '{}' must be >= 0, got {}",
            family_name(static_cast<Family>(i)), weight);
    total += weight;
  }
  require(total > 0, "no traffic family selected (all family weights are 0)");
  require(config.flow_timeout_us > 0, "flow timeout must be positive");
  require(config.vlan_id < 4095, "vlan_id must be 0 (untagged) or 1..4094, got {}", config.vlan_id);
  require(std::isfinite(config.syn_flood_reply_fraction) && config.syn_flood_reply_fraction <= 1,
          "syn_flood_reply_fraction must be at most 1 (negative: random per campaign), got {}",
          config.syn_flood_reply_fraction);
  require(config.servers.prefix_length <= 28, "the server range needs at least 16 addresses (/28 or wider)");
  const std::pair<const char*, const Ipv4Range*> ranges[] = {
      {"clients", &config.clients}, {"servers", &config.servers}, {"external", &config.external},
      {"attackers", &config.attackers}};
  for (const auto& [name, range] : ranges) {
    require(range->prefix_length >= 4 && range->prefix_length <= 30, "the {} range must be between /4 and /30", name);
  }
  for (std::size_t a = 0; a < 4; ++a) {
    for (std::size_t b = a + 1; b < 4; ++b) {
      require(!overlaps(*ranges[a].second, *ranges[b].second), "the {} and {} ranges overlap", ranges[a].first,
              ranges[b].first);
    }
  }
}

// ---- the generator ------------------------------------------------------------------------

namespace {

constexpr std::uint16_t kFirstEphemeralPort = 32768;
constexpr std::uint32_t kEphemeralPorts = 61000 - 32768;
constexpr std::size_t kPatternBytes = 65536;

// Filler patterns, each stored twice in a row so any (offset < 64 KiB, length <= 1500) copy is
// contiguous.
struct Patterns {
  std::vector<std::uint8_t> text, random;
  Patterns() : text(2 * kPatternBytes), random(2 * kPatternBytes) {
    Rng rng(0x5EED5EED);
    static constexpr std::string_view kText[] = {
        "<p>", "the ", "network ", "flow ", "of ", "packets ", "and ", "bytes ", "is ", "measured ", "</p>\n",
        "<div class=\"item\">", "</div>\n", "lorem ", "ipsum ", "data ", "page ", "link ", "<a href=\"/x\">", "</a> "};
    std::size_t at = 0;
    while (at < kPatternBytes) {
      const std::string_view piece = kText[rng.below(std::size(kText))];
      for (char c : piece) {
        if (at < kPatternBytes) text[at++] = static_cast<std::uint8_t>(c);
      }
    }
    for (std::size_t i = 0; i < kPatternBytes; ++i) random[i] = static_cast<std::uint8_t>(rng.next_u64() >> 56);
    std::copy_n(text.begin(), kPatternBytes, text.begin() + kPatternBytes);
    std::copy_n(random.begin(), kPatternBytes, random.begin() + kPatternBytes);
  }
};
const Patterns& patterns() {
  static const Patterns instance;
  return instance;
}

// Average packets per session, to turn a packet target into session rates.
constexpr double kPacketsPerSession[kFamilyCount] = {40, 3, 300, 2.2, 1.6, 22, 30, 16, 5000};

struct Source {
  Family family = Family::Web;
  Rng rng;
  double offset_us = 0;              // current arrival, relative to the trace start
  double span_us = 0;                // arrivals fall in [0, span) in session-count mode
  std::uint64_t remaining = 0;       // sessions left; UINT64_MAX when cut by packet count
  double mean_gap_us = 0;            // Poisson mean gap when unbounded
  double period_us = 0;              // > 0: periodic source (beaconing implant)
  // Campaign state (one attacker / target pairing until campaign_left runs out).
  std::uint32_t campaign_left = 0;
  std::uint32_t attacker_ip = 0;
  std::uint32_t victim_ip = 0;
  std::uint16_t service_port = 0;
  std::uint16_t scan_source_port = 0;
  bool firewalled = false;
  double reply_fraction = 0;
  std::vector<std::uint16_t> ports;
  std::uint32_t implant_ip = 0, c2_ip = 0;
};

struct HeapEntry {
  std::uint64_t time;
  std::uint64_t order;  // ties: sources first (by family), then sessions by creation
  std::uint32_t index;
  bool is_source;
};
bool earlier(const HeapEntry& a, const HeapEntry& b) {
  return a.time != b.time ? a.time < b.time : a.order < b.order;
}

struct PortCursor {
  std::uint32_t next = 0;
  std::uint32_t used = 0;
  std::uint64_t cycle_start_us = 0;
};

}  // namespace

struct Generator::Impl {
  SynthConfig config;
  std::vector<Source> sources;
  std::vector<Session> sessions;
  std::vector<std::uint32_t> free_sessions;
  std::vector<HeapEntry> heap;
  std::unordered_map<std::uint32_t, PortCursor> ports;
  std::vector<GroundTruthFlow> finished;
  std::uint64_t emitted = 0;
  std::uint64_t next_serial = 0;
  std::uint64_t spoof_counter = 0;
  std::uint64_t spoof_key = 0;
  std::uint64_t spoof_domain = 0;
  int spoof_bits = 0;
  std::vector<std::uint8_t> spoof_first_octets;
  bool done = false;

  explicit Impl(const SynthConfig& c) : config(c) {
    validate(config);
    Rng rng(mix_seed(config.seed, 0));
    spoof_key = rng.next_u64();
    for (unsigned octet = 1; octet < 224; ++octet) {
      const std::uint32_t ip = octet << 24;
      if (octet == 10 || octet == 127 || octet == 100 || octet == 169 || octet == 172 || octet == 192) continue;
      bool used = false;
      for (const Ipv4Range* range : {&config.clients, &config.servers, &config.external, &config.attackers}) {
        if (contains(*range, ip) || (range->base >> 24) == octet) used = true;
      }
      if (!used) spoof_first_octets.push_back(static_cast<std::uint8_t>(octet));
    }
    spoof_domain = static_cast<std::uint64_t>(spoof_first_octets.size()) << 39;  // octet x 24 bits x 15-bit port
    while ((std::uint64_t{1} << spoof_bits) < spoof_domain) ++spoof_bits;
    make_sources();
  }

  // -- sources --

  void make_sources() {
    const double span = config.duration_s * 1e6;
    double total_weight = 0;
    for (double w : config.family_weights) total_weight += w;
    std::array<double, kFamilyCount> counts{};
    const bool unbounded = config.target_packets > 0;
    if (unbounded) {
      double packets_per_session = 0;
      for (std::size_t f = 0; f < kFamilyCount; ++f) {
        packets_per_session += config.family_weights[f] / total_weight * kPacketsPerSession[f];
      }
      const double total_sessions = static_cast<double>(config.target_packets) / packets_per_session;
      for (std::size_t f = 0; f < kFamilyCount; ++f) {
        if (config.family_weights[f] > 0) counts[f] = std::max(1.0, total_sessions * config.family_weights[f] / total_weight);
      }
    } else {
      // Largest remainder, every selected family at least one session when there are enough.
      std::uint64_t assigned = 0;
      std::array<double, kFamilyCount> remainder{};
      for (std::size_t f = 0; f < kFamilyCount; ++f) {
        const double exact = static_cast<double>(config.sessions) * config.family_weights[f] / total_weight;
        counts[f] = std::floor(exact);
        if (config.family_weights[f] > 0 && counts[f] < 1 && assigned < config.sessions) counts[f] = 1;
        remainder[f] = config.family_weights[f] > 0 ? exact - counts[f] : -1e300;
        assigned += static_cast<std::uint64_t>(counts[f]);
      }
      while (assigned < config.sessions) {
        const auto best = static_cast<std::size_t>(std::max_element(remainder.begin(), remainder.end()) - remainder.begin());
        counts[best] += 1;
        remainder[best] -= 1;
        ++assigned;
      }
      while (assigned > config.sessions) {  // more families than sessions: drop the largest
        const auto largest = static_cast<std::size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
        counts[largest] -= 1;
        --assigned;
      }
    }
    for (std::size_t f = 0; f < kFamilyCount; ++f) {
      if (counts[f] <= 0) continue;
      const auto family = static_cast<Family>(f);
      if (family == Family::Beacon) {
        // Implants beacon at most every 10 s over the trace.
        const double per_implant_max = std::max(1.0, std::floor(config.duration_s / 10.0));
        const auto implants = static_cast<std::uint64_t>(std::ceil(counts[f] / per_implant_max));
        for (std::uint64_t i = 0; i < implants; ++i) {
          Source source = new_source(family, sources.size());
          const auto total = static_cast<std::uint64_t>(std::llround(counts[f]));
          const std::uint64_t mine = unbounded ? 0 : total / implants + (i < total % implants ? 1 : 0);
          const double per_implant = unbounded ? counts[f] / static_cast<double>(implants) : static_cast<double>(mine);
          if (per_implant <= 0) continue;
          source.period_us = span / per_implant;
          source.remaining = unbounded ? UINT64_MAX : mine;
          source.implant_ip = pick(source.rng, config.clients);
          source.c2_ip = pick(source.rng, config.external);
          source.offset_us = source.rng.uniform(0, source.period_us);
          push_source(std::move(source));
        }
        continue;
      }
      Source source = new_source(family, sources.size());
      source.span_us = span;
      if (unbounded) {
        source.remaining = UINT64_MAX;
        source.mean_gap_us = span / counts[f];
        source.offset_us = source.rng.exponential(source.mean_gap_us);
      } else {
        source.remaining = static_cast<std::uint64_t>(counts[f]);
        source.offset_us = 0;
        advance_uniform(source);
      }
      push_source(std::move(source));
    }
  }

  Source new_source(Family family, std::size_t index) const {
    Source source;
    source.family = family;
    source.rng.reseed(mix_seed(config.seed, 1000 + index));
    return source;
  }

  // Next of `remaining` sorted uniform points in [offset, span): order statistics one at a time.
  static void advance_uniform(Source& source) {
    const double n = static_cast<double>(source.remaining);
    source.offset_us += (source.span_us - source.offset_us) * (1.0 - std::pow(1.0 - source.rng.uniform(), 1.0 / n));
  }

  void push_source(Source source) {
    const auto index = static_cast<std::uint32_t>(sources.size());
    const std::uint64_t time = config.start_time_us + static_cast<std::uint64_t>(source.offset_us);
    const std::uint64_t order = static_cast<std::uint64_t>(index);
    sources.push_back(std::move(source));
    heap_push({time, order, index, true});
  }

  static std::uint32_t pick(Rng& rng, const Ipv4Range& range) {
    // Skips the network and broadcast addresses.
    return range.base + 1 + static_cast<std::uint32_t>(rng.below(range.size() - 2));
  }
  std::uint32_t server(std::uint32_t index) const { return config.servers.base + index; }

  std::uint16_t allocate_port(std::uint32_t ip, std::uint64_t now) {
    auto [it, inserted] = ports.try_emplace(ip);
    PortCursor& cursor = it->second;
    if (inserted) {
      std::uint64_t state = ip ^ config.seed;
      cursor.next = static_cast<std::uint32_t>(splitmix64(state) % kEphemeralPorts);
      cursor.cycle_start_us = now;
    }
    if (cursor.used == kEphemeralPorts) {
      require(now - cursor.cycle_start_us > 4 * config.flow_timeout_us,
              "address {} would reuse a source port within {} s; widen the address ranges or lengthen the duration",
              format_ipv4(ip), 4 * config.flow_timeout_us / 1'000'000);
      cursor.used = 0;
      cursor.cycle_start_us = now;
    }
    ++cursor.used;
    const auto port = static_cast<std::uint16_t>(kFirstEphemeralPort + cursor.next);
    cursor.next = (cursor.next + 1) % kEphemeralPorts;
    return port;
  }

  // A unique spoofed (address, port) per call: a keyed permutation of a counter over the
  // domain (public first octet x 24 host bits x ports 32768..65535), by cycle walking.
  std::pair<std::uint32_t, std::uint16_t> spoofed_source() {
    std::uint64_t x = spoof_counter++ % spoof_domain;
    const std::uint64_t mask = (std::uint64_t{1} << spoof_bits) - 1;
    do {
      for (int round = 0; round < 3; ++round) {
        x = (x + (spoof_key >> (round * 8))) & mask;
        x ^= x >> (spoof_bits / 2 + 1);
        x = (x * 0x9E3779B97F4A7C15ULL) & mask;  // odd multiplier: a bijection mod 2^bits
      }
    } while (x >= spoof_domain);
    const std::uint64_t octet_index = x >> 39;
    const auto host = static_cast<std::uint32_t>((x >> 15) & 0xFFFFFF);
    const auto port = static_cast<std::uint16_t>(32768 + (x & 0x7FFF));
    return {(static_cast<std::uint32_t>(spoof_first_octets[octet_index]) << 24) | host, port};
  }

  SessionStart make_start(Source& source, std::uint64_t now) {
    Rng& rng = source.rng;
    SessionStart start;
    start.family = source.family;
    start.time_us = now;
    switch (source.family) {
      case Family::Web:
        start.initiator_ip = pick(rng, config.clients);
        if (rng.chance(0.8)) {
          start.responder_ip = pick(rng, config.external);
          start.responder_internal = false;
        } else {
          start.responder_ip = server(1);
        }
        start.responder_port = 80;
        break;
      case Family::Dns:
        start.initiator_ip = pick(rng, config.clients);
        start.responder_ip = server(2);
        start.responder_port = 53;
        break;
      case Family::Ssh:
        start.initiator_ip = pick(rng, config.clients);
        start.responder_ip = server(3 + static_cast<std::uint32_t>(rng.below(4)));
        start.responder_port = 22;
        break;
      case Family::PortScan: {
        if (source.campaign_left == 0) {
          source.attacker_ip = pick(rng, config.attackers);
          source.victim_ip = server(1 + static_cast<std::uint32_t>(rng.below(8)));
          source.scan_source_port = allocate_port(source.attacker_ip, now);
          source.firewalled = rng.chance(0.3);
          source.ports.resize(1024);
          for (std::uint16_t p = 0; p < 1024; ++p) source.ports[p] = static_cast<std::uint16_t>(p + 1);
          for (std::size_t i = source.ports.size() - 1; i > 0; --i) std::swap(source.ports[i], source.ports[rng.below(i + 1)]);
          source.campaign_left = static_cast<std::uint32_t>(source.ports.size());
        }
        const std::uint16_t port = source.ports[--source.campaign_left];
        start.initiator_ip = source.attacker_ip;
        start.initiator_port = source.scan_source_port;
        start.initiator_internal = false;
        start.responder_ip = source.victim_ip;
        start.responder_port = port;
        const std::uint32_t role = source.victim_ip - config.servers.base;
        const bool open = port == 22 || port == 80 || (port == 53 && role == 2) || (port == 21 && role == 7) ||
                          (port == 443 && (role == 1 || role == 8));
        start.port_state = open ? PortState::Open
                                : (source.firewalled && rng.chance(0.9) ? PortState::Filtered : PortState::Closed);
        return start;
      }
      case Family::SynFlood: {
        if (source.campaign_left == 0) {
          source.campaign_left = UINT32_MAX;
          source.reply_fraction = config.syn_flood_reply_fraction >= 0 ? config.syn_flood_reply_fraction
                                                                       : rng.uniform(0.05, 0.4);
        }
        const auto [ip, port] = spoofed_source();
        start.initiator_ip = ip;
        start.initiator_port = port;
        start.initiator_internal = false;
        start.responder_ip = server(8);
        start.responder_port = 80;
        start.flood_reply = rng.chance(source.reply_fraction);
        return start;
      }
      case Family::BruteForce:
        if (source.campaign_left == 0) {
          source.attacker_ip = pick(rng, config.attackers);
          const bool ftp = rng.chance(0.5);
          source.victim_ip = server(ftp ? 7 : 3);
          source.service_port = ftp ? 21 : 22;
          source.campaign_left = static_cast<std::uint32_t>(rng.between(100, 1000));
        }
        --source.campaign_left;
        start.initiator_ip = source.attacker_ip;
        start.initiator_internal = false;
        start.responder_ip = source.victim_ip;
        start.responder_port = source.service_port;
        break;
      case Family::SlowHttp:
        if (source.campaign_left == 0) {
          source.attacker_ip = pick(rng, config.attackers);
          source.campaign_left = static_cast<std::uint32_t>(rng.between(50, 400));
        }
        --source.campaign_left;
        start.initiator_ip = source.attacker_ip;
        start.initiator_internal = false;
        start.responder_ip = server(8);
        start.responder_port = 80;
        break;
      case Family::Beacon:
        start.initiator_ip = source.implant_ip;
        start.responder_ip = source.c2_ip;
        start.responder_internal = false;
        start.responder_port = 443;
        break;
      case Family::Exfiltration:
        start.initiator_ip = pick(rng, config.clients);
        start.responder_ip = pick(rng, config.external);
        start.responder_internal = false;
        start.responder_port = 443;
        break;
    }
    start.initiator_port = allocate_port(start.initiator_ip, now);
    return start;
  }

  void spawn(std::uint32_t source_index) {
    Source& source = sources[source_index];
    const std::uint64_t now = config.start_time_us + static_cast<std::uint64_t>(source.offset_us);
    const SessionStart start = make_start(source, now);
    std::uint32_t index;
    if (!free_sessions.empty()) {
      index = free_sessions.back();
      free_sessions.pop_back();
    } else {
      index = static_cast<std::uint32_t>(sessions.size());
      sessions.emplace_back();
    }
    Session& session = sessions[index];
    session.reset();
    session.serial = next_serial++;
    Rng session_rng(mix_seed(config.seed, (std::uint64_t{1} << 40) + session.serial));
    plan_session(session, start, session_rng);
    prepare_flow_boundaries(session);
    heap_push({session.segments.front().time_us, (std::uint64_t{1} << 63) | session.serial, index, false});

    // Next arrival of this source.
    if (source.remaining != UINT64_MAX) --source.remaining;
    if (source.remaining == 0) return;
    if (source.period_us > 0) {
      source.offset_us += source.period_us * source.rng.uniform(0.85, 1.15);  // +-15 % jitter
    } else if (source.remaining == UINT64_MAX) {
      source.offset_us += source.rng.exponential(source.mean_gap_us);
    } else {
      advance_uniform(source);
    }
    heap_push({config.start_time_us + static_cast<std::uint64_t>(source.offset_us), source_index, source_index, true});
  }

  // Makes the flow boundaries of a long session unambiguous. (1) A packet exactly
  // flow_timeout after its flow's first packet would sit on the edge of the "more than the
  // timeout" rule: it and the rest of the session move by 1 us. (2) The first packet of every
  // later flow comes from the initiator: where the responder would send it, the initiator sends
  // a pure ACK (a window update) first. Meters that take the direction from that first packet
  // and meters that keep the previous flow's direction, as CICFlowMeter does, then agree.
  void prepare_flow_boundaries(Session& session) const {
    auto& segments = session.segments;
    std::uint64_t flow_start = segments.front().time_us;
    for (std::size_t i = 1; i < segments.size(); ++i) {
      std::uint64_t elapsed = segments[i].time_us - flow_start;
      if (elapsed == config.flow_timeout_us) {
        for (std::size_t j = i; j < segments.size(); ++j) segments[j].time_us += 1;
        elapsed += 1;
      }
      if (elapsed <= config.flow_timeout_us) continue;
      if (segments[i].from_responder == 1 && session.protocol == kProtocolTcp) {
        if (auto ack = window_update(segments, i, flow_start + config.flow_timeout_us + 1)) {
          segments.insert(segments.begin() + static_cast<std::ptrdiff_t>(i), *ack);
        }
      }
      flow_start = segments[i].time_us;
    }
  }

  // A pure ACK from the initiator at `time`, placed before segments[before].
  static std::optional<Segment> window_update(const std::vector<Segment>& segments, std::size_t before, std::uint64_t time) {
    const Segment* initiator = nullptr;
    const Segment* responder = nullptr;
    for (std::size_t i = before; i-- > 0 && (initiator == nullptr || responder == nullptr);) {
      const Segment& segment = segments[i];
      const Segment*& last = segment.from_responder ? responder : initiator;
      if (last == nullptr) last = &segment;
    }
    if (initiator == nullptr || responder == nullptr || (initiator->flags & kRst)) return std::nullopt;
    auto next_seq = [](const Segment& segment) {
      return segment.seq + segment.payload_length + ((segment.flags & kSyn) ? 1U : 0U) + ((segment.flags & kFin) ? 1U : 0U);
    };
    Segment ack;
    ack.time_us = time;
    ack.seq = next_seq(*initiator);
    ack.ack = next_seq(*responder);
    ack.stream_offset = initiator->stream_offset + initiator->payload_length;
    ack.window = (initiator->flags & kSyn) ? 502 : initiator->window;
    ack.flags = kAck;
    ack.from_responder = 0;
    return ack;
  }

  // -- heap --

  void heap_push(HeapEntry entry) {
    heap.push_back(entry);
    std::size_t i = heap.size() - 1;
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!earlier(heap[i], heap[parent])) break;
      std::swap(heap[i], heap[parent]);
      i = parent;
    }
  }
  void heap_sift_down(std::size_t i) {
    const std::size_t n = heap.size();
    const HeapEntry entry = heap[i];
    while (true) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && earlier(heap[child + 1], heap[child])) ++child;
      if (!earlier(heap[child], entry)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = entry;
  }
  void heap_pop() {
    heap.front() = heap.back();
    heap.pop_back();
    if (!heap.empty()) heap_sift_down(0);
  }

  // -- rendering --

  // Payload bytes: the session's filler pattern, overlaid with the literals that intersect
  // [offset, offset + length). A sender's segments come out in stream order, so a cursor per
  // side skips literals that are already behind.
  static void fill_payload(Session& session, const Segment& segment, std::uint8_t* out) {
    const std::uint32_t length = segment.payload_length;
    const std::uint8_t side = segment.from_responder;
    const auto& pattern = session.filler == Filler::Text ? patterns().text : patterns().random;
    const std::size_t start = (session.filler_salt[side] + segment.stream_offset) % kPatternBytes;
    std::memcpy(out, pattern.data() + start, length);
    const std::uint64_t begin = segment.stream_offset;
    const std::uint64_t end = begin + length;
    const auto& literals = session.literals[side];
    std::size_t& cursor = session.literal_cursor[side];
    // UDP datagrams of one side may leave out of stream order (answers overtaking each other).
    while (session.protocol == kProtocolTcp && cursor < literals.size() &&
           std::uint64_t{literals[cursor].stream_offset} + literals[cursor].length <= begin) {
      ++cursor;
    }
    for (std::size_t i = cursor; i < literals.size() && literals[i].stream_offset < end; ++i) {
      const Literal& literal = literals[i];
      const std::uint64_t lo = std::max<std::uint64_t>(begin, literal.stream_offset);
      const std::uint64_t hi = std::min<std::uint64_t>(end, std::uint64_t{literal.stream_offset} + literal.length);
      if (lo >= hi) continue;
      std::memcpy(out + (lo - begin), session.arena.data() + literal.arena_offset + (lo - literal.stream_offset), hi - lo);
    }
  }

  static std::size_t render(Session& session, const Segment& segment, std::uint8_t* frame, std::uint16_t vlan_id) {
    Endpoint& from = session.side[segment.from_responder];
    const Endpoint& to = session.side[1 - segment.from_responder];
    const bool tcp = session.protocol == kProtocolTcp;
    std::size_t option_bytes = 0;
    static constexpr std::uint8_t kSynOptions[12] = {2, 4, 0x05, 0xB4, 1, 3, 3, 7, 1, 1, 4, 2};
    static constexpr std::uint8_t kSynAckOptions[12] = {2, 4, 0x05, 0xB4, 1, 1, 4, 2, 1, 3, 3, 7};
    static constexpr std::uint8_t kMssOption[4] = {2, 4, 0x05, 0xB4};
    const std::uint8_t* options = nullptr;
    switch (segment.options) {
      case TcpOptions::None: break;
      case TcpOptions::Syn: options = kSynOptions; option_bytes = 12; break;
      case TcpOptions::SynAck: options = kSynAckOptions; option_bytes = 12; break;
      case TcpOptions::MssOnly: options = kMssOption; option_bytes = 4; break;
    }
    const std::size_t l4_header = tcp ? kTcpHeader + option_bytes : kUdpHeader;
    const std::size_t ip_total = kIpv4Header + l4_header + segment.payload_length;

    // Ethernet II, optionally with an 802.1Q tag (priority 0)
    std::memcpy(frame, to.mac.data(), 6);
    std::memcpy(frame + 6, from.mac.data(), 6);
    std::size_t link_header = kEthernetHeader;
    if (vlan_id != 0) {
      put16(frame + 12, 0x8100);
      put16(frame + 14, vlan_id);
      link_header += 4;
    }
    put16(frame + link_header - 2, 0x0800);
    // IPv4
    std::uint8_t* ip = frame + link_header;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, static_cast<std::uint32_t>(ip_total));
    put16(ip + 4, from.ip_id++);
    put16(ip + 6, from.dont_fragment ? 0x4000 : 0);
    ip[8] = from.ttl;
    ip[9] = session.protocol;
    ip[10] = ip[11] = 0;
    put32(ip + 12, from.ip);
    put32(ip + 16, to.ip);
    store_checksum(ip + 10, checksum_add(0, ip, kIpv4Header));
    // TCP / UDP
    std::uint8_t* l4 = ip + kIpv4Header;
    put16(l4, from.port);
    put16(l4 + 2, to.port);
    std::uint8_t* payload = l4 + l4_header;
    if (segment.payload_length > 0) fill_payload(session, segment, payload);
    std::uint8_t pseudo[12];
    std::memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = session.protocol;
    put16(pseudo + 10, static_cast<std::uint32_t>(l4_header + segment.payload_length));
    if (tcp) {
      put32(l4 + 4, segment.seq);
      put32(l4 + 8, segment.ack);
      l4[12] = static_cast<std::uint8_t>((l4_header / 4) << 4);
      l4[13] = segment.flags;
      put16(l4 + 14, segment.window);
      l4[16] = l4[17] = 0;
      l4[18] = l4[19] = 0;
      if (option_bytes > 0) std::memcpy(l4 + kTcpHeader, options, option_bytes);
      std::uint64_t sum = checksum_add(0, pseudo, sizeof pseudo);
      sum = checksum_add(sum, l4, l4_header + segment.payload_length);
      store_checksum(l4 + 16, sum);
    } else {
      put16(l4 + 4, static_cast<std::uint32_t>(l4_header + segment.payload_length));
      l4[6] = l4[7] = 0;
      std::uint64_t sum = checksum_add(0, pseudo, sizeof pseudo);
      sum = checksum_add(sum, l4, l4_header + segment.payload_length);
      store_checksum(l4 + 6, sum);
      if (l4[6] == 0 && l4[7] == 0) l4[6] = l4[7] = 0xFF;  // UDP: zero means "no checksum"
    }
    return link_header + ip_total;
  }

  // -- ground truth --

  void account(Session& session, const Segment& segment) {
    if (!config.collect_ground_truth) return;
    const bool from_initiator = segment.from_responder == 0;
    if (session.flow_open && segment.time_us - session.flow.first_timestamp_us > config.flow_timeout_us) {
      close_flow(session);
    }
    GroundTruthFlow& flow = session.flow;
    if (!session.flow_open) {
      session.flow_open = true;
      session.forward_is_initiator = from_initiator;
      session.fin_forward = session.fin_backward = session.rst_seen = session.final_ack_seen = false;
      const Endpoint& src = session.side[segment.from_responder];
      const Endpoint& dst = session.side[1 - segment.from_responder];
      flow = GroundTruthFlow{};
      flow.tuple = {src.ip, dst.ip, src.port, dst.port, session.protocol};
      flow.family = session.family;
      flow.label = std::string(kLabels[session.label_index]);
      flow.first_timestamp_us = segment.time_us;
    }
    flow.last_timestamp_us = segment.time_us;
    const bool forward = from_initiator == session.forward_is_initiator;
    const bool tcp = session.protocol == kProtocolTcp;
    std::uint64_t header = kUdpHeader;
    if (tcp) {
      header = kTcpHeader + (segment.options == TcpOptions::Syn || segment.options == TcpOptions::SynAck ? 12
                             : segment.options == TcpOptions::MssOnly                                  ? 4
                                                                                                       : 0);
    }
    const std::uint64_t payload = segment.payload_length;
    if (forward) {
      ++flow.fwd_packets;
      flow.fwd_payload_bytes += payload;
      flow.fwd_header_bytes += header;
      flow.fwd_ip_bytes += kIpv4Header + header + payload;
    } else {
      ++flow.bwd_packets;
      flow.bwd_payload_bytes += payload;
      flow.bwd_header_bytes += header;
      flow.bwd_ip_bytes += kIpv4Header + header + payload;
    }
    if (!tcp) return;
    const std::uint8_t flags = segment.flags;
    if (flags & kSyn) ++flow.syn_packets;
    if (flags & kRst) {
      ++flow.rst_packets;
      session.rst_seen = true;
    }
    if (flags & kPsh) ++flow.psh_packets;
    if (flags & kAck) {
      ++flow.ack_packets;
      if (session.fin_forward && session.fin_backward && !(flags & kFin)) session.final_ack_seen = true;
    }
    if (flags & kFin) {
      ++flow.fin_packets;
      (forward ? session.fin_forward : session.fin_backward) = true;
    }
  }

  void close_flow(Session& session) {
    if (!session.flow_open) return;
    session.flow_open = false;
    session.flow.end = session.rst_seen ? FlowEnd::Rst
                       : (session.fin_forward && session.fin_backward && session.final_ack_seen) ? FlowEnd::Fin
                                                                                                 : FlowEnd::Timeout;
    finished.push_back(std::move(session.flow));
  }

  // -- main loop --

  bool next(Packet& packet) {
    if (done) return false;
    while (!heap.empty()) {
      if (config.target_packets > 0 && emitted >= config.target_packets) break;
      HeapEntry& top = heap.front();
      if (top.is_source) {
        const std::uint32_t index = top.index;
        heap_pop();
        spawn(index);
        continue;
      }
      Session& session = sessions[top.index];
      const Segment& segment = session.segments[session.next_segment];
      packet.timestamp_us = segment.time_us;
      packet.family = session.family;
      packet.length = static_cast<std::uint32_t>(render(session, segment, packet.data.data(), config.vlan_id));
      account(session, segment);
      ++emitted;
      if (++session.next_segment == session.segments.size()) {
        close_flow(session);
        free_sessions.push_back(top.index);
        heap_pop();
      } else {
        top.time = session.segments[session.next_segment].time_us;
        heap_sift_down(0);
      }
      return true;
    }
    finish();
    return false;
  }

  // The trace was cut (packet target): flows still open end where the capture ends.
  void finish() {
    done = true;
    std::vector<std::uint32_t> open;
    for (const HeapEntry& entry : heap) {
      if (!entry.is_source) open.push_back(entry.index);
    }
    std::sort(open.begin(), open.end(),
              [&](std::uint32_t a, std::uint32_t b) { return sessions[a].serial < sessions[b].serial; });
    for (std::uint32_t index : open) close_flow(sessions[index]);
    heap.clear();
  }
};

Generator::Generator(const SynthConfig& config) : impl_(std::make_unique<Impl>(config)) {}
Generator::~Generator() = default;
Generator::Generator(Generator&&) noexcept = default;
Generator& Generator::operator=(Generator&&) noexcept = default;

bool Generator::next(Packet& packet) { return impl_->next(packet); }

std::vector<GroundTruthFlow> Generator::take_finished_flows() {
  std::vector<GroundTruthFlow> flows;
  flows.swap(impl_->finished);
  return flows;
}

std::size_t Generator::drain_finished_flows(std::vector<GroundTruthFlow>& into) {
  into.clear();
  into.swap(impl_->finished);
  return into.size();
}

std::uint64_t Generator::packets_emitted() const { return impl_->emitted; }

}  // namespace metaids::synth
