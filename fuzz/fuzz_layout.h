// The small input layout the flow-row fuzzers read with (fuzz_flow_csv, fuzz_http_bodies):
// numeric columns, one one-hot column, the CICFlowMeter schema's identity columns.
#pragma once
#include "data/schema.h"
#include "detect/flow_csv.h"

namespace metaids::fuzz {

inline detect::InputLayout fuzz_layout() {
  detect::InputLayout l;
  l.numeric = {"Flow Duration", "Total Fwd Packet", "Protocol", "Flow Bytes/s"};
  l.categories = {{"proto", {"tcp", "udp"}}};
  l.schema = data::cicflowmeter_schema();
  return l;
}

}  // namespace metaids::fuzz
