// Request bodies of the service (docs/service.md), parsed into what the service acts on. Kept
// apart from the HTTP server and the model so that it can be fuzzed on its own
// (fuzz/fuzz_http_bodies.cpp): any bytes give a parsed request or a RequestError, whose HTTP
// status is 4xx; nothing else is thrown.
//
//   FlowBatch batch = parse_flow_rows(body, BodyFormat::csv, layout, limits);   // POST /v1/score
//   AdaptRequest adapt = parse_adapt_request(body, format, label_param, layout, limits);
//   RollbackRequest rollback = parse_rollback_request(body);
//
// Flows come in two forms, both read with the flow CSV reader's rules (detect/flow_csv.h:
// header names through the model's aliases, any column order, identity columns optional,
// bad cells read as 0 and counted, rows with the wrong number of fields skipped and counted):
//   text/csv          a CIC-style flow CSV with its header line
//   application/json  {"columns": ["Flow Duration", ...], "rows": [[1.5, ...], ...]}
//                     or {"flows": [{"Flow Duration": 1.5, "Src IP": "10.0.0.1", ...}, ...]}
// JSON rows are turned into the same CSV text, so that both forms give identical rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "detect/flow_csv.h"

namespace metaids::serve {

// A request the service refuses: its HTTP status (4xx) and a message for the JSON error.
class RequestError : public Error {
 public:
  RequestError(int status, const std::string& message) : Error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct RequestLimits {
  size_t max_flows = 100'000;       // flows in one score request
  size_t max_adapt_flows = 10'000;  // flows in one adapt request (rows or ids)
  size_t max_label_bytes = 200;     // a class name
};

enum class BodyFormat { json, csv };
// From the Content-Type ("text/csv", "application/json", parameters ignored); an empty one
// is JSON. Anything else: RequestError 415.
BodyFormat body_format(std::string_view content_type);

// Flows in a model's input layout: `raw` holds rows × layout.width() floats, row-major.
struct FlowBatch {
  std::vector<float> raw;
  std::vector<detect::FlowRecord> records;
  detect::CsvReadReport report;
  size_t width = 0;
  size_t size() const { return records.size(); }
};

// Flows of a request body (score, or adapt with rows). More than limits.max_flows rows, a
// missing column, a CSV that cannot be read (an unterminated quote), JSON that is not of the
// forms above: RequestError 400 (413 for too many flows).
FlowBatch parse_flow_rows(std::string_view body, BodyFormat format, const detect::InputLayout& layout,
                          size_t max_flows);

// POST /v1/adapt:
//   {"label": "C2 beacon", "flow_ids": [1718928291512345, ...]}          flows the service scored
//   {"label": "C2 beacon", "columns": [...], "rows": [[...], ...]}       or "flows": [{...}]
//   text/csv body with ?label=NAME (or a Label column)
// optional: "shots" (keep the first K flows), "category", "severity" (1-4) of a new class.
struct AdaptRequest {
  std::string label;  // empty only for CSV with a label column
  std::string category;
  int severity = 0;
  size_t shots = 0;
  std::vector<std::uint64_t> flow_ids;
  FlowBatch flows;  // when no flow ids
  bool by_id() const { return !flow_ids.empty(); }
};
AdaptRequest parse_adapt_request(std::string_view body, BodyFormat format, std::string_view label_param,
                                 const detect::InputLayout& layout, const RequestLimits& limits);

// POST /v1/rollback: {"version": "3f2a9c81d0e4"} (12 hex digits, or the full SHA-256).
struct RollbackRequest {
  std::string version;
};
RollbackRequest parse_rollback_request(std::string_view body);

// A class name the service accepts: 1..max bytes of valid UTF-8 without control characters,
// not "unknown" (reserved). Returns the message of what is wrong, or an empty string.
std::string check_label(std::string_view label, size_t max_bytes);

}  // namespace metaids::serve
