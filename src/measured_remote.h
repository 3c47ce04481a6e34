// A Remote that counts and times every request of the one it wraps: requests,
// failures, timeouts and refusals, and a latency histogram, for `gocachefs
// stats` (added to the index's counters) and the log (each request at debug
// level, a summary per go command).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "store/remote/remote.h"

namespace gocachefs {

// Latency buckets: under 1, 2, 4, ... 16384 ms, and longer.
constexpr std::size_t kLatencyBuckets = 16;
// The counter name of bucket `i` ("remote_latency_lt_1ms", ..., "remote_latency_long").
std::string latency_counter_name(std::size_t i);
// The bucket's upper bound in ms (the last: unbounded, reported as its lower).
double latency_bucket_ms(std::size_t i);
// The `quantile` (0.5, 0.99) of a histogram held in counters, in ms: the
// upper bound of the bucket it falls in; nullopt without requests.
std::optional<double> latency_quantile_ms(const std::map<std::string, std::int64_t>& counters, double quantile);

struct RemoteCounts {
  std::uint64_t requests = 0;
  std::uint64_t failed = 0;     // down, 5xx, garbage (timeouts included)
  std::uint64_t timeouts = 0;
  std::uint64_t refused = 0;    // credentials
  std::array<std::uint64_t, kLatencyBuckets> latency{};
};

class MeasuredRemote : public Remote {
 public:
  explicit MeasuredRemote(std::unique_ptr<Remote> remote) : remote_(std::move(remote)) {}

  RemoteResult fetch(const std::string& key, const RemoteSink& sink) override;
  RemoteResult fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) override;
  RemoteResult exists(const std::string& key) override;
  RemoteResult store_bytes(const std::string& key, std::string_view bytes) override;
  RemoteResult store_file(const std::string& key, const std::filesystem::path& file, StoredEncoding encoding) override;
  std::string describe() const override { return remote_->describe(); }
  bool holds_packs_only() const override { return remote_->holds_packs_only(); }

  // Totals since the start.
  RemoteCounts counts() const;
  // What is new since the last call, as index counters.
  std::map<std::string, std::int64_t> take_counter_deltas();

 private:
  RemoteResult measured(const char* what, const std::string& key, const std::function<RemoteResult()>& request);

  std::unique_ptr<Remote> remote_;
  std::atomic<std::uint64_t> requests_{0}, failed_{0}, timeouts_{0}, refused_{0};
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets> latency_{};
  std::mutex flushed_mutex_;
  RemoteCounts flushed_;  // what take_counter_deltas() has handed out
};

}  // namespace gocachefs
