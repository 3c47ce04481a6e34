#include "src/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>

namespace gocachefs {

TEST(ThreadPool, RunsEverythingAndWaitsIdle) {
  ThreadPool pool(4, 2);  // a tiny queue: submit() must block, not drop
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) pool.submit([&] { ++done; });
  pool.wait_idle();
  EXPECT_EQ(done, 1000);
}

TEST(ThreadPool, RunsTasksConcurrently) {
  ThreadPool pool(4, 16);
  std::atomic<int> running{0}, peak{0};
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  for (int i = 0; i < 4; ++i) {
    pool.submit([&] {
      peak = std::max(peak.load(), ++running);
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return release || peak == 4; });
      release = true;
      cv.notify_all();
    });
  }
  pool.wait_idle();
  EXPECT_EQ(peak, 4);
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
