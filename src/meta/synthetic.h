// A seeded synthetic family of classification tasks with shared structure, for tests and the
// demo: meta-learning can discover the structure, training from scratch on K samples cannot.
//
// Every class c has a mean μ_c in a low-dimensional signal space (signal_dims); a sample is
//   x = Q · [ μ_c + within·ε ;  nuisance·η ]
// with ε, η standard normal and Q one random rotation shared by the whole family. Classes are
// split into disjoint meta-train and meta-test ranges by the caller, so test tasks come from
// classes never seen in training.
#pragma once

#include <cstdint>
#include <vector>

#include "meta/task.h"

namespace metaids::meta {

struct SyntheticFamilyConfig {
  int features = 32;
  int signal_dims = 4;
  int classes = 300;
  int rows_per_class = 40;
  double class_spread = 1.0;  // std of the class means in the signal space
  double within = 0.35;       // std within a class in the signal space
  double nuisance = 1.5;      // std of the class-independent nuisance dimensions
  std::uint64_t seed = 0;

  void validate() const;
};

struct SyntheticTable {
  int features = 0;
  int classes = 0;
  std::vector<float> x;  // row-major, rows × features
  std::vector<int> y;
  LabelledView view() const { return {x.data(), static_cast<std::int64_t>(y.size()), features, y.data()}; }
};

SyntheticTable make_synthetic_family(const SyntheticFamilyConfig& config);

// Class ids [begin, end).
std::vector<int> class_range(int begin, int end);

}  // namespace metaids::meta
