#include "core/thread_team.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/error.h"

namespace metaids::core {
namespace {

TEST(ThreadTeam, RunsEveryMemberOnceOnItsOwnThreadPerRun) {
  for (int size : {1, 2, 3, 5}) {
    ThreadTeam team(size);
    EXPECT_EQ(team.size(), size);
    for (int run = 0; run < 200; ++run) {
      std::vector<int> calls(static_cast<size_t>(size), 0);
      std::vector<std::thread::id> ids(static_cast<size_t>(size));
      std::vector<int> reported(static_cast<size_t>(size), -1);
      team.run([&](int member) {
        ++calls[static_cast<size_t>(member)];
        ids[static_cast<size_t>(member)] = std::this_thread::get_id();
        reported[static_cast<size_t>(member)] = ThreadTeam::member();
      });
      // run returned: every member's writes are visible here.
      for (int m = 0; m < size; ++m) {
        EXPECT_EQ(calls[static_cast<size_t>(m)], 1) << "size " << size << ", member " << m;
        EXPECT_EQ(reported[static_cast<size_t>(m)], m);
      }
      EXPECT_EQ(ids[0], std::this_thread::get_id()) << "member 0 is the caller";
      EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(), static_cast<size_t>(size));
    }
  }
  EXPECT_EQ(ThreadTeam::member(), 0);
}

TEST(ThreadTeam, SaysWhetherAThreadRunsATeamsWork) {
  EXPECT_FALSE(ThreadTeam::inside());
  ThreadTeam outer(2), inner(2), alone(1);
  std::atomic<int> inside{0}, still_inside{0};
  outer.run([&](int member) {
    if (ThreadTeam::inside()) ++inside;
    if (member == 0) inner.run([](int) {});  // another team's run, inside this one's
    if (ThreadTeam::inside()) ++still_inside;
  });
  EXPECT_EQ(inside.load(), 2);
  EXPECT_EQ(still_inside.load(), 2);
  bool alone_inside = false;
  alone.run([&](int) { alone_inside = ThreadTeam::inside(); });
  EXPECT_TRUE(alone_inside);
  EXPECT_FALSE(ThreadTeam::inside());
}

TEST(ThreadTeam, ParallelForTakesEveryIndexOnce) {
  for (int size : {1, 2, 3}) {
    ThreadTeam team(size);
    for (int n : {0, 1, 5, 1000}) {
      std::vector<std::atomic<int>> calls(static_cast<size_t>(n));
      std::atomic<int> bad_member{0};
      team.parallel_for(n, [&](int i, int member) {
        ++calls[static_cast<size_t>(i)];
        if (member < 0 || member >= size) ++bad_member;
      });
      for (int i = 0; i < n; ++i) EXPECT_EQ(calls[static_cast<size_t>(i)].load(), 1);
      EXPECT_EQ(bad_member.load(), 0);
    }
  }
}

// Members that wait for each other (as the meta-trainer's do) all run at once.
TEST(ThreadTeam, MembersRunConcurrently) {
  ThreadTeam team(3);
  for (int run = 0; run < 50; ++run) {
    std::atomic<int> arrived{0};
    team.run([&](int) {
      ++arrived;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (arrived.load() < 3 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    });
    EXPECT_EQ(arrived.load(), 3);
  }
}

// Past the spinning, workers sleep; the next run must wake them (and a team destroyed while
// they sleep must not hang).
TEST(ThreadTeam, WakesWorkersThatWentToSleep) {
  ThreadTeam team(3);
  for (int run = 0; run < 5; ++run) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::atomic<int> calls{0};
    team.run([&](int) { ++calls; });
    EXPECT_EQ(calls.load(), 3);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

TEST(ThreadTeam, RethrowsTheFirstErrorAfterAllMembersReturned) {
  ThreadTeam team(3);
  for (int thrower : {0, 1, 2}) {
    std::atomic<int> returned{0};
    try {
      team.run([&](int member) {
        if (member == thrower) fail("member {} failed", member);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ++returned;
      });
      ADD_FAILURE() << "no exception from member " << thrower;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "member " + std::to_string(thrower) + " failed");
    }
    EXPECT_EQ(returned.load(), 2) << "run returned before the other members did";
    // The team is usable after an error, and the error does not come back.
    std::atomic<int> calls{0};
    EXPECT_NO_THROW(team.run([&](int) { ++calls; }));
    EXPECT_EQ(calls.load(), 3);
  }
}

// A team runs one fn at a time: a second caller meanwhile gets an error, not a corrupted run.
TEST(ThreadTeam, RefusesASecondRunAtTheSameTime) {
  ThreadTeam team(2), other(2);
  std::atomic<int> refused{0};
  other.run([&](int) {
    try {
      // The run that got in lasts until the other caller has been refused.
      team.run([&](int) {
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (refused.load() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
      });
    } catch (const Error&) {
      ++refused;
    }
  });
  EXPECT_EQ(refused.load(), 1);
  std::atomic<int> calls{0};
  team.run([&](int) { ++calls; });  // and is fine afterwards
  EXPECT_EQ(calls.load(), 2);
}

TEST(ThreadTeam, EveryMemberThrowingGivesOneError) {
  ThreadTeam team(4);
  EXPECT_THROW(team.run([](int member) { throw std::runtime_error("member " + std::to_string(member)); }),
               std::runtime_error);
}

// More members than cores (the workers yield while they wait): still correct.
TEST(ThreadTeam, MoreMembersThanCores) {
  const int size = static_cast<int>(std::thread::hardware_concurrency()) * 2 + 1;
  ThreadTeam team(size);
  std::vector<long> sums(static_cast<size_t>(size), 0);
  for (int run = 0; run < 20; ++run) team.run([&](int member) { sums[static_cast<size_t>(member)] += member; });
  for (int m = 0; m < size; ++m) EXPECT_EQ(sums[static_cast<size_t>(m)], 20L * m);
}

}  // namespace
}  // namespace metaids::core
