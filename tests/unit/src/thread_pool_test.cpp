#include "src/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>

namespace gocachefs {

TEST(ThreadPool, RunsEverythingAndWaitsIdle) {
  ThreadPool pool(4, 2);  // a tiny queue: submit() must block, not drop
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) pool.submit([&] { ++done; });
  pool.wait_idle();
  EXPECT_EQ(done, 1000);
}

TEST(ThreadPool, RunsTasksConcurrently) {
  constexpr int kThreads = 4;
  ThreadPool pool(kThreads, 16);
  std::mutex m;
  std::condition_variable cv;
  int running = 0;
  bool all_at_once = false;
  for (int i = 0; i < kThreads; ++i) {
    pool.submit([&] {
      std::unique_lock lock(m);
      ++running;
      cv.notify_all();
      // A pool with fewer threads never has them all running: each task
      // then gives up after a while, and the test fails instead of hanging.
      if (cv.wait_for(lock, std::chrono::seconds(5), [&] { return running == kThreads; })) all_at_once = true;
      --running;
    });
  }
  auto idle = std::async(std::launch::async, [&] { pool.wait_idle(); });
  ASSERT_EQ(idle.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "tasks never finished";
  EXPECT_TRUE(all_at_once) << "the " << kThreads << " tasks never ran at the same time";
}

TEST(ThreadPool, DestructorFinishesQueuedTasks) {
  std::atomic<int> done{0};
  {
    ThreadPool pool(1, 100);
    for (int i = 0; i < 50; ++i) pool.submit([&] { ++done; });
  }
  EXPECT_EQ(done, 50);
}

}  // namespace gocachefs
