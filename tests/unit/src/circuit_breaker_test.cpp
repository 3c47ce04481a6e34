#include "src/circuit_breaker.h"

#include <gtest/gtest.h>

namespace gocachefs {
namespace {

using Clock = CircuitBreaker::Clock;

TEST(CircuitBreakerTest, AllowsUntilEnoughFailuresInARow) {
  CircuitBreaker breaker;
  const auto t0 = Clock::now();
  EXPECT_TRUE(breaker.allow(t0));
  for (int i = 1; i < CircuitBreaker::kTripAfter; ++i) breaker.record_failure(t0);
  EXPECT_TRUE(breaker.allow(t0));
  breaker.record_failure(t0);
  EXPECT_FALSE(breaker.allow(t0));
  EXPECT_FALSE(breaker.allow(t0 + CircuitBreaker::kFirstCoolDown - std::chrono::milliseconds(1)));
  EXPECT_TRUE(breaker.allow(t0 + CircuitBreaker::kFirstCoolDown));
}

TEST(CircuitBreakerTest, FailedProbeAfterCoolDownTripsAgainForTwiceAsLong) {
  CircuitBreaker breaker;
  auto now = Clock::now();
  auto cool_down = CircuitBreaker::kFirstCoolDown;
  for (int i = 1; i < CircuitBreaker::kTripAfter; ++i) EXPECT_FALSE(breaker.record_failure(now));
  for (int trips = 0; trips < 12; ++trips) {
    // After a cool-down one request probes the remote; its failure is enough.
    EXPECT_TRUE(breaker.record_failure(now)) << trips;
    EXPECT_FALSE(breaker.allow(now + cool_down - std::chrono::milliseconds(1))) << trips;
    EXPECT_TRUE(breaker.allow(now + cool_down)) << trips;
    now += cool_down;
    cool_down = std::min(cool_down * 2, CircuitBreaker::kMaxCoolDown);
  }
  EXPECT_EQ(cool_down, CircuitBreaker::kMaxCoolDown);
}

TEST(CircuitBreakerTest, SuccessResetsTheCount) {
  CircuitBreaker breaker;
  const auto t0 = Clock::now();
  for (int i = 1; i < CircuitBreaker::kTripAfter; ++i) breaker.record_failure(t0);
  breaker.record_success();
  for (int i = 1; i < CircuitBreaker::kTripAfter; ++i) EXPECT_FALSE(breaker.record_failure(t0));
  EXPECT_TRUE(breaker.allow(t0));
}

TEST(CircuitBreakerTest, OpenForClosesImmediately) {
  CircuitBreaker breaker;
  const auto t0 = Clock::now();
  breaker.open_for(std::chrono::seconds(60), t0);
  EXPECT_FALSE(breaker.allow(t0 + std::chrono::seconds(59)));
  EXPECT_TRUE(breaker.allow(t0 + std::chrono::seconds(60)));
}

// Trips the breaker at t0: it is open until t0 + the first cool-down.
void trip(CircuitBreaker& breaker, Clock::time_point t0) {
  for (int i = 0; i < CircuitBreaker::kTripAfter; ++i) breaker.record_failure(t0);
  ASSERT_EQ(breaker.state(t0), CircuitBreaker::State::kOpen);
}

TEST(CircuitBreakerTest, HalfOpenLetsExactlyOneProbeThrough) {
  CircuitBreaker breaker;
  const auto t0 = Clock::now();
  trip(breaker, t0);
  const auto later = t0 + CircuitBreaker::kFirstCoolDown;
  EXPECT_EQ(breaker.state(later), CircuitBreaker::State::kHalfOpen);
  EXPECT_TRUE(breaker.allow(later)) << "the probe";
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(breaker.allow(later + std::chrono::seconds(1))) << "others wait " << i;
  EXPECT_EQ(breaker.state(later), CircuitBreaker::State::kProbing);
  breaker.record_success();  // the probe's answer closes it
  EXPECT_EQ(breaker.state(later), CircuitBreaker::State::kClosed);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(breaker.allow(later)) << i;
}

TEST(CircuitBreakerTest, FailedProbeReopensForTwiceAsLong) {
  CircuitBreaker breaker;
  const auto t0 = Clock::now();
  trip(breaker, t0);
  const auto probe_time = t0 + CircuitBreaker::kFirstCoolDown;
  ASSERT_TRUE(breaker.allow(probe_time));
  EXPECT_TRUE(breaker.record_failure(probe_time)) << "one failed probe re-opens it";
  EXPECT_EQ(breaker.state(probe_time), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(breaker.allow(probe_time + 2 * CircuitBreaker::kFirstCoolDown - std::chrono::milliseconds(1)));
  EXPECT_TRUE(breaker.allow(probe_time + 2 * CircuitBreaker::kFirstCoolDown)) << "the next probe";
  EXPECT_FALSE(breaker.allow(probe_time + 2 * CircuitBreaker::kFirstCoolDown));
}

TEST(CircuitBreakerTest, AProbeThatNeverReportsStopsHoldingTheOthersBack) {
  CircuitBreaker breaker;
  const auto t0 = Clock::now();
  trip(breaker, t0);
  const auto probe_time = t0 + CircuitBreaker::kFirstCoolDown;
  ASSERT_TRUE(breaker.allow(probe_time));
  EXPECT_FALSE(breaker.allow(probe_time + CircuitBreaker::kProbeTimeout - std::chrono::milliseconds(1)));
  EXPECT_TRUE(breaker.allow(probe_time + CircuitBreaker::kProbeTimeout)) << "a new probe";
  EXPECT_FALSE(breaker.allow(probe_time + CircuitBreaker::kProbeTimeout));
}

TEST(CircuitBreakerTest, AnInconclusiveProbeGivesItsSlotBack) {
  CircuitBreaker breaker;
  const auto t0 = Clock::now();
  trip(breaker, t0);
  const auto probe_time = t0 + CircuitBreaker::kFirstCoolDown;
  ASSERT_TRUE(breaker.allow(probe_time));
  breaker.record_inconclusive();  // our disk failed under it: nothing learnt of the remote
  EXPECT_EQ(breaker.state(probe_time), CircuitBreaker::State::kHalfOpen);
  EXPECT_TRUE(breaker.allow(probe_time));
  EXPECT_FALSE(breaker.allow(probe_time));
}

}  // namespace
}  // namespace gocachefs
