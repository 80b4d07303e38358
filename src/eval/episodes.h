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
// (reported in EpisodeSet::skipped_families); one with fewer than K + 15 rows contributes
// all its remaining rows as queries.
#pragma once

#include <cstdint>
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

struct EpisodeSet {
  Setting setting;
  std::vector<meta::Task<float>> episodes;  // task.classes[i] = class id behind episode label i
  std::vector<std::string> skipped_families;
};

// The seed of one setting's episodes: a fixed mix of the test seed, the task and K, so that
// adding or removing a setting never changes another setting's episodes.
std::uint64_t setting_seed(std::uint64_t test_seed, Setting setting);

// Draws the episodes of one setting. Deterministic in (source, spec, setting).
EpisodeSet draw_episodes(const EpisodeSource& source, const EpisodeSpec& spec, Setting setting);

}  // namespace metaids::eval
