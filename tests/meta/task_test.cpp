#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "core/error.h"
#include "meta/synthetic.h"
#include "meta/task.h"

namespace metaids::meta {
namespace {

// A table whose first feature is the row index, so drawn rows can be identified.
struct IndexedTable {
  std::vector<float> x;
  std::vector<int> y;
  LabelledView view() const { return {x.data(), static_cast<std::int64_t>(y.size()), 2, y.data()}; }
};

IndexedTable indexed_table(int classes, int per_class) {
  IndexedTable t;
  for (int c = 0; c < classes; ++c)
    for (int i = 0; i < per_class; ++i) {
      t.x.push_back(static_cast<float>(t.y.size()));
      t.x.push_back(static_cast<float>(c));
      t.y.push_back(c);
    }
  return t;
}

TEST(EpisodeSampler, SupportAndQueryAreDisjointAndLabelled) {
  const IndexedTable table = indexed_table(10, 30);
  EpisodeSampler sampler(table.view(), class_range(0, 10), 7);
  for (int e = 0; e < 50; ++e) {
    const Task<float> task = sampler.sample(5, 3, 4);
    ASSERT_EQ(task.support.size(), 15);
    ASSERT_EQ(task.query.size(), 20);
    std::set<float> rows;
    for (int j = 0; j < task.support.size(); ++j) {
      rows.insert(task.support.x(0, j));
      EXPECT_EQ(task.support.x(1, j), static_cast<float>(task.classes[static_cast<size_t>(task.support.y[static_cast<size_t>(j)])]));
    }
    for (int j = 0; j < task.query.size(); ++j) {
      rows.insert(task.query.x(0, j));
      EXPECT_EQ(task.query.x(1, j), static_cast<float>(task.classes[static_cast<size_t>(task.query.y[static_cast<size_t>(j)])]));
    }
    EXPECT_EQ(rows.size(), 35u);  // no row twice
  }
}

// The rows an episode draws are those of a partial Fisher–Yates shuffle of a copy of each
// class's row list, with the sampler's generator — for small draws from large classes (where
// the sampler shuffles sparsely) and for large ones.
TEST(EpisodeSampler, DrawsTheRowsOfAPartialShuffle) {
  constexpr int kRows = 20000;
  const IndexedTable table = indexed_table(3, kRows);
  for (int queries : {1, 15, 59, -100, -30000}) {  // sparse for the first three
    EpisodeSampler sampler(table.view(), class_range(0, 3), 42);
    std::mt19937_64 rng(42);
    for (int episode = 0; episode < 5; ++episode) {
      const std::vector<int> classes = {2, 0, 1};
      const Task<float> task = sampler.sample_classes(classes, 5, queries);
      int s_col = 0, q_col = 0;
      for (size_t c = 0; c < classes.size(); ++c) {
        std::vector<std::int64_t> rows(kRows);
        for (int i = 0; i < kRows; ++i) rows[static_cast<size_t>(i)] = classes[c] * kRows + i;
        const int need = 5 + (queries > 0 ? queries : std::min(kRows - 5, -queries));
        for (int i = 0; i < need; ++i) {
          std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), rows.size() - 1);
          std::swap(rows[static_cast<size_t>(i)], rows[pick(rng)]);
        }
        for (int i = 0; i < need; ++i) {
          const float expected = static_cast<float>(rows[static_cast<size_t>(i)]);
          if (i < 5) ASSERT_EQ(task.support.x(0, s_col++), expected) << "queries " << queries << ", class " << c;
          else ASSERT_EQ(task.query.x(0, q_col++), expected) << "queries " << queries << ", class " << c;
        }
      }
      ASSERT_EQ(s_col, task.support.size());
      ASSERT_EQ(q_col, task.query.size());
    }
  }
}

TEST(EpisodeSampler, PermutesLabelsAndIsSeeded) {
  const IndexedTable table = indexed_table(6, 10);
  EpisodeSampler a(table.view(), class_range(0, 6), 1), b(table.view(), class_range(0, 6), 1);
  std::set<std::vector<int>> orders;
  for (int e = 0; e < 40; ++e) {
    const Task<float> ta = a.sample(3, 2, 2), tb = b.sample(3, 2, 2);
    EXPECT_EQ(ta.classes, tb.classes);
    EXPECT_EQ(ta.support.x, tb.support.x);
    orders.insert(ta.classes);
  }
  EXPECT_GT(orders.size(), 10u);
}

TEST(EpisodeSampler, AnchorIsLabelZero) {
  const IndexedTable table = indexed_table(6, 10);
  EpisodeSampler sampler(table.view(), class_range(0, 6), 3);
  for (int e = 0; e < 20; ++e) {
    const Task<float> task = sampler.sample_with_anchor(4, 2, 2, 3);
    EXPECT_EQ(task.classes[0], 4);
    EXPECT_NE(task.classes[1], 4);
  }
}

TEST(EpisodeSampler, RejectsImpossibleEpisodes) {
  const IndexedTable table = indexed_table(4, 5);
  EpisodeSampler sampler(table.view(), class_range(0, 4), 3);
  EXPECT_THROW(sampler.sample(5, 1, 1), Error);  // more ways than classes
  EXPECT_THROW(sampler.sample(2, 5, 1), Error);  // K + Q > rows of a class
  EXPECT_THROW(sampler.sample(2, 0, 1), Error);
  try {
    sampler.sample(2, 4, 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has 5 rows"), std::string::npos) << e.what();
  }
  const Task<float> rest = sampler.sample_classes({0, 1}, 2, -15);  // "the rest, at most 15"
  EXPECT_EQ(rest.query.size(), 6);
}

TEST(EpisodeSampler, RejectsNonFiniteFeatures) {
  IndexedTable table = indexed_table(2, 5);
  table.x[3] = std::nanf("");
  EXPECT_THROW(EpisodeSampler(table.view(), class_range(0, 2), 0), Error);
}

TEST(SyntheticFamily, IsSeededAndShaped) {
  SyntheticFamilyConfig config;
  config.classes = 5;
  config.rows_per_class = 4;
  const SyntheticTable a = make_synthetic_family(config), b = make_synthetic_family(config);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.y.size(), 20u);
  config.seed = 1;
  EXPECT_NE(make_synthetic_family(config).x, a.x);
  config.signal_dims = 100;
  EXPECT_THROW(make_synthetic_family(config), Error);
}

}  // namespace
}  // namespace metaids::meta
