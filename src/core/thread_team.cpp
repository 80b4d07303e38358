#include "core/thread_team.h"

#include <chrono>
#include <system_error>
#include <utility>

#include "core/error.h"

namespace metaids::core {

namespace {

thread_local int current_member = 0;
thread_local bool in_run = false;

// Marks the calling thread as running a team's work for its lifetime (nested runs restore).
struct InRun {
  bool was = std::exchange(in_run, true);
  InRun() = default;
  InRun(const InRun&) = delete;
  InRun& operator=(const InRun&) = delete;
  ~InRun() { in_run = was; }
};

// How long an idle worker spins before it sleeps: longer than the gap between two meta-steps,
// short enough that a team left idle soon stops using its cores.
constexpr std::chrono::microseconds kSpinBeforeSleep{200};

}  // namespace

ThreadTeam::ThreadTeam(int size) {
  const int workers = size > 1 ? size - 1 : 0;
  workers_.reserve(static_cast<size_t>(workers));
  try {
    for (int member = 1; member <= workers; ++member) workers_.emplace_back([this, member] { work(member); });
  } catch (const std::system_error& e) {
    stop();  // the workers already started
    fail("cannot start a team of {} threads: {}", size, e.what());
  }
}

ThreadTeam::~ThreadTeam() { stop(); }

void ThreadTeam::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& worker : workers_)
    if (worker.joinable()) worker.join();
}

int ThreadTeam::member() { return current_member; }

bool ThreadTeam::inside() { return in_run; }

void ThreadTeam::parallel_for(int n, const std::function<void(int, int)>& fn) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  run([&](int member) {
    try {
      for (int i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1, std::memory_order_relaxed)) < n;)
        fn(i, member);
    } catch (...) {
      failed.store(true, std::memory_order_relaxed);
      throw;
    }
  });
}

void ThreadTeam::record(std::exception_ptr error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!error_) error_ = std::move(error);
}

void ThreadTeam::work(int member) {
  current_member = member;
  in_run = true;  // a worker only ever runs a team's fn
  std::uint64_t seen = 0;
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; }, kSpinBeforeSleep)) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_relaxed)) return;  // written before the bump that was seen
    try {
      (*job_)(member);
    } catch (...) {
      record(std::current_exception());
    }
    finished_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadTeam::run(const std::function<void(int)>& fn) {
  require(!busy_.exchange(true, std::memory_order_acquire), "a thread team was asked to run while it was running");
  struct Idle {
    std::atomic<bool>& busy;
    ~Idle() { busy.store(false, std::memory_order_release); }
  } idle_when_done{busy_};
  const InRun in_this_run;
  if (workers_.empty()) {
    fn(0);
    return;
  }
  job_ = &fn;
  error_ = nullptr;
  finished_.store(0, std::memory_order_relaxed);
  // seq_cst, paired with the sleepers' count: a worker that counted itself asleep before this
  // bump is woken; one that counts itself after it sees the new generation and does not sleep.
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  try {
    fn(0);
  } catch (...) {
    record(std::current_exception());
  }
  const int workers = static_cast<int>(workers_.size());
  spin_until([&] { return finished_.load(std::memory_order_acquire) == workers; });
  job_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace metaids::core
