#include "data/experiment.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "core/error.h"
#include "data/json_input.h"
#include "data/loaders.h"

namespace metaids::data {

namespace {

void reject_unknown(const nlohmann::json& object, const std::string& where, const std::set<std::string>& known) {
  require(object.is_object(), "config: {} must be an object (got {})", where.empty() ? "the file" : "'" + where + "'",
          short_json(object));
  for (const auto& [key, value] : object.items())
    require(known.count(key) == 1, "config: unknown key {}{} (known: {})", short_text(key),
            where.empty() ? "" : " in '" + where + "'", fmt::join(known, ", "));
}

std::string get_string(const nlohmann::json& o, const char* key, const std::string& where) {
  const auto& v = o.at(key);
  require(v.is_string(), "config: '{}.{}' must be a string (got {})", where, key, short_json(v));
  return v.get<std::string>();
}

std::vector<std::string> get_strings(const nlohmann::json& o, const char* key, const std::string& where) {
  const auto& v = o.at(key);
  require(v.is_array(), "config: '{}.{}' must be an array of strings (got {})", where, key, short_json(v));
  std::vector<std::string> out;
  for (const auto& item : v) {
    require(item.is_string(), "config: '{}.{}' must be an array of strings (got {} in it)", where, key, short_json(item));
    out.push_back(item.get<std::string>());
  }
  return out;
}

int64_t get_integer(const nlohmann::json& o, const char* key, const std::string& where, int64_t low, int64_t high) {
  const auto& v = o.at(key);
  require(v.is_number_integer(), "config: '{}.{}' must be an integer (got {})", where, key, short_json(v));
  const auto value = v.get<int64_t>();
  require(value >= low && value <= high, "config: '{}.{}' = {} is out of range [{}, {}]", where, key, value, low, high);
  return value;
}

uint64_t get_seed(const nlohmann::json& v, const std::string& what) {
  require(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
          "config: '{}' must be a non-negative integer (got {})", what, short_json(v));
  return v.get<uint64_t>();
}

}  // namespace

nlohmann::json ExperimentConfig::to_json() const {
  nlohmann::json dataset{{"schema", schema}};
  if (!path.empty()) dataset["path"] = path;
  if (!train_path.empty()) dataset["train"] = train_path;
  if (!test_path.empty()) dataset["test"] = test_path;
  nlohmann::json split{{"kind", split_kind}};
  if (!benign_label.empty()) split["benign_label"] = benign_label;
  if (split_kind == "families") {
    split["meta_train_families"] = meta_train_families;
    split["meta_test_families"] = meta_test_families;
    split["rare_families"] = rare_families;
    split["benign_train_fraction"] = benign_train_fraction;
    if (benign_order != "time") split["benign_order"] = benign_order;  // the default is left out
  } else {
    split["min_family_rows"] = min_family_rows;
    if (!meta_train_families.empty()) split["meta_train_families"] = meta_train_families;
    if (!meta_test_families.empty()) split["meta_test_families"] = meta_test_families;
  }
  if (!validation_family.empty()) split["validation_family"] = validation_family;
  nlohmann::json j{{"name", name},
                   {"dataset", dataset},
                   {"split", split},
                   {"episodes",
                    {{"shots", episodes.shots},
                     {"query", episodes.query},
                     {"episodes", episodes.episodes},
                     {"classification_ways", episodes.classification_ways},
                     {"rare_shots", episodes.rare_shots},
                     {"rare_query_max", episodes.rare_query_max},
                     {"test_seed", episodes.test_seed}}},
                   {"seeds", seeds}};
  if (!description.empty()) j["description"] = description;
  if (!training.empty()) j["training"] = training;
  if (!methods.empty()) j["methods"] = methods;
  return j;
}

ExperimentConfig parse_experiment_config(const nlohmann::json& json) {
  reject_unknown(json, "", {"name", "description", "dataset", "split", "episodes", "seeds", "training", "methods"});
  require_json_depth(json, "config");  // before any copy or comparison, which would recurse
  ExperimentConfig c;
  require(json.contains("name") && json.contains("dataset") && json.contains("split"),
          "config: 'name', 'dataset' and 'split' are required");
  c.name = get_string(json, "name", "config");
  if (json.contains("description")) c.description = get_string(json, "description", "config");

  const auto& d = json["dataset"];
  reject_unknown(d, "dataset", {"schema", "path", "train", "test"});
  if (d.contains("schema")) c.schema = get_string(d, "schema", "dataset");
  if (d.contains("path")) c.path = get_string(d, "path", "dataset");
  if (d.contains("train")) c.train_path = get_string(d, "train", "dataset");
  if (d.contains("test")) c.test_path = get_string(d, "test", "dataset");

  const auto& s = json["split"];
  reject_unknown(s, "split",
                 {"kind", "benign_label", "meta_train_families", "meta_test_families", "rare_families",
                  "validation_family", "benign_train_fraction", "benign_order", "min_family_rows"});
  if (s.contains("kind")) c.split_kind = get_string(s, "kind", "split");
  require(c.split_kind == "families" || c.split_kind == "train_test_files",
          "config: 'split.kind' must be \"families\" or \"train_test_files\" (got {})", short_text(c.split_kind));
  if (s.contains("benign_label")) c.benign_label = get_string(s, "benign_label", "split");
  if (s.contains("meta_train_families")) c.meta_train_families = get_strings(s, "meta_train_families", "split");
  if (s.contains("meta_test_families")) c.meta_test_families = get_strings(s, "meta_test_families", "split");
  if (s.contains("rare_families")) c.rare_families = get_strings(s, "rare_families", "split");
  if (s.contains("validation_family")) c.validation_family = get_string(s, "validation_family", "split");
  if (s.contains("benign_train_fraction")) {
    const auto& v = s["benign_train_fraction"];
    require(v.is_number(), "config: 'split.benign_train_fraction' must be a number");
    c.benign_train_fraction = v.get<double>();
    require(c.benign_train_fraction > 0.0 && c.benign_train_fraction < 1.0,
            "config: 'split.benign_train_fraction' = {} must be in (0, 1)", c.benign_train_fraction);
  }
  if (s.contains("benign_order")) {
    c.benign_order = get_string(s, "benign_order", "split");
    require(c.benign_order == "time" || c.benign_order == "row",
            "config: 'split.benign_order' must be \"time\" or \"row\" (got {})", short_text(c.benign_order));
  }
  if (s.contains("min_family_rows"))
    c.min_family_rows = static_cast<int>(get_integer(s, "min_family_rows", "split", 1, 1000000000));
  if (c.split_kind == "families") {
    require(!c.path.empty(), "config: split kind \"families\" needs 'dataset.path'");
    require(!c.meta_train_families.empty() && !c.meta_test_families.empty(),
            "config: split kind \"families\" needs 'split.meta_train_families' and 'split.meta_test_families'");
  } else {
    require(!c.train_path.empty() && !c.test_path.empty(),
            "config: split kind \"train_test_files\" needs 'dataset.train' and 'dataset.test'");
    require(c.rare_families.empty(), "config: 'split.rare_families' applies to split kind \"families\" only");
    require(!s.contains("benign_order"), "config: 'split.benign_order' applies to split kind \"families\" only");
  }
  // No family in two groups.
  std::set<std::string> seen;
  for (const auto* group : {&c.meta_train_families, &c.meta_test_families, &c.rare_families})
    for (const auto& f : *group) {
      require(seen.insert(f).second, "config: family {} is listed twice", short_text(f));
      require(f != c.benign_label || c.benign_label.empty(), "config: the benign label {} is listed as a family",
              short_text(f));
    }
  if (!c.validation_family.empty() && !c.meta_train_families.empty())
    require(std::find(c.meta_train_families.begin(), c.meta_train_families.end(), c.validation_family) !=
                c.meta_train_families.end(),
            "config: validation family {} must be one of the meta-train families", short_text(c.validation_family));

  if (json.contains("episodes")) {
    const auto& e = json["episodes"];
    reject_unknown(e, "episodes",
                   {"shots", "query", "episodes", "classification_ways", "rare_shots", "rare_query_max", "test_seed"});
    if (e.contains("shots")) {
      require(e["shots"].is_array() && !e["shots"].empty(), "config: 'episodes.shots' must be a non-empty array (got {})",
              short_json(e["shots"]));
      c.episodes.shots.clear();
      std::set<int> seen_shots;
      for (const auto& k : e["shots"]) {
        require(k.is_number_integer() && k.get<int64_t>() >= 1 && k.get<int64_t>() <= 1000,
                "config: 'episodes.shots' entries must be integers in [1, 1000] (got {})", short_json(k));
        require(seen_shots.insert(k.get<int>()).second, "config: 'episodes.shots': K = {} is listed twice", k.get<int>());
        c.episodes.shots.push_back(k.get<int>());
      }
    }
    if (e.contains("query")) c.episodes.query = static_cast<int>(get_integer(e, "query", "episodes", 1, 10000));
    if (e.contains("episodes")) c.episodes.episodes = static_cast<int>(get_integer(e, "episodes", "episodes", 1, 1000000));
    if (e.contains("classification_ways"))
      c.episodes.classification_ways = static_cast<int>(get_integer(e, "classification_ways", "episodes", 2, 100));
    if (e.contains("rare_shots")) c.episodes.rare_shots = static_cast<int>(get_integer(e, "rare_shots", "episodes", 1, 100));
    if (e.contains("rare_query_max"))
      c.episodes.rare_query_max = static_cast<int>(get_integer(e, "rare_query_max", "episodes", 1, 10000));
    if (e.contains("test_seed")) c.episodes.test_seed = get_seed(e["test_seed"], "episodes.test_seed");
  }
  if (json.contains("seeds")) {
    require(json["seeds"].is_array() && !json["seeds"].empty(), "config: 'seeds' must be a non-empty array (got {})",
            short_json(json["seeds"]));
    require(json["seeds"].size() <= kMaxSeeds, "config: 'seeds' has {} entries; at most {} are allowed",
            json["seeds"].size(), kMaxSeeds);
    c.seeds.clear();
    std::set<uint64_t> seen_seeds;
    for (const auto& v : json["seeds"]) {
      c.seeds.push_back(get_seed(v, "seeds"));
      require(seen_seeds.insert(c.seeds.back()).second, "config: seed {} is listed twice in 'seeds'", c.seeds.back());
    }
  }
  if (json.contains("training")) {
    require(json["training"].is_object(), "config: 'training' must be an object (got {})", short_json(json["training"]));
    c.training = json["training"];
  }
  if (json.contains("methods")) {
    require(json["methods"].is_object() || json["methods"].is_array(), "config: 'methods' must be an object or array (got {})",
            short_json(json["methods"]));
    c.methods = json["methods"];
  }
  return c;
}

ExperimentConfig load_experiment_config(const std::filesystem::path& path) {
  const nlohmann::json json = read_json_bounded(path);
  ExperimentConfig c;
  try {
    c = parse_experiment_config(json);
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
  c.config_dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return c;
}

namespace {

std::string present_classes(const FeatureTable& t) {
  const auto counts = t.class_counts();
  std::vector<std::string> parts;
  for (size_t i = 0; i < counts.size(); ++i)
    if (counts[i] > 0) parts.push_back(fmt::format("{} ({})", t.class_names[i], counts[i]));
  return fmt::format("{}", fmt::join(parts, ", "));
}

size_t count_of(const FeatureTable& t, const std::vector<size_t>& counts, const std::string& label) {
  const int32_t id = t.class_id(label);
  return id < 0 ? 0 : counts[static_cast<size_t>(id)];
}

// Makes `b` use `a`'s class ids (both tables end with the same class_names).
void align_classes(FeatureTable& a, FeatureTable& b) {
  std::vector<int32_t> remap(b.class_names.size());
  for (size_t c = 0; c < b.class_names.size(); ++c) {
    int32_t id = a.class_id(b.class_names[c]);
    if (id < 0) {
      id = static_cast<int32_t>(a.class_names.size());
      a.class_names.push_back(b.class_names[c]);
    }
    remap[c] = id;
  }
  for (auto& id : b.class_ids) id = remap[static_cast<size_t>(id)];
  b.class_names = a.class_names;
}

DatasetSchema schema_for(const ExperimentConfig& c) {
  if (is_schema_preset(c.schema)) return schema_by_name_or_file(c.schema);
  std::filesystem::path p(c.schema);
  if (p.is_relative()) p = c.config_dir / p;
  return load_schema_file(p);
}

std::vector<size_t> rows_of(const FeatureTable& t, const std::vector<std::string>& labels) {
  std::vector<char> wanted(t.class_names.size(), 0);
  for (const auto& l : labels)
    if (const int32_t id = t.class_id(l); id >= 0) wanted[static_cast<size_t>(id)] = 1;
  std::vector<size_t> rows;
  for (size_t r = 0; r < t.rows(); ++r)
    if (wanted[static_cast<size_t>(t.class_ids[r])]) rows.push_back(r);
  return rows;
}

}  // namespace

FamilySplit split_by_families(const FeatureTable& table, const ExperimentConfig& config) {
  const std::string benign = config.benign_label.empty() ? table.benign_label : config.benign_label;
  const auto counts = table.class_counts();
  for (const auto* group : {&config.meta_train_families, &config.meta_test_families, &config.rare_families})
    for (const auto& f : *group)
      require(count_of(table, counts, f) > 0, "family '{}' has no rows in the data (classes present: {})", f,
              present_classes(table));
  const int32_t benign_id = table.class_id(benign);
  require(benign_id >= 0, "benign label '{}' has no rows in the data (classes present: {})", benign, present_classes(table));
  // Benign rows by time, ties by row order; or by row order alone ("benign_order": "row").
  std::vector<size_t> benign_rows = table.rows_of_class(benign);
  if (config.benign_order != "row") {
    require(table.has_timestamps(),
            "the benign time split needs timestamps, but the data has no timestamp column (set \"benign_order\": "
            "\"row\" in the config's \"split\" to split benign rows by their order in the files)");
    std::stable_sort(benign_rows.begin(), benign_rows.end(),
                     [&](size_t x, size_t y) { return table.timestamps[x] < table.timestamps[y]; });
  }
  const auto train_count = static_cast<size_t>(config.benign_train_fraction * static_cast<double>(benign_rows.size()));
  FamilySplit split;
  split.meta_train_rows.assign(benign_rows.begin(), benign_rows.begin() + static_cast<std::ptrdiff_t>(train_count));
  split.meta_test_rows.assign(benign_rows.begin() + static_cast<std::ptrdiff_t>(train_count), benign_rows.end());
  std::sort(split.meta_train_rows.begin(), split.meta_train_rows.end());
  std::sort(split.meta_test_rows.begin(), split.meta_test_rows.end());
  const auto train_family_rows = rows_of(table, config.meta_train_families);
  std::vector<std::string> test_families = config.meta_test_families;
  test_families.insert(test_families.end(), config.rare_families.begin(), config.rare_families.end());
  const auto test_family_rows = rows_of(table, test_families);
  split.meta_train_rows.insert(split.meta_train_rows.end(), train_family_rows.begin(), train_family_rows.end());
  split.meta_test_rows.insert(split.meta_test_rows.end(), test_family_rows.begin(), test_family_rows.end());
  std::sort(split.meta_train_rows.begin(), split.meta_train_rows.end());
  std::sort(split.meta_test_rows.begin(), split.meta_test_rows.end());
  return split;
}

ExperimentData prepare_experiment(const ExperimentConfig& config, const std::filesystem::path& data_dir) {
  ExperimentData d;
  d.config = config;
  const DatasetSchema schema = schema_for(config);
  const std::string benign = config.benign_label.empty() ? schema.benign_label : config.benign_label;
  if (config.split_kind == "families") {
    FeatureTable table = load_dataset(data_dir / config.path, schema);
    table.benign_label = benign;
    d.report = table.report;
    const FamilySplit split = split_by_families(table, config);
    d.meta_train = table.select_rows(split.meta_train_rows);
    d.meta_test = table.select_rows(split.meta_test_rows);
    d.meta_train_families = config.meta_train_families;
    d.meta_test_families = config.meta_test_families;
    d.rare_families = config.rare_families;
  } else {
    FeatureTable train = load_dataset(data_dir / config.train_path, schema);
    FeatureTable test = load_dataset(data_dir / config.test_path, schema);
    d.report = train.report;
    d.report.merge(test.report);
    const auto train_counts = train.class_counts();
    const auto test_counts = test.class_counts();
    const auto min_rows = static_cast<size_t>(config.min_family_rows);
    require(count_of(train, train_counts, benign) > 0, "benign label '{}' has no rows in {}", benign, config.train_path);
    require(count_of(test, test_counts, benign) > 0, "benign label '{}' has no rows in {}", benign, config.test_path);
    // The rule of PROTOCOL.md, or a check of the families listed.
    std::vector<std::string> train_families, test_families;
    for (size_t c = 0; c < train.class_names.size(); ++c)
      if (train.class_names[c] != benign && train_counts[c] >= min_rows) train_families.push_back(train.class_names[c]);
    for (size_t c = 0; c < test.class_names.size(); ++c)
      if (test.class_names[c] != benign && test_counts[c] >= min_rows && count_of(train, train_counts, test.class_names[c]) == 0)
        test_families.push_back(test.class_names[c]);
    if (!config.meta_train_families.empty()) {
      for (const auto& f : config.meta_train_families)
        require(std::find(train_families.begin(), train_families.end(), f) != train_families.end(),
                "meta-train family '{}' does not have {} rows in {}", f, min_rows, config.train_path);
      train_families = config.meta_train_families;
    }
    if (!config.meta_test_families.empty()) {
      // Listed: at least min_family_rows rows in the test file and not a meta-train family. Its
      // rows in the train file, if any, are never used (meta-train holds the meta-train
      // families and benign only), so a family may be listed that the rule would not pick
      // (the rotated split: configs/nslkdd-rotated.json).
      for (const auto& f : config.meta_test_families) {
        require(count_of(test, test_counts, f) >= min_rows, "meta-test family '{}' has {} rows in {}, fewer than {}", f,
                count_of(test, test_counts, f), config.test_path, min_rows);
        require(std::find(train_families.begin(), train_families.end(), f) == train_families.end(),
                "meta-test family '{}' is also a meta-train family", f);
      }
      test_families = config.meta_test_families;
    }
    require(!train_families.empty() && !test_families.empty(), "the split leaves no meta-train or no meta-test family");
    if (!config.validation_family.empty())
      require(std::find(train_families.begin(), train_families.end(), config.validation_family) != train_families.end(),
              "validation family '{}' is not a meta-train family ({})", config.validation_family,
              fmt::join(train_families, ", "));
    std::vector<std::string> train_labels = train_families, test_labels = test_families;
    train_labels.push_back(benign);
    test_labels.push_back(benign);
    d.meta_train = train.select_rows(rows_of(train, train_labels));
    d.meta_test = test.select_rows(rows_of(test, test_labels));
    d.meta_train.benign_label = benign;
    d.meta_test.benign_label = benign;
    align_classes(d.meta_train, d.meta_test);
    d.meta_train_families = train_families;
    d.meta_test_families = test_families;
  }
  d.validation_family = config.validation_family;
  d.benign_class = d.meta_train.class_id(benign);
  d.transform = FeatureTransform::fit(d.meta_train);
  d.meta_train_x = d.transform.apply(d.meta_train);
  d.meta_test_x = d.transform.apply(d.meta_test);
  d.training_data_hash = content_hash(d.meta_train);
  return d;
}

}  // namespace metaids::data
