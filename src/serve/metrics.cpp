#include "serve/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace metaids::serve {

namespace {
// A Prometheus label value: backslash, quote and newline escaped.
std::string label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

const char* endpoint_name(Endpoint e) {
  switch (e) {
    case Endpoint::score: return "score";
    case Endpoint::adapt: return "adapt";
    case Endpoint::model: return "model";
    case Endpoint::model_file: return "model_file";
    case Endpoint::rollback: return "rollback";
    case Endpoint::versions: return "versions";
    case Endpoint::alerts: return "alerts";
    case Endpoint::flows: return "flows";
    case Endpoint::healthz: return "healthz";
    case Endpoint::metrics: return "metrics";
    case Endpoint::console: return "console";
    case Endpoint::other:
    case Endpoint::count: break;
  }
  return "other";
}

void Metrics::observe(Endpoint endpoint, int status, double seconds) {
  PerEndpoint& e = endpoints_[static_cast<size_t>(endpoint)];
  const int code = std::clamp(status / 100 - 2, 0, 3);
  e.by_code[static_cast<size_t>(code)].fetch_add(1, std::memory_order_relaxed);
  const auto bucket = static_cast<size_t>(std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin());
  e.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  e.sum_ns.fetch_add(static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e9), std::memory_order_relaxed);
}

std::uint64_t Metrics::requests(Endpoint endpoint) const {
  const PerEndpoint& e = endpoints_[static_cast<size_t>(endpoint)];
  std::uint64_t n = 0;
  for (const auto& c : e.by_code) n += c.load(std::memory_order_relaxed);
  return n;
}

void Metrics::add_scored(std::uint64_t flows, std::uint64_t unknown, const std::map<std::string, std::uint64_t>& alerts) {
  flows_.fetch_add(flows, std::memory_order_relaxed);
  unknown_.fetch_add(unknown, std::memory_order_relaxed);
  if (alerts.empty()) return;
  std::lock_guard lock(alerts_mutex_);
  for (const auto& [name, count] : alerts) alerts_[name] += count;
}

std::string Metrics::render(const std::string& version, size_t classes, std::uint64_t write_errors) const {
  std::string out;
  auto counter = [&out](const char* name, const char* help, std::uint64_t value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
  };
  counter("metaids_flows_scored_total", "Flows scored by the service.", flows_.load());
  out += "# HELP metaids_alerts_total Alerts by the class reported (unknown: far from every class).\n"
         "# TYPE metaids_alerts_total counter\n";
  {
    std::lock_guard lock(alerts_mutex_);
    for (const auto& [name, count] : alerts_)
      out += fmt::format("metaids_alerts_total{{class=\"{}\"}} {}\n", label_value(name), count);
  }
  counter("metaids_unknown_total", "Flows reported unknown.", unknown_.load());
  counter("metaids_adaptations_total", "Adaptations (new model versions).", adaptations_.load());
  counter("metaids_rollbacks_total", "Rollbacks to an earlier version.", rollbacks_.load());
  counter("metaids_version_write_errors_total",
          "Failed writes or syncs of versions under --state (the logged ones; such a version may not survive a "
          "restart).",
          write_errors);
  out += fmt::format("# HELP metaids_model_info The model version in use.\n# TYPE metaids_model_info gauge\n"
                     "metaids_model_info{{version=\"{}\"}} 1\n"
                     "# HELP metaids_model_classes Classes the model in use knows (benign included).\n"
                     "# TYPE metaids_model_classes gauge\nmetaids_model_classes {}\n",
                     label_value(version), classes);
  out += "# HELP metaids_http_requests_total HTTP requests by endpoint and status class.\n"
         "# TYPE metaids_http_requests_total counter\n";
  static constexpr const char* kCodes[] = {"2xx", "3xx", "4xx", "5xx"};
  for (size_t i = 0; i < endpoints_.size(); ++i)
    for (size_t c = 0; c < 4; ++c)
      if (const auto n = endpoints_[i].by_code[c].load(); n > 0)
        out += fmt::format("metaids_http_requests_total{{endpoint=\"{}\",code=\"{}\"}} {}\n",
                           endpoint_name(static_cast<Endpoint>(i)), kCodes[c], n);
  out += "# HELP metaids_http_request_duration_seconds Time in the request handler.\n"
         "# TYPE metaids_http_request_duration_seconds histogram\n";
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const PerEndpoint& e = endpoints_[i];
    const char* name = endpoint_name(static_cast<Endpoint>(i));
    std::uint64_t cumulative = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += e.buckets[b].load();
      out += fmt::format("metaids_http_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"{:g}\"}} {}\n", name,
                         kBuckets[b], cumulative);
    }
    cumulative += e.buckets.back().load();
    out += fmt::format("metaids_http_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"+Inf\"}} {}\n", name,
                       cumulative);
    out += fmt::format("metaids_http_request_duration_seconds_sum{{endpoint=\"{}\"}} {:.9f}\n", name,
                       static_cast<double>(e.sum_ns.load()) / 1e9);
    out += fmt::format("metaids_http_request_duration_seconds_count{{endpoint=\"{}\"}} {}\n", name, cumulative);
  }
  return out;
}

}  // namespace metaids::serve
