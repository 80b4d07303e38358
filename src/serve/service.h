// The detection service without its HTTP layer: the model in force and its versions, scoring,
// adaptation, rollback, the recent flows and alerts, the metrics. serve/http_server.h puts it
// on the network; tests drive it directly too.
//
//   Service service({.state = "/var/lib/metaids", .model = ""}, log);   // resumes or seeds
//   auto snap = service.snapshot();                  // the version in force (immutable)
//   std::string json = service.score(batch, *snap);  // verdicts; flows kept for adaptation
//   nlohmann::json r = service.adapt(request, *snap, "127.0.0.1");  // a new version, swapped in
//   service.rollback({"3f2a9c81d0e4"});
//
// Concurrency: scoring never waits for adaptation. Readers take the current snapshot (a
// std::shared_ptr<const ModelSnapshot>, copied under a mutex held for the copy only) and score
// with it; an adaptation copies the model, adapts the copy, writes it to the store, and only
// then swaps the pointer. Adaptations and rollbacks are serialised among themselves, so every
// version is made from the one before it.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "detect/flow_csv.h"
#include "model/model.h"
#include "serve/metrics.h"
#include "serve/recent_flows.h"
#include "serve/requests.h"
#include "serve/version_store.h"

namespace metaids::serve {

struct ServiceOptions {
  std::filesystem::path state;  // --state DIR
  std::string model;            // seeds an empty state (empty: the built-in model)
  size_t keep_versions = 100;
  VersionStore::Sync sync = VersionStore::Sync::background;
  size_t recent_flows = 65536;  // 0: keep none (adaptation from rows only)
  size_t recent_alerts = 10000;
  size_t max_class_flows = model::kDefaultMaxClassFlows;  // a class's most recent flows kept (0: all)
  RequestLimits limits;
};

// One model version, as scored with and served; never changes once published.
struct ModelSnapshot {
  std::shared_ptr<const model::Model> model;
  std::shared_ptr<const std::string> bytes;  // the model file, as GET /v1/model/file sends it
  VersionEntry entry;
  detect::InputLayout layout;
  std::string etag;  // "\"<sha256>\""
};

class Service {
 public:
  using Log = std::function<void(const std::string&)>;
  Service(ServiceOptions options, Log log);
  ~Service();

  std::shared_ptr<const ModelSnapshot> snapshot() const;

  // Scores the flows with `snap`'s model, keeps them among the recent flows, and returns the
  // response body: {"version", "flows", "alerts", "unknown", "skipped", "bad_cells",
  // "results": [{"flow_id", "line", "class", "alert", "unknown", "score", "probability"}...]}.
  std::string score(const FlowBatch& batch, const ModelSnapshot& snap);
  // A new version from labelled flows (RequestError 404 for flow ids not held, 422 for flows
  // the model cannot learn from); `parsed_with` is the snapshot whose layout parsed the rows.
  nlohmann::json adapt(const AdaptRequest& request, const ModelSnapshot& parsed_with, const std::string& client);
  nlohmann::json rollback(const RollbackRequest& request);

  nlohmann::json model_info() const;   // GET /v1/model
  nlohmann::json versions() const;     // GET /v1/versions
  nlohmann::json alerts(const AlertFilter& filter, size_t limit) const;
  nlohmann::json flows(const std::string& host, const std::vector<std::uint64_t>& ids, size_t limit) const;
  nlohmann::json flow_detail(std::uint64_t id) const;  // one flow with its features by column

  Metrics& metrics() { return metrics_; }
  const Metrics& metrics() const { return metrics_; }
  VersionStore& store() { return *store_; }
  const ServiceOptions& options() const { return options_; }

  // A ScoredFlow as the API shows it.
  static nlohmann::json flow_json(const ScoredFlow& flow);

 private:
  std::shared_ptr<const ModelSnapshot> make_snapshot(std::shared_ptr<const model::Model> model,
                                                     std::shared_ptr<const std::string> bytes,
                                                     VersionEntry entry) const;
  void publish(std::shared_ptr<const ModelSnapshot> snap);

  ServiceOptions options_;
  Log log_;
  std::unique_ptr<VersionStore> store_;
  std::unique_ptr<RecentFlows> recent_;
  Metrics metrics_;
  mutable std::mutex current_mutex_;  // held only to copy or replace current_
  std::shared_ptr<const ModelSnapshot> current_;
  std::mutex change_mutex_;  // adaptations and rollbacks, one at a time
  std::atomic<std::uint64_t> next_local_id_{std::uint64_t{1} << 51};
};

}  // namespace metaids::serve
