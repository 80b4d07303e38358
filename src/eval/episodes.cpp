#include "eval/episodes.h"

#include <algorithm>

#include "core/error.h"

namespace metaids::eval {

std::string to_string(TaskKind kind) {
  switch (kind) {
    case TaskKind::detection: return "detection";
    case TaskKind::classification: return "classification";
    case TaskKind::rare: return "rare";
  }
  return "?";
}

TaskKind task_kind_from_string(const std::string& name) {
  if (name == "detection") return TaskKind::detection;
  if (name == "classification") return TaskKind::classification;
  if (name == "rare") return TaskKind::rare;
  fail("unknown task '{}' (expected detection, classification or rare)", name);
}

namespace {
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

std::uint64_t setting_seed(std::uint64_t test_seed, Setting setting) {
  return splitmix64(splitmix64(test_seed ^ (static_cast<std::uint64_t>(setting.task) + 1) * 0x100000001b3ULL) ^
                    static_cast<std::uint64_t>(setting.shots));
}

EpisodeSet draw_episodes(const EpisodeSource& source, const EpisodeSpec& spec, Setting setting) {
  require(spec.episodes >= 1, "need at least one episode per setting, got {}", spec.episodes);
  require(spec.query >= 1, "need at least one query flow per class, got {}", spec.query);
  require(source.benign >= 0, "the test table has no benign class");
  EpisodeSet set;
  set.setting = setting;
  const bool rare = setting.task == TaskKind::rare;
  const std::vector<int>& pool_all = rare ? source.rare_families : source.test_families;
  std::vector<int> classes{source.benign};
  classes.insert(classes.end(), pool_all.begin(), pool_all.end());
  meta::EpisodeSampler sampler(source.table, classes, setting_seed(spec.test_seed, setting));
  auto name_of = [&](int id) {
    return id >= 0 && static_cast<size_t>(id) < source.class_names.size() ? source.class_names[static_cast<size_t>(id)]
                                                                           : std::to_string(id);
  };
  require(sampler.rows_of(source.benign) >= setting.shots + spec.query,
          "benign has {} meta-test rows, fewer than K + Q = {}", sampler.rows_of(source.benign), setting.shots + spec.query);
  std::vector<int> pool;
  for (int f : pool_all) {
    if (sampler.rows_of(f) >= setting.shots + 1) {
      pool.push_back(f);
    } else {
      set.skipped_families.push_back(name_of(f));
    }
  }
  const int ways = setting.task == TaskKind::classification ? spec.classification_ways : 2;
  require(ways >= 2, "episodes need at least 2 ways");
  require(static_cast<int>(pool.size()) >= ways - 1, "{} episodes at K = {} need {} families with at least K + 1 rows; only {} have",
          to_string(setting.task), setting.shots, ways - 1, pool.size());
  const int query = rare ? spec.rare_query_max : spec.query;
  auto& rng = sampler.rng();
  set.episodes.reserve(static_cast<size_t>(spec.episodes));
  for (int e = 0; e < spec.episodes; ++e) {
    // Partial Fisher-Yates: the first ways − 1 entries become the episode's attack labels 1….
    std::vector<int> chosen = pool;
    for (int i = 0; i < ways - 1; ++i) {
      std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), chosen.size() - 1);
      std::swap(chosen[static_cast<size_t>(i)], chosen[pick(rng)]);
    }
    chosen.resize(static_cast<size_t>(ways - 1));
    chosen.insert(chosen.begin(), source.benign);
    // Negative query count: "the rest of the class, at most |query|" (only bites for small families).
    set.episodes.push_back(sampler.sample_classes(chosen, setting.shots, -query));
  }
  return set;
}

}  // namespace metaids::eval
