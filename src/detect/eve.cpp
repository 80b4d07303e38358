#include "detect/eve.h"

#include <fcntl.h>
#include <fmt/compile.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <bit>
#include <array>
#include <cerrno>
#include <limits>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "core/error.h"
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

void append_eve_timestamp(std::string& out, std::int64_t us) {
  const std::int64_t seconds = us >= 0 ? us / 1'000'000 : (us - 999'999) / 1'000'000;
  const auto micros = static_cast<int>(us - seconds * 1'000'000);
  // The date and time of the last second seen, per thread: alerts come in bursts.
  thread_local std::int64_t cached_second = std::numeric_limits<std::int64_t>::min();
  thread_local char date[32];
  if (seconds != cached_second) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second = seconds;
  }
  fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}.{:06d}+0000"), date, micros);
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

EveFormatter::EveFormatter(const model::Model& model, bool include_features)
    : classes_(model.classes),
      version_(model.version()),
      columns_(columns_hash(model.input_columns())),
      include_features_(include_features) {}

const std::string& EveFormatter::reported_name(const model::Verdict& v) const {
  static const std::string unknown = model::kUnknownClass;
  return v.reported == model::Verdict::kUnknown ? unknown : classes_[static_cast<size_t>(v.reported)].name;
}

void EveFormatter::append(std::string& out, const FlowRecord& r, const model::Verdict& v, std::span<const float> raw,
                          bool all_flows) const {
  if (!v.alert && !all_flows) return;
  auto it = std::back_inserter(out);
  const std::int64_t when = r.end_us != 0 ? r.end_us : r.start_us;
  out += "{\"timestamp\":\"";
  append_eve_timestamp(out, when != 0 ? when : model::now_seconds() * 1'000'000);
  fmt::format_to(it, FMT_COMPILE("\",\"flow_id\":{},\"event_type\":\"{}\""), eve_flow_id(r), v.alert ? "alert" : "flow");
  if (r.has_identity) {
    out += ",\"src_ip\":";
    append_json_string(out, r.src_ip);
    fmt::format_to(it, FMT_COMPILE(",\"src_port\":{},\"dest_ip\":"), r.src_port);
    append_json_string(out, r.dst_ip);
    fmt::format_to(it, FMT_COMPILE(",\"dest_port\":{},\"proto\":\"{}\""), r.dst_port, eve_protocol(r.protocol));
    FlowTuple tuple;
    tuple.src = r.src_address;
    tuple.dst = r.dst_address;
    tuple.ip_version = r.ip_version;
    tuple.protocol = r.protocol;
    tuple.src_port = r.src_port;
    tuple.dst_port = r.dst_port;
    if (r.protocol == 1 || r.protocol == 58) map_icmp_to_ports(r.protocol, r.icmp_type, r.icmp_code, tuple);
    out += ",\"community_id\":\"";
    append_community_id_v1(out, tuple);
    out += '"';
  }
  const std::string& name = reported_name(v);
  if (v.alert) {
    const bool unknown = v.reported == model::Verdict::kUnknown;
    const model::ClassInfo* info = unknown ? nullptr : &classes_[static_cast<size_t>(v.reported)];
    fmt::format_to(it, FMT_COMPILE(",\"alert\":{{\"action\":\"allowed\",\"gid\":1,\"signature_id\":{},\"rev\":1,\"signature\":"),
                   unknown ? model::kUnknownSignatureId : info->signature_id);
    append_json_string(out, unknown ? std::string("unknown: far from every known class") : name);
    out += ",\"category\":";
    append_json_string(out, unknown ? std::string("Unknown Traffic") : info->category);
    fmt::format_to(it, FMT_COMPILE(",\"severity\":{},\"metadata\":{{\"score\":[\"{:.4g}\"],\"model_version\":[\"{}\"]}}}}"),
                   unknown ? 3 : info->severity, unknown ? v.novelty : v.margin, version_);
  }
  if (r.start_us != 0 || r.pkts_toserver != 0) {
    fmt::format_to(it,
                   FMT_COMPILE(",\"flow\":{{\"pkts_toserver\":{},\"pkts_toclient\":{},\"bytes_toserver\":{},"
                               "\"bytes_toclient\":{}"),
                   r.pkts_toserver, r.pkts_toclient, r.bytes_toserver, r.bytes_toclient);
    if (r.start_us != 0) {
      out += ",\"start\":\"";
      append_eve_timestamp(out, r.start_us);
      out += "\",\"end\":\"";
      append_eve_timestamp(out, r.end_us != 0 ? r.end_us : r.start_us);
      out += '"';
    }
    out += '}';
  }
  out += ",\"metaids\":{\"class\":";
  append_json_string(out, name);
  auto number = [&](const char* key, float value) {
    if (std::isfinite(value))
      fmt::format_to(it, FMT_COMPILE(",\"{}\":{}"), key, value);
    else
      fmt::format_to(it, FMT_COMPILE(",\"{}\":null"), key);
  };
  number("margin", v.margin);
  number("probability", v.probability);
  number("novelty", v.novelty);
  fmt::format_to(it, FMT_COMPILE(",\"unknown\":{}"), v.unknown);
  if (r.line != 0) fmt::format_to(it, FMT_COMPILE(",\"line\":{}"), r.line);
  if (!r.label.empty()) {
    out += ",\"label\":";
    append_json_string(out, r.label);
  }
  if (include_features_) {
    // The raw inputs as little-endian IEEE 754 binary32, base64: exact (adapt --eve learns the
    // very row that was scored), a third of the text of decimals, and ten times faster to write.
    out += ",\"columns\":\"" + columns_ + "\",\"features_b64\":\"";
    append_features_base64(out, raw);
    out += '"';
  }
  out += "}}\n";
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
  while (!lines.empty()) {
    const ssize_t n = ::write(fd_, lines.data(), lines.size());
    if (n < 0 && errno == EINTR) continue;
    require(n > 0, "cannot write alerts to {}: {}", path_.empty() ? std::string("standard output") : path_,
            n < 0 ? std::strerror(errno) : "nothing was written");
    bytes_ += static_cast<std::uint64_t>(n);
    lines.remove_prefix(static_cast<size_t>(n));
  }
}

void EveOutput::reopen() {
  if (fd_ <= 1) return;
  ::close(fd_);
  fd_ = -1;
  open();
}

}  // namespace metaids::detect
