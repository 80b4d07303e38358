#include "detect/eve_reader.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "detect/base64.h"

namespace metaids::detect {

void append_features_base64(std::string& out, std::span<const float> raw) {
  const size_t at = out.size();
  out.resize(at + base64_length(raw.size() * sizeof(float)));
  put_features_base64(out.data() + at, raw);
}

char* put_features_base64(char* out, std::span<const float> raw) {
  static_assert(std::endian::native == std::endian::little, "features_b64 is little-endian");
  thread_local std::vector<float> clean;
  clean.assign(raw.begin(), raw.end());
  for (float& v : clean)
    if (!std::isfinite(v)) v = 0.0f;
  return put_base64(out, clean.data(), clean.size() * sizeof(float));
}

std::vector<float> decode_features_base64(std::string_view text) {
  require(text.size() % 4 == 0, "features_b64 is not base64 (length {})", text.size());
  std::vector<unsigned char> bytes(text.size() / 4 * 3 + 1);
  const int n = EVP_DecodeBlock(bytes.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  require(n >= 0, "features_b64 is not base64");
  size_t length = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding's zero bytes: take them off.
  if (!text.empty() && text.back() == '=') --length;
  if (text.size() > 1 && text[text.size() - 2] == '=') --length;
  require(length % sizeof(float) == 0, "features_b64 holds {} bytes, not whole float32 values", length);
  std::vector<float> values(length / sizeof(float));
  if (length > 0) std::memcpy(values.data(), bytes.data(), length);  // (an empty vector's data() may be null)
  return values;
}

EveFlows read_eve_flows(std::istream& in, const std::string& path, const std::vector<std::uint64_t>& flow_ids,
                        const std::string& columns, size_t width) {
  require(!flow_ids.empty(), "give the alerts to learn from with --flow-id");
  const std::set<std::uint64_t> wanted(flow_ids.begin(), flow_ids.end());
  std::map<std::uint64_t, std::vector<float>> found;
  std::map<std::uint64_t, FlowRecord> records;
  std::uint64_t number = 0, malformed = 0;
  auto take_line = [&](std::string_view line) {
    ++number;
    if (line.empty()) return;
    nlohmann::json event;
    try {
      event = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      ++malformed;  // e.g. a line cut by a crash of whatever wrote the file
      return;
    }
    if (!event.is_object() || !event.contains("flow_id") || !event["flow_id"].is_number_unsigned()) return;
    const auto id = event["flow_id"].get<std::uint64_t>();
    if (wanted.count(id) == 0 || found.count(id) > 0) return;
    const auto* m = event.contains("metaids") && event["metaids"].is_object() ? &event["metaids"] : nullptr;
    require(m != nullptr && m->contains("features_b64") && (*m)["features_b64"].is_string(),
            "{}:{}: flow {} has no features (was it written with --no-features, or by another tool?)", path, number, id);
    require(m->contains("columns") && (*m)["columns"].is_string() && (*m)["columns"].get<std::string>() == columns,
            "{}:{}: flow {} was scored by a model that reads other columns than this one", path, number, id);
    std::vector<float> row;
    try {
      row = decode_features_base64((*m)["features_b64"].get<std::string>());
    } catch (const Error& e) {
      fail("{}:{}: flow {}: {}", path, number, id, e.what());
    }
    require(row.size() == width, "{}:{}: flow {} has {} features, the model reads {}", path, number, id, row.size(),
            width);
    for (float v : row) require(std::isfinite(v), "{}:{}: flow {} has a feature that is not a number", path, number, id);
    FlowRecord record;
    record.has_identity = event.contains("src_ip") && event["src_ip"].is_string();
    if (record.has_identity) {
      record.src_ip = event["src_ip"].get<std::string>();
      const auto text = [&](const char* key) {
        return event.contains(key) && event[key].is_string() ? event[key].get<std::string>() : std::string();
      };
      const auto port = [&](const char* key) {
        return event.contains(key) && event[key].is_number_unsigned()
                   ? static_cast<std::uint16_t>(std::min<std::uint64_t>(event[key].get<std::uint64_t>(), 65535))
                   : std::uint16_t{0};
      };
      record.dst_ip = text("dest_ip");
      record.src_port = port("src_port");
      record.dst_port = port("dest_port");
    }
    record.line = number;
    found[id] = std::move(row);
    records[id] = record;
  };
  // Lines are cut from fixed-size reads: a line never grows past kMaxEveLineBytes in memory.
  std::string pending;
  std::vector<char> chunk(1 << 16);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<size_t>(in.gcount());
    size_t start = 0;
    for (size_t i = 0; i < got; ++i) {
      if (chunk[i] != '\n') continue;
      pending.append(chunk.data() + start, i - start);
      take_line(pending);
      pending.clear();
      start = i + 1;
    }
    pending.append(chunk.data() + start, got - start);
    require(pending.size() <= kMaxEveLineBytes, "{}:{}: a line longer than {} bytes (not an EVE file?)", path,
            number + 1, kMaxEveLineBytes);
  }
  require(!in.bad(), "cannot read {}: {}", path, std::strerror(errno));
  if (!pending.empty()) take_line(pending);
  std::vector<std::string> missing;
  for (std::uint64_t id : flow_ids)
    if (found.count(id) == 0) missing.push_back(std::to_string(id));
  require(missing.empty(), "{}: no record of flow id(s) {}{}", path, fmt::join(missing, ", "),
          malformed > 0 ? fmt::format(" ({} malformed lines skipped)", malformed) : "");
  EveFlows out;
  std::set<std::uint64_t> done;
  for (std::uint64_t id : flow_ids) {
    if (!done.insert(id).second) continue;
    out.rows.push_back(std::move(found[id]));
    out.records.push_back(records[id]);
  }
  return out;
}

}  // namespace metaids::detect
