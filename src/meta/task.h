// Episodes: N-way K-shot support sets and Q-shot query sets drawn from a labelled table.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "nn/mlp.h"

namespace metaids::meta {

using nn::Batch;
using nn::Matrix;
using nn::Vector;

// One few-shot task: labels in both sets are 0..ways-1.
template <typename S>
struct Task {
  Batch<S> support;
  Batch<S> query;
  int ways = 0;
  std::vector<int> classes;  // the table's class id behind each episode label
};

// A read-only view of a labelled table: `rows` samples of `features` floats, row-major
// (sample i at data[i*features]), and one class id per row. The table must outlive the view.
struct LabelledView {
  const float* data = nullptr;
  std::int64_t rows = 0;
  int features = 0;
  const int* labels = nullptr;
};

// Draws episodes from a LabelledView, restricted to the given classes. Seeded: the same seed
// and calls give the same episodes.
class EpisodeSampler {
 public:
  EpisodeSampler(LabelledView table, std::vector<int> classes, std::uint64_t seed);

  // `ways` classes drawn at random, their order (the episode labels) permuted per episode;
  // `shots` support and `queries` query rows per class, disjoint, drawn without replacement.
  // Throws metaids::Error when a class has fewer than shots + queries rows.
  Task<float> sample(int ways, int shots, int queries);

  // The given classes in the given order (episode label i = classes[i]); for detection
  // episodes whose label 0 is benign. `queries` < 0 means "all remaining rows, at most -queries".
  Task<float> sample_classes(const std::vector<int>& classes, int shots, int queries);

  // Label 0 is `anchor` (e.g. benign); ways − 1 other classes drawn at random as labels 1…
  Task<float> sample_with_anchor(int anchor, int ways, int shots, int queries);

  std::mt19937_64& rng() { return rng_; }
  const std::vector<int>& classes() const { return classes_; }
  std::int64_t rows_of(int class_id) const;
  int features() const { return table_.features; }

 private:
  LabelledView table_;
  std::vector<int> classes_;
  std::vector<std::vector<std::int64_t>> rows_by_class_;  // indexed by class id
  std::mt19937_64 rng_;
};

// Concatenates two batches (support then query) into `out`, e.g. for Reptile or ProtoNet's
// single pass; reuses out's memory (a learner's per-thread scratch: no allocation per task).
template <typename S>
void concatenate_into(const Batch<S>& a, const Batch<S>& b, Batch<S>& out);

}  // namespace metaids::meta
