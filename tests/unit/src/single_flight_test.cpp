#include "src/single_flight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <stdexcept>
#include <thread>
#include <vector>

namespace gocachefs {
namespace {

TEST(SingleFlightTest, ConcurrentCallersShareOneRun) {
  SingleFlight<int, int> flights;
  std::atomic<int> runs{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::latch started(1);
  std::vector<std::thread> threads;
  std::vector<int> results(8);
  // The first caller blocks inside the work until the others have queued.
  threads.emplace_back([&] {
    results[0] = flights.run(7, [&] {
      ++runs;
      started.count_down();
      released.wait();
      return 42;
    });
  });
  started.wait();
  for (int i = 1; i < 8; ++i) {
    threads.emplace_back([&, i] { results[i] = flights.run(7, [&] { return ++runs, -1; }); });
  }
  // Released only once all seven wait on the flight: none can come late and
  // run the work again.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (flights.joined(7) < 7 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(flights.joined(7), 7u) << "callers did not join the running flight";
  release.set_value();
  for (auto& t : threads) t.join();
  EXPECT_EQ(runs, 1);
  for (int r : results) EXPECT_EQ(r, 42);
}

TEST(SingleFlightTest, DifferentKeysAndLaterCallsRunAgain) {
  SingleFlight<int, int> flights;
  EXPECT_EQ(flights.run(1, [] { return 10; }), 10);
  EXPECT_EQ(flights.run(2, [] { return 20; }), 20);
  EXPECT_EQ(flights.run(1, [] { return 11; }), 11);  // the first flight is over
}

TEST(SingleFlightTest, ExceptionReachesTheCallerAndIsForgotten) {
  SingleFlight<int, int> flights;
  EXPECT_THROW(flights.run(1, []() -> int { throw std::runtime_error("remote down"); }), std::runtime_error);
  EXPECT_EQ(flights.run(1, [] { return 5; }), 5);
}

TEST(SingleFlightTest, RunUnlessRunningLeavesARunningFlightAlone) {
  SingleFlight<int, int> flights;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::latch started(1);
  std::thread first([&] {
    flights.run(7, [&] {
      started.count_down();
      released.wait();
      return 1;
    });
  });
  started.wait();
  bool ran = false;
  EXPECT_EQ(flights.run_unless_running(7, [&] { return ran = true, 2; }), std::nullopt) << "must not wait";
  EXPECT_FALSE(ran);
  EXPECT_EQ(flights.run_unless_running(8, [] { return 3; }), 3) << "another key runs";
  release.set_value();
  first.join();
  EXPECT_EQ(flights.run_unless_running(7, [] { return 4; }), 4) << "the flight has ended";
}

}  // namespace
}  // namespace gocachefs
