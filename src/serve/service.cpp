#include "serve/service.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <optional>

#include "core/atomic_file.h"
#include "detect/builtin_model.h"
#include "detect/collect.h"
#include "detect/eve.h"
#include "detect/flow_record.h"
#include "model/digest.h"
#include "model/scoring.h"

namespace metaids::serve {

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One scorer per thread, for the model it last scored with (a Scorer holds workspaces).
struct ThreadScorer {
  std::shared_ptr<const model::Model> model;
  std::optional<model::Scorer> scorer;
  model::Matrix<float> x;
  std::vector<model::Verdict> verdicts;
};

ThreadScorer& thread_scorer(const std::shared_ptr<const model::Model>& m) {
  thread_local ThreadScorer cache;
  if (cache.model != m) {
    cache.scorer.reset();
    cache.model = m;
    cache.scorer.emplace(*m);
  }
  return cache;
}

void append_flow_fields(std::string& out, const ScoredFlow& f) {
  fmt::format_to(std::back_inserter(out), "{{\"flow_id\":{},", f.id);
  if (f.record.line > 0) fmt::format_to(std::back_inserter(out), "\"line\":{},", f.record.line);
  out += "\"class\":";
  detect::append_json_string(out, f.reported);
  fmt::format_to(std::back_inserter(out), ",\"alert\":{},\"unknown\":{},\"score\":{:.6g},\"probability\":{:.6g}}}",
                 f.alert, f.unknown, f.margin, f.probability);
}

}  // namespace

Service::Service(ServiceOptions options, Log log) : options_(std::move(options)), log_(std::move(log)) {
  require(!options_.state.empty(), "--state DIR is required: the service keeps its model versions there");
  store_ = std::make_unique<VersionStore>(
      VersionStore::Options{.dir = options_.state, .keep = options_.keep_versions, .sync = options_.sync}, log_);
  std::shared_ptr<const model::Model> resumed;
  auto loaded = store_->resume([&](const VersionStore::Loaded& l) {
    resumed = std::make_shared<const model::Model>(
        model::from_file(model::decode_model(l.bytes, l.entry.file), (options_.state / l.entry.file).string()));
  });
  if (loaded) {
    if (!options_.model.empty())
      log_(fmt::format("serve: resuming version {} from {}; --model {} seeds an empty state only", loaded->entry.version,
                       options_.state.string(), options_.model));
    current_ = make_snapshot(std::move(resumed), std::make_shared<const std::string>(std::move(loaded->bytes)),
                             loaded->entry);
  } else {
    require(store_->entries().empty() || !options_.model.empty() || !detect::builtin_model_bytes().empty(),
            "no usable model version in {} and nothing to start from", options_.state.string());
    if (!store_->entries().empty())
      log_(fmt::format("serve: no stored version of {} can be used; starting again from {}", options_.state.string(),
                       options_.model.empty() ? std::string(detect::kBuiltinModelName) : options_.model));
    auto seed = std::make_shared<model::Model>(detect::load_model_or_builtin(options_.model));
    // The file as this build encodes it, so that the version served is model.version().
    auto bytes = std::make_shared<const std::string>(model::encode_model(model::to_file(*seed)));
    VersionEntry entry = store_->add(bytes, "initial", "", "");
    current_ = make_snapshot(std::move(seed), std::move(bytes), entry);
  }
  const size_t width = current_->layout.width();
  if (options_.recent_flows > 0)
    recent_ = std::make_unique<RecentFlows>(options_.recent_flows, std::max<size_t>(options_.recent_alerts, 1), width);
}

Service::~Service() = default;

std::shared_ptr<const ModelSnapshot> Service::make_snapshot(std::shared_ptr<const model::Model> m,
                                                            std::shared_ptr<const std::string> bytes,
                                                            VersionEntry entry) const {
  auto snap = std::make_shared<ModelSnapshot>();
  snap->layout = detect::input_layout(*m);
  snap->model = std::move(m);
  snap->bytes = std::move(bytes);
  snap->etag = "\"" + entry.sha256 + "\"";
  snap->entry = std::move(entry);
  return snap;
}

std::shared_ptr<const ModelSnapshot> Service::snapshot() const {
  std::lock_guard lock(current_mutex_);
  return current_;
}

void Service::publish(std::shared_ptr<const ModelSnapshot> snap) {
  std::lock_guard lock(current_mutex_);
  current_.swap(snap);
  // The old snapshot is released outside the lock, when `snap` goes (or by its last reader).
}

std::string Service::score(const FlowBatch& batch, const ModelSnapshot& snap) {
  const model::Model& m = *snap.model;
  const auto n = static_cast<Eigen::Index>(batch.size());
  const auto d = static_cast<Eigen::Index>(batch.width);
  require(d == m.features(), "internal error: rows of {} inputs for a model of {}", d, m.features());
  ThreadScorer& ts = thread_scorer(snap.model);
  ts.x.resize(d, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    std::copy_n(batch.raw.data() + j * d, d, ts.x.data() + j * d);
    m.transform.apply_row_in_place(std::span<float>(ts.x.data() + j * d, static_cast<size_t>(d)));
  }
  if (n > 0) ts.scorer->score(ts.x, ts.verdicts);
  const std::int64_t scored_us = now_us();
  std::vector<ScoredFlow> scored(static_cast<size_t>(n));
  std::map<std::string, std::uint64_t> alerts;
  std::uint64_t alert_count = 0, unknown = 0;
  for (Eigen::Index j = 0; j < n; ++j) {
    const model::Verdict& v = ts.verdicts[static_cast<size_t>(j)];
    ScoredFlow& f = scored[static_cast<size_t>(j)];
    const detect::FlowRecord& record = batch.records[static_cast<size_t>(j)];
    f.id = record.has_identity ? detect::eve_flow_id(record) : next_local_id_.fetch_add(1, std::memory_order_relaxed);
    f.record = record;
    f.reported = v.reported == model::Verdict::kUnknown ? std::string(model::kUnknownClass)
                                                        : m.classes[static_cast<size_t>(v.reported)].name;
    f.predicted = m.classes[static_cast<size_t>(v.predicted)].name;
    f.alert = v.alert;
    f.unknown = v.unknown;
    f.margin = v.margin;
    f.probability = v.probability;
    f.novelty = v.novelty;
    f.version = snap.entry.version;
    f.scored_us = scored_us;
    if (v.alert) {
      ++alert_count;
      ++alerts[f.reported];
    }
    if (v.unknown) ++unknown;
  }
  std::string out;
  out.reserve(static_cast<size_t>(n) * 110 + 200);
  fmt::format_to(std::back_inserter(out),
                 "{{\"version\":\"{}\",\"flows\":{},\"alerts\":{},\"unknown\":{},\"skipped\":{},\"bad_cells\":{},"
                 "\"results\":[",
                 snap.entry.version, n, alert_count, unknown, batch.report.skipped, batch.report.bad_cells);
  for (size_t j = 0; j < scored.size(); ++j) {
    if (j > 0) out += ',';
    append_flow_fields(out, scored[j]);
  }
  out += "]}\n";
  metrics_.add_scored(static_cast<std::uint64_t>(n), unknown, alerts);
  if (recent_) recent_->add(std::move(scored), batch.raw);
  return out;
}

nlohmann::json Service::adapt(const AdaptRequest& request, const ModelSnapshot& parsed_with, const std::string& client) {
  const auto started = std::chrono::steady_clock::now();
  std::lock_guard change(change_mutex_);
  const std::shared_ptr<const ModelSnapshot> current = snapshot();
  if (current->model->input_columns() != parsed_with.model->input_columns())
    throw RequestError(409, "the model changed while the request was read; send it again");
  const size_t width = current->layout.width();
  // The flows and their labels.
  std::vector<float> rows;
  std::vector<std::string> labels;
  nlohmann::json source;
  if (request.by_id()) {
    if (!recent_) throw RequestError(404, "this service keeps no recent flows (--recent-flows 0): send the rows");
    std::vector<ScoredFlow> found;
    std::vector<std::uint64_t> missing;
    recent_->find(request.flow_ids, rows, found, missing);
    if (!missing.empty()) {
      std::string list;
      for (size_t i = 0; i < missing.size() && i < 10; ++i) list += fmt::format("{}{}", i ? ", " : "", missing[i]);
      throw RequestError(404, fmt::format("{} of the {} flow ids are not among the flows scored recently: {}{}",
                                          missing.size(), request.flow_ids.size(), list, missing.size() > 10 ? ", …" : ""));
    }
    labels.assign(found.size(), request.label);
    source = {{"source", "service"}, {"client", client}, {"flow_ids", request.flow_ids}};
  } else {
    rows = request.flows.raw;
    for (const auto& r : request.flows.records) labels.push_back(request.label.empty() ? r.label : request.label);
    source = {{"source", "service"}, {"client", client}, {"rows", request.flows.size()}};
  }
  std::map<std::string, std::vector<size_t>> by_label;
  for (size_t i = 0; i < labels.size(); ++i) {
    auto& list = by_label[labels[i]];
    if (request.shots == 0 || list.size() < request.shots) list.push_back(i);
  }
  auto next = std::make_shared<model::Model>(*current->model);
  std::vector<std::string> added, extended;
  std::string label_list;
  size_t flows = 0, duplicates = 0, dropped = 0;
  try {
    for (const auto& [label, indices] : by_label) {
      data::FeatureMatrix raw(static_cast<Eigen::Index>(indices.size()), static_cast<Eigen::Index>(width));
      for (size_t k = 0; k < indices.size(); ++k)
        for (size_t c = 0; c < width; ++c)
          raw(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(c)) = rows[indices[k] * width + c];
      nlohmann::json event = source;
      event["k"] = indices.size();
      model::ClassInfo description = model::describe_class(label, 0, false);
      if (!request.category.empty()) description.category = request.category;
      if (request.severity > 0) description.severity = request.severity;
      // `next` is this request's own copy, thrown away if anything fails.
      const bool is_new = model::extend_support(*next, detect::transform_rows(*next, raw), label, event, &description,
                                                   options_.max_class_flows);
      (is_new ? added : extended).push_back(label);
      label_list += (label_list.empty() ? "" : ", ") + label;
      const nlohmann::json& done = next->history.back();
      flows += done.value("flows", size_t{0});
      duplicates += done.value("duplicates", size_t{0});
      dropped += done.value("dropped", size_t{0});
    }
  } catch (const RequestError&) {
    throw;
  } catch (const Error& e) {
    throw RequestError(422, fmt::format("the model cannot learn from these flows: {}", e.what()));
  }
  auto bytes = std::make_shared<const std::string>(model::encode_model(model::to_file(*next)));
  VersionEntry entry = store_->add(bytes, "adapt", label_list, current->entry.version);
  publish(make_snapshot(std::move(next), std::move(bytes), entry));
  metrics_.add_adaptation();
  const auto snap = snapshot();
  return {{"version", entry.version},
          {"previous", current->entry.version},
          {"seq", entry.seq},
          {"added", added},
          {"extended", extended},
          {"flows", flows},
          {"duplicates", duplicates},
          {"dropped", dropped},
          {"classes", snap->model->class_names()},
          {"elapsed_ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count()}};
}

nlohmann::json Service::rollback(const RollbackRequest& request) {
  std::lock_guard change(change_mutex_);
  const std::shared_ptr<const ModelSnapshot> current = snapshot();
  VersionStore::Loaded loaded = store_->load(request.version);
  std::shared_ptr<const model::Model> m;
  try {
    m = std::make_shared<const model::Model>(
        model::from_file(model::decode_model(loaded.bytes, loaded.entry.file), loaded.entry.file));
  } catch (const Error& e) {
    throw RequestError(409, fmt::format("version {} cannot be loaded: {}", loaded.entry.version, e.what()));
  }
  if (m->input_columns() != current->model->input_columns())
    throw RequestError(409, fmt::format("version {} reads other columns than the model in use", loaded.entry.version));
  store_->set_current(loaded.entry.version, "rollback");
  const std::string version = loaded.entry.version;
  publish(make_snapshot(std::move(m), std::make_shared<const std::string>(std::move(loaded.bytes)), loaded.entry));
  metrics_.add_rollback();
  return {{"version", version}, {"previous", current->entry.version}};
}

nlohmann::json Service::versions() const {
  const std::string current = store_->current();
  nlohmann::json list = nlohmann::json::array();
  const auto entries = store_->entries();
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    nlohmann::json e = it->to_json();
    e["current"] = it->version == current;
    list.push_back(std::move(e));
  }
  return {{"current", current}, {"versions", list}, {"log", store_->log()}};
}

nlohmann::json Service::model_info() const {
  const auto snap = snapshot();
  const model::Model& m = *snap->model;
  nlohmann::json classes = nlohmann::json::array();
  for (size_t k = 0; k < m.classes.size(); ++k) {
    const auto& c = m.classes[k];
    nlohmann::json j = {{"name", c.name},
                        {"signature_id", c.signature_id},
                        {"category", c.category},
                        {"severity", c.severity},
                        {"support", std::count(m.support_y.begin(), m.support_y.end(), static_cast<int>(k))}};
    j["threshold"] = k == 0 ? nlohmann::json(nullptr) : nlohmann::json(m.calibration.threshold_for(static_cast<int>(k)));
    classes.push_back(std::move(j));
  }
  nlohmann::json info = {{"version", snap->entry.version},
                         {"sha256", snap->entry.sha256},
                         {"seq", snap->entry.seq},
                         {"created", snap->entry.created},
                         {"algorithm", meta::to_string(m.config.algorithm)},
                         {"task", m.task},
                         {"inputs", m.features()},
                         {"columns", m.input_columns()},
                         {"classes", classes},
                         {"calibration", m.calibration.to_json()},
                         {"history", m.history.to_json()}};
  const nlohmann::json v = versions();
  info["versions"] = v["versions"];
  info["log"] = v["log"];
  return info;
}

nlohmann::json Service::flow_json(const ScoredFlow& f) {
  nlohmann::json j = {{"flow_id", f.id},
                      {"class", f.reported},
                      {"predicted", f.predicted},
                      {"alert", f.alert},
                      {"unknown", f.unknown},
                      {"score", f.margin},
                      {"probability", f.probability},
                      {"novelty", f.novelty},
                      {"version", f.version},
                      {"scored_at", detect::eve_timestamp(f.scored_us)}};
  const auto& r = f.record;
  if (r.end_us != 0 || r.start_us != 0) j["timestamp"] = detect::eve_timestamp(r.end_us != 0 ? r.end_us : r.start_us);
  if (r.has_identity) {
    j["src_ip"] = r.src_ip;
    j["src_port"] = r.src_port;
    j["dest_ip"] = r.dst_ip;
    j["dest_port"] = r.dst_port;
    j["proto"] = std::string(detect::eve_protocol(r.protocol));
  }
  if (r.line > 0) j["line"] = r.line;
  if (!r.label.empty()) j["label"] = r.label;
  return j;
}

nlohmann::json Service::alerts(const AlertFilter& filter, size_t limit) const {
  nlohmann::json list = nlohmann::json::array();
  if (recent_)
    for (const auto& f : recent_->alerts(filter, limit)) list.push_back(flow_json(f));
  return {{"alerts", list}};
}

nlohmann::json Service::flows(const std::string& host, const std::vector<std::uint64_t>& ids, size_t limit) const {
  nlohmann::json list = nlohmann::json::array();
  nlohmann::json missing = nlohmann::json::array();
  if (recent_) {
    if (!ids.empty()) {
      std::vector<float> rows;
      std::vector<ScoredFlow> found;
      std::vector<std::uint64_t> not_found;
      recent_->find(ids, rows, found, not_found);
      for (const auto& f : found) list.push_back(flow_json(f));
      missing = not_found;
    } else {
      for (const auto& f : recent_->flows(host, limit)) list.push_back(flow_json(f));
    }
  }
  return {{"flows", list}, {"missing", missing}};
}

nlohmann::json Service::flow_detail(std::uint64_t id) const {
  if (!recent_) throw RequestError(404, "this service keeps no recent flows");
  std::vector<float> rows;
  std::vector<ScoredFlow> found;
  std::vector<std::uint64_t> missing;
  recent_->find({id}, rows, found, missing);
  if (found.empty()) throw RequestError(404, fmt::format("flow {} is not among the flows scored recently", id));
  nlohmann::json j = flow_json(found.front());
  const auto snap = snapshot();
  const auto columns = snap->model->input_columns();
  nlohmann::json features = nlohmann::json::object();
  for (size_t c = 0; c < columns.size() && c < rows.size(); ++c) features[columns[c]] = rows[c];
  j["features"] = std::move(features);
  return j;
}

}  // namespace metaids::serve
