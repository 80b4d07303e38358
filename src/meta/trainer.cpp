#include "meta/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/thread_team.h"

namespace metaids::meta {

std::string describe(const TrainingProgress& p) {
  return fmt::format("iteration {}/{} meta-loss {:.4f}{} ({:.0f} tasks/s)", p.iteration, p.iterations, p.meta_loss,
                     std::isnan(p.validation_accuracy) ? std::string()
                                                       : fmt::format(" validation accuracy {:.4f}", p.validation_accuracy),
                     p.tasks_per_second);
}

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
  const int size = std::min(threads, n);
  if (size <= 1 || core::ThreadTeam::inside()) {
    for (int i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  core::ThreadTeam team(size);
  team.parallel_for(n, fn);
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
  spare_gradients_.resize(static_cast<size_t>(config_.threads));
  if (config_.threads > 1) team_ = std::make_unique<core::ThreadTeam>(config_.threads);
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

namespace {

// Waits until done() holds unless `failed` is set (then returns false).
template <typename Done>
bool wait_until(Done done, const std::atomic<bool>& failed) {
  return core::spin_until([&] { return failed.load(std::memory_order_relaxed) || done(); }) &&
         !failed.load(std::memory_order_relaxed);
}

}  // namespace

double MetaTrainer::step(const std::vector<Task<float>>& tasks) {
  const int n = static_cast<int>(tasks.size());
  require(n >= 1, "a meta-step needs at least one task");
  if (task_gradients_.size() < tasks.size()) task_gradients_.resize(tasks.size());
  std::vector<double> losses(tasks.size());
  const Eigen::Index size = learner_.meta_parameter_count();
  gradient_.resize(size);
  phi_next_.resize(size);
  // The sum of the task gradients has one fixed shape, whatever the thread count: the front
  // half of the tasks summed left to right in task 0's buffer, F = ((g₀ + g₁) + g₂) + …,
  // the back half right to left in task n−1's buffer, B = ((gₙ₋₁ + gₙ₋₂) + …) + g_h, and the
  // meta-gradient (F + B) / n; so a seed gives bit-identical parameters with any number of
  // threads. With threads, one thread (0) takes tasks from the front and owns F, another (1)
  // from the back and owns B; each adds finished gradients to its sum as it goes, so task
  // gradients stay in the cache of the core that made them. When no task is left to take,
  // what is still missing from F and B is added chunk by chunk in the combine, which every
  // thread runs on its own fixed parameter chunks first and then on any chunk not yet taken:
  // (F + B) / n, its check and Adam, with no barrier in between (see combine_and_update).
  // (Fixed 1024-element chunks, whatever the thread count: Eigen's vectorised float sqrt in
  // Adam is not the scalar one, so a split that moved with the threads would change the bits.)
  const int front_end = (n + 1) / 2;  // the front half is [0, front_end), the back half the rest
  constexpr Eigen::Index kChunk = 1024;
  const int chunks = static_cast<int>((size + kChunk - 1) / kChunk);
  std::vector<char> finite(static_cast<size_t>(chunks), 1);
  auto gradient_of = [&](int i) -> Vector<float>& { return task_gradients_[static_cast<size_t>(i)]; };
  // Task i's meta-gradient into g: its own buffer, or the thread's spare one when the thread
  // adds it to its sum at once (then the step touches a few gradient buffers, not n: a
  // one-thread ANIL step 4 % faster, FOMAML 3 %).
  auto compute = [&](int i, Scratch<float>& scratch, Vector<float>& g) {
    losses[static_cast<size_t>(i)] = learner_.objective_gradient(phi_, tasks[static_cast<size_t>(i)], g, scratch);
    require(g.size() == size, "a task's meta-gradient has {} entries, expected {}", g.size(), size);
  };
  // Chunk c of (F + B) / n, its finiteness and Adam (the chunk stays in L1 between them).
  // F and B may still lack task gradients: those of the front half from `front` on and of the
  // back half from `back` down, which are added here in the order their owner would have added
  // them, so the bits do not depend on which thread adds them (or on the chunk's size). Adam
  // writes aside (phi_next_ and its staged moments): a non-finite chunk anywhere fails the
  // step after the fact with nothing changed, so no thread waits for the others' checks before
  // updating.
  auto combine_and_update = [&](int c, int front, int back) {
    const Eigen::Index begin = c * kChunk, count = std::min(size - begin, kChunk);
    auto out = gradient_.segment(begin, count);
    out = gradient_of(0).segment(begin, count);
    for (int k = front; k < front_end; ++k) out += gradient_of(k).segment(begin, count);
    if (n > 1 && back < front_end) {
      out += gradient_of(n - 1).segment(begin, count);
    } else if (n > 1) {
      alignas(64) float rest[kChunk];
      Eigen::Map<Vector<float>> back_sum(rest, count);
      back_sum = gradient_of(n - 1).segment(begin, count);
      for (int k = back; k >= front_end; --k) back_sum += gradient_of(k).segment(begin, count);
      out += back_sum;
    }
    out /= static_cast<float>(n);
    finite[static_cast<size_t>(c)] = out.allFinite() ? 1 : 0;
    adam_.update_into(phi_, phi_next_, gradient_, begin, count);
  };
  auto all_finite = [&] { return std::all_of(finite.begin(), finite.end(), [](char f) { return f != 0; }); };
  // One thread: the same sums, in task order within each half.
  auto step_alone = [&] {
    Scratch<float>& scratch = scratch_[0];
    Vector<float>& spare = spare_gradients_[0];
    for (int i = 0; i < front_end; ++i) {
      compute(i, scratch, i == 0 ? gradient_of(0) : spare);
      if (i > 0) gradient_of(0) += spare;
    }
    for (int i = n - 1; i >= front_end; --i) {
      compute(i, scratch, i == n - 1 ? gradient_of(n - 1) : spare);
      if (i < n - 1) gradient_of(n - 1) += spare;
    }
    for (int c = 0; c < chunks; ++c) combine_and_update(c, front_end, front_end - 1);
  };
  if (!team_ || n == 1) {
    step_alone();
  } else {
    std::atomic<bool> failed{false};
    std::atomic<int> claimed{0}, front_claimed{0}, back_claimed{0}, finished{0};
    std::vector<std::atomic<bool>> done(static_cast<size_t>(n));
    // Where the owners' running sums stopped (-1: not yet known); the rest of each half is
    // added chunk by chunk in combine, by whichever thread takes the chunk.
    std::atomic<int> front_from{-1}, back_from{-1};
    std::vector<std::atomic<bool>> chunk_taken(static_cast<size_t>(chunks));
    core::ThreadTeam& team = *team_;
    team.run([&](int thread) {
      const int members = team.size();
      const bool takes_front = thread % 2 == 0;
      // The owner of F (thread 0) or B (thread 1): the next task gradient it adds.
      int next = thread == 0 ? 1 : n - 2;
      auto add_finished = [&] {
        if (thread == 0) {
          for (; next < front_end && done[0].load(std::memory_order_acquire) &&
                 done[static_cast<size_t>(next)].load(std::memory_order_acquire);
               ++next)
            gradient_of(0) += gradient_of(next);
        } else if (thread == 1) {
          for (; next >= front_end && done[static_cast<size_t>(n - 1)].load(std::memory_order_acquire) &&
                 done[static_cast<size_t>(next)].load(std::memory_order_acquire);
               --next)
            gradient_of(n - 1) += gradient_of(next);
        }
      };
      try {
        while (!failed.load(std::memory_order_relaxed) && claimed.fetch_add(1, std::memory_order_relaxed) < n) {
          const int i = takes_front ? front_claimed.fetch_add(1, std::memory_order_relaxed)
                                    : n - 1 - back_claimed.fetch_add(1, std::memory_order_relaxed);
          // An owner's next task in its half, its sum's first term done: straight into the sum.
          const bool folds = (thread == 0 && i == next && i < front_end && done[0].load(std::memory_order_acquire)) ||
                             (thread == 1 && i == next && i >= front_end &&
                              done[static_cast<size_t>(n - 1)].load(std::memory_order_acquire));
          Scratch<float>& scratch = scratch_[static_cast<size_t>(thread)];
          if (folds) {
            Vector<float>& spare = spare_gradients_[static_cast<size_t>(thread)];
            compute(i, scratch, spare);
            gradient_of(thread == 0 ? 0 : n - 1) += spare;
            next += thread == 0 ? 1 : -1;
          } else {
            compute(i, scratch, gradient_of(i));
          }
          done[static_cast<size_t>(i)].store(true, std::memory_order_release);
          finished.fetch_add(1, std::memory_order_release);
          add_finished();
        }
        // No task left to take: the owners say how far their sums got, and every thread
        // waits for the last task, then combines its chunks and steals chunks not yet taken.
        if (thread == 0) front_from.store(next, std::memory_order_release);
        if (thread == 1) back_from.store(next, std::memory_order_release);
        const int own_begin = thread * chunks / members, own_end = (thread + 1) * chunks / members;
        if (!wait_until([&] { return finished.load(std::memory_order_acquire) == n; }, failed) ||
            !wait_until([&] { return front_from.load(std::memory_order_acquire) >= 0; }, failed) ||
            !wait_until([&] { return back_from.load(std::memory_order_acquire) >= 0; }, failed))
          return;
        const int front = front_from.load(std::memory_order_relaxed), back = back_from.load(std::memory_order_relaxed);
        auto take = [&](int c) {
          if (chunk_taken[static_cast<size_t>(c)].load(std::memory_order_relaxed) ||
              chunk_taken[static_cast<size_t>(c)].exchange(true, std::memory_order_relaxed))
            return;
          combine_and_update(c, front, back);
        };
        for (int c = own_begin; c < own_end; ++c) take(c);
        for (int c = chunks - 1; c >= 0; --c)
          if (c < own_begin || c >= own_end) take(c);
      } catch (...) {
        failed.store(true, std::memory_order_relaxed);
        throw;
      }
    });
  }
  if (!all_finite())
    fail("the meta-gradient became non-finite at iteration {} (lower the inner or outer learning rate)", iteration_);
  phi_.swap(phi_next_);
  adam_.commit();
  ++iteration_;
  double loss = 0;
  for (int i = 0; i < n; ++i) loss += losses[static_cast<size_t>(i)];
  return loss / n;
}

double MetaTrainer::validation_accuracy() {
  if (validation_tasks_.empty()) return std::numeric_limits<double>::quiet_NaN();
  const int episodes = static_cast<int>(validation_tasks_.size());
  std::vector<double> accuracy(validation_tasks_.size());
  auto validate = [&](int i, int thread) {
    accuracy[static_cast<size_t>(i)] = adapted_accuracy(learner_, phi_, validation_tasks_[static_cast<size_t>(i)],
                                                        scratch_[static_cast<size_t>(thread)]);
  };
  // On the meta-steps' team: a second team's threads, still spinning after the validation,
  // would take cores from the next meta-steps.
  if (team_) {
    team_->parallel_for(episodes, validate);
  } else {
    for (int i = 0; i < episodes; ++i) validate(i, 0);
  }
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
  stopped_ = false;
  while (iteration_ < config_.iterations) {
    if (config_.should_stop && config_.should_stop()) {
      stopped_ = true;
      return;
    }
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
