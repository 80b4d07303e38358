// Alerts as Suricata's EVE JSON lines, so that whatever reads Suricata's eve.json (jq, Filebeat,
// Logstash, Splunk's Suricata add-on, EveBox) reads metaids' alerts too. One record:
//
//   {"timestamp":"2023-11-14T22:13:21.250000+0000","flow_id":1718928291512345,
//    "event_type":"alert","src_ip":"203.0.113.7","src_port":51234,"dest_ip":"10.0.0.1",
//    "dest_port":22,"proto":"TCP","community_id":"1:…",
//    "alert":{"action":"allowed","gid":1,"signature_id":9100004,"rev":1,
//             "signature":"SSH-Patator","category":"Attempted User Privilege Gain","severity":1,
//             "metadata":{"score":["4.37"],"model_version":["3f2a…"]}},
//    "flow":{"pkts_toserver":9,"pkts_toclient":8,"bytes_toserver":1234,"bytes_toclient":2345,
//            "start":"2023-11-14T22:13:20.000000+0000","end":"2023-11-14T22:13:21.250000+0000"},
//    "metaids":{"class":"SSH-Patator","margin":4.37,"probability":0.98,"novelty":0.7,
//               "unknown":false,"line":12,"columns":"<hash>","features_b64":"AACAPw…"}}
//
// `event_type` "flow" records (--all-flows) have no "alert" object. Strings are escaped fully
// (control characters as \u00XX, invalid UTF-8 as U+FFFD), so no class name can break a line.
// `metaids.features_b64` are the flow's raw inputs in the model's column order (identified by
// `columns`, a hash of the column names), as little-endian float32 in base64: exact and
// compact; `metaids adapt --eve` learns from them.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "detect/eve_reader.h"
#include "detect/flow_record.h"
#include "model/model.h"
#include "model/scoring.h"

namespace metaids::detect {

// Appends `text` to `out` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view text);
// "2023-11-14T22:13:20.000000+0000" (UTC).
std::string eve_timestamp(std::int64_t microseconds);
void append_eve_timestamp(std::string& out, std::int64_t microseconds);
// Suricata's protocol name: "TCP", "UDP", "ICMP", "IPv6-ICMP", "SCTP", else the number.
std::string_view eve_protocol(std::uint8_t protocol);
// The 51-bit integer flow id of a flow (a hash of its 5-tuple and start time).
std::uint64_t eve_flow_id(const FlowRecord& record);
// 12 hex digits identifying a list of column names.
std::string columns_hash(const std::vector<std::string>& columns);

class EveFormatter {
 public:
  EveFormatter(const model::Model& model, bool include_features);
  // Appends one line (with '\n') for the flow: an alert when the verdict is one, else (when
  // `all_flows`) a flow record; nothing otherwise.
  void append(std::string& out, const FlowRecord& record, const model::Verdict& verdict, std::span<const float> raw,
              bool all_flows) const;
  // The name a verdict reports ("unknown" for the open set).
  const std::string& reported_name(const model::Verdict& verdict) const;

 private:
  std::vector<std::string> names_;  // the classes' names, by index
  bool include_features_;
  // Written once: the alert object up to its score, and the line's class field, per class.
  std::vector<std::string> alert_head_, class_field_;
  std::string unknown_alert_head_, unknown_class_field_, alert_tail_, features_head_;
};

// The output a detector appends EVE lines to: a file opened for appending (created 0640),
// standard output for "-" or an empty path, a FIFO or character device written directly.
// Every write() is of whole lines; a failed write (full disk, closed pipe) throws metaids::Error
// with the path and reason. reopen() closes and opens the path again (after log rotation).
// write() and reopen() may be called from different threads (a pipelined detector writes on its
// scoring thread; SIGHUP is handled on the capture thread).
class EveOutput {
 public:
  explicit EveOutput(std::string path);
  ~EveOutput();
  EveOutput(const EveOutput&) = delete;
  EveOutput& operator=(const EveOutput&) = delete;

  void write(std::string_view lines);
  void reopen();
  const std::string& path() const { return path_; }
  bool is_stdout() const { return fd_ == 1; }
  std::uint64_t bytes_written() const;

 private:
  void open();
  std::string path_;
  mutable std::mutex mutex_;  // write() against reopen()
  int fd_ = -1;
  std::uint64_t bytes_ = 0;
};

}  // namespace metaids::detect
