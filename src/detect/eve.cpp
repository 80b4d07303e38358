#include "detect/eve.h"

#include <fcntl.h>
#include <fmt/compile.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <array>
#include <cerrno>
#include <limits>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <utility>

#include "core/error.h"
#include "detect/base64.h"
#include "detect/community_id.h"
#include "model/digest.h"

namespace metaids::detect {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence is copied; anything else becomes U+FFFD.
    size_t length = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    bool valid = length > 0 && i + length <= s.size();
    for (size_t k = 1; valid && k < length; ++k) valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (valid && length == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      valid = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
    }
    if (valid && length == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      valid = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (valid) {
      out.append(s.substr(i, length));
      i += length;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

std::string eve_timestamp(std::int64_t us) {
  std::string out;
  append_eve_timestamp(out, us);
  return out;
}

std::string_view eve_protocol(std::uint8_t protocol) {
  static const std::array<std::string, 256> names = [] {
    std::array<std::string, 256> n;
    for (int p = 0; p < 256; ++p) n[static_cast<size_t>(p)] = std::to_string(p);
    n[1] = "ICMP";
    n[6] = "TCP";
    n[17] = "UDP";
    n[47] = "GRE";
    n[58] = "IPv6-ICMP";
    n[132] = "SCTP";
    return n;
  }();
  return names[protocol];
}

std::uint64_t eve_flow_id(const FlowRecord& r) {
  // FNV-1a 64 over the tuple and start, folded to 51 bits (exact in a JSON double).
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const void* data, size_t n) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) {
      h ^= bytes[i];
      h *= 1099511628211ULL;
    }
  };
  mix(r.src_address.data(), r.src_address.size());
  mix(r.dst_address.data(), r.dst_address.size());
  mix(&r.src_port, sizeof r.src_port);
  mix(&r.dst_port, sizeof r.dst_port);
  mix(&r.protocol, sizeof r.protocol);
  mix(&r.start_us, sizeof r.start_us);
  mix(&r.line, sizeof r.line);
  return (h ^ (h >> 51)) & ((std::uint64_t{1} << 51) - 1);
}

std::string columns_hash(const std::vector<std::string>& columns) {
  std::string joined;
  for (const auto& c : columns) {
    joined += c;
    joined += '\n';
  }
  return model::sha256_hex(joined).substr(0, 12);
}

namespace {

// The pieces of a line are written through a raw pointer into a buffer sized for the line's
// upper bound, then appended at once: appending piece by piece to a std::string (a capacity
// check per character) took most of an alert line's time.
inline char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Bytes a string can take escaped: \u00XX for every byte at worst.
constexpr size_t escaped_bound(size_t n) { return 6 * n + 2; }

// A JSON string literal; text that needs no escaping (addresses, plain names) is copied.
char* put_json_string(char* p, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (!plain) {
    thread_local std::string escaped;
    escaped.clear();
    append_json_string(escaped, s);
    return put(p, escaped);
  }
  *p++ = '"';
  p = put(p, s);
  *p++ = '"';
  return p;
}

// "2023-11-14T22:13:20.000000+0000": the date and time of the last second seen (per thread:
// alerts come in bursts), then the microseconds.
char* put_timestamp(char* p, std::int64_t us) {
  // Floor division without overflow at the ends of the range.
  std::int64_t seconds = us / 1'000'000;
  auto micros = static_cast<int>(us % 1'000'000);
  if (micros < 0) {
    micros += 1'000'000;
    --seconds;
  }
  thread_local std::int64_t cached_second = std::numeric_limits<std::int64_t>::min();
  thread_local char date[32];
  thread_local size_t date_length = 0;
  if (seconds != cached_second) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    date_length = std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second = seconds;
  }
  p = put(p, std::string_view(date, date_length));
  *p++ = '.';
  for (int k = 5; k >= 0; --k) {
    p[k] = static_cast<char>('0' + micros % 10);
    micros /= 10;
  }
  return put(p + 6, "+0000");
}

template <typename T>
char* put_number(char* p, T value) {
  return fmt::format_to(p, FMT_COMPILE("{}"), value);
}

}  // namespace

void append_eve_timestamp(std::string& out, std::int64_t us) {
  char buffer[48];
  out.append(buffer, put_timestamp(buffer, us));
}

EveFormatter::EveFormatter(const model::Model& model, bool include_features)
    : names_(model.class_names()), include_features_(include_features) {
  // What a line says of its class does not change: written once here, escaped.
  const auto alert_head = [&](std::int64_t signature_id, const std::string& signature, const std::string& category,
                              int severity) {
    std::string s = fmt::format(",\"alert\":{{\"action\":\"allowed\",\"gid\":1,\"signature_id\":{},\"rev\":1,\"signature\":",
                                signature_id);
    append_json_string(s, signature);
    s += ",\"category\":";
    append_json_string(s, category);
    s += fmt::format(",\"severity\":{},\"metadata\":{{\"score\":[\"", severity);
    return s;
  };
  const auto class_field = [](const std::string& name) {
    std::string s = ",\"metaids\":{\"class\":";
    append_json_string(s, name);
    return s;
  };
  for (const auto& c : model.classes) {
    alert_head_.push_back(alert_head(c.signature_id, c.name, c.category, c.severity));
    class_field_.push_back(class_field(c.name));
  }
  unknown_alert_head_ = alert_head(model::kUnknownSignatureId, "unknown: far from every known class", "Unknown Traffic", 3);
  unknown_class_field_ = class_field(model::kUnknownClass);
  alert_tail_ = "\"],\"model_version\":[\"" + model.version() + "\"]}}";
  features_head_ = ",\"columns\":\"" + columns_hash(model.input_columns()) + "\",\"features_b64\":\"";
}

const std::string& EveFormatter::reported_name(const model::Verdict& v) const {
  static const std::string unknown = model::kUnknownClass;
  return v.reported == model::Verdict::kUnknown ? unknown : names_[static_cast<size_t>(v.reported)];
}

void EveFormatter::append(std::string& out, const FlowRecord& r, const model::Verdict& v, std::span<const float> raw,
                          bool all_flows) const {
  if (!v.alert && !all_flows) return;
  const bool unknown = v.reported == model::Verdict::kUnknown;
  const auto k = static_cast<size_t>(v.reported);
  const std::string& alert_head = unknown ? unknown_alert_head_ : alert_head_[k];
  const std::string& class_field = unknown ? unknown_class_field_ : class_field_[k];
  // Every fixed piece, number and timestamp fits in kFixed bytes (about 620 at most, with
  // timestamps of 31 characters; 1024 leaves room for years past 9999); the rest is counted.
  constexpr size_t kFixed = 1024;
  const size_t bound = kFixed + escaped_bound(r.src_ip.size()) + escaped_bound(r.dst_ip.size()) +
                       escaped_bound(r.label.size()) + alert_head.size() + alert_tail_.size() + class_field.size() +
                       features_head_.size() + base64_length(raw.size() * sizeof(float));
  thread_local std::vector<char> buffer;
  if (buffer.size() < bound) buffer.resize(bound);
  char* const begin = buffer.data();
  char* p = begin;

  const std::int64_t when = r.end_us != 0 ? r.end_us : r.start_us;
  p = put_timestamp(put(p, "{\"timestamp\":\""), when != 0 ? when : model::now_seconds() * 1'000'000);
  p = put_number(put(p, "\",\"flow_id\":"), eve_flow_id(r));
  p = put(p, v.alert ? ",\"event_type\":\"alert\"" : ",\"event_type\":\"flow\"");
  if (r.has_identity) {
    p = put_json_string(put(p, ",\"src_ip\":"), r.src_ip);
    p = put_number(put(p, ",\"src_port\":"), r.src_port);
    p = put_json_string(put(p, ",\"dest_ip\":"), r.dst_ip);
    p = put_number(put(p, ",\"dest_port\":"), r.dst_port);
    p = put(put(p, ",\"proto\":\""), eve_protocol(r.protocol));
    FlowTuple tuple;
    tuple.src = r.src_address;
    tuple.dst = r.dst_address;
    tuple.ip_version = r.ip_version;
    tuple.protocol = r.protocol;
    tuple.src_port = r.src_port;
    tuple.dst_port = r.dst_port;
    if (r.protocol == 1 || r.protocol == 58) map_icmp_to_ports(r.protocol, r.icmp_type, r.icmp_code, tuple);
    p = put(p, "\",\"community_id\":\"");
    p = put_community_id_v1(p, tuple);
    *p++ = '"';
  }
  if (v.alert) {
    p = put(p, alert_head);
    p = fmt::format_to(p, FMT_COMPILE("{:.4g}"), unknown ? v.novelty : v.margin);
    p = put(p, alert_tail_);
  }
  if (r.start_us != 0 || r.pkts_toserver != 0) {
    const std::pair<std::string_view, std::uint64_t> counters[] = {{",\"flow\":{\"pkts_toserver\":", r.pkts_toserver},
                                                                   {",\"pkts_toclient\":", r.pkts_toclient},
                                                                   {",\"bytes_toserver\":", r.bytes_toserver},
                                                                   {",\"bytes_toclient\":", r.bytes_toclient}};
    for (const auto& [key, value] : counters) p = put_number(put(p, key), value);
    if (r.start_us != 0) {
      p = put_timestamp(put(p, ",\"start\":\""), r.start_us);
      p = put_timestamp(put(p, "\",\"end\":\""), r.end_us != 0 ? r.end_us : r.start_us);
      *p++ = '"';
    }
    *p++ = '}';
  }
  p = put(p, class_field);
  const auto number = [&p](std::string_view key, float value) {
    p = put(p, key);
    p = std::isfinite(value) ? put_number(p, value) : put(p, "null");
  };
  number(",\"margin\":", v.margin);
  number(",\"probability\":", v.probability);
  number(",\"novelty\":", v.novelty);
  p = put(p, v.unknown ? ",\"unknown\":true" : ",\"unknown\":false");
  if (r.line != 0) p = put_number(put(p, ",\"line\":"), r.line);
  if (!r.label.empty()) p = put_json_string(put(p, ",\"label\":"), r.label);
  if (include_features_) {
    // The raw inputs as little-endian IEEE 754 binary32, base64: exact (adapt --eve learns the
    // very row that was scored), a third of the text of decimals, and ten times faster to write.
    p = put(p, features_head_);
    p = put_features_base64(p, raw);
    *p++ = '"';
  }
  p = put(p, "}}\n");
  require(p <= begin + bound, "internal error: an EVE line of {} bytes overran its bound of {}", p - begin, bound);
  out.append(begin, p);
}

EveOutput::EveOutput(std::string path) : path_(std::move(path)) { open(); }

EveOutput::~EveOutput() {
  if (fd_ > 1) ::close(fd_);
}

void EveOutput::open() {
  if (path_.empty() || path_ == "-") {
    fd_ = 1;
    return;
  }
  // A symlink is resolved (its whole chain) and its target appended to; the last component is
  // then opened with O_NOFOLLOW, so a link planted in between is refused rather than followed.
  std::filesystem::path target = path_;
  std::error_code ec;
  for (int hops = 0; std::filesystem::is_symlink(target, ec); ++hops) {
    require(hops < 40, "cannot open {} for alerts: too many levels of symbolic links", path_);
    const auto next = std::filesystem::read_symlink(target, ec);
    require(!ec, "cannot open {} for alerts: {}", path_, ec.message());
    target = next.is_absolute() ? next : target.parent_path() / next;
  }
  const int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0640);
  require(fd >= 0, "cannot open {} for alerts: {}", path_, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) {
    ::close(fd);
    fail("cannot open {} for alerts: not a file, FIFO or character device", path_);
  }
  fd_ = fd;
}

void EveOutput::write(std::string_view lines) {
  std::lock_guard lock(mutex_);
  while (!lines.empty()) {
    const ssize_t n = ::write(fd_, lines.data(), lines.size());
    if (n < 0 && errno == EINTR) continue;
    require(n > 0, "cannot write alerts to {}: {}", path_.empty() ? std::string("standard output") : path_,
            n < 0 ? std::strerror(errno) : "nothing was written");
    bytes_ += static_cast<std::uint64_t>(n);
    lines.remove_prefix(static_cast<size_t>(n));
  }
}

std::uint64_t EveOutput::bytes_written() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

void EveOutput::reopen() {
  std::lock_guard lock(mutex_);
  if (fd_ <= 1) return;
  ::close(fd_);
  fd_ = -1;
  open();
}

}  // namespace metaids::detect
