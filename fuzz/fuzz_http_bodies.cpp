// libFuzzer harness for the service's request bodies (serve/requests.h): what POST /v1/score,
// /v1/adapt and /v1/rollback parse. The first byte picks the endpoint and the format (JSON or
// CSV); the rest is the body. Every input is either parsed — rows of the layout's width,
// finite, one per record returned, labels checked — or refused with a RequestError whose
// status is 4xx. Any other exception, or a 5xx, is a crash.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "serve/requests.h"
#include "fuzz_layout.h"

namespace {

using metaids::fuzz::fuzz_layout;

void check_batch(const metaids::serve::FlowBatch& batch, size_t width) {
  if (batch.width != width || batch.raw.size() != batch.records.size() * width) std::abort();
  for (float v : batch.raw)
    if (!std::isfinite(v)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const metaids::detect::InputLayout l = fuzz_layout();
  if (size == 0) return 0;
  const int mode = data[0] % 5;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  metaids::serve::RequestLimits limits;
  limits.max_flows = 64;
  limits.max_adapt_flows = 16;
  using metaids::serve::BodyFormat;
  try {
    switch (mode) {
      case 0:
      case 1: {
        const auto batch = metaids::serve::parse_flow_rows(body, mode == 0 ? BodyFormat::json : BodyFormat::csv, l,
                                                           limits.max_flows);
        check_batch(batch, l.width());
        if (batch.size() > limits.max_flows) std::abort();
        break;
      }
      case 2:
      case 3: {
        const auto request = metaids::serve::parse_adapt_request(body, mode == 2 ? BodyFormat::json : BodyFormat::csv,
                                                                 mode == 3 ? "Fuzzed" : "", l, limits);
        if (request.by_id()) {
          if (request.flow_ids.size() > limits.max_adapt_flows || request.label.empty()) std::abort();
        } else {
          check_batch(request.flows, l.width());
          if (request.flows.size() == 0 || request.flows.size() > limits.max_adapt_flows) std::abort();
        }
        if (!request.label.empty() && !metaids::serve::check_label(request.label, limits.max_label_bytes).empty())
          std::abort();
        break;
      }
      default: {
        const auto request = metaids::serve::parse_rollback_request(body);
        if (request.version.size() != 12 && request.version.size() != 64) std::abort();
        break;
      }
    }
  } catch (const metaids::serve::RequestError& e) {
    if (e.status() < 400 || e.status() > 499) std::abort();
  }
  return 0;
}
