#include "src/cache.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace gocachefs {

namespace {
// Uses are written in batches so a get costs no write transaction.
constexpr std::size_t kUsesPerFlush = 4096;
}  // namespace

std::int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Cache::Cache(ObjectStore& objects, Index& index) : objects_(objects), index_(index) {}

std::optional<CacheHit> Cache::get(const Id& action_id) {
  std::optional<ActionEntry> entry;
  try {
    entry = index_.lookup(action_id);
  } catch (const std::exception& e) {
    spdlog::error("get {}: index lookup failed, answering a miss: {}", to_hex(action_id), e.what());
  }
  if (!entry) {
    ++misses_;
    return std::nullopt;
  }
  if (!objects_.has(entry->output_id, entry->size)) {
    spdlog::warn("get {}: object {} is missing or truncated, answering a miss", to_hex(action_id),
                 to_hex(entry->output_id));
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  if (now_unix_ns() - entry->last_used_ns >= kLastUseGranularityNs) note_use(entry->output_id);
  return CacheHit{entry->output_id, entry->size, entry->put_time_ns, objects_.path_of(entry->output_id)};
}

std::unique_ptr<PendingPut> Cache::begin_put(const Id& action_id, const Id& output_id, std::uint64_t size) {
  auto put = std::make_unique<PendingPut>();
  put->action_id = action_id;
  put->output_id = output_id;
  put->size = size;
  put->writer = objects_.begin_write(output_id, size);
  return put;
}

std::string Cache::finish_put(PendingPut& put) {
  std::string path = objects_.commit(*put.writer, put.output_id, put.size);
  index_.record_put(put.action_id, ActionEntry{put.output_id, put.size, now_unix_ns()});
  ++puts_;
  put_bytes_ += static_cast<std::int64_t>(put.size);
  return path;
}

void Cache::note_use(const Id& output_id) {
  std::vector<Id> batch;
  {
    std::lock_guard lock(uses_mutex_);
    uses_.push_back(output_id);
    if (uses_.size() < kUsesPerFlush) return;
    batch.swap(uses_);
  }
  try {
    index_.record_uses(batch, now_unix_ns());
  } catch (const std::exception& e) {
    spdlog::warn("recording object uses failed: {}", e.what());
  }
}

void Cache::flush() {
  std::vector<Id> batch;
  {
    std::lock_guard lock(uses_mutex_);
    batch.swap(uses_);
  }
  try {
    index_.record_uses(batch, now_unix_ns());
    index_.add_to_counters({{"get_hits", hits_.exchange(0)},
                            {"get_misses", misses_.exchange(0)},
                            {"puts", puts_.exchange(0)},
                            {"put_bytes", put_bytes_.exchange(0)}});
  } catch (const std::exception& e) {
    spdlog::warn("flushing uses and counters to the index failed: {}", e.what());
  }
}

}  // namespace gocachefs
