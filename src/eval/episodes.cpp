#include "eval/episodes.h"

#include <algorithm>
#include <utility>

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

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t setting_seed(std::uint64_t test_seed, Setting setting) {
  return splitmix64(splitmix64(test_seed ^ (static_cast<std::uint64_t>(setting.task) + 1) * 0x100000001b3ULL) ^
                    static_cast<std::uint64_t>(setting.shots));
}

EpisodeStream::EpisodeStream(EpisodeSource source, const EpisodeSpec& spec, Setting setting)
    : source_(std::move(source)), spec_(spec), setting_(setting) {
  require(spec.episodes >= 1 && spec.episodes <= kMaxEpisodes, "episodes per setting must be in [1, {}], got {}",
          kMaxEpisodes, spec.episodes);
  require(spec.query >= 1, "need at least one query flow per class, got {}", spec.query);
  require(setting.shots >= 1, "need at least one support flow per class (K >= 1), got {}", setting.shots);
  require(source_.benign >= 0, "the test table has no benign class");
  const bool rare = setting.task == TaskKind::rare;
  const std::vector<int>& pool_all = rare ? source_.rare_families : source_.test_families;
  std::vector<int> classes{source_.benign};
  classes.insert(classes.end(), pool_all.begin(), pool_all.end());
  const meta::EpisodeSampler sampler(source_.table, classes, setting_seed(spec.test_seed, setting));
  auto name_of = [&](int id) {
    return id >= 0 && static_cast<size_t>(id) < source_.class_names.size() ? source_.class_names[static_cast<size_t>(id)]
                                                                            : std::to_string(id);
  };
  require(sampler.rows_of(source_.benign) >= static_cast<std::int64_t>(setting.shots) + spec.query,
          "benign has {} meta-test rows, fewer than K + Q = {}", sampler.rows_of(source_.benign),
          static_cast<std::int64_t>(setting.shots) + spec.query);
  for (int f : pool_all) {
    if (sampler.rows_of(f) >= static_cast<std::int64_t>(setting.shots) + 1) {
      pool_.push_back(f);
    } else {
      skipped_families_.push_back(name_of(f));
    }
  }
  ways_ = setting.task == TaskKind::classification ? spec.classification_ways : 2;
  require(ways_ >= 2, "episodes need at least 2 ways");
  require(static_cast<int>(pool_.size()) >= ways_ - 1,
          "{} episodes at K = {} need {} families with at least K + 1 rows; only {} have", to_string(setting.task),
          setting.shots, ways_ - 1, pool_.size());
}

std::size_t EpisodeStream::bytes_per_episode() const {
  const int query = setting_.task == TaskKind::rare ? spec_.rare_query_max : spec_.query;
  const auto rows = static_cast<std::size_t>(ways_) * (static_cast<std::size_t>(setting_.shots) + static_cast<std::size_t>(query));
  return rows * (static_cast<std::size_t>(source_.table.features) * sizeof(float) + sizeof(int)) + sizeof(meta::Task<float>) +
         static_cast<std::size_t>(ways_) * sizeof(int);
}

void EpisodeStream::for_each_block(int block_size, const BlockFn& fn) const {
  require(block_size >= 1, "episode blocks need at least one episode, got {}", block_size);
  const bool rare = setting_.task == TaskKind::rare;
  const std::vector<int>& pool_all = rare ? source_.rare_families : source_.test_families;
  std::vector<int> classes{source_.benign};
  classes.insert(classes.end(), pool_all.begin(), pool_all.end());
  // A fresh sampler from the setting's seed: the draws below are the same on every walk.
  meta::EpisodeSampler sampler(source_.table, classes, seed());
  const int query = rare ? spec_.rare_query_max : spec_.query;
  auto& rng = sampler.rng();
  std::vector<meta::Task<float>> block;
  block.reserve(static_cast<size_t>(std::min(block_size, spec_.episodes)));
  std::vector<int> chosen;
  for (int first = 0; first < spec_.episodes; first += block_size) {
    const int count = std::min(block_size, spec_.episodes - first);
    block.clear();
    for (int e = 0; e < count; ++e) {
      // Partial Fisher-Yates: the first ways − 1 entries become the episode's attack labels 1….
      chosen = pool_;
      for (int i = 0; i < ways_ - 1; ++i) {
        std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), chosen.size() - 1);
        std::swap(chosen[static_cast<size_t>(i)], chosen[pick(rng)]);
      }
      chosen.resize(static_cast<size_t>(ways_ - 1));
      chosen.insert(chosen.begin(), source_.benign);
      // Negative query count: "the rest of the class, at most |query|" (only bites for small families).
      block.push_back(sampler.sample_classes(chosen, setting_.shots, -query));
    }
    fn(first, block);
  }
}

std::vector<meta::Task<float>> EpisodeStream::draw_all() const {
  std::vector<meta::Task<float>> all;
  all.reserve(static_cast<size_t>(spec_.episodes));
  for_each_block(spec_.episodes, [&](int, std::vector<meta::Task<float>>& block) {
    for (auto& task : block) all.push_back(std::move(task));
  });
  return all;
}

int episode_block_size(std::size_t bytes_per_episode, int threads) {
  constexpr std::size_t kMaxBlock = 256;
  const std::size_t fit = kEpisodeBlockBytes / std::max<std::size_t>(bytes_per_episode, 1);
  return static_cast<int>(std::max<std::size_t>(static_cast<std::size_t>(std::max(threads, 1)), std::min(fit, kMaxBlock)));
}

EpisodeSet draw_episodes(const EpisodeSource& source, const EpisodeSpec& spec, Setting setting) {
  const EpisodeStream stream(source, spec, setting);
  return EpisodeSet{setting, stream.draw_all(), stream.skipped_families()};
}

}  // namespace metaids::eval
