#include "src/measured_remote.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

// A server that takes the connection and never answers: curl gives up on
// the stalled transfer ("Operation too slow"), which counts as a timeout.
TEST(MeasuredRemote, AStalledTransferCountsAsATimeout) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(listen(listener, 4), 0);  // the kernel completes connects; nobody reads
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  MeasuredRemote stalled(make_remote("http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)), {}));
  const RemoteResult result = stalled.exists("ac/one");
  close(listener);
  EXPECT_EQ(result.status, RemoteResult::kFailed) << result.error;
  EXPECT_EQ(stalled.counts().failed, 1u);
  EXPECT_EQ(stalled.counts().timeouts, 1u) << result.error;
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
