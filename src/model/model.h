// The loadable model: everything a detector needs to score flows, in one file that anyone can
// load without the evaluation code (the FSND-1 runner and XGBoost are never linked by it).
//
//   Model m = load("ids.mids");               // validates every value, then adapts once
//   Scorer scorer(m);                          // per thread; reuses m's adapted state
//   scorer.score(x, verdicts);                 // x: transformed flows (features × n)
//   add_support(m, rows, "New attack", rec);   // adaptation: the learner re-adapts once
//   save("ids2.mids", m);                      // atomic
//
// What a model holds:
//   network      the learner's configuration and meta-parameters φ
//   transform    the fitted feature transform, the schema its CSV inputs are read with
//   classes      index 0 is benign; each with its EVE signature id, category and severity
//   support      labelled reference flows (transformed) the learner adapts to, each with a
//                prototype group (ProtoNet: one prototype per group; default one per class)
//   reference    held-out labelled flows, never in the support: benign ones set the alert
//                threshold for a false-positive rate; all of them calibrate the open set
//   calibration  the alert threshold and the novelty threshold, and how they were set
//   history      every event that made the model what it is (train, adapt, calibrate)
//   provenance   the command, data hash, config and versions that produced it
//
// The adapted state (meta/deployment.h) is computed from the support when a model is loaded,
// adapted or calibrated, never per batch.
#pragma once

#include <cstddef>
#include <filesystem>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "data/feature_table.h"
#include "data/schema.h"
#include "data/transform.h"
#include "meta/deployment.h"
#include "meta/learner.h"
#include "model/model_file.h"

namespace metaids::model {

// A model's history: its events (JSON objects) in order. A copy shares the events with the
// original, and each event keeps the JSON text the model file holds, so that the service's
// copy of a model per adaptation, and the version file it writes, do not copy or serialise
// again a history that grows by one event per version (at 1 400 versions that was most of an
// adaptation's time).
struct HistoryEvent {
  nlohmann::json value;
  std::string text;  // value as the model file writes it
};

class History {
 public:
  // The model file's "history" array; throws metaids::Error (naming `source`) for anything else.
  static History from_json(const nlohmann::json& array, std::string_view source);
  void push_back(nlohmann::json event);
  size_t size() const { return events_.size(); }
  bool empty() const { return events_.empty(); }
  const nlohmann::json& operator[](size_t i) const { return events_[i]->value; }
  const nlohmann::json& back() const { return events_.back()->value; }
  nlohmann::json to_json() const;
  // The events' JSON text, as written in the model file.
  std::vector<std::shared_ptr<const std::string>> texts() const;
  bool operator==(const History& other) const;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = nlohmann::json;
    using difference_type = std::ptrdiff_t;
    using pointer = const nlohmann::json*;
    using reference = const nlohmann::json&;
    const_iterator() = default;
    reference operator*() const { return (*it_)->value; }
    pointer operator->() const { return &(*it_)->value; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++it_;
      return old;
    }
    bool operator==(const const_iterator& other) const { return it_ == other.it_; }

   private:
    friend class History;
    using Base = std::vector<std::shared_ptr<const HistoryEvent>>::const_iterator;
    explicit const_iterator(Base it) : it_(it) {}
    Base it_;
  };
  const_iterator begin() const { return const_iterator(events_.begin()); }
  const_iterator end() const { return const_iterator(events_.end()); }

 private:
  std::vector<std::shared_ptr<const HistoryEvent>> events_;
};

using meta::Matrix;
using meta::Vector;

// How an alert of a class reads in EVE (`alert.signature_id`, `category`, `severity`).
struct ClassInfo {
  std::string name;
  std::int64_t signature_id = 0;
  std::string category;
  int severity = 2;  // 1 high … 3 low, as Suricata's priorities
  bool operator==(const ClassInfo&) const = default;
};

// Suricata-style category and severity guessed from a class name ("DoS Hulk" → "Attempted
// Denial of Service", 2); the benign class gets "Not Suspicious Traffic", 3.
ClassInfo describe_class(const std::string& name, std::int64_t signature_id, bool benign);
// The pseudo-class of flows far from every known class.
inline constexpr const char* kUnknownClass = "unknown";
inline constexpr std::int64_t kUnknownSignatureId = 9100000;

struct Calibration {
  // Alert on attack class k when its margin, the log-odds against benign (logit_k − logit_0),
  // is at least its threshold t_k: class_thresholds[k] when they are set (index 0, benign,
  // unused), else `threshold` for every class (0: whichever is more likely). When both are
  // set, `threshold` is the one shared threshold for the target rate (on the largest margin)
  // and no class threshold is below it.
  double threshold = 0.0;
  std::vector<double> class_thresholds;
  // Set for a false-positive rate: each class's threshold lets the same share `class_rate` of
  // the benign reference flows through, the largest share at which all classes together stay
  // within `target_fpr`; `reference_fpr` is the rate they give together on those flows. A class
  // added later gets its threshold at `class_rate`, and the others keep theirs.
  double target_fpr = 0.0;
  double class_rate = 0.0;
  double reference_fpr = 0.0;
  // A flow whose novelty (meta/deployment.h) exceeds this is "unknown" (infinity: never).
  double novelty_threshold = std::numeric_limits<double>::infinity();
  double novelty_rate = 0.0;     // the share of held-out known-class flows flagged unknown by it
  double target_unknown_rate = 0.0;  // the share it was set for (0: set directly or never)
  std::string method = "default";  // default | reference | site | manual

  double threshold_for(int k) const {
    return class_thresholds.empty() ? threshold : class_thresholds[static_cast<size_t>(k)];
  }
  // "t = 0.5" or "per class, 1.2 to 4.7"
  std::string describe_thresholds() const;
  nlohmann::json to_json() const;
  static Calibration from_json(const nlohmann::json& json, size_t classes);  // validates
};

class Model {
 public:
  meta::LearnerConfig config;
  Vector<float> phi;
  std::string task = "detection";  // detection | classification
  std::vector<ClassInfo> classes;  // 0 is benign
  Matrix<float> support_x;         // (features × n) transformed
  std::vector<int> support_y;
  std::vector<int> support_group;  // one per support flow (prototype group)
  Matrix<float> reference_x;       // (features × m) transformed, held out of the support
  std::vector<int> reference_y;
  data::FeatureTransform transform;
  data::DatasetSchema schema;
  Calibration calibration;
  History history;
  nlohmann::json provenance = nlohmann::json::object();
  nlohmann::json header = nlohmann::json::object();  // hyperparameters, metrics, anything else kept

  // The learner's adapted state for the current support; recomputed by adapt().
  const meta::DeployedState<float>& state() const;
  std::shared_ptr<const meta::DeployedState<float>> shared_state() const { return state_; }
  // Re-runs the learner's adaptation on the support (after the support changed) and checks
  // that the result can score (finite logits and novelty on the support): never fails open.
  void adapt();

  int benign() const { return 0; }
  std::vector<std::string> class_names() const;
  int class_index(const std::string& name) const;  // -1 if unknown
  int features() const { return config.inputs; }
  // The CSV input columns the transform reads (numeric, then categorical).
  std::vector<std::string> input_columns() const;
  // A version string: the first 12 hex digits of the SHA-256 of the encoded file.
  std::string version() const;

 private:
  std::shared_ptr<const meta::DeployedState<float>> state_;
};

// File round trip. from_file validates every value (finite parameters and reference rows,
// known algorithm and task, unique non-empty class names, feature names equal to the
// transform's inputs, labels and groups in range, calibration values) and adapts.
ModelFile to_file(const Model& model);
Model from_file(const ModelFile& file, const std::string& source = "model");
Model load(const std::filesystem::path& path);
void save(const std::filesystem::path& path, const Model& model);

// Appends labelled transformed rows (rows × features) to the support as class `label` (a new
// class when not known yet, with the given or guessed EVE description), records the event in
// the history and re-adapts. A new class gets its own threshold at the calibration's per-class
// rate on the benign reference flows; the thresholds of the classes known already stay as they
// are. A flow already in the class's support (the same transformed row) is not added again
// (the event counts it under "duplicates"; "flows" counts those added); when every flow is, it
// is an error. With `max_class_flows` > 0, a class of one prototype group (every class an
// analyst adds, and the learnt ones) keeps its most recent max_class_flows flows: the oldest
// leave its support (the event counts them under "dropped"), so that a class labelled again
// and again does not grow the model, its files and each adaptation's cost without bound; a
// class of several groups (a site's calibrated benign class) is not limited. Returns true when
// the class is new. On failure (an exception) the model is left as it was.
bool add_support(Model& model, const data::FeatureMatrix& rows, const std::string& label, nlohmann::json event,
                 const ClassInfo* description = nullptr, size_t max_class_flows = 0);
// The same, on a model the caller throws away when it fails (a copy it made already): no copy
// of its own, and `m` is left part-changed on failure.
bool extend_support(Model& m, const data::FeatureMatrix& rows, const std::string& label, nlohmann::json event,
                    const ClassInfo* description = nullptr, size_t max_class_flows = 0);
// The default limit of `adapt` and `serve` (--max-class-flows).
inline constexpr size_t kDefaultMaxClassFlows = 1024;

// One history event: {"event": name, "time": now (or $SOURCE_DATE_EPOCH), ...fields}.
nlohmann::json history_event(const std::string& name, nlohmann::json fields);
// ISO 8601 UTC time of `seconds` since the epoch, "2026-12-07T08:00:00Z".
std::string iso8601_utc(std::int64_t seconds);
// Now, or $SOURCE_DATE_EPOCH when it is set (reproducible files).
std::int64_t now_seconds();

// Human-readable summary (what `metaids info` prints): metadata, classes, calibration and
// every history event.
std::string describe(const Model& model, const ModelFile& file, const std::filesystem::path& path);

}  // namespace metaids::model
