#include "meta/trainer.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace metaids::meta {

void TrainerConfig::validate() const {
  require(iterations >= 0, "iterations must be >= 0, got {}", iterations);
  require(meta_batch >= 1 && meta_batch <= 100000, "meta-batch must be in [1, 100000], got {}", meta_batch);
  require(shots >= 1, "shots (K) must be >= 1, got {}", shots);
  require(queries >= 1, "queries per class must be >= 1, got {}", queries);
  require(threads >= 1 && threads <= 1024, "threads must be in [1, 1024], got {}", threads);
  require(validate_every >= 0 && validation_episodes >= 1, "validation settings must be non-negative");
  require(log_every >= 0 && checkpoint_every >= 0, "log and checkpoint intervals must be >= 0");
}

void parallel_for(int n, int threads, const std::function<void(int, int)>& fn) {
  if (threads <= 1 || n <= 1) {
    for (int i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  // Exceptions must not escape an OpenMP region: keep the first one and rethrow it.
  std::exception_ptr error;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int i = 0; i < n; ++i) {
    try {
      fn(i, omp_get_thread_num());
    } catch (...) {
#pragma omp critical(metaids_parallel_for_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

MetaTrainer::MetaTrainer(const MetaLearner<float>& learner, TrainerConfig config, EpisodeSampler& train,
                         EpisodeSampler* validation)
    : learner_(learner), config_(std::move(config)), train_(train) {
  config_.validate();
  std::mt19937_64 init_rng(config_.seed);
  phi_ = learner_.initial_meta_parameters(init_rng);
  best_phi_ = phi_;
  adam_ = nn::Adam<float>(config_.outer, learner_.meta_parameter_count());
  scratch_.resize(static_cast<size_t>(config_.threads));
  task_gradients_.resize(static_cast<size_t>(config_.meta_batch));
  if (validation != nullptr && config_.validate_every > 0) {
    const int ways = learner_.config().ways;
    for (int i = 0; i < config_.validation_episodes; ++i) {
      validation_tasks_.push_back(config_.anchor_class >= 0
                                      ? validation->sample_with_anchor(config_.anchor_class, ways, config_.shots, config_.queries)
                                      : validation->sample(ways, config_.shots, config_.queries));
    }
  }
}

Task<float> MetaTrainer::draw_task() {
  const int ways = learner_.config().ways;
  return config_.anchor_class >= 0 ? train_.sample_with_anchor(config_.anchor_class, ways, config_.shots, config_.queries)
                                   : train_.sample(ways, config_.shots, config_.queries);
}

double MetaTrainer::step(const std::vector<Task<float>>& tasks) {
  const int n = static_cast<int>(tasks.size());
  require(n >= 1, "a meta-step needs at least one task");
  if (task_gradients_.size() < tasks.size()) task_gradients_.resize(tasks.size());
  std::vector<double> losses(tasks.size());
  const Eigen::Index size = learner_.meta_parameter_count();
  gradient_.resize(size);
  // One parallel region per meta-step. The tasks run dynamically. Each thread owns a fixed
  // set of 1024-element parameter chunks and, whenever one of its tasks finishes, adds to its
  // own part of the sum every finished task gradient that is next in task order; so every
  // element is ((g₀ + g₁) + g₂) + … whatever the thread count, the sum is built while tasks
  // still run, and no part of it moves between cores. After the tasks, each thread completes
  // its part, takes the mean and checks it; after a barrier, Adam (elementwise) on its part.
  const int threads = std::max(1, std::min(config_.threads, n));
  // Fixed 1024-element chunks, whatever the thread count: Eigen's vectorised float sqrt (in
  // Adam) is not the scalar one, so a split that moved with the threads would change the bits.
  constexpr Eigen::Index kChunk = 1024;
  const int chunks = static_cast<int>((size + kChunk - 1) / kChunk);
  std::vector<char> finite(static_cast<size_t>(chunks), 1);
  const std::int64_t step_number = adam_.steps() + 1;
  std::exception_ptr error;
  std::vector<std::atomic<bool>> done(static_cast<size_t>(n));
  struct alignas(64) Progress {
    int next_to_add = 0;  // the owner's next task to add (read and written by the owner only)
  };
  std::vector<Progress> progress(static_cast<size_t>(threads));
  auto owned_chunks = [&](int thread) {
    return std::pair<int, int>{thread * chunks / threads, (thread + 1) * chunks / threads};
  };
  auto add_finished = [&](int thread) {
    const auto [first_chunk, end_chunk] = owned_chunks(thread);
    const Eigen::Index begin = first_chunk * kChunk, count = std::min(size, end_chunk * kChunk) - begin;
    if (count <= 0) return;
    int& k = progress[static_cast<size_t>(thread)].next_to_add;
    auto out = gradient_.segment(begin, count);
    for (; k < n && done[static_cast<size_t>(k)].load(std::memory_order_acquire); ++k) {
      if (k == 0) out = task_gradients_[0].segment(begin, count);
      else out += task_gradients_[static_cast<size_t>(k)].segment(begin, count);
    }
  };
  auto run_task = [&](int i, int thread) {
    try {
      Vector<float>& g = task_gradients_[static_cast<size_t>(i)];
      losses[static_cast<size_t>(i)] =
          learner_.meta_gradient(phi_, tasks[static_cast<size_t>(i)], g, scratch_[static_cast<size_t>(thread)]);
      require(g.size() == size, "a task's meta-gradient has {} entries, expected {}", g.size(), size);
      done[static_cast<size_t>(i)].store(true, std::memory_order_release);
      add_finished(thread);
    } catch (...) {
#pragma omp critical(metaids_trainer_error)
      if (!error) error = std::current_exception();
    }
  };
  auto mean_and_check = [&](int thread) {
    const auto [first_chunk, end_chunk] = owned_chunks(thread);
    for (int c = first_chunk; c < end_chunk; ++c) {
      const Eigen::Index begin = c * kChunk, count = std::min(size - begin, kChunk);
      auto out = gradient_.segment(begin, count);
      out /= static_cast<float>(n);
      finite[static_cast<size_t>(c)] = out.allFinite() ? 1 : 0;
    }
  };
  auto update = [&](int thread) {
    const auto [first_chunk, end_chunk] = owned_chunks(thread);
    for (int c = first_chunk; c < end_chunk; ++c) {
      const Eigen::Index begin = c * kChunk, count = std::min(size - begin, kChunk);
      adam_.update(phi_, gradient_, step_number, begin, count);
    }
  };
  auto all_finite = [&] { return std::all_of(finite.begin(), finite.end(), [](char f) { return f != 0; }); };
  if (threads == 1) {
    for (int i = 0; i < n && !error; ++i) run_task(i, 0);
    if (!error) {
      mean_and_check(0);
      if (all_finite()) update(0);
    }
  } else {
#pragma omp parallel num_threads(threads)
    {
      const int thread = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
      for (int i = 0; i < n; ++i) run_task(i, thread);
      // (implicit barrier: every task is done, and `error` is final)
      if (!error) {
        add_finished(thread);  // the tasks that finished after this thread's last one
        mean_and_check(thread);
      }
#pragma omp barrier
      if (!error && all_finite()) update(thread);
    }
  }
  if (error) std::rethrow_exception(error);
  if (!all_finite())
    fail("the meta-gradient became non-finite at iteration {} (lower the inner or outer learning rate)", iteration_);
  adam_.finish_step();
  ++iteration_;
  double loss = 0;
  for (int i = 0; i < n; ++i) loss += losses[static_cast<size_t>(i)];
  return loss / n;
}

double MetaTrainer::validation_accuracy() {
  if (validation_tasks_.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::vector<double> accuracy(validation_tasks_.size());
  parallel_for(static_cast<int>(validation_tasks_.size()), config_.threads, [&](int i, int thread) {
    accuracy[static_cast<size_t>(i)] = adapted_accuracy(learner_, phi_, validation_tasks_[static_cast<size_t>(i)],
                                                        scratch_[static_cast<size_t>(thread)]);
  });
  double sum = 0;
  for (double a : accuracy) sum += a;
  return sum / static_cast<double>(accuracy.size());
}

const Vector<float>& MetaTrainer::meta_parameters() const {
  return config_.keep_best && best_accuracy_ >= 0 ? best_phi_ : phi_;
}

void MetaTrainer::run(const std::function<void(const TrainingProgress&)>& on_progress) {
  using clock = std::chrono::steady_clock;
  auto window_start = clock::now();
  double window_loss = 0;
  int window_steps = 0;
  std::vector<Task<float>> tasks(static_cast<size_t>(config_.meta_batch));
  while (iteration_ < config_.iterations) {
    for (auto& task : tasks) task = draw_task();  // sequential: the episodes depend on the seed only
    window_loss += step(tasks);
    ++window_steps;
    TrainingProgress progress;
    bool report = config_.log_every > 0 && (iteration_ % config_.log_every == 0 || iteration_ == config_.iterations);
    if (config_.validate_every > 0 && !validation_tasks_.empty() &&
        (iteration_ % config_.validate_every == 0 || iteration_ == config_.iterations)) {
      progress.validation_accuracy = validation_accuracy();
      if (progress.validation_accuracy > best_accuracy_) {
        best_accuracy_ = progress.validation_accuracy;
        best_phi_ = phi_;
      }
      report = true;
    }
    if (!config_.checkpoint_path.empty() && config_.checkpoint_every > 0 && iteration_ % config_.checkpoint_every == 0)
      save_checkpoint(config_.checkpoint_path);
    if (report && on_progress) {
      const double seconds = std::chrono::duration<double>(clock::now() - window_start).count();
      progress.iteration = iteration_;
      progress.iterations = config_.iterations;
      progress.meta_loss = window_loss / window_steps;
      progress.tasks_per_second = seconds > 0 ? window_steps * config_.meta_batch / seconds : 0;
      on_progress(progress);
      window_start = clock::now();
      window_loss = 0;
      window_steps = 0;
    }
  }
}

namespace {
nlohmann::json to_json(const Vector<float>& v) { return std::vector<float>(v.data(), v.data() + v.size()); }
Vector<float> vector_from_json(const nlohmann::json& j, std::int64_t expected, const char* what) {
  const auto values = j.get<std::vector<float>>();
  require(static_cast<std::int64_t>(values.size()) == expected, "checkpoint {} has {} values, expected {}", what,
          values.size(), expected);
  return Eigen::Map<const Vector<float>>(values.data(), static_cast<Eigen::Index>(values.size()));
}
}  // namespace

void MetaTrainer::save_checkpoint(const std::filesystem::path& path) const {
  std::ostringstream rng_state;
  rng_state << train_.rng();
  nlohmann::json j;
  j["format"] = "metaids-checkpoint";
  j["version"] = 1;
  j["algorithm"] = to_string(learner_.algorithm());
  j["iteration"] = iteration_;
  j["phi"] = to_json(phi_);
  j["best_phi"] = to_json(best_phi_);
  j["best_validation_accuracy"] = best_accuracy_;
  j["adam_m"] = to_json(adam_.first_moment());
  j["adam_v"] = to_json(adam_.second_moment());
  j["adam_t"] = adam_.steps();
  j["sampler_rng"] = rng_state.str();
  write_file_atomically(path, j.dump());
}

void MetaTrainer::load_checkpoint(const std::filesystem::path& path) {
  const nlohmann::json j = read_json_file(path);
  try {
    require(j.value("format", "") == "metaids-checkpoint", "{} is not a metaids checkpoint", path.string());
    require(j.at("version").get<int>() == 1, "checkpoint {} has an unsupported version", path.string());
    require(j.at("algorithm").get<std::string>() == to_string(learner_.algorithm()),
            "checkpoint {} was made by {}, not {}", path.string(), j.at("algorithm").get<std::string>(),
            to_string(learner_.algorithm()));
    const auto n = learner_.meta_parameter_count();
    phi_ = vector_from_json(j.at("phi"), n, "phi");
    best_phi_ = vector_from_json(j.at("best_phi"), n, "best_phi");
    best_accuracy_ = j.at("best_validation_accuracy").get<double>();
    adam_.restore(vector_from_json(j.at("adam_m"), n, "adam_m"), vector_from_json(j.at("adam_v"), n, "adam_v"),
                  j.at("adam_t").get<std::int64_t>());
    iteration_ = j.at("iteration").get<int>();
    std::istringstream rng_state(j.at("sampler_rng").get<std::string>());
    rng_state >> train_.rng();
    require(!rng_state.fail(), "checkpoint {} has a corrupt sampler state", path.string());
  } catch (const nlohmann::json::exception& e) {
    fail("checkpoint {} is incomplete or corrupt: {}", path.string(), e.what());
  }
}

}  // namespace metaids::meta
