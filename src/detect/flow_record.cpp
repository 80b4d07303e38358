#include "detect/flow_record.h"

#include <arpa/inet.h>
#include <fmt/compile.h>
#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/error.h"
#include "data/csv_reader.h"

namespace metaids::detect {


FlowRecord flow_record(const flow::FlowState& flow) {
  FlowRecord r;
  r.has_identity = true;
  const flow::FlowKey& k = flow.key;
  r.ip_version = k.ip_version;
  r.protocol = k.protocol;
  r.src_address = flow.src_is_a ? k.a_ip : k.b_ip;
  r.dst_address = flow.src_is_a ? k.b_ip : k.a_ip;
  r.src_port = flow.src_is_a ? k.a_port : k.b_port;
  r.dst_port = flow.src_is_a ? k.b_port : k.a_port;
  r.src_ip = flow::format_ip(r.src_address, k.ip_version);
  r.dst_ip = flow::format_ip(r.dst_address, k.ip_version);
  r.icmp_type = flow.icmp_type;
  r.icmp_code = flow.icmp_code;
  r.start_us = flow.start_us;
  r.end_us = flow.last_us;
  r.pkts_toserver = flow.fwd_length.count;
  r.pkts_toclient = flow.bwd_length.count;
  r.bytes_toserver = flow.fwd_length.sum + flow.fwd_header_bytes;
  r.bytes_toclient = flow.bwd_length.sum + flow.bwd_header_bytes;
  return r;
}

float csv_equivalent_float(double value) {
  if (!std::isfinite(value)) return 0.0f;
  const float f = static_cast<float>(value);
  if (static_cast<double>(f) == value) return f;  // exact (counts, sizes, most features)
  if (!std::isfinite(f)) return 0.0f;  // beyond float range: the CSV parser reads "infinite" → 0
  // Double rounding (double → shortest decimal → float) can differ from the direct cast only
  // when `value` lies within a few double ulps of a midpoint between two floats. The float
  // beside f on value's side is one step of its bit pattern away.
  const double here = static_cast<double>(f);
  const auto bits = std::bit_cast<std::uint32_t>(f);
  const bool away_from_zero = (value > here) == (f > 0.0f);
  const float beside = std::bit_cast<float>(away_from_zero ? bits + 1 : bits - 1);
  const double mid = (here + static_cast<double>(beside)) / 2;
  if (f == 0.0f || std::fabs(value - mid) > std::fabs(mid) * 1e-13) return f;
  char buffer[32];
  const char* end = fmt::format_to(buffer, FMT_COMPILE("{}"), value);
  float parsed = f;
  std::from_chars(buffer, end, parsed);
  return std::isfinite(parsed) ? parsed : 0.0f;
}

FeatureMapper::FeatureMapper(const model::Model& model) {
  std::vector<std::string> missing;
  for (const auto& c : model.transform.categories()) missing.push_back(c.column + " (categorical)");
  for (const std::string& name : model.transform.numeric_names()) {
    size_t found = name == "Protocol" ? kProtocol : flow::kFeatureCount + 1;
    for (size_t f = 0; f < flow::kFeatureCount; ++f)
      if (flow::feature_name(static_cast<flow::Feature>(f)) == name) found = f;
    if (found > kProtocol) missing.push_back(name);
    source_.push_back(found);
    integer_.push_back(found < flow::kFeatureCount && flow::feature_is_integer(static_cast<flow::Feature>(found)));
  }
  if (!missing.empty())
    fail("the model reads {} column(s) the flow meter does not produce: {} (a model trained on CICFlowMeter features "
         "is needed for packets)",
         missing.size(), fmt::join(missing, ", "));
}

void FeatureMapper::map(const flow::FeatureVector& features, std::uint8_t protocol, std::span<float> row) const {
  for (size_t j = 0; j < source_.size(); ++j) {
    if (source_[j] == kProtocol) {
      row[j] = static_cast<float>(protocol);
      continue;
    }
    double value = features[source_[j]];
    if (value == 0.0) {  // most columns of a short flow ("-0" stays -0, unless printed as an integer)
      row[j] = integer_[j] ? 0.0f : static_cast<float>(value);
      continue;
    }
    // The writer prints integer columns as integers (truncated), the rest as shortest decimals.
    if (integer_[j] && std::fabs(value) < 9.0e15) value = static_cast<double>(static_cast<std::int64_t>(value));
    row[j] = csv_equivalent_float(value);
  }
}

InputLayout input_layout(const model::Model& model) {
  return {model.transform.numeric_names(), model.transform.categories(), model.schema};
}

}  // namespace metaids::detect
