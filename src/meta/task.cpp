#include "meta/task.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace metaids::meta {

EpisodeSampler::EpisodeSampler(LabelledView table, std::vector<int> classes, std::uint64_t seed)
    : table_(table), classes_(std::move(classes)), rng_(seed) {
  require(table_.data != nullptr && table_.labels != nullptr && table_.rows > 0 && table_.features > 0,
          "episode sampler needs a non-empty table");
  require(!classes_.empty(), "episode sampler needs at least one class");
  int max_class = 0;
  for (std::int64_t i = 0; i < table_.rows; ++i) max_class = std::max(max_class, table_.labels[i]);
  for (int c : classes_) max_class = std::max(max_class, c);
  rows_by_class_.assign(static_cast<size_t>(max_class) + 1, {});
  for (std::int64_t i = 0; i < table_.rows; ++i) {
    const int label = table_.labels[i];
    if (label >= 0) rows_by_class_[static_cast<size_t>(label)].push_back(i);
  }
  for (std::int64_t i = 0; i < table_.rows * table_.features; ++i) {
    if (!std::isfinite(table_.data[i]))
      fail("feature table has a non-finite value at row {}, column {}: transform the features first (NaN/Inf are not "
           "accepted by the learners)",
           i / table_.features, i % table_.features);
  }
  for (int c : classes_) require(c >= 0 && !rows_by_class_[static_cast<size_t>(c)].empty(), "class {} has no rows", c);
}

std::int64_t EpisodeSampler::rows_of(int class_id) const {
  if (class_id < 0 || static_cast<size_t>(class_id) >= rows_by_class_.size()) return 0;
  return static_cast<std::int64_t>(rows_by_class_[static_cast<size_t>(class_id)].size());
}

Task<float> EpisodeSampler::sample(int ways, int shots, int queries) {
  require(ways >= 1 && ways <= static_cast<int>(classes_.size()), "cannot draw {}-way episodes from {} classes", ways,
          classes_.size());
  std::vector<int> pool = classes_;
  // Partial Fisher-Yates: the first `ways` entries become a random ordered subset.
  for (int i = 0; i < ways; ++i) {
    std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), pool.size() - 1);
    std::swap(pool[static_cast<size_t>(i)], pool[pick(rng_)]);
  }
  pool.resize(static_cast<size_t>(ways));
  return sample_classes(pool, shots, queries);
}

Task<float> EpisodeSampler::sample_with_anchor(int anchor, int ways, int shots, int queries) {
  std::vector<int> pool;
  for (int c : classes_)
    if (c != anchor) pool.push_back(c);
  require(ways >= 2 && ways - 1 <= static_cast<int>(pool.size()), "cannot draw {}-way episodes around class {} from {} other classes",
          ways, anchor, pool.size());
  for (int i = 0; i < ways - 1; ++i) {
    std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), pool.size() - 1);
    std::swap(pool[static_cast<size_t>(i)], pool[pick(rng_)]);
  }
  pool.resize(static_cast<size_t>(ways - 1));
  pool.insert(pool.begin(), anchor);
  return sample_classes(pool, shots, queries);
}

namespace {

// The first `need` entries of a partial Fisher–Yates shuffle of `rows`: `need` distinct rows
// in random order. A class can hold hundreds of thousands of rows and an episode needs a few,
// so for a small draw from a large class only the positions the shuffle touches are kept (in a
// short list, searched linearly) rather than shuffling a copy of the whole index list; the
// draws from `rng` and the result are the same either way. (bench_meta's SampleEpisode: 20 rows from
// each of 5 classes of 20 000 rows, 8.6 µs a task against 19.1 µs with the copy; with 100-row
// classes the sparse list alone was slower, 2.7 against 1.4 µs, hence the size test.)
void draw_distinct(const std::vector<std::int64_t>& rows, int need, std::mt19937_64& rng,
                   std::vector<std::int64_t>& out) {
  out.clear();
  constexpr int kSparse = 64;
  if (need > kSparse || rows.size() < 256 * static_cast<size_t>(need)) {
    out.assign(rows.begin(), rows.end());
    for (int i = 0; i < need; ++i) {
      std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), out.size() - 1);
      std::swap(out[static_cast<size_t>(i)], out[pick(rng)]);
    }
    out.resize(static_cast<size_t>(need));
    return;
  }
  // moved: (position, row now there) for the positions at or after i the shuffle has written.
  std::pair<size_t, std::int64_t> moved[kSparse];
  int moved_count = 0;
  auto at = [&](size_t k) {
    for (int m = 0; m < moved_count; ++m)
      if (moved[m].first == k) return moved[m].second;
    return rows[k];
  };
  for (int i = 0; i < need; ++i) {
    std::uniform_int_distribution<size_t> pick(static_cast<size_t>(i), rows.size() - 1);
    const size_t j = pick(rng);
    const std::int64_t at_i = at(static_cast<size_t>(i)), at_j = at(j);
    out.push_back(at_j);  // position i is final: later draws pick from i + 1 on
    // Position j now holds what was at i (the list only ever needs positions > i again).
    int m = 0;
    while (m < moved_count && moved[m].first != j) ++m;
    if (m == moved_count) ++moved_count;
    moved[m] = {j, at_i};
  }
}

}  // namespace

Task<float> EpisodeSampler::sample_classes(const std::vector<int>& classes, int shots, int queries) {
  require(shots >= 1, "shots must be at least 1, got {}", shots);
  require(queries != 0, "queries must be non-zero");
  const int ways = static_cast<int>(classes.size());
  const int d = table_.features;
  // Per class: how many query rows it contributes.
  std::vector<int> query_count(classes.size());
  for (size_t c = 0; c < classes.size(); ++c) {
    const std::int64_t available = rows_of(classes[c]);
    if (queries > 0) {
      require(available >= shots + queries,
              "class {} has {} rows but an episode needs K + Q = {} + {} = {} (lower K or the query size)", classes[c],
              available, shots, queries, shots + queries);
      query_count[c] = queries;
    } else {
      require(available >= shots + 1, "class {} has {} rows but an episode needs K = {} support rows and at least one query",
              classes[c], available, shots);
      query_count[c] = static_cast<int>(std::min<std::int64_t>(available - shots, -queries));
    }
  }
  int total_query = 0;
  for (int q : query_count) total_query += q;

  Task<float> task;
  task.ways = ways;
  task.classes = classes;
  task.support.x.resize(d, static_cast<Eigen::Index>(ways) * shots);
  task.query.x.resize(d, total_query);
  task.support.y.reserve(static_cast<size_t>(ways * shots));
  task.query.y.reserve(static_cast<size_t>(total_query));
  int s_col = 0, q_col = 0;
  std::vector<std::int64_t> drawn;
  for (int c = 0; c < ways; ++c) {
    const auto& rows = rows_by_class_[static_cast<size_t>(classes[static_cast<size_t>(c)])];
    const int need = shots + query_count[static_cast<size_t>(c)];
    draw_distinct(rows, need, rng_, drawn);
    for (int i = 0; i < need; ++i) {
      const float* row = table_.data + drawn[static_cast<size_t>(i)] * d;
      if (i < shots) {
        task.support.x.col(s_col++) = Eigen::Map<const Eigen::VectorXf>(row, d);
        task.support.y.push_back(c);
      } else {
        task.query.x.col(q_col++) = Eigen::Map<const Eigen::VectorXf>(row, d);
        task.query.y.push_back(c);
      }
    }
  }
  return task;
}

template <typename S>
void concatenate_into(const Batch<S>& a, const Batch<S>& b, Batch<S>& out) {
  out.x.resize(a.x.rows(), a.x.cols() + b.x.cols());
  out.x << a.x, b.x;
  out.y.assign(a.y.begin(), a.y.end());
  out.y.insert(out.y.end(), b.y.begin(), b.y.end());
}

template void concatenate_into<float>(const Batch<float>&, const Batch<float>&, Batch<float>&);
template void concatenate_into<double>(const Batch<double>&, const Batch<double>&, Batch<double>&);

}  // namespace metaids::meta
