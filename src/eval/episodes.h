// FSND-1 test episodes, drawn once from the experiment's test seed and shared by every method
// and every meta-training seed (../shared/docs/PROTOCOL.md, "Episodes").
//
//   detection       2-way {benign = label 0, attack f = label 1}, f uniform over the meta-test
//                   families; K support and 15 query flows per class, disjoint
//   rare            the same with the rare families, K = 1, query = the rest of the family (at
//                   most 15) and 15 benign
//   classification  `ways`-way {benign = label 0, ways − 1 meta-test families drawn without
//                   replacement, in random order}; K support, 15 query per class
//
// A family with fewer than K + 1 rows cannot appear at that K and is left out of the draw
// (reported in skipped_families); one with fewer than K + 15 rows contributes all its
// remaining rows as queries.
//
// Episodes are streamed: an EpisodeStream draws them in order, a block at a time, from the
// setting's seed, and walking it again draws the same episodes. Memory holds one block, not
// the whole set (an episode is ~40 KB of features: 10⁶ of them, the documented maximum, would
// be 40 GB per setting).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "meta/task.h"

namespace metaids::eval {

enum class TaskKind { detection, classification, rare };
std::string to_string(TaskKind kind);
TaskKind task_kind_from_string(const std::string& name);

struct Setting {
  TaskKind task = TaskKind::detection;
  int shots = 5;
  bool operator==(const Setting&) const = default;
};

// Where test episodes come from: the transformed meta-test rows and the class ids of benign
// and of each family group (ids as in the table's labels).
struct EpisodeSource {
  meta::LabelledView table;
  int benign = -1;
  std::vector<int> test_families;
  std::vector<int> rare_families;
  std::vector<std::string> class_names;  // by class id, for reports
};

struct EpisodeSpec {
  int episodes = 1000;
  int query = 15;
  int classification_ways = 5;
  int rare_query_max = 15;
  std::uint64_t test_seed = 20260101;
};

inline constexpr int kMaxEpisodes = 1000000;  // per setting (config and --episodes)

// The seed of one setting's episodes: a fixed mix of the test seed, the task and K, so that
// adding or removing a setting never changes another setting's episodes.
// SplitMix64's finaliser: a well-mixed 64-bit value from any input (seeds derived from seeds).
std::uint64_t splitmix64(std::uint64_t x);
std::uint64_t setting_seed(std::uint64_t test_seed, Setting setting);

// The episodes of one setting, drawn on demand. Deterministic in (source, spec, setting).
class EpisodeStream {
 public:
  // Checks that the setting can be drawn (enough benign rows, enough families with K + 1
  // rows; throws metaids::Error otherwise) and notes the families left out. Draws nothing.
  // The table behind source.table must outlive the stream.
  EpisodeStream(EpisodeSource source, const EpisodeSpec& spec, Setting setting);

  const Setting& setting() const { return setting_; }
  int size() const { return spec_.episodes; }
  std::uint64_t seed() const { return setting_seed(spec_.test_seed, setting_); }
  const std::vector<std::string>& skipped_families() const { return skipped_families_; }
  // An upper bound on the bytes of one episode (its support and query rows and labels).
  std::size_t bytes_per_episode() const;

  // Draws episodes 0 … size() − 1 in order and calls fn(first, block) for consecutive blocks
  // of at most `block_size` of them (block[i] is episode first + i; fn may modify the block,
  // which is reused). Each call draws the same episodes.
  using BlockFn = std::function<void(int first, std::vector<meta::Task<float>>& block)>;
  void for_each_block(int block_size, const BlockFn& fn) const;
  // Every episode at once: for tests and small sets only.
  std::vector<meta::Task<float>> draw_all() const;

 private:
  EpisodeSource source_;
  EpisodeSpec spec_;
  Setting setting_;
  std::vector<int> pool_;  // families that can appear at this K
  int ways_ = 2;
  std::vector<std::string> skipped_families_;
};

// Episodes per block when solving `threads` at a time: as many as fit kEpisodeBlockBytes
// (64 MiB), at most 256, and never fewer than `threads`.
inline constexpr std::size_t kEpisodeBlockBytes = std::size_t{64} << 20;
int episode_block_size(std::size_t bytes_per_episode, int threads);

// A setting's episodes materialised (tests; small sets).
struct EpisodeSet {
  Setting setting;
  std::vector<meta::Task<float>> episodes;  // task.classes[i] = class id behind episode label i
  std::vector<std::string> skipped_families;
};

// Draws the episodes of one setting at once: EpisodeStream(source, spec, setting).draw_all().
EpisodeSet draw_episodes(const EpisodeSource& source, const EpisodeSpec& spec, Setting setting);

}  // namespace metaids::eval
