#include "model/model.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>

#include "core/error.h"
#include "model/calibration.h"
#include "model/digest.h"

namespace metaids::model {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool contains_any(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* w : words)
    if (text.find(w) != std::string::npos) return true;
  return false;
}

template <typename Container>
bool all_finite(const Container& values) {
  for (const auto v : values)
    if (!std::isfinite(v)) return false;
  return true;
}


// Integer labels stored as floats: exact, in [0, limit).
std::vector<int> labels_from_tensor(const std::vector<float>& values, int limit, const std::string& what,
                                    const std::string& source) {
  std::vector<int> out;
  out.reserve(values.size());
  for (float v : values) {
    require(std::isfinite(v) && v >= 0 && v < static_cast<float>(limit) && std::floor(v) == v,
            "{}: {} holds {} where a label in [0, {}) belongs", source, what, v, limit);
    out.push_back(static_cast<int>(v));
  }
  return out;
}

std::vector<float> labels_to_tensor(const std::vector<int>& labels) { return {labels.begin(), labels.end()}; }

std::vector<float> matrix_values(const Matrix<float>& m) { return {m.data(), m.data() + m.size()}; }

}  // namespace

ClassInfo describe_class(const std::string& name, std::int64_t signature_id, bool benign) {
  ClassInfo info;
  info.name = name;
  info.signature_id = signature_id;
  if (benign) {
    info.category = "Not Suspicious Traffic";
    info.severity = 3;
    return info;
  }
  const std::string n = lower(name);
  if (contains_any(n, {"web attack", "sql", "xss", "injection", "traversal"})) {
    info.category = "Web Application Attack";
    info.severity = 1;
  } else if (contains_any(n, {"scan", "sweep", "fingerprint", "recon", "probe", "nmap", "satan", "mscan"})) {
    info.category = "Detection of a Network Scan";
    info.severity = 3;
  } else if (contains_any(n, {"dos", "flood", "slowloris", "slowhttp", "hulk", "goldeneye", "smurf", "neptune",
                              "teardrop", "land", "mailbomb", "apache2", "processtable"})) {
    info.category = "Attempted Denial of Service";
    info.severity = 2;
  } else if (contains_any(n, {"patator", "brute", "guess", "passwd", "password", "login"})) {
    info.category = "Attempted User Privilege Gain";
    info.severity = 1;
  } else if (contains_any(n, {"bot", "c2", "beacon", "trojan", "rat", "malware", "worm"})) {
    info.category = "A Network Trojan was detected";
    info.severity = 1;
  } else if (contains_any(n, {"infiltration", "exfil", "heartbleed", "leak"})) {
    info.category = "Attempted Information Leak";
    info.severity = 2;
  } else if (contains_any(n, {"overflow", "rootkit", "exploit", "shell"})) {
    info.category = "Attempted Administrator Privilege Gain";
    info.severity = 1;
  } else {
    info.category = "Potentially Bad Traffic";
    info.severity = 2;
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// Calibration

std::string Calibration::describe_thresholds() const {
  if (class_thresholds.size() < 2) return fmt::format("{:.4g}", threshold);
  const auto [low, high] = std::minmax_element(class_thresholds.begin() + 1, class_thresholds.end());
  return fmt::format("per class, {:.4g} to {:.4g}", *low, *high);
}

nlohmann::json Calibration::to_json() const {
  nlohmann::json j = {{"threshold", threshold},       {"target_fpr", target_fpr},
                      {"class_rate", class_rate},     {"reference_fpr", reference_fpr},
                      {"novelty_rate", novelty_rate}, {"target_unknown_rate", target_unknown_rate},
                      {"method", method}};
  j["novelty_threshold"] = std::isfinite(novelty_threshold) ? nlohmann::json(novelty_threshold) : nlohmann::json(nullptr);
  nlohmann::json per_class = nlohmann::json::array();
  for (size_t k = 0; k < class_thresholds.size(); ++k)
    per_class.push_back(k == 0 ? nlohmann::json(nullptr) : nlohmann::json(class_thresholds[k]));
  j["class_thresholds"] = per_class;
  return j;
}

Calibration Calibration::from_json(const nlohmann::json& j, size_t classes) {
  require(j.is_object(), "calibration must be an object");
  static const std::set<std::string> known{"threshold",    "class_thresholds", "target_fpr",          "class_rate",
                                           "reference_fpr", "novelty_threshold", "target_unknown_rate", "novelty_rate",
                                           "method"};
  for (const auto& [key, value] : j.items()) require(known.count(key) > 0, "unknown calibration field '{}'", key);
  Calibration c;
  try {
    c.threshold = j.at("threshold").get<double>();
    c.target_fpr = j.value("target_fpr", 0.0);
    c.class_rate = j.value("class_rate", 0.0);
    c.reference_fpr = j.value("reference_fpr", 0.0);
    c.novelty_rate = j.value("novelty_rate", 0.0);
    c.target_unknown_rate = j.value("target_unknown_rate", 0.0);
    c.method = j.value("method", std::string("default"));
    const auto& nt = j.at("novelty_threshold");
    c.novelty_threshold = nt.is_null() ? std::numeric_limits<double>::infinity() : nt.get<double>();
    if (j.contains("class_thresholds")) {
      const auto& per_class = j["class_thresholds"];
      require(per_class.is_array(), "calibration: class_thresholds must be an array");
      for (size_t k = 0; k < per_class.size(); ++k)
        c.class_thresholds.push_back(k == 0 ? 0.0 : per_class[k].get<double>());
    }
  } catch (const nlohmann::json::exception& e) {
    fail("calibration is incomplete or mistyped: {}", e.what());
  }
  require(std::isfinite(c.threshold), "the alert threshold is not a finite number");
  require(c.class_thresholds.empty() || c.class_thresholds.size() == classes,
          "calibration has {} class thresholds for {} classes", c.class_thresholds.size(), classes);
  for (double t : c.class_thresholds) require(std::isfinite(t), "a class threshold is not a finite number");
  for (double r : {c.target_fpr, c.class_rate, c.reference_fpr, c.novelty_rate, c.target_unknown_rate})
    require(std::isfinite(r) && r >= 0 && r <= 1, "calibration rates must be in [0, 1]");
  require(!std::isnan(c.novelty_threshold) && c.novelty_threshold >= 0, "the novelty threshold must be >= 0");
  static const std::set<std::string> methods{"default", "reference", "site", "manual"};
  require(methods.count(c.method) > 0, "unknown calibration method '{}'", c.method);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Model

const meta::DeployedState<float>& Model::state() const {
  require(state_ != nullptr, "internal error: the model was not adapted");
  return *state_;
}

void Model::adapt() {
  const auto learner = meta::make_learner<float>(config);
  require(phi.size() == learner->meta_parameter_count(), "{} meta-parameters stored, the {} network needs {}", phi.size(),
          meta::to_string(config.algorithm), learner->meta_parameter_count());
  require(support_group.empty() || support_group.size() == support_y.size(), "{} prototype groups for {} support flows",
          support_group.size(), support_y.size());
  meta::Scratch<float> scratch;
  const meta::Batch<float> support{support_x, support_y};
  // The state before the support changed, if any, lets the learner reuse what still holds.
  auto state = std::make_shared<meta::DeployedState<float>>(
      learner->deploy(phi, support, static_cast<int>(classes.size()), support_group, scratch, state_.get()));
  // Never fail open: a model that cannot score its own support says so now. A grown support is
  // checked on a sample (every column up to kCheck, then kCheck spread over it and the newest
  // kCheck), so that adapting a large model does not score all of it again.
  constexpr Eigen::Index kCheck = 256;
  const Eigen::Index n = support_x.cols();
  Matrix<float> sample;
  if (n <= 2 * kCheck) {
    sample = support_x;
  } else {
    sample.resize(support_x.rows(), 2 * kCheck);
    for (Eigen::Index i = 0; i < kCheck; ++i) sample.col(i) = support_x.col(i * (n - kCheck) / kCheck);
    sample.rightCols(kCheck) = support_x.rightCols(kCheck);
  }
  meta::DeployedState<float>::Workspace ws;
  Matrix<float> logits;
  Vector<float> novelty;
  state->score(sample, logits, novelty, ws);
  require(logits.allFinite() && novelty.allFinite() && state->group_scale().allFinite(),
          "the model cannot score: its adapted network gives non-finite values on its own reference flows");
  state_ = std::move(state);
}

std::vector<std::string> Model::class_names() const {
  std::vector<std::string> names;
  for (const auto& c : classes) names.push_back(c.name);
  return names;
}

int Model::class_index(const std::string& name) const {
  for (size_t i = 0; i < classes.size(); ++i)
    if (classes[i].name == name) return static_cast<int>(i);
  return -1;
}

std::vector<std::string> Model::input_columns() const {
  std::vector<std::string> names = transform.numeric_names();
  for (const auto& c : transform.categories()) names.push_back(c.column);
  return names;
}

std::string Model::version() const { return sha256_hex(encode_model(to_file(*this))).substr(0, 12); }

ModelFile to_file(const Model& m) {
  ModelFile file;
  file.header = m.header;
  nlohmann::json architecture = m.config.to_json();
  architecture["network_sizes"] = m.config.network_spec().sizes;
  file.header["architecture"] = architecture;
  file.header["algorithm"] = meta::to_string(m.config.algorithm);
  if (!file.header.contains("hyperparameters")) file.header["hyperparameters"] = nlohmann::json::object();
  if (!file.header.contains("metrics")) file.header["metrics"] = nlohmann::json::object();
  if (!file.header.contains("training_data_hash")) file.header["training_data_hash"] = "";
  file.header["transform"] = m.transform.to_json();
  file.header["feature_names"] = m.input_columns();
  file.header["class_names"] = m.class_names();
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : m.classes)
    classes.push_back({{"name", c.name}, {"signature_id", c.signature_id}, {"category", c.category},
                       {"severity", c.severity}});
  file.header["classes"] = classes;
  file.header["task"] = m.task;
  file.header["schema"] = m.schema.to_json();
  file.header["calibration"] = m.calibration.to_json();
  file.raw_arrays.emplace_back("history", m.history.texts());
  file.header["provenance"] = m.provenance;
  file.header["support"] = {{"flows", m.support_y.size()}, {"features", m.support_x.rows()}};
  file.header["reference"] = {{"flows", m.reference_y.size()}};
  file.tensors.push_back({"parameters", std::vector<float>(m.phi.data(), m.phi.data() + m.phi.size())});
  file.tensors.push_back({"support_x", matrix_values(m.support_x)});
  file.tensors.push_back({"support_y", labels_to_tensor(m.support_y)});
  std::vector<int> groups = m.support_group.empty() ? meta::default_groups(m.support_y) : m.support_group;
  file.tensors.push_back({"support_group", labels_to_tensor(groups)});
  file.tensors.push_back({"reference_x", matrix_values(m.reference_x)});
  file.tensors.push_back({"reference_y", labels_to_tensor(m.reference_y)});
  return file;
}

Model from_file(const ModelFile& file, const std::string& source) {
  Model m;
  const auto& h = file.header;
  std::vector<std::string> names;
  try {
    m.config = meta::LearnerConfig::from_json(h.at("architecture"));
    m.task = h.at("task").get<std::string>();
    names = h.at("class_names").get<std::vector<std::string>>();
    m.transform = data::FeatureTransform::from_json(h.at("transform"));
    m.schema = data::parse_schema(h.at("schema"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: the model header lacks what scoring needs (was it written by `metaids train`?): {}", source, e.what());
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  require(h.at("algorithm").get<std::string>() == meta::to_string(m.config.algorithm),
          "{}: the header says algorithm '{}' but its architecture is {}", source, h.at("algorithm").get<std::string>(),
          meta::to_string(m.config.algorithm));
  require(m.task == "detection" || m.task == "classification", "{}: unknown task '{}' (detection or classification)",
          source, m.task);
  // Classes.
  require(names.size() >= 2 && names.size() <= 65536, "{}: a model needs 2 to 65536 classes, this one has {}", source,
          names.size());
  std::set<std::string> seen;
  for (const auto& n : names) {
    require(!n.empty(), "{}: a class has an empty name", source);
    require(n != kUnknownClass, "{}: '{}' is reserved for flows far from every class", source, n);
    require(seen.insert(n).second, "{}: class '{}' appears twice", source, n);
  }
  if (h.contains("classes")) {
    const auto& cs = h["classes"];
    require(cs.is_array() && cs.size() == names.size(), "{}: 'classes' must describe each of the {} classes", source,
            names.size());
    std::set<std::int64_t> ids;
    for (size_t i = 0; i < cs.size(); ++i) {
      ClassInfo c;
      try {
        c.name = cs[i].at("name").get<std::string>();
        c.signature_id = cs[i].at("signature_id").get<std::int64_t>();
        c.category = cs[i].at("category").get<std::string>();
        c.severity = cs[i].at("severity").get<int>();
      } catch (const nlohmann::json::exception& e) {
        fail("{}: class {} is incomplete or mistyped: {}", source, i, e.what());
      }
      require(c.name == names[i], "{}: classes[{}] is '{}' but class_names says '{}'", source, i, c.name, names[i]);
      require(c.signature_id > 0 && c.signature_id != kUnknownSignatureId && ids.insert(c.signature_id).second,
              "{}: class '{}' has a missing, reserved or repeated signature id {}", source, c.name, c.signature_id);
      require(c.severity >= 1 && c.severity <= 4, "{}: class '{}' has severity {} (1 to 4)", source, c.name, c.severity);
      m.classes.push_back(std::move(c));
    }
  } else {
    for (size_t i = 0; i < names.size(); ++i)
      m.classes.push_back(describe_class(names[i], kUnknownSignatureId + 1 + static_cast<std::int64_t>(i), i == 0));
  }
  // Features and transform.
  const auto d = static_cast<Eigen::Index>(m.config.inputs);
  require(static_cast<Eigen::Index>(m.transform.output_dim()) == d, "{}: the transform gives {} features, the network takes {}",
          source, m.transform.output_dim(), d);
  require(h.at("feature_names").get<std::vector<std::string>>() == m.input_columns(),
          "{}: feature_names do not match the transform's input columns", source);
  require(all_finite(m.transform.mean()) && all_finite(m.transform.stddev()), "{}: the transform holds non-finite values",
          source);
  for (float s : m.transform.stddev()) require(s > 0, "{}: the transform has a standard deviation of {}", source, s);
  require(std::isfinite(m.transform.clip()) && m.transform.clip() > 0, "{}: the transform's clip is {}", source,
          m.transform.clip());
  // Parameters.
  const auto& phi = file.tensor("parameters").values;
  require(all_finite(phi), "{}: the network's parameters hold non-finite values (NaN or infinity)", source);
  m.phi = Eigen::Map<const Vector<float>>(phi.data(), static_cast<Eigen::Index>(phi.size()));
  // Support and reference flows.
  const int classes = static_cast<int>(m.classes.size());
  auto flows = [&](const char* xs, const char* ys, Matrix<float>& x, std::vector<int>& y) {
    const auto& yv = file.tensor(ys).values;
    const auto& xv = file.tensor(xs).values;
    require(xv.size() == yv.size() * static_cast<size_t>(d), "{}: {} has {} values for {} flows of {} features", source, xs,
            xv.size(), yv.size(), d);
    require(all_finite(xv), "{}: {} holds non-finite values", source, xs);
    x = Eigen::Map<const Matrix<float>>(xv.data(), d, static_cast<Eigen::Index>(yv.size()));
    y = labels_from_tensor(yv, classes, ys, source);
  };
  flows("support_x", "support_y", m.support_x, m.support_y);
  if (file.has_tensor("reference_x") || file.has_tensor("reference_y"))
    flows("reference_x", "reference_y", m.reference_x, m.reference_y);
  else
    m.reference_x.resize(d, 0);
  if (file.has_tensor("support_group")) {
    m.support_group = labels_from_tensor(file.tensor("support_group").values, 1 << 20, "support_group", source);
    require(m.support_group.size() == m.support_y.size(), "{}: {} prototype groups for {} support flows", source,
            m.support_group.size(), m.support_y.size());
  }
  for (int c = 0; c < classes; ++c)
    require(std::count(m.support_y.begin(), m.support_y.end(), c) > 0, "{}: class '{}' has no reference flows", source,
            m.classes[static_cast<size_t>(c)].name);
  // Calibration, history, provenance.
  try {
    if (h.contains("calibration")) m.calibration = Calibration::from_json(h["calibration"], m.classes.size());
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  if (h.contains("history")) m.history = History::from_json(h["history"], source);
  if (h.contains("provenance")) {
    require(h["provenance"].is_object(), "{}: provenance must be an object", source);
    m.provenance = h["provenance"];
  }
  m.header = h;
  for (const char* derived : {"architecture", "algorithm", "transform", "feature_names", "class_names", "classes", "task",
                              "schema", "calibration", "history", "provenance", "support", "reference", "format_version",
                              "metaids_version"})
    m.header.erase(derived);
  try {
    m.adapt();
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
  return m;
}

Model load(const std::filesystem::path& path) { return from_file(load_model(path), path.string()); }

void save(const std::filesystem::path& path, const Model& model) { save_model(path, to_file(model)); }

bool add_support(Model& model, const data::FeatureMatrix& rows, const std::string& label, nlohmann::json event,
                 const ClassInfo* description, size_t max_class_flows) {
  // Built on a copy and swapped in at the end: a failure leaves the model as it was.
  Model m = model;
  const bool added = extend_support(m, rows, label, std::move(event), description, max_class_flows);
  model = std::move(m);
  return added;
}

bool extend_support(Model& m, const data::FeatureMatrix& rows, const std::string& label, nlohmann::json event,
                    const ClassInfo* description, size_t max_class_flows) {
  require(!label.empty(), "the class label is empty");
  require(label != kUnknownClass, "'{}' is reserved for flows far from every class; choose another label", label);
  require(rows.rows() > 0, "no flows to adapt to");
  require(rows.cols() == m.support_x.rows(), "rows have {} features, the model takes {}", rows.cols(),
          m.support_x.rows());
  require(rows.allFinite(), "the flows to adapt to hold non-finite values");
  int index = m.class_index(label);
  const bool added = index < 0;
  std::int64_t next_id = kUnknownSignatureId + 1;
  for (const auto& c : m.classes) next_id = std::max(next_id, c.signature_id + 1);
  if (added) {
    ClassInfo info = description != nullptr ? *description : describe_class(label, next_id, false);
    info.name = label;
    if (info.signature_id <= 0) info.signature_id = next_id;
    m.classes.push_back(info);
    index = static_cast<int>(m.classes.size()) - 1;
  }
  // A new class is a prototype group of its own. More flows of a known class join its group
  // when it has one (the class mean, as FSND-1 adapts), or form a new one when it has several
  // (a calibrated benign class).
  std::vector<int> groups = m.support_group.empty() ? meta::default_groups(m.support_y) : m.support_group;
  int group = -1;
  size_t held = 0;  // the class's flows now
  if (!added) {
    std::set<int> class_groups;
    for (size_t j = 0; j < m.support_y.size(); ++j)
      if (m.support_y[j] == index) {
        class_groups.insert(groups[j]);
        ++held;
      }
    if (class_groups.size() == 1) group = *class_groups.begin();
  }
  const bool one_group = added || group >= 0;
  if (group < 0) group = groups.empty() ? 0 : *std::max_element(groups.begin(), groups.end()) + 1;
  // A flow already in the class's support (the same transformed row: labelled twice, by two
  // analysts or by one twice) is not added again, so that labelling it again does not weigh it
  // twice; a request with nothing new is refused.
  std::vector<Eigen::Index> fresh;
  fresh.reserve(static_cast<size_t>(rows.rows()));
  if (added) {
    for (Eigen::Index r = 0; r < rows.rows(); ++r) fresh.push_back(r);
  } else {
    const auto d = static_cast<size_t>(rows.cols());
    // A sum of the values' bits times odd constants: independent products the compiler
    // vectorises (a serial FNV chain over every support flow took a tenth of an adaptation at
    // 6 000 support flows); equal rows are then told apart by memcmp.
    std::vector<std::uint64_t> weights(d);
    for (size_t c = 0; c < d; ++c) weights[c] = 0x9e3779b97f4a7c15ULL * (2 * c + 1) | 1;
    auto row_hash = [d, &weights](const float* x) {
      std::uint64_t h = 0;
      for (size_t c = 0; c < d; ++c) {
        std::uint32_t bits = 0;
        std::memcpy(&bits, x + c, sizeof bits);
        h += bits * weights[c];
      }
      return h ^ (h >> 29);
    };
    // The new rows (a few) are looked up while the class's support is scanned once: no table
    // of the whole support is built per adaptation.
    const auto n_new = static_cast<size_t>(rows.rows());
    std::vector<float> new_rows(n_new * d);
    std::vector<std::uint64_t> new_hash(n_new);
    std::vector<char> seen(n_new, 0);
    for (size_t r = 0; r < n_new; ++r) {
      for (size_t c = 0; c < d; ++c) new_rows[r * d + c] = rows(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
      new_hash[r] = row_hash(new_rows.data() + r * d);
    }
    std::vector<std::pair<std::uint64_t, size_t>> by_hash(n_new);  // sorted: a binary search per column
    for (size_t r = 0; r < n_new; ++r) by_hash[r] = {new_hash[r], r};
    std::sort(by_hash.begin(), by_hash.end());
    for (size_t j = 0; j < m.support_y.size(); ++j) {
      if (m.support_y[j] != index) continue;
      const float* column = m.support_x.col(static_cast<Eigen::Index>(j)).data();
      const std::uint64_t h = row_hash(column);
      for (auto it = std::lower_bound(by_hash.begin(), by_hash.end(), std::pair<std::uint64_t, size_t>{h, 0});
           it != by_hash.end() && it->first == h; ++it)
        if (!seen[it->second] && std::memcmp(column, new_rows.data() + it->second * d, d * sizeof(float)) == 0)
          seen[it->second] = 1;
    }
    for (size_t r = 0; r < n_new; ++r)
      if (!seen[r]) fresh.push_back(static_cast<Eigen::Index>(r));
    require(!fresh.empty(), "all {} flows are already in the support of class '{}': nothing new to learn",
            rows.rows(), label);
  }
  const auto duplicates = rows.rows() - static_cast<Eigen::Index>(fresh.size());
  // The limit: the class keeps its most recent max_class_flows flows (support columns are in the
  // order they were added, so its first columns are its oldest).
  size_t dropped = 0;
  if (max_class_flows > 0 && one_group) {
    if (fresh.size() > max_class_flows) {
      dropped += fresh.size() - max_class_flows;
      fresh.erase(fresh.begin(), fresh.begin() + static_cast<std::ptrdiff_t>(fresh.size() - max_class_flows));
    }
    size_t excess = held + fresh.size() > max_class_flows ? held + fresh.size() - max_class_flows : 0;
    if (excess > 0) {
      dropped += excess;
      // Compacted in place, in order: the oldest `excess` columns of the class leave.
      Eigen::Index w = 0;
      for (Eigen::Index j = 0; j < m.support_x.cols(); ++j) {
        const auto jj = static_cast<size_t>(j);
        if (excess > 0 && m.support_y[jj] == index) {
          --excess;
          continue;
        }
        if (w != j) {
          m.support_x.col(w) = m.support_x.col(j);
          m.support_y[static_cast<size_t>(w)] = m.support_y[jj];
          groups[static_cast<size_t>(w)] = groups[jj];
        }
        ++w;
      }
      m.support_x.conservativeResize(Eigen::NoChange, w);
      m.support_y.resize(static_cast<size_t>(w));
      groups.resize(static_cast<size_t>(w));
    }
  }
  const auto kept = static_cast<Eigen::Index>(fresh.size());
  const Eigen::Index old_n = m.support_x.cols();
  m.support_x.conservativeResize(Eigen::NoChange, old_n + kept);
  for (Eigen::Index k = 0; k < kept; ++k) {
    m.support_x.col(old_n + k) = rows.row(fresh[static_cast<size_t>(k)]).transpose();
    m.support_y.push_back(index);
    groups.push_back(group);
  }
  m.support_group = std::move(groups);
  event["label"] = label;
  event["flows"] = kept;
  if (duplicates > 0) event["duplicates"] = duplicates;
  if (dropped > 0) event["dropped"] = dropped;
  event["new_class"] = added;
  m.adapt();
  if (!m.calibration.class_thresholds.empty()) {
    // The classes known already keep their thresholds; a new one gets its own at the same
    // per-class rate on the benign reference flows.
    if (added) {
      m.calibration.class_thresholds.push_back(class_threshold_for_rate(m, index, m.calibration.class_rate));
    } else {
      m.calibration.class_thresholds[static_cast<size_t>(index)] = class_threshold_for_rate(m, index, m.calibration.class_rate);
    }
    event["threshold"] = m.calibration.class_thresholds[static_cast<size_t>(index)];
  }
  m.history.push_back(history_event("adapt", std::move(event)));
  return added;
}

std::int64_t now_seconds() {
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch != nullptr && *epoch != '\0') {
    char* end = nullptr;
    const long long v = std::strtoll(epoch, &end, 10);
    require(end != nullptr && *end == '\0' && v >= 0, "SOURCE_DATE_EPOCH must be a number of seconds, got '{}'", epoch);
    return v;
  }
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string iso8601_utc(std::int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

namespace {

// The model file's header text: strict JSON, invalid UTF-8 replaced (model_file.cpp).
std::string header_json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

History History::from_json(const nlohmann::json& array, std::string_view source) {
  require(array.is_array(), "{}: history must be an array", source);
  History h;
  h.events_.reserve(array.size());
  for (const auto& e : array) h.push_back(e);
  return h;
}

void History::push_back(nlohmann::json event) {
  std::string text = header_json_text(event);
  events_.push_back(std::make_shared<const HistoryEvent>(HistoryEvent{std::move(event), std::move(text)}));
}

nlohmann::json History::to_json() const {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& e : events_) array.push_back(e->value);
  return array;
}

std::vector<std::shared_ptr<const std::string>> History::texts() const {
  std::vector<std::shared_ptr<const std::string>> out;
  out.reserve(events_.size());
  for (const auto& e : events_) out.emplace_back(e, &e->text);  // shares the event's ownership
  return out;
}

bool History::operator==(const History& other) const {
  return std::equal(begin(), end(), other.begin(), other.end());
}

nlohmann::json history_event(const std::string& name, nlohmann::json fields) {
  nlohmann::json e = {{"event", name}, {"time", iso8601_utc(now_seconds())}};
  if (fields.is_object())
    for (auto& [key, value] : fields.items()) e[key] = value;
  return e;
}

std::string describe(const Model& m, const ModelFile& file, const std::filesystem::path& path) {
  std::string out = describe_model(file, path);
  auto line = [&](std::string_view key, const std::string& value) { out += fmt::format("{:<20}{}\n", key, value); };
  line("version", m.version());
  line("task", m.task);
  for (size_t i = 0; i < m.classes.size(); ++i) {
    const auto& c = m.classes[i];
    const auto n = std::count(m.support_y.begin(), m.support_y.end(), static_cast<int>(i));
    const auto r = std::count(m.reference_y.begin(), m.reference_y.end(), static_cast<int>(i));
    line(i == 0 ? "class (benign)" : "class",
         fmt::format("{}: sid {}, {} (severity {}), {} support / {} reference flows", c.name, c.signature_id, c.category,
                     c.severity, n, r));
  }
  const auto& cal = m.calibration;
  line("calibration",
       fmt::format("{}: alert when attack margin >= {}{}; unknown when novelty > {}", cal.method, cal.describe_thresholds(),
                   cal.target_fpr > 0 ? fmt::format(" (for FPR {:g}, {:.4g} on reference flows)", cal.target_fpr,
                                                    cal.reference_fpr)
                                      : std::string(),
                   std::isfinite(cal.novelty_threshold) ? fmt::format("{:.4g} ({:.4g} of held-out flows)",
                                                                      cal.novelty_threshold, cal.novelty_rate)
                                                        : std::string("never")));
  for (const auto& e : m.history) {
    std::string text;
    for (const auto& [key, value] : e.items()) {
      if (key == "event" || key == "time") continue;
      text += fmt::format("{}{}={}", text.empty() ? "" : " ", key, value.is_string() ? value.get<std::string>() : value.dump());
    }
    line("history", fmt::format("{} {} {}", e.value("time", std::string("?")), e.value("event", std::string("?")), text));
  }
  return out;
}

}  // namespace metaids::model
