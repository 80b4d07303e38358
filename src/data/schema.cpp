#include "data/schema.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "data/csv_reader.h"
#include "data/json_input.h"

namespace metaids::data {

namespace {

const char* to_string(BadValuePolicy p) { return p == BadValuePolicy::zero ? "zero" : "skip_row"; }
const char* to_string(ShortRowPolicy p) { return p == ShortRowPolicy::zero ? "zero" : "skip_row"; }
const char* to_string(LongRowPolicy p) { return p == LongRowPolicy::ignore_extra ? "ignore_extra" : "skip_row"; }
const char* to_string(BadTimestampPolicy p) { return p == BadTimestampPolicy::zero ? "zero" : "skip_row"; }

template <typename Policy>
Policy parse_policy(const nlohmann::json& value, const char* key, std::initializer_list<std::pair<const char*, Policy>> options) {
  std::string allowed;
  if (value.is_string()) {
    for (const auto& [name, policy] : options)
      if (value.get<std::string>() == name) return policy;
  }
  for (const auto& [name, policy] : options) allowed += std::string(allowed.empty() ? "" : ", ") + name;
  fail("schema: bad_rows.{} must be one of {} (got {})", key, allowed, short_json(value));
}

std::string get_string(const nlohmann::json& json, const char* key) {
  const auto& v = json.at(key);
  require(v.is_string(), "schema: '{}' must be a string (got {})", key, short_json(v));
  return v.get<std::string>();
}

std::vector<std::string> get_strings(const nlohmann::json& json, const char* key) {
  const auto& v = json.at(key);
  require(v.is_array(), "schema: '{}' must be an array of strings (got {})", key, short_json(v));
  std::vector<std::string> out;
  for (const auto& item : v) {
    require(item.is_string(), "schema: '{}' must be an array of strings (got {} in it)", key, short_json(item));
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

nlohmann::json DatasetSchema::to_json() const {
  nlohmann::json j{{"name", name},
                   {"label_column", label_column},
                   {"benign_label", benign_label},
                   {"drop_columns", drop_columns},
                   {"categorical_columns", categorical_columns},
                   {"has_header", has_header},
                   {"delimiter", std::string(1, delimiter)},
                   {"bad_rows",
                    {{"bad_value", to_string(bad_value)},
                     {"short_row", to_string(short_row)},
                     {"long_row", to_string(long_row)},
                     {"bad_timestamp", to_string(bad_timestamp)}}}};
  if (!timestamp_column.empty()) j["timestamp_column"] = timestamp_column;
  if (!column_names.empty()) j["column_names"] = column_names;
  if (!label_strip_suffix.empty()) j["label_strip_suffix"] = label_strip_suffix;
  if (!column_aliases.empty()) j["column_aliases"] = column_aliases;
  if (format == DataFormat::zeek) {  // CSV, the default, is left out: older model headers stay as they were
    j["format"] = "zeek";
    j.erase("has_header");
    j.erase("delimiter");
  }
  return j;
}

DatasetSchema parse_schema(const nlohmann::json& json) {
  require(json.is_object(), "schema: expected a JSON object (got {})", short_json(json));
  require_json_depth(json, "schema");
  static const std::set<std::string> known{"name",          "label_column",        "benign_label",
                                           "drop_columns",  "categorical_columns", "timestamp_column",
                                           "has_header",    "column_names",        "delimiter",
                                           "label_strip_suffix", "column_aliases", "bad_rows", "format"};
  for (const auto& [key, value] : json.items())
    require(known.count(key) == 1, "schema: unknown key {} (known: {})", short_text(key), fmt::join(known, ", "));
  DatasetSchema s;
  if (json.contains("format")) {
    const std::string format = get_string(json, "format");
    require(format == "csv" || format == "zeek", "schema: 'format' must be \"csv\" or \"zeek\" (got {})",
            short_text(format));
    if (format == "zeek") {
      s.format = DataFormat::zeek;
      for (const char* key : {"has_header", "column_names", "delimiter"})
        require(!json.contains(key), "schema: '{}' does not apply to Zeek logs (they name their columns and separator "
                                     "in their own header lines)", key);
      s.timestamp_column = "ts";
    }
  }
  require(json.contains("label_column"), "schema: 'label_column' is required");
  require(json.contains("benign_label"), "schema: 'benign_label' is required");
  if (json.contains("name")) s.name = get_string(json, "name");
  s.label_column = get_string(json, "label_column");
  require(!s.label_column.empty(), "schema: 'label_column' is empty");
  if (s.label_column.size() > 1 && s.label_column[0] == '#')
    require(s.label_column.size() <= 7 && s.label_column.find_first_not_of("0123456789", 1) == std::string::npos,
            "schema: 'label_column' {} must be a column name or '#' and a column number", short_text(s.label_column));
  s.benign_label = get_string(json, "benign_label");
  if (json.contains("drop_columns")) s.drop_columns = get_strings(json, "drop_columns");
  if (json.contains("categorical_columns")) s.categorical_columns = get_strings(json, "categorical_columns");
  if (json.contains("timestamp_column")) s.timestamp_column = get_string(json, "timestamp_column");
  if (json.contains("has_header")) {
    require(json["has_header"].is_boolean(), "schema: 'has_header' must be true or false");
    s.has_header = json["has_header"].get<bool>();
  }
  if (json.contains("column_names")) s.column_names = get_strings(json, "column_names");
  require(s.column_names.size() <= kMaxColumns, "schema: 'column_names' has {} names, more than {} (the limit)",
          s.column_names.size(), kMaxColumns);
  require(s.has_header || !s.column_names.empty(), "schema: 'column_names' is required when 'has_header' is false");
  if (json.contains("delimiter")) {
    const std::string d = get_string(json, "delimiter");
    require(d.size() == 1 && d[0] != '"' && d[0] != '\n' && d[0] != '\r',
            "schema: 'delimiter' must be one character other than a quote or line break (got {})", short_text(d));
    s.delimiter = d[0];
  }
  if (json.contains("label_strip_suffix")) s.label_strip_suffix = get_string(json, "label_strip_suffix");
  if (json.contains("column_aliases")) {
    const auto& a = json["column_aliases"];
    if (a.is_string()) {
      const std::string preset = a.get<std::string>();
      if (preset == "cicflowmeter") {
        s.column_aliases = cicflowmeter_aliases();
      } else {
        require(preset == "none", "schema: 'column_aliases' must be \"none\", \"cicflowmeter\" or an object (got {})",
                short_text(preset));
      }
    } else {
      require(a.is_object(), "schema: 'column_aliases' must be \"none\", \"cicflowmeter\" or an object (got {})",
              short_json(a));
      for (const auto& [from, to] : a.items()) {
        require(to.is_string(), "schema: the alias of {} in 'column_aliases' must be a string (got {})", short_text(from),
                short_json(to));
        s.column_aliases[from] = to.get<std::string>();
      }
    }
  }
  if (json.contains("bad_rows")) {
    const auto& b = json["bad_rows"];
    require(b.is_object(), "schema: 'bad_rows' must be an object (got {})", short_json(b));
    for (const auto& [key, value] : b.items()) {
      if (key == "bad_value") {
        s.bad_value = parse_policy<BadValuePolicy>(value, "bad_value", {{"zero", BadValuePolicy::zero}, {"skip_row", BadValuePolicy::skip_row}});
      } else if (key == "short_row") {
        s.short_row = parse_policy<ShortRowPolicy>(value, "short_row", {{"skip_row", ShortRowPolicy::skip_row}, {"zero", ShortRowPolicy::zero}});
      } else if (key == "long_row") {
        s.long_row = parse_policy<LongRowPolicy>(value, "long_row", {{"skip_row", LongRowPolicy::skip_row}, {"ignore_extra", LongRowPolicy::ignore_extra}});
      } else if (key == "bad_timestamp") {
        s.bad_timestamp = parse_policy<BadTimestampPolicy>(value, "bad_timestamp", {{"skip_row", BadTimestampPolicy::skip_row}, {"zero", BadTimestampPolicy::zero}});
      } else {
        fail("schema: unknown key {} in 'bad_rows' (known: bad_value, short_row, long_row, bad_timestamp)", short_text(key));
      }
    }
  }
  return s;
}

DatasetSchema load_schema_file(const std::filesystem::path& path) {
  const nlohmann::json json = read_json_bounded(path);
  try {
    DatasetSchema s = parse_schema(json);
    if (!json.contains("name")) s.name = path.stem().string();
    return s;
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

const std::map<std::string, std::string>& cicflowmeter_aliases() {
  // Canonical names are CICFlowMeter's own header (data_header_reference.csv of the improved
  // CIC-IDS2017 release). Left: original CIC-IDS2017 (MachineLearningCVE / TrafficLabelling,
  // after trimming spaces) and CSE-CIC-IDS2018 names.
  static const std::map<std::string, std::string> aliases{
      // CIC-IDS2017 original release.
      {"Source IP", "Src IP"},
      {"Source Port", "Src Port"},
      {"Destination IP", "Dst IP"},
      {"Destination Port", "Dst Port"},
      {"Total Fwd Packets", "Total Fwd Packet"},
      {"Total Backward Packets", "Total Bwd packets"},
      {"Total Length of Fwd Packets", "Total Length of Fwd Packet"},
      {"Total Length of Bwd Packets", "Total Length of Bwd Packet"},
      {"Min Packet Length", "Packet Length Min"},
      {"Max Packet Length", "Packet Length Max"},
      {"CWE Flag Count", "CWR Flag Count"},
      {"Avg Fwd Segment Size", "Fwd Segment Size Avg"},
      {"Avg Bwd Segment Size", "Bwd Segment Size Avg"},
      {"Fwd Avg Bytes/Bulk", "Fwd Bytes/Bulk Avg"},
      {"Fwd Avg Packets/Bulk", "Fwd Packet/Bulk Avg"},
      {"Fwd Avg Bulk Rate", "Fwd Bulk Rate Avg"},
      {"Bwd Avg Bytes/Bulk", "Bwd Bytes/Bulk Avg"},
      {"Bwd Avg Packets/Bulk", "Bwd Packet/Bulk Avg"},
      {"Bwd Avg Bulk Rate", "Bwd Bulk Rate Avg"},
      {"Init_Win_bytes_forward", "FWD Init Win Bytes"},
      {"Init_Win_bytes_backward", "Bwd Init Win Bytes"},
      {"act_data_pkt_fwd", "Fwd Act Data Pkts"},
      {"min_seg_size_forward", "Fwd Seg Size Min"},
      // CSE-CIC-IDS2018.
      {"Tot Fwd Pkts", "Total Fwd Packet"},
      {"Tot Bwd Pkts", "Total Bwd packets"},
      {"TotLen Fwd Pkts", "Total Length of Fwd Packet"},
      {"TotLen Bwd Pkts", "Total Length of Bwd Packet"},
      {"Fwd Pkt Len Max", "Fwd Packet Length Max"},
      {"Fwd Pkt Len Min", "Fwd Packet Length Min"},
      {"Fwd Pkt Len Mean", "Fwd Packet Length Mean"},
      {"Fwd Pkt Len Std", "Fwd Packet Length Std"},
      {"Bwd Pkt Len Max", "Bwd Packet Length Max"},
      {"Bwd Pkt Len Min", "Bwd Packet Length Min"},
      {"Bwd Pkt Len Mean", "Bwd Packet Length Mean"},
      {"Bwd Pkt Len Std", "Bwd Packet Length Std"},
      {"Flow Byts/s", "Flow Bytes/s"},
      {"Flow Pkts/s", "Flow Packets/s"},
      {"Fwd IAT Tot", "Fwd IAT Total"},
      {"Bwd IAT Tot", "Bwd IAT Total"},
      {"Fwd Header Len", "Fwd Header Length"},
      {"Bwd Header Len", "Bwd Header Length"},
      {"Fwd Pkts/s", "Fwd Packets/s"},
      {"Bwd Pkts/s", "Bwd Packets/s"},
      {"Pkt Len Min", "Packet Length Min"},
      {"Pkt Len Max", "Packet Length Max"},
      {"Pkt Len Mean", "Packet Length Mean"},
      {"Pkt Len Std", "Packet Length Std"},
      {"Pkt Len Var", "Packet Length Variance"},
      {"FIN Flag Cnt", "FIN Flag Count"},
      {"SYN Flag Cnt", "SYN Flag Count"},
      {"RST Flag Cnt", "RST Flag Count"},
      {"PSH Flag Cnt", "PSH Flag Count"},
      {"ACK Flag Cnt", "ACK Flag Count"},
      {"URG Flag Cnt", "URG Flag Count"},
      {"ECE Flag Cnt", "ECE Flag Count"},
      {"Pkt Size Avg", "Average Packet Size"},
      {"Fwd Seg Size Avg", "Fwd Segment Size Avg"},
      {"Bwd Seg Size Avg", "Bwd Segment Size Avg"},
      {"Fwd Byts/b Avg", "Fwd Bytes/Bulk Avg"},
      {"Fwd Pkts/b Avg", "Fwd Packet/Bulk Avg"},
      {"Fwd Blk Rate Avg", "Fwd Bulk Rate Avg"},
      {"Bwd Byts/b Avg", "Bwd Bytes/Bulk Avg"},
      {"Bwd Pkts/b Avg", "Bwd Packet/Bulk Avg"},
      {"Bwd Blk Rate Avg", "Bwd Bulk Rate Avg"},
      {"Subflow Fwd Pkts", "Subflow Fwd Packets"},
      {"Subflow Fwd Byts", "Subflow Fwd Bytes"},
      {"Subflow Bwd Pkts", "Subflow Bwd Packets"},
      {"Subflow Bwd Byts", "Subflow Bwd Bytes"},
      {"Init Fwd Win Byts", "FWD Init Win Bytes"},
      {"Init Bwd Win Byts", "Bwd Init Win Bytes"},
  };
  return aliases;
}

DatasetSchema cicflowmeter_schema() {
  DatasetSchema s;
  s.name = "cicflowmeter";
  s.label_column = "Label";
  s.benign_label = "BENIGN";
  // FSND-1: identifiers, ports and time are shortcuts, not features. `Fwd Header Length.1` is
  // the original CIC-IDS2017 duplicate of `Fwd Header Length`.
  s.drop_columns = {"id",     "Flow ID",   "Src IP",   "Src Port",           "Dst IP",
                    "Dst Port", "Timestamp", "Label",  "Attempted Category", "Fwd Header Length.1"};
  s.timestamp_column = "Timestamp";
  s.column_aliases = cicflowmeter_aliases();
  return s;
}

const std::vector<std::string>& kdd_feature_names() {
  static const std::vector<std::string> names{
      "duration",           "protocol_type",       "service",
      "flag",               "src_bytes",           "dst_bytes",
      "land",               "wrong_fragment",      "urgent",
      "hot",                "num_failed_logins",   "logged_in",
      "num_compromised",    "root_shell",          "su_attempted",
      "num_root",           "num_file_creations",  "num_shells",
      "num_access_files",   "num_outbound_cmds",   "is_host_login",
      "is_guest_login",     "count",               "srv_count",
      "serror_rate",        "srv_serror_rate",     "rerror_rate",
      "srv_rerror_rate",    "same_srv_rate",       "diff_srv_rate",
      "srv_diff_host_rate", "dst_host_count",      "dst_host_srv_count",
      "dst_host_same_srv_rate", "dst_host_diff_srv_rate", "dst_host_same_src_port_rate",
      "dst_host_srv_diff_host_rate", "dst_host_serror_rate", "dst_host_srv_serror_rate",
      "dst_host_rerror_rate", "dst_host_srv_rerror_rate"};
  return names;
}

DatasetSchema nslkdd_schema() {
  DatasetSchema s;
  s.name = "nslkdd";
  s.has_header = false;
  s.column_names = kdd_feature_names();
  s.column_names.push_back("label");
  s.column_names.push_back("difficulty");
  s.label_column = "label";
  s.benign_label = "normal";
  s.drop_columns = {"label", "difficulty"};
  s.categorical_columns = {"protocol_type", "service", "flag"};
  return s;
}

DatasetSchema kddcup99_schema() {
  DatasetSchema s;
  s.name = "kddcup99";
  s.has_header = false;
  s.column_names = kdd_feature_names();
  s.column_names.push_back("label");
  s.label_column = "label";
  s.label_strip_suffix = ".";
  s.benign_label = "normal";
  s.drop_columns = {"label"};
  s.categorical_columns = {"protocol_type", "service", "flag"};
  return s;
}

DatasetSchema zeek_schema() {
  DatasetSchema s;
  s.name = "zeek";
  s.format = DataFormat::zeek;
  s.label_column = "label";
  s.benign_label = "Benign";
  s.timestamp_column = "ts";
  // Free-text labels of labelled logs are never features (the label column itself is not one).
  s.drop_columns = {"detailedlabel", "Label", "label", "tunnel_parents"};
  s.categorical_columns = {"proto", "service", "conn_state"};
  return s;
}

bool is_schema_preset(const std::string& name) {
  for (const char* preset : {"cicflowmeter", "cicids2017", "cicids2018", "nslkdd", "nsl-kdd", "kddcup99", "kdd99", "zeek"})
    if (name == preset) return true;
  return false;
}

DatasetSchema schema_by_name_or_file(const std::string& name_or_path) {
  if (name_or_path == "cicflowmeter" || name_or_path == "cicids2017" || name_or_path == "cicids2018")
    return cicflowmeter_schema();
  if (name_or_path == "nslkdd" || name_or_path == "nsl-kdd") return nslkdd_schema();
  if (name_or_path == "kddcup99" || name_or_path == "kdd99") return kddcup99_schema();
  if (name_or_path == "zeek") return zeek_schema();
  std::error_code ec;
  require(std::filesystem::is_regular_file(name_or_path, ec),
          "unknown schema '{}': use cicflowmeter, nslkdd, kddcup99, zeek or the path of a JSON schema file",
          name_or_path);
  return load_schema_file(name_or_path);
}

}  // namespace metaids::data
