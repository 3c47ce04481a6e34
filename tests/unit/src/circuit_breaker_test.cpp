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

}  // namespace
}  // namespace gocachefs
