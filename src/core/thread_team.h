// A fixed team of threads that run one function together, again and again: the meta-trainer's
// fork and join, once per meta-step (and its validation loop).
//
// Why not an OpenMP parallel region: on the two-vCPU machines we measure on, an empty
// `#pragma omp parallel num_threads(2)` costs about 3 µs per fork and join (libgomp sets up a
// team each time), this team about 0.5 µs (one cache line each way). A ProtoNet meta-step on two
// threads takes 330–370 µs, so the difference is close to 1 % of it; and libgomp's threads spin
// for milliseconds after a region, taking cores from whatever runs next (docs/performance.md).
//
// Outside the trainer, `parallel_for` (meta/trainer.h) runs independent work items (episodes)
// on a short-lived team: so a program's threads are all of this kind, and no team of one kind
// spins on cores that a team of the other needs.
//
// Workers spin on a generation counter for a short while after each run (the next meta-step
// usually follows within microseconds), then sleep on a condition variable, so an idle team
// costs no CPU. While spinning they yield now and then, so more threads than cores still work.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace metaids::core {

// Waits until done() holds (another thread makes it so): a pause instruction between the first
// few thousand tries, then yields (the thread waited for may need this core, when there are
// more threads than cores). Returns false if `patience` passes first (checked only once
// yielding; the default waits for ever).
template <typename Done>
bool spin_until(Done done, std::chrono::microseconds patience = std::chrono::microseconds::max()) {
  const bool forever = patience == std::chrono::microseconds::max();
  const auto give_up = forever ? std::chrono::steady_clock::time_point::max() : std::chrono::steady_clock::now() + patience;
  for (int spins = 0; !done(); ++spins) {
    if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
      if (!forever && spins % 64 == 0 && std::chrono::steady_clock::now() > give_up) return false;
    }
  }
  return true;
}

class ThreadTeam {
 public:
  // `size` members: the calling thread is member 0, `size - 1` worker threads the others
  // (metaids::Error if the system cannot start them).
  explicit ThreadTeam(int size);
  ~ThreadTeam();
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(member) once on every member, member 0 on the calling thread, and returns when all
  // have returned. The first exception any member throws is rethrown here (after the others
  // have returned). One run at a time: a call while another is in progress (from fn, or from
  // another thread) throws metaids::Error.
  void run(const std::function<void(int member)>& fn);

  // fn(i, member) for every i in [0, n), each once, the members taking the next i as they
  // come free (dynamic scheduling); errors as in run, and the members stop taking work after one.
  void parallel_for(int n, const std::function<void(int index, int member)>& fn);

  // The member number of the calling thread inside run (0 outside any team's run).
  static int member();
  // Whether the calling thread is running a team's fn (so a loop it starts would nest).
  static bool inside();

 private:
  void work(int member);
  void stop();  // stops and joins the workers
  void record(std::exception_ptr error);

  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  alignas(64) std::atomic<std::uint64_t> generation_{0};  // bumped once per run (and to stop)
  alignas(64) std::atomic<int> finished_{0};              // workers done with the current run
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> busy_{false};  // a run in progress (a second caller meanwhile is refused)
  std::mutex mutex_;
  std::condition_variable wake_;
  std::exception_ptr error_;
};

}  // namespace metaids::core
