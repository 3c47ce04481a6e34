#include "src/measured_remote.h"

#include <bit>
#include <cmath>

#include <spdlog/spdlog.h>

namespace gocachefs {

std::string latency_counter_name(std::size_t i) {
  if (i + 1 >= kLatencyBuckets) return "remote_latency_long";
  return "remote_latency_lt_" + std::to_string(1u << i) + "ms";
}

double latency_bucket_ms(std::size_t i) {
  return static_cast<double>(1u << std::min(i, kLatencyBuckets - 2));
}

std::optional<double> latency_quantile_ms(const std::map<std::string, std::int64_t>& counters, double quantile) {
  std::array<std::int64_t, kLatencyBuckets> buckets{};
  std::int64_t total = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    const auto it = counters.find(latency_counter_name(i));
    buckets[i] = it == counters.end() ? 0 : it->second;
    total += buckets[i];
  }
  if (total == 0) return std::nullopt;
  const auto rank = static_cast<std::int64_t>(std::ceil(quantile * static_cast<double>(total)));
  std::int64_t seen = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    seen += buckets[i];
    if (seen >= rank) return latency_bucket_ms(i);
  }
  return latency_bucket_ms(kLatencyBuckets - 1);
}

RemoteResult MeasuredRemote::measured(const char* what, const std::string& key,
                                      const std::function<RemoteResult()>& request) {
  const auto start = std::chrono::steady_clock::now();
  RemoteResult result = request();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ++requests_;
  if (result.status == RemoteResult::kFailed) {
    ++failed_;
    // curl's words for its connect and transfer timeouts, and for a
    // transfer that stalled (CURLOPT_LOW_SPEED_TIME).
    if (result.error.find("timed out") != std::string::npos || result.error.find("too slow") != std::string::npos) {
      ++timeouts_;
    }
  } else if (result.status == RemoteResult::kUnauthorized) {
    ++refused_;
  }
  const auto whole_ms = static_cast<std::uint64_t>(ms);
  const std::size_t bucket =
      std::min<std::size_t>(whole_ms == 0 ? 0 : std::bit_width(whole_ms), kLatencyBuckets - 1);
  ++latency_[bucket];
  if (spdlog::should_log(spdlog::level::debug)) {
    static constexpr const char* kStatus[] = {"ok", "not found", "failed", "refused", "rejected", "local error"};
    spdlog::debug("remote {} {}: {} in {:.1f} ms{}{}", what, key, kStatus[result.status], ms,
                  result.error.empty() ? "" : ": ", result.error);
  }
  return result;
}

RemoteResult MeasuredRemote::fetch(const std::string& key, const RemoteSink& sink) {
  return measured("GET", key, [&] { return remote_->fetch(key, sink); });
}

RemoteResult MeasuredRemote::fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) {
  return measured("GET range", key, [&] { return remote_->fetch_range(key, range, sink); });
}

RemoteResult MeasuredRemote::exists(const std::string& key) {
  return measured("HEAD", key, [&] { return remote_->exists(key); });
}

RemoteResult MeasuredRemote::store_bytes(const std::string& key, std::string_view bytes) {
  return measured("PUT", key, [&] { return remote_->store_bytes(key, bytes); });
}

RemoteResult MeasuredRemote::store_file(const std::string& key, const std::filesystem::path& file,
                                        StoredEncoding encoding) {
  return measured("PUT", key, [&] { return remote_->store_file(key, file, encoding); });
}

RemoteCounts MeasuredRemote::counts() const {
  RemoteCounts counts{requests_.load(), failed_.load(), timeouts_.load(), refused_.load()};
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) counts.latency[i] = latency_[i].load();
  return counts;
}

std::map<std::string, std::int64_t> MeasuredRemote::take_counter_deltas() {
  const RemoteCounts now = counts();
  std::lock_guard lock(flushed_mutex_);
  auto delta = [](std::uint64_t a, std::uint64_t b) { return static_cast<std::int64_t>(a - b); };
  std::map<std::string, std::int64_t> deltas = {
      {"remote_requests", delta(now.requests, flushed_.requests)},
      {"remote_failures", delta(now.failed, flushed_.failed)},
      {"remote_timeouts", delta(now.timeouts, flushed_.timeouts)},
      {"remote_refusals", delta(now.refused, flushed_.refused)}};
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    deltas[latency_counter_name(i)] = delta(now.latency[i], flushed_.latency[i]);
  }
  flushed_ = now;
  return deltas;
}

}  // namespace gocachefs
