#include "src/measured_remote.h"

#include <gtest/gtest.h>

#include "tests/support/subprocess.h"

namespace gocachefs {
namespace {

TEST(MeasuredRemote, CountsRequestsAndFailures) {
  testing::TempDir dir;
  MeasuredRemote remote(make_remote("file://" + dir.path(), {}));
  EXPECT_TRUE(remote.store_bytes("ac/one", "bytes").ok());
  EXPECT_EQ(remote.exists("ac/two").status, RemoteResult::kNotFound);
  MeasuredRemote down(make_remote("http://127.0.0.1:1", {}));
  EXPECT_EQ(down.exists("ac/one").status, RemoteResult::kFailed);

  const RemoteCounts counts = remote.counts();
  EXPECT_EQ(counts.requests, 2u);
  EXPECT_EQ(counts.failed, 0u);
  EXPECT_EQ(down.counts().failed, 1u);

  auto deltas = remote.take_counter_deltas();
  EXPECT_EQ(deltas["remote_requests"], 2);
  std::int64_t in_buckets = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) in_buckets += deltas[latency_counter_name(i)];
  EXPECT_EQ(in_buckets, 2);
  // Handed out once.
  EXPECT_EQ(remote.take_counter_deltas()["remote_requests"], 0);
}

TEST(MeasuredRemote, QuantilesComeFromTheHistogram) {
  std::map<std::string, std::int64_t> counters;
  EXPECT_FALSE(latency_quantile_ms(counters, 0.5));
  counters[latency_counter_name(0)] = 90;  // under 1 ms
  counters[latency_counter_name(5)] = 9;   // under 32 ms
  counters[latency_counter_name(kLatencyBuckets - 1)] = 1;
  EXPECT_EQ(latency_quantile_ms(counters, 0.5), 1.0);
  EXPECT_EQ(latency_quantile_ms(counters, 0.95), 32.0);
  EXPECT_EQ(latency_quantile_ms(counters, 1.0), latency_bucket_ms(kLatencyBuckets - 1));
}

}  // namespace
}  // namespace gocachefs
