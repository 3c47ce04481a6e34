// Only the remote's own faults count towards leaving it alone.
#include "src/remote_health.h"

#include <gtest/gtest.h>

namespace gocachefs {
namespace {

TEST(RemoteHealthTest, RemoteFailuresTripTheBreaker) {
  RemoteHealth health("test remote");
  for (int i = 0; i < CircuitBreaker::kTripAfter; ++i) health.failed(RemoteResult::failed("GET ac/x: HTTP 500"));
  EXPECT_FALSE(health.allow());
  EXPECT_TRUE(health.cooling_down());
}

TEST(RemoteHealthTest, OurDiskFailingIsNotTheRemotesFault) {
  RemoteHealth health("test remote");
  for (int i = 0; i < 3 * CircuitBreaker::kTripAfter; ++i) {
    health.failed({RemoteResult::kLocalError, "GET cas/x: stopped on our side: No space left on device"});
  }
  EXPECT_TRUE(health.allow());
  EXPECT_FALSE(health.cooling_down());
}

TEST(RemoteHealthTest, ARefusalIsAnAnswer) {
  RemoteHealth health("test remote");
  for (int i = 0; i < CircuitBreaker::kTripAfter - 1; ++i) health.failed(RemoteResult::failed("HTTP 500"));
  health.failed({RemoteResult::kRejected, "PUT cas/x: HTTP 413"});
  // The count started again: four more failures do not trip it.
  for (int i = 0; i < CircuitBreaker::kTripAfter - 1; ++i) health.failed(RemoteResult::failed("HTTP 500"));
  EXPECT_TRUE(health.allow());
}

TEST(RemoteHealthTest, RefusedCredentialsOpenItAtOnce) {
  RemoteHealth health("test remote");
  health.failed({RemoteResult::kUnauthorized, "GET ac/x: HTTP 401 (credentials refused)"});
  EXPECT_TRUE(health.cooling_down());
  EXPECT_FALSE(health.would_allow());
}

}  // namespace
}  // namespace gocachefs
