#include "serve/requests.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "data/json_input.h"

namespace metaids::serve {

namespace {

constexpr std::string_view kSource = "request body";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

nlohmann::json parse_json_body(std::string_view body) {
  try {
    return parse_json_strict(body, kSource);
  } catch (const Error& e) {
    throw RequestError(400, e.what());
  }
}

// One CSV field: quoted when it holds a delimiter, a quote or leading/trailing blanks.
void append_csv_field(std::string& out, std::string_view text) {
  const bool quote = text.find_first_of(",\"") != std::string_view::npos || text.empty() ||
                     text.front() == ' ' || text.back() == ' ';
  if (!quote) {
    out += text;
    return;
  }
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

void append_json_cell(std::string& out, const nlohmann::json& value, size_t row, const std::string& column) {
  switch (value.type()) {
    case nlohmann::json::value_t::number_integer:
      out += fmt::format("{}", value.get<std::int64_t>());
      break;
    case nlohmann::json::value_t::number_unsigned:
      out += fmt::format("{}", value.get<std::uint64_t>());
      break;
    case nlohmann::json::value_t::number_float:
      out += fmt::format("{}", value.get<double>());
      break;
    case nlohmann::json::value_t::boolean:
      out += value.get<bool>() ? '1' : '0';
      break;
    case nlohmann::json::value_t::null:
      break;  // an empty cell: read as 0 and counted, as in a CSV
    case nlohmann::json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (has_control_characters(text))
        throw RequestError(400, fmt::format("flow {}, column {}: a string with control characters", row,
                                            data::short_json(column)));
      append_csv_field(out, text);
      break;
    }
    default:
      throw RequestError(400, fmt::format("flow {}, column {}: a value must be a number, a string, true, false or "
                                          "null, not {}",
                                          row, data::short_json(column), value.type_name()));
  }
}

void append_header(std::string& csv, const std::vector<std::string>& columns) {
  for (size_t j = 0; j < columns.size(); ++j) {
    if (has_control_characters(columns[j]))
      throw RequestError(400, fmt::format("column {} has control characters", data::short_json(columns[j])));
    if (j > 0) csv += ',';
    append_csv_field(csv, columns[j]);
  }
  csv += '\n';
}

std::string rows_to_csv(const nlohmann::json& json) {
  const bool has_rows = json.contains("rows");
  const bool has_flows = json.contains("flows");
  if (has_rows == has_flows)
    throw RequestError(400, "give the flows as \"columns\" and \"rows\", or as \"flows\" (objects), not both or neither");
  std::string csv;
  if (has_rows) {
    const auto columns_it = json.find("columns");
    if (columns_it == json.end() || !columns_it->is_array() || columns_it->empty())
      throw RequestError(400, "\"rows\" needs \"columns\": a non-empty array of column names");
    std::vector<std::string> columns;
    for (const auto& c : *columns_it) {
      if (!c.is_string()) throw RequestError(400, "\"columns\" must hold strings");
      columns.push_back(c.get<std::string>());
    }
    const auto& rows = json["rows"];
    if (!rows.is_array()) throw RequestError(400, "\"rows\" must be an array of arrays");
    append_header(csv, columns);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& row = rows[i];
      if (!row.is_array()) throw RequestError(400, fmt::format("row {} is not an array", i));
      for (size_t j = 0; j < row.size(); ++j) {
        if (j > 0) csv += ',';
        append_json_cell(csv, row[j], i, j < columns.size() ? columns[j] : std::string("(extra)"));
      }
      csv += '\n';
    }
    return csv;
  }
  const auto& flows = json["flows"];
  if (!flows.is_array()) throw RequestError(400, "\"flows\" must be an array of objects");
  if (flows.empty()) throw RequestError(400, "\"flows\" is empty");
  if (!flows[0].is_object() || flows[0].empty()) throw RequestError(400, "flow 0 is not a non-empty object");
  std::vector<std::string> columns;
  for (const auto& [key, value] : flows[0].items()) columns.push_back(key);
  append_header(csv, columns);
  for (size_t i = 0; i < flows.size(); ++i) {
    const auto& flow = flows[i];
    if (!flow.is_object() || flow.size() != columns.size())
      throw RequestError(400, fmt::format("flow {} is not an object with the {} keys of flow 0", i, columns.size()));
    for (size_t j = 0; j < columns.size(); ++j) {
      const auto it = flow.find(columns[j]);
      if (it == flow.end())
        throw RequestError(400, fmt::format("flow {} lacks {}, which flow 0 has", i, data::short_json(columns[j])));
      if (j > 0) csv += ',';
      append_json_cell(csv, *it, i, columns[j]);
    }
    csv += '\n';
  }
  return csv;
}

void check_object_keys(const nlohmann::json& json, std::initializer_list<std::string_view> allowed, const char* what) {
  for (const auto& [key, value] : json.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw RequestError(400, fmt::format("unknown key {} in {}", data::short_json(key), what));
}

size_t array_size_of(const nlohmann::json& json, const char* key) {
  const auto it = json.find(key);
  return it != json.end() && it->is_array() ? it->size() : 0;
}

}  // namespace

BodyFormat body_format(std::string_view content_type) {
  const std::string type = lower(content_type.substr(0, content_type.find(';')));
  std::string_view t = type;
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  if (t.empty() || t == "application/json") return BodyFormat::json;
  if (t == "text/csv") return BodyFormat::csv;
  throw RequestError(415, fmt::format("unsupported Content-Type {}: send application/json or text/csv",
                                      data::short_json(std::string(content_type))));
}

FlowBatch parse_flow_rows(std::string_view body, BodyFormat format, const detect::InputLayout& layout,
                          size_t max_flows) {
  std::string converted;
  std::string_view csv = body;
  if (format == BodyFormat::json) {
    const nlohmann::json json = parse_json_body(body);
    if (!json.is_object()) throw RequestError(400, "the body must be a JSON object");
    check_object_keys(json, {"columns", "rows", "flows"}, "a score request");
    if (array_size_of(json, "rows") > max_flows || array_size_of(json, "flows") > max_flows)
      throw RequestError(413, fmt::format("more than {} flows in one request (the limit)", max_flows));
    converted = rows_to_csv(json);
    csv = converted;
  }
  if (csv.empty()) throw RequestError(400, "the body is empty: send a CSV header line and flows");
  FlowBatch batch;
  batch.width = layout.width();
  try {
    detect::FlowCsvReader reader(csv, kSource, layout);
    detect::FlowRecord record;
    std::vector<float> row(batch.width);
    while (reader.next(record, row)) {
      if (batch.records.size() == max_flows)
        throw RequestError(413, fmt::format("more than {} flows in one request (the limit)", max_flows));
      batch.records.push_back(record);
      batch.raw.insert(batch.raw.end(), row.begin(), row.end());
    }
    batch.report = reader.report();
  } catch (const RequestError&) {
    throw;
  } catch (const Error& e) {
    throw RequestError(400, e.what());
  }
  return batch;
}

std::string check_label(std::string_view label, size_t max_bytes) {
  if (label.empty()) return "the label is empty";
  if (label.size() > max_bytes) return fmt::format("the label is longer than {} bytes", max_bytes);
  if (has_control_characters(label)) return "the label has control characters";
  if (label == "unknown")  // model::kUnknownClass, kept literal so that this file needs no model
    return "'unknown' is reserved for flows far from every class; choose another label";
  // Valid UTF-8: EVE and the console show it as it is.
  size_t i = 0;
  while (i < label.size()) {
    const auto c = static_cast<unsigned char>(label[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > label.size()) return "the label is not valid UTF-8";
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(label[i + k]) >> 6) != 0x2) return "the label is not valid UTF-8";
    i += n;
  }
  return {};
}

AdaptRequest parse_adapt_request(std::string_view body, BodyFormat format, std::string_view label_param,
                                 const detect::InputLayout& layout, const RequestLimits& limits) {
  AdaptRequest request;
  request.label = std::string(label_param);
  if (format == BodyFormat::csv) {
    request.flows = parse_flow_rows(body, format, layout, limits.max_adapt_flows);
  } else {
    const nlohmann::json json = parse_json_body(body);
    if (!json.is_object()) throw RequestError(400, "the body must be a JSON object");
    check_object_keys(json, {"label", "category", "severity", "shots", "flow_ids", "columns", "rows", "flows"},
                      "an adapt request");
    if (const auto it = json.find("label"); it != json.end()) {
      if (!it->is_string()) throw RequestError(400, "\"label\" must be a string");
      if (!label_param.empty() && it->get<std::string>() != label_param)
        throw RequestError(400, "the label is given twice, differently (?label= and \"label\")");
      request.label = it->get<std::string>();
    }
    if (const auto it = json.find("category"); it != json.end()) {
      if (!it->is_string() || it->get_ref<const std::string&>().size() > limits.max_label_bytes ||
          has_control_characters(it->get_ref<const std::string&>()))
        throw RequestError(400, fmt::format("\"category\" must be a string of at most {} bytes without control "
                                            "characters",
                                            limits.max_label_bytes));
      request.category = it->get<std::string>();
    }
    if (const auto it = json.find("severity"); it != json.end()) {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 4)
        throw RequestError(400, "\"severity\" must be 1 (high) to 4");
      request.severity = static_cast<int>(it->get<std::int64_t>());
    }
    if (const auto it = json.find("shots"); it != json.end()) {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
          it->get<std::int64_t>() > static_cast<std::int64_t>(limits.max_adapt_flows))
        throw RequestError(400, fmt::format("\"shots\" must be 0 (all) to {}", limits.max_adapt_flows));
      request.shots = static_cast<size_t>(it->get<std::int64_t>());
    }
    const bool by_id = json.contains("flow_ids");
    const bool by_rows = json.contains("rows") || json.contains("flows") || json.contains("columns");
    if (by_id == by_rows)
      throw RequestError(400, "give the flows to learn from as \"flow_ids\" (flows the service scored) or as "
                              "\"columns\" and \"rows\" / \"flows\", not both or neither");
    if (by_id) {
      const auto& ids = json["flow_ids"];
      if (!ids.is_array() || ids.empty()) throw RequestError(400, "\"flow_ids\" must be a non-empty array");
      if (ids.size() > limits.max_adapt_flows)
        throw RequestError(413, fmt::format("more than {} flow ids in one request (the limit)", limits.max_adapt_flows));
      for (const auto& id : ids) {
        if (id.is_number_unsigned() || (id.is_number_integer() && id.get<std::int64_t>() >= 0)) {
          request.flow_ids.push_back(id.get<std::uint64_t>());
        } else if (id.is_string()) {  // ids above 2^53 survive JavaScript as strings
          std::uint64_t value = 0;
          const auto& s = id.get_ref<const std::string&>();
          const auto r = std::from_chars(s.data(), s.data() + s.size(), value);
          if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
            throw RequestError(400, fmt::format("flow id {} is not a whole number", data::short_json(s)));
          request.flow_ids.push_back(value);
        } else {
          throw RequestError(400, "flow ids must be whole numbers (or strings of digits)");
        }
      }
      std::sort(request.flow_ids.begin(), request.flow_ids.end());
      request.flow_ids.erase(std::unique(request.flow_ids.begin(), request.flow_ids.end()), request.flow_ids.end());
    } else {
      nlohmann::json rows = nlohmann::json::object();
      for (const char* key : {"columns", "rows", "flows"})
        if (json.contains(key)) rows[key] = json[key];
      if (array_size_of(rows, "rows") > limits.max_adapt_flows || array_size_of(rows, "flows") > limits.max_adapt_flows)
        throw RequestError(413, fmt::format("more than {} flows in one request (the limit)", limits.max_adapt_flows));
      const std::string csv = rows_to_csv(rows);
      request.flows = parse_flow_rows(csv, BodyFormat::csv, layout, limits.max_adapt_flows);
    }
  }
  if (!request.by_id() && request.flows.size() == 0)
    throw RequestError(400, fmt::format("no usable flows to learn from ({})", request.flows.report.summary()));
  if (!request.label.empty()) {
    if (const std::string problem = check_label(request.label, limits.max_label_bytes); !problem.empty())
      throw RequestError(400, problem);
  } else if (request.by_id()) {
    throw RequestError(400, "name the class: \"label\"");
  } else {
    for (const auto& record : request.flows.records) {
      if (record.label.empty())
        throw RequestError(400, "name the class: \"label\", ?label=NAME, or a Label column in every row");
      if (const std::string problem = check_label(record.label, limits.max_label_bytes); !problem.empty())
        throw RequestError(400, fmt::format("line {}: {}", record.line, problem));
    }
  }
  return request;
}

RollbackRequest parse_rollback_request(std::string_view body) {
  const nlohmann::json json = parse_json_body(body);
  if (!json.is_object()) throw RequestError(400, "the body must be a JSON object");
  check_object_keys(json, {"version"}, "a rollback request");
  const auto it = json.find("version");
  if (it == json.end() || !it->is_string()) throw RequestError(400, "\"version\" (a string) is required");
  const std::string& v = it->get_ref<const std::string&>();
  const bool hex = std::all_of(v.begin(), v.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  if (!hex || (v.size() != 12 && v.size() != 64))
    throw RequestError(400, fmt::format("\"version\" must be 12 hex digits or a SHA-256, not {}", data::short_json(v)));
  return {lower(v)};
}

}  // namespace metaids::serve
